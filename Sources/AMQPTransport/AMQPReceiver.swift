import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOCore

/// A receiving link, consumed as an `AsyncSequence` of deliveries.
///
/// With ``CreditMode/prefetch(_:)`` (the default, 100) the receiver keeps that many messages
/// granted or buffered, topping credit up as the consumer takes them: a slow consumer slows the
/// sender, and memory stays bounded. With ``CreditMode/manual`` nothing arrives until
/// ``addCredit(_:)``; ``drain()`` asks the sender to use up or give back the credit it has.
///
/// The sequence ends when the link is closed without an error and throws ``AMQPClientError``
/// when it is detached with one. One task at a time may iterate.
public final class AMQPReceiver: AsyncSequence, Sendable {
    /// The deliveries, in order.
    public typealias Element = AMQPDelivery

    /// How the receiver grants credit.
    public enum CreditMode: Sendable, Hashable {
        case prefetch(UInt32)
        case manual
    }

    /// How a receiving link is attached.
    public struct Options: Sendable {
        /// The link name; unique per direction on a connection. Generated when `nil`.
        public var name: String?
        /// Prefetch (the default) or manual credit.
        public var credit: CreditMode
        /// `rcv-settle-mode`: `first` (our disposition settles) or `second` (we state an outcome
        /// and settle once the sender has).
        public var settleMode: ReceiverSettleMode
        /// `snd-settle-mode` we ask of the sender: `settled` for at-most-once delivery.
        public var senderSettleMode: SenderSettleMode
        /// A full source instead of one built from the address (filters, capabilities, …).
        public var source: Source?
        /// Our terminus; one named after the link when `nil`.
        public var target: Target?
        /// The largest message we accept on this link (`attach.max-message-size`).
        public var maxMessageSize: UInt64?
        /// `attach.properties` (Event Hubs reads its owner level here).
        public var properties: Fields?
        /// `attach.offered-capabilities`.
        public var offeredCapabilities: [Symbol]
        /// `attach.desired-capabilities`.
        public var desiredCapabilities: [Symbol]
        /// With prefetch, the most deliveries ever granted on the link (`nil`: no limit), for a
        /// consumer that wants exactly that many and must not take more from the source.
        public var totalCredit: UInt64?

        /// Prefetch 100, settle mode first, the source built from the address unless given.
        public init(
            name: String? = nil, credit: CreditMode = .prefetch(100), settleMode: ReceiverSettleMode = .first,
            senderSettleMode: SenderSettleMode = .mixed, source: Source? = nil, target: Target? = nil,
            maxMessageSize: UInt64? = nil, properties: Fields? = nil,
            offeredCapabilities: [Symbol] = [], desiredCapabilities: [Symbol] = [], totalCredit: UInt64? = nil
        ) {
            self.name = name
            self.credit = credit
            self.totalCredit = totalCredit
            self.settleMode = settleMode
            self.senderSettleMode = senderSettleMode
            self.source = source
            self.target = target
            self.maxMessageSize = maxMessageSize
            self.properties = properties
            self.offeredCapabilities = offeredCapabilities
            self.desiredCapabilities = desiredCapabilities
        }
    }

    /// Lets deliveries that arrive while the link is still being attached find their receiver
    /// later, to settle through it. Set once, on the event loop, before any delivery is handed out.
    final class Reference: @unchecked Sendable {
        weak var receiver: AMQPReceiver?
        /// The link's record, kept after the connection forgets a detached link so that the
        /// consumer still learns how the link ended. Touched on the event loop only.
        var record: ClientCore.LinkRecord?
    }

    let reference: Reference

    /// The connection the link belongs to.
    public let connection: AMQPConnection
    let link: LinkID
    /// The link name.
    public let name: String
    /// The source address it receives from.
    public let address: String
    /// The peer's `attach`: its source (with the filters it applied), properties and capabilities.
    public let peerAttach: Attach
    /// Prefetch or manual credit.
    public let creditMode: CreditMode

    let settleQueue: SettleQueue
    let inbound: InboundDeliveries

    init(connection: AMQPConnection, link: LinkID, name: String, address: String, peerAttach: Attach, credit: CreditMode, reference: Reference,
         settleQueue: SettleQueue, inbound: InboundDeliveries) {
        self.reference = reference
        self.settleQueue = settleQueue
        self.inbound = inbound
        self.connection = connection
        self.link = link
        self.name = name
        self.address = address
        self.peerAttach = peerAttach
        self.creditMode = credit
    }

    /// The next delivery, or `nil` once the link is closed. Cancelling the task ends the wait
    /// with `CancellationError` (a delivery that arrives later stays buffered for the next call).
    public func receive() async throws -> AMQPDelivery? {
        try await receive(waitingAtMost: nil)
    }

    /// The next delivery, or `nil` when none arrives within `timeout` or the link is closed.
    public func receive(timeout: Duration) async throws -> AMQPDelivery? {
        try await receive(waitingAtMost: timeout)
    }

