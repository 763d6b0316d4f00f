import AMQPCodec
import AMQPProtocol
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small AMQP 1.0 broker that keeps queues in memory: each address is a queue, messages sent
/// to it are stored (and accepted) and handed to its receivers in turn, as their credit allows.
/// Released and modified messages go back to the head of the queue; rejected ones are dropped.
/// Each queue is bounded (``QueueLimits``): a full queue withholds credit from its producers and
/// refuses what they had credit for with `amqp:resource-limit-exceeded`.
///
/// Meant for tests and benchmarks of AMQP clients; it is neither durable nor a production broker.
public final class AMQPInMemoryBroker: Sendable {
    /// The listener the broker runs on.
    public let listener: AMQPListener
    let state: NIOLockedValueBox<BrokerState>

    /// How much one queue holds before its producers are held back.
    public struct QueueLimits: Sendable, Hashable {
        /// The most messages one queue holds (`nil`: no limit); 100,000 by default.
        public var maxMessages: Int?
        /// The most payload bytes one queue holds (`nil`: no limit); 256 MiB by default.
        public var maxBytes: Int?

        /// 100,000 messages and 256 MiB of payload per queue.
        public init(maxMessages: Int? = 100_000, maxBytes: Int? = 256 << 20) {
            self.maxMessages = maxMessages
            self.maxBytes = maxBytes
        }

        /// No bound at all: a queue with no consumer grows with whatever is sent.
        public static let unbounded = QueueLimits(maxMessages: nil, maxBytes: nil)
    }

    /// Starts a broker listening per `configuration` (port 0 picks a free port), each queue
    /// bounded by `queueLimits`.
    public static func start(
        _ configuration: AMQPListener.Configuration = .init(),
        queueLimits: QueueLimits = .init(),
        eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> AMQPInMemoryBroker {
        let state = NIOLockedValueBox(BrokerState(limits: queueLimits))
        let listener = try await AMQPListener.bind(configuration, eventLoopGroup: eventLoopGroup) {
            BrokerConnection(state: state)
        }
        return AMQPInMemoryBroker(listener: listener, state: state)
    }

    init(listener: AMQPListener, state: NIOLockedValueBox<BrokerState>) {
        self.listener = listener
        self.state = state
    }

    /// The port it listens on.
    public var port: Int { listener.port }

    /// How many messages wait in the queue at `address`.
    public func depth(of address: String) -> Int {
        state.withLockedValue { $0.queues[address]?.messages.count ?? 0 }
    }

    /// Stops accepting connections; open ones are not touched.
    public func stop() async throws {
        try await listener.close()
    }
}

struct StoredMessage: Sendable {
    let payload: ArraySlice<UInt8>
    let messageFormat: MessageFormat
}

/// A receiver attached to a queue, on some connection's event loop.
struct Consumer: Sendable {
    let id: UInt64
    let connection: NIOLoopBound<AMQPServerConnection>
    let owner: NIOLoopBound<BrokerConnection>
    let link: LinkID
    let presettled: Bool
    /// The credit its last flow granted, less what we sent since.
    var credit: UInt32
    /// Its socket is full (not writable): nothing is handed to it until it drains.
    var paused = false
}

/// A message handed to a link and not settled yet: it belongs to that link alone until settled.
struct InFlight {
    let link: LinkID
    let address: String
    /// When it was sent on its connection; a link's messages left its queue in this order.
    let sent: UInt64
    let message: StoredMessage
}

/// A link the client sends on whose deliveries the broker has not given back as credit: its queue
/// was full. They are given back (``ConnectionEngine/consumed(_:on:)``) once the queue has room.
struct HeldProducer: Sendable {
    let connection: NIOLoopBound<AMQPServerConnection>
    /// The connection's identity, comparable from any thread (its `value` is not).
    let connectionID: ObjectIdentifier
    let link: LinkID
    var held: Int

    /// Gives the held deliveries back as credit; on the connection's event loop.
    func resume() {
        connection.value.withEngine { $0.consumed(held, on: link) }
    }
}

struct Queue: Sendable {
    private(set) var messages = FIFO<StoredMessage>()
    /// The payload bytes of `messages`.
    private(set) var bytes = 0
    var consumers: [Consumer] = []
    var nextConsumer = 0
    /// Producers held back because the queue was full, by connection and link.
    var heldProducers: [HeldProducer] = []

    mutating func append(_ message: StoredMessage) {
        messages.append(message)
        bytes += message.payload.count
    }

