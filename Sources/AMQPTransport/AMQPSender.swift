import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOCore

/// What became of a message we sent: the receiver's terminal delivery state (§3.4).
public enum DeliveryOutcome: Sendable, Hashable {
    case accepted
    case rejected(AMQPError?)
    case released
    case modified(Modified)
    /// Settled without a state: a pre-settled send, or a peer that settles silently.
    case settled
    /// A state this package does not interpret (transactional, or an extension's).
    case other(DeliveryState)

    init(_ state: DeliveryState?) {
        switch state {
        case nil: self = .settled
        case .accepted?: self = .accepted
        case .rejected(let r)?: self = .rejected(r.error)
        case .released?: self = .released
        case .modified(let m)?: self = .modified(m)
        case let other?: self = .other(other)
        }
    }
}

/// A sending link. Sends from many tasks are written in the order they reach the connection's
/// event loop; each waits only for its own outcome, so deliveries are in flight together up to
/// the link's credit.
public final class AMQPSender: Sendable {
    /// How a sending link is attached and encodes.
    public struct Options: Sendable {
        /// The link name; unique per direction on a connection. Generated when `nil`.
        public var name: String?
        /// `snd-settle-mode`: `unsettled` (wait for outcomes), `settled` (fire and forget) or
        /// `mixed` (per send).
        public var settleMode: SenderSettleMode
        /// `rcv-settle-mode`: `first` (the receiver settles at once) or `second`.
        public var receiverSettleMode: ReceiverSettleMode
        /// A full target instead of one built from the address (durability, capabilities, …).
        public var target: Target?
        /// Our terminus; one named after the link when `nil`.
        public var source: Source?
        /// `attach.properties`.
        public var properties: Fields?
        /// `attach.offered-capabilities`.
        public var offeredCapabilities: [Symbol]
        /// `attach.desired-capabilities`.
        public var desiredCapabilities: [Symbol]
        /// How messages are encoded: `.full` for peers that cannot read compact composites.
        public var encodingPolicy: EncodingPolicy

        /// Mixed settlement (per send), settle mode first, compact encoding unless given.
        public init(
            name: String? = nil, settleMode: SenderSettleMode = .mixed, receiverSettleMode: ReceiverSettleMode = .first,
            target: Target? = nil, source: Source? = nil, properties: Fields? = nil,
            offeredCapabilities: [Symbol] = [], desiredCapabilities: [Symbol] = [], encodingPolicy: EncodingPolicy = .compact
        ) {
            self.name = name
            self.settleMode = settleMode
            self.receiverSettleMode = receiverSettleMode
            self.target = target
            self.source = source
            self.properties = properties
            self.offeredCapabilities = offeredCapabilities
            self.desiredCapabilities = desiredCapabilities
            self.encodingPolicy = encodingPolicy
        }
    }

    /// The connection the link belongs to.
    public let connection: AMQPConnection
    let link: LinkID
    /// The link name.
    public let name: String
    /// The target address it sends to.
    public let address: String
    /// The peer's `attach`: its target, `max-message-size`, properties and capabilities.
    public let peerAttach: Attach
    let encodingPolicy: EncodingPolicy
    let sendQueue: SendQueue

    init(connection: AMQPConnection, link: LinkID, name: String, address: String, peerAttach: Attach, encodingPolicy: EncodingPolicy = .compact) {
        self.sendQueue = SendQueue(link: link, core: connection.core)
        self.connection = connection
        self.link = link
        self.name = name
        self.address = address
        self.peerAttach = peerAttach
        self.encodingPolicy = encodingPolicy
    }

    /// The largest message the receiver accepts, if it said.
    public var maxMessageSize: UInt64? {
        peerAttach.messageSizeLimit.bytes
    }

    /// Sends `message` and waits for the receiver's outcome. Returns the outcome whatever it is;
    /// use ``sendExpectingAcceptance(_:)`` to turn anything but `accepted` into an error.
    @discardableResult
    public func send(_ message: Message, settled: Bool = false, messageFormat: MessageFormat = 0) async throws -> DeliveryOutcome {
        try await enqueue(message, settled: settled, messageFormat: messageFormat).outcome()
    }