    func receive(waitingAtMost timeout: Duration?) async throws -> AMQPDelivery? {
        // Deliveries already here are taken without a trip to the event loop.
        switch inbound.next() {
        case .delivery(let delivery):
            tookDeliveries()
            return delivery
        case .finished(let error):
            if let error { throw error }
            return nil
        case .empty:
            break
        }
        let link = self.link
        let reference = self.reference
        let core = connection.core
        return try await withTaskCancellationHandler {
            try await connection.onLoopFuture { core in
                let next = core.nextDelivery(link, record: reference.record)
                if let timeout {
                    let waiter = core.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                                             + timeout.components.attoseconds / 1_000_000_000)) {
                        core.abandonWait(link, record: reference.record, with: nil)
                    }
                    next.whenComplete { _ in waiter.cancel() }
                }
                return next
            }
        } onCancel: {
            core.eventLoop.execute { core.abandonWait(link, record: reference.record, with: CancellationError()) }
        }
    }

    /// Everything already received, up to `maximum` deliveries, in one hop to the connection;
    /// when nothing is waiting, the next delivery as soon as it comes. Empty once the link is
    /// closed. For consumers that take deliveries faster one batch at a time. Cancelling the task
    /// ends the wait with `CancellationError`, as ``receive()`` does.
    public func receive(upTo maximum: Int) async throws -> [AMQPDelivery] {
        guard maximum > 0 else { throw AMQPClientError(.invalidArgument, detail: "receive(upTo:) needs a positive maximum") }
        let waiting = inbound.take(upTo: maximum)
        if !waiting.isEmpty {
            tookDeliveries()
            return waiting
        }
        let link = self.link
        let reference = self.reference
        let core = connection.core
        return try await withTaskCancellationHandler {
            try await connection.onLoopFuture { core in core.nextDeliveries(link, record: reference.record, maximum: maximum) }
        } onCancel: {
            core.eventLoop.execute { core.abandonWait(link, record: reference.record, with: CancellationError()) }
        }
    }

    /// Iterates the deliveries; one task at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let receiver: AMQPReceiver
        /// The next delivery; `nil` once the link is closed.
        public mutating func next() async throws -> AMQPDelivery? {
            try await receiver.receive()
        }
    }

    /// An iterator over the deliveries.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(receiver: self)
    }

    /// Grants `count` more deliveries (manual credit).
    public func addCredit(_ count: UInt32) async throws {
        let link = self.link
        try await connection.onLoop { core in
            _ = try core.linkRecord(link)
            let current = core.handler?.engine.credit(of: link) ?? 0
            try core.withEngine { try $0.setCredit(current &+ count, on: link) }
        }
    }

    /// Asks the sender to send what it can with the current credit and give back the rest;
    /// returns once it has. Deliveries it sent meanwhile are in the sequence.
    public func drain() async throws {
        let link = self.link
        let done: EventLoopFuture<Void> = try await connection.onLoop { core in
            let record = try core.linkRecord(link)
            let current = core.handler?.engine.credit(of: link) ?? 0
            if current == 0 { return core.eventLoop.makeSucceededVoidFuture() }
            let promise = core.eventLoop.makePromise(of: Void.self)
            record.drainWaiters.append(promise)
            try core.withEngine { try $0.setCredit(current, drain: true, on: link) }
            return promise.futureResult
        }
        try await done.get()
    }

    /// With prefetch, asks the event loop to top credit up once enough has been taken.
    private func tookDeliveries() {
        guard case .prefetch(let prefetch) = creditMode, inbound.requestsReplenish(prefetch: prefetch) else { return }
        let link = self.link
        let inbound = self.inbound
        let core = connection.core
        core.eventLoop.execute {
            inbound.replenishRan()
            guard let record = core.links[link] else { return }
            core.reportConsumed(link, record)
        }
    }

    /// Detaches the link (closing it), waiting for the peer's answer.
    public func close(error: AMQPError? = nil) async throws {
        try await connection.detach(link, error: error)
    }

    func settle(_ deliveryID: DeliveryNumber, state: DeliveryState?) throws {
        try settleQueue.settle(deliveryID, state: state)
    }
}

/// A message received on an ``AMQPReceiver``, with what is needed to settle it.
public struct AMQPDelivery: Sendable {
    /// The decoded message.
    public let message: Message
    /// The session's delivery-id.
    public let deliveryID: DeliveryNumber
    /// The sender's delivery tag.
    public let tag: DeliveryTag
    /// The transfer's message format (0 for plain AMQP messages).
    public let messageFormat: MessageFormat
    /// Whether the sender settled it already (then there is nothing to accept).
    public let isSettled: Bool
    /// The message as it arrived, before decoding.
    public let payload: ArraySlice<UInt8>
    let receiver: AMQPReceiver.Reference?

    /// Accepts the message: it was processed (§3.4.2).
    public func accept() async throws { try await settle(.accepted(Accepted())) }

    /// Rejects the message as invalid; the sender must not redeliver it as is (§3.4.3).
    public func reject(error: AMQPError? = nil) async throws { try await settle(.rejected(Rejected(error: error))) }

    /// Releases the message unprocessed; it may be delivered again, to anyone (§3.4.4).
    public func release() async throws { try await settle(.released(Released())) }

    /// Gives the message back with changes: a failed attempt, or annotations to merge (§3.4.5).
    public func modify(deliveryFailed: Bool = true, undeliverableHere: Bool = false, messageAnnotations: Fields? = nil) async throws {
        try await settle(.modified(Modified(deliveryFailed: deliveryFailed, undeliverableHere: undeliverableHere, messageAnnotations: messageAnnotations)))
    }

    /// Settles the delivery with `state`. Nothing is sent for a pre-settled delivery.
    ///
    /// Returns once the settlement is queued for the connection, without waiting for the event
    /// loop: settlements are written in the order they are made, in as few dispositions as runs of
    /// equal outcomes allow, and before a later `close()` of the receiver or the connection.
    /// Throws when the link is already gone.
    public func settle(_ state: DeliveryState?) async throws {
        guard !isSettled else { return }
        guard let receiver = receiver?.receiver else {
            throw AMQPClientError(.linkDetached, detail: "the receiver of this delivery is gone")
        }
        try receiver.settle(deliveryID, state: state)
    }
}