    mutating func pushFront(_ message: StoredMessage) {
        messages.pushFront(message)
        bytes += message.payload.count
    }

    mutating func removeFirst() -> StoredMessage? {
        guard let message = messages.removeFirst() else { return nil }
        bytes -= message.payload.count
        return message
    }

    /// Whether one more message of `size` bytes fits within `limits`.
    func hasRoom(for size: Int, _ limits: AMQPInMemoryBroker.QueueLimits) -> Bool {
        if let maxMessages = limits.maxMessages, messages.count >= maxMessages { return false }
        if let maxBytes = limits.maxBytes, bytes + size > maxBytes { return false }
        return true
    }

    /// Whether the queue is below its limits (another message of at least one byte would fit).
    func isBelowLimits(_ limits: AMQPInMemoryBroker.QueueLimits) -> Bool { hasRoom(for: 1, limits) }
}

/// What a change to a queue calls for outside the lock: messages to send to consumers, and
/// producers whose held deliveries are given back as credit now that the queue has room.
struct Handoff {
    var sends: [(Consumer, StoredMessage)] = []
    var resumed: [HeldProducer] = []
}

struct BrokerState: Sendable {
    var queues: [String: Queue] = [:]
    var nextConsumerID: UInt64 = 0
    let limits: AMQPInMemoryBroker.QueueLimits

    init(limits: AMQPInMemoryBroker.QueueLimits = .init()) {
        self.limits = limits
    }

    /// ``dispatch(_:batch:)``, and the producers held back that may go on once it made room.
    mutating func handoff(_ address: String, batch: Int = BrokerConnection.batch) -> Handoff {
        var handoff = Handoff(sends: dispatch(address, batch: batch))
        if let queue = queues[address], !queue.heldProducers.isEmpty, queue.isBelowLimits(limits) {
            handoff.resumed = queue.heldProducers
            queues[address]!.heldProducers.removeAll()
        }
        return handoff
    }

    /// Pairs queued messages with consumers that have credit and a writable socket, round robin,
    /// at most `batch` per consumer (so that one call never buffers a whole queue for a socket
    /// that cannot take it). Returns what to send.
    mutating func dispatch(_ address: String, batch: Int = BrokerConnection.batch) -> [(Consumer, StoredMessage)] {
        // Moved out of the dictionary, not copied: a copy would make every pop below copy the
        // whole queue (quadratic with 100,000 messages waiting, as the benchmark found).
        guard var queue = queues.removeValue(forKey: address) else { return [] }
        defer { queues[address] = queue }
        var out: [(Consumer, StoredMessage)] = []
        var handed = [Int](repeating: 0, count: queue.consumers.count)
        var idle = 0
        while !queue.messages.isEmpty, !queue.consumers.isEmpty, idle < queue.consumers.count {
            let index = queue.nextConsumer % queue.consumers.count
            queue.nextConsumer = index + 1
            let consumer = queue.consumers[index]
            if consumer.credit > 0, !consumer.paused, handed[index] < batch, let message = queue.removeFirst() {
                queue.consumers[index].credit -= 1
                handed[index] += 1
                out.append((queue.consumers[index], message))
                idle = 0
            } else {
                idle += 1
            }
        }
        return out
    }
}

/// One broker connection: maps links to queues.
final class BrokerConnection: AMQPServerConnectionDelegate {
    let state: NIOLockedValueBox<BrokerState>
    /// Links the client sends on (our receivers): link → queue address.
    var incoming: [LinkID: String] = [:]
    /// Links the client receives on (our senders): link → (queue, consumer id).
    var outgoing: [LinkID: (address: String, consumer: UInt64)] = [:]
    /// Messages sent and not yet settled, to requeue if released or if their link goes away.
    var inFlight: [OutgoingDeliveryID: InFlight] = [:]
    /// Counts deliveries sent on this connection: the order a link's unsettled messages go
    /// back to the front of their queue in.
    var sentCount: UInt64 = 0
    static let creditWindow: UInt32 = 1000
    /// The most messages one dispatch hands one consumer; more follow once they are written.
    static let batch = 256