    /// Sends an already encoded message (the sections' bytes).
    @discardableResult
    public func send(encoded payload: [UInt8], settled: Bool = false, messageFormat: MessageFormat = 0) async throws -> DeliveryOutcome {
        try await enqueue(encoded: payload, settled: settled, messageFormat: messageFormat).outcome()
    }

    /// Sends and throws ``AMQPClientError`` (`.rejected`, `.released`, `.modified`) unless the
    /// receiver accepted.
    public func sendExpectingAcceptance(_ message: Message) async throws {
        switch try await send(message) {
        case .accepted, .settled: return
        case .rejected(let error): throw AMQPClientError(.rejected, amqpError: error, detail: "the receiver rejected the message")
        case .released: throw AMQPClientError(.released, detail: "the receiver released the message")
        case .modified: throw AMQPClientError(.modified, detail: "the receiver modified the message")
        case .other(let state): throw AMQPClientError(.rejected, detail: "unexpected outcome \(state)")
        }
    }

    /// Hands `message` to the connection and returns as soon as it is queued, without waiting
    /// for a round trip; await the returned ``PendingDelivery`` for the outcome. Suspends while
    /// the link has more queued than its credit (backpressure).
    public func enqueue(_ message: Message, settled: Bool = false, messageFormat: MessageFormat = 0) async throws -> PendingDelivery {
        try await enqueue(encoded: message.encoded(policy: encodingPolicy), settled: settled, messageFormat: messageFormat)
    }

    /// Like ``enqueue(_:settled:messageFormat:)`` for a message already encoded (its sections' bytes);
    /// throws at once when it is over the receiver's max-message-size.
    public func enqueue(encoded payload: [UInt8], settled: Bool = false, messageFormat: MessageFormat = 0) async throws -> PendingDelivery {
        let limit = peerAttach.messageSizeLimit
        guard limit.admits(payload.count) else {
            let error = limit.exceeded(by: payload.count, whose: "the receiver's")
            throw AMQPClientError(.invalidArgument, amqpError: AMQPError(condition: error.condition), detail: error.description ?? "")
        }
        return PendingDelivery(outcome: try await sendQueue.enqueue(payload, settled: settled, messageFormat: messageFormat))
    }

    /// Detaches the link (closing it), waiting for the peer's answer.
    ///
    /// Without an `error`, what was enqueued goes out first: the link stays attached until every
    /// message has been written and settled, or `flushTimeout` has passed (a receiver that grants
    /// no more credit). Messages still waiting then fail with ``AMQPClientError/Kind/linkDetached``.
    /// With an `error`, the link detaches at once.
    public func close(error: AMQPError? = nil, flushTimeout: Duration = .seconds(10)) async throws {
        if error == nil {
            let link = self.link
            let timeout = TimeAmount.nanoseconds(Int64(clamping: flushTimeout.components.seconds) * 1_000_000_000
                                                 + flushTimeout.components.attoseconds / 1_000_000_000)
            // Runs after the task that hands earlier enqueues to the engine: the loop keeps order.
            try await connection.onLoopFuture { core in core.flushed(link, timeout: timeout) }
        }
        try await connection.detach(link, error: error)
    }
}

/// A message on its way: await ``outcome()`` for the receiver's answer.
public struct PendingDelivery: Sendable {
    let cell: OutcomeCell

    init(outcome: OutcomeCell) {
        self.cell = outcome
    }

    /// Waits for the delivery to be settled and returns its outcome (at once when it has been).
    public func outcome() async throws -> DeliveryOutcome {
        DeliveryOutcome(try await cell.get())
    }
}

extension AMQPConnection {
    func detach(_ link: LinkID, error: AMQPError?) async throws {
        let done: EventLoopFuture<Void> = try await onLoop { core in
            guard let record = core.links[link] else { return core.eventLoop.makeSucceededVoidFuture() }
            let promise = core.eventLoop.makePromise(of: Void.self)
            record.detached = promise
            core.handler?.withEngine { $0.detachLink(link, closed: true, error: error) }
            return promise.futureResult
        }
        try await done.get()
    }
}