    init(state: NIOLockedValueBox<BrokerState>) {
        self.state = state
    }

    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
        switch event {
        case .linkAttachRequested(_, let link, let attach):
            attachRequested(link, attach, connection)
        case .delivery(let link, let delivery):
            guard let address = incoming[link] else { return }
            received(delivery, on: link, address: address, connection)
        case .creditGranted(let link, _, _):
            refill(link, connection)
        case .outcome(_, let id, let deliveryState, let settled):
            guard settled, let entry = inFlight.removeValue(forKey: id) else { return }
            switch deliveryState {
            case .released?, .modified?:
                let handoff = state.withLockedValue { state -> Handoff in
                    state.queues[entry.address, default: Queue()].pushFront(entry.message)
                    return state.handoff(entry.address)
                }
                Self.run(handoff, address: entry.address)
            default:
                break
            }
        case .linkDetached(let link, _, _, _):
            if let address = incoming.removeValue(forKey: link) { forgetProducer(link, address: address, connection) }
            if let (address, consumerID) = outgoing.removeValue(forKey: link) {
                removeConsumer(consumerID, link: link, address: address)
            }
        case .closed, .failed, .sessionEnded:
            break
        default:
            break
        }
    }

    /// Sender links of this connection: tells the broker what each may be handed now (credit
    /// less what the engine holds, nothing while the socket is full) and sends what its queue has;
    /// after a full batch, comes back for more once that is written.
    func refill(_ link: LinkID, _ connection: AMQPServerConnection) {
        guard let (address, consumerID) = outgoing[link] else { return }
        let wanted = connection.deliveriesWanted(on: link)
        let writable = connection.isWritable
        let handoff = state.withLockedValue { state -> Handoff in
            guard let index = state.queues[address]?.consumers.firstIndex(where: { $0.id == consumerID }) else { return Handoff() }
            state.queues[address]!.consumers[index].credit = UInt32(clamping: wanted)
            state.queues[address]!.consumers[index].paused = !writable
            return state.handoff(address)
        }
        Self.run(handoff, address: address)
        if handoff.sends.count(where: { $0.0.id == consumerID }) == Self.batch {
            let bound = NIOLoopBound((self, connection), eventLoop: connection.eventLoop)
            connection.eventLoop.execute { bound.value.0.refill(link, bound.value.1) }
        }
    }

    func connectionWritabilityChanged(_ connection: AMQPServerConnection) {
        for link in outgoing.keys { refill(link, connection) }
    }

    func attachRequested(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection) {
        guard let address = attach.nodeAddress else {
            connection.withEngine { $0.refuseLink(link, error: AMQPError(condition: .amqp(.invalidField), description: "the broker needs an address")) }
            return
        }
        // Register the link before accepting it: accepting reports credit the peer pipelined
        // with its attach, and that event arrives while acceptLink runs.
        if attach.role == .sender {
            incoming[link] = address
        } else {
            let presettled = attach.senderSettleMode == .settled
            let consumer = state.withLockedValue { state -> UInt64 in
                let id = state.nextConsumerID
                state.nextConsumerID += 1
                state.queues[address, default: Queue()].consumers.append(
                    Consumer(id: id, connection: NIOLoopBound(connection, eventLoop: connection.eventLoop),
                             owner: NIOLoopBound(self, eventLoop: connection.eventLoop), link: link, presettled: presettled, credit: 0))
                return id
            }
            outgoing[link] = (address, consumer)
        }
        connection.acceptLink(link, answering: attach, creditWindow: Self.creditWindow, heldUntilConsumed: true)
    }

    /// A producer link is gone: its queue no longer holds credit back for it.
    func forgetProducer(_ link: LinkID, address: String, _ connection: AMQPServerConnection) {
        let id = ObjectIdentifier(connection)
        state.withLockedValue { state in
            state.queues[address]?.heldProducers.removeAll { $0.link == link && $0.connectionID == id }
        }
    }

    /// Forgets a consumer and puts back, at the front of its queue and in the order they left it,
    /// exactly the messages its link holds unsettled: another link's deliveries (on this
    /// connection or any other) stay with that link, so nothing it accepts is delivered twice.
    func removeConsumer(_ id: UInt64, link: LinkID, address: String) {
        let held = inFlight.filter { $0.value.link == link }
        for key in held.keys { inFlight.removeValue(forKey: key) }
        let inQueueOrder = held.values.sorted { $0.sent < $1.sent }
        let handoff = state.withLockedValue { state -> Handoff in
            state.queues[address]?.consumers.removeAll { $0.id == id }
            guard !inQueueOrder.isEmpty else { return Handoff() }
            for entry in inQueueOrder.reversed() {
                state.queues[address, default: Queue()].pushFront(entry.message)
            }
            return state.handoff(address)
        }
        Self.run(handoff, address: address)
    }

    /// Stores a message a producer sent, if its queue has room, and gives the producer its credit
    /// back only while the queue stays below its limits.
    ///
    /// A full queue does both things a bounded AMQP queue can: it withholds credit (the link is in
    /// the engine's held-until-consumed window mode, and deliveries taken while the queue is full
    /// are not given back) so that a producer waits instead of failing, and it refuses with
    /// `rejected` and `amqp:resource-limit-exceeded` what arrives on credit granted before the
    /// queue filled. Credit alone cannot bound a queue: every producer link holds up to a window
    /// granted in advance, and producers are not bounded in number. Refusal alone would turn
    /// every burst into errors a producer must retry. Together, memory stays within the limits,
    /// a producer is slowed rather than failed, and what is refused is told so, never dropped
    /// after an acceptance.
    func received(_ delivery: IncomingDelivery, on link: LinkID, address: String, _ connection: AMQPServerConnection) {
        let message = StoredMessage(payload: delivery.payload, messageFormat: delivery.messageFormat)
        let producer = NIOLoopBound(connection, eventLoop: connection.eventLoop)
        let (stored, room, handoff) = state.withLockedValue { state -> (Bool, Bool, Handoff) in
            let limits = state.limits
            var queue = state.queues.removeValue(forKey: address) ?? Queue()
            let stored = queue.hasRoom(for: message.payload.count, limits)
            if stored { queue.append(message) }
            let room = queue.isBelowLimits(limits)
            if !room {
                if let index = queue.heldProducers.firstIndex(where: { $0.link == link && $0.connectionID == ObjectIdentifier(connection) }) {
                    queue.heldProducers[index].held += 1
                } else {
                    queue.heldProducers.append(HeldProducer(connection: producer, connectionID: ObjectIdentifier(connection), link: link, held: 1))
                }
            }
            state.queues[address] = queue
            return (stored, room, stored ? state.handoff(address) : Handoff())
        }
        connection.withEngine { engine in
            if !delivery.isSettled {
                let outcome: DeliveryState = stored
                    ? .accepted(Accepted())
                    : .rejected(Rejected(error: AMQPError(condition: .amqp(.resourceLimitExceeded), description: "queue \(address) is full")))
                try? engine.settle(delivery.deliveryID, on: link, state: outcome)
            }
            if room { engine.consumed(1, on: link) }
        }
        Self.run(handoff, address: address)
    }

    /// Sends what a handoff hands to consumers, and gives held producers their credit back, each
    /// on its own connection's event loop.
    static func run(_ handoff: Handoff, address: String) {
        send(handoff.sends, address: address)
        for producer in handoff.resumed {
            if producer.connection.eventLoop.inEventLoop {
                producer.resume()
            } else {
                producer.connection.eventLoop.execute { producer.resume() }
            }
        }
    }

    /// Sends each message on its consumer's event loop: at once when we are on it, so that a
    /// consumer that asked to drain gets what the queue holds before its drain is answered.
    static func send(_ sends: [(Consumer, StoredMessage)], address: String) {
        for (consumer, message) in sends {
            if consumer.connection.eventLoop.inEventLoop {
                deliver(message, to: consumer, address: address)
            } else {
                consumer.connection.eventLoop.execute { deliver(message, to: consumer, address: address) }
            }
        }
    }

    /// Hands one message to a consumer's link; must run on the consumer's event loop.
    static func deliver(_ message: StoredMessage, to consumer: Consumer, address: String) {
        let connection = consumer.connection.value
        let delegate = consumer.owner.value
        guard delegate.outgoing[consumer.link] != nil else {
            // The consumer left before the message reached it: put it back.
            delegate.requeue(message, address: address)
            return
        }
        let id = try? connection.withEngine {
            try $0.send(on: consumer.link, payload: message.payload, settled: consumer.presettled, messageFormat: message.messageFormat)
        }
        if let id, !consumer.presettled {
            delegate.inFlight[id] = InFlight(link: consumer.link, address: address, sent: delegate.sentCount, message: message)
            delegate.sentCount += 1
        }
    }

    func requeue(_ message: StoredMessage, address: String) {
        let handoff = state.withLockedValue { state -> Handoff in
            state.queues[address, default: Queue()].pushFront(message)
            return state.handoff(address)
        }
        Self.run(handoff, address: address)
    }

    func connectionClosed(_ connection: AMQPServerConnection) {
        for (link, (address, consumer)) in outgoing { removeConsumer(consumer, link: link, address: address) }
        for (link, address) in incoming { forgetProducer(link, address: address, connection) }
        outgoing.removeAll()
        incoming.removeAll()
    }
}
