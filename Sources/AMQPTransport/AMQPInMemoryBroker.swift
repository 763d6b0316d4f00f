import AMQPCodec
import AMQPProtocol
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small AMQP 1.0 broker that keeps queues in memory: each address is a queue, messages sent
/// to it are stored (and accepted) and handed to its receivers in turn, as their credit allows.
/// Released and modified messages go back to the head of the queue; rejected ones are dropped.
///
/// Meant for tests and benchmarks of AMQP clients; it is neither durable nor a production broker.
public final class AMQPInMemoryBroker: Sendable {
    /// The listener the broker runs on.
    public let listener: AMQPListener
    let state: NIOLockedValueBox<BrokerState>

    /// Starts a broker listening per `configuration` (port 0 picks a free port).
    public static func start(
        _ configuration: AMQPListener.Configuration = .init(),
        eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> AMQPInMemoryBroker {
        let state = NIOLockedValueBox(BrokerState())
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

struct Queue: Sendable {
    var messages = FIFO<StoredMessage>()
    var consumers: [Consumer] = []
    var nextConsumer = 0
}

struct BrokerState: Sendable {
    var queues: [String: Queue] = [:]
    var nextConsumerID: UInt64 = 0

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
            if consumer.credit > 0, !consumer.paused, handed[index] < batch, let message = queue.messages.removeFirst() {
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
    /// Messages sent and not yet settled, to requeue if released.
    var inFlight: [OutgoingDeliveryID: (address: String, message: StoredMessage)] = [:]
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
            let message = StoredMessage(payload: delivery.payload, messageFormat: delivery.messageFormat)
            let sends = state.withLockedValue { state -> [(Consumer, StoredMessage)] in
                state.queues[address, default: Queue()].messages.append(message)
                return state.dispatch(address)
            }
            if !delivery.isSettled {
                connection.withEngine { try? $0.settle(delivery.deliveryID, on: link, state: .accepted(Accepted())) }
            }
            Self.send(sends, address: address)
        case .creditGranted(let link, _, _):
            refill(link, connection)
        case .outcome(_, let id, let deliveryState, let settled):
            guard settled, let entry = inFlight.removeValue(forKey: id) else { return }
            switch deliveryState {
            case .released?, .modified?:
                let sends = state.withLockedValue { state -> [(Consumer, StoredMessage)] in
                    state.queues[entry.address, default: Queue()].messages.pushFront(entry.message)
                    return state.dispatch(entry.address)
                }
                Self.send(sends, address: entry.address)
            default:
                break
            }
        case .linkDetached(let link, _, _, _):
            incoming.removeValue(forKey: link)
            if let (address, consumerID) = outgoing.removeValue(forKey: link) {
                removeConsumer(consumerID, address: address)
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
        let sends = state.withLockedValue { state -> [(Consumer, StoredMessage)] in
            guard let index = state.queues[address]?.consumers.firstIndex(where: { $0.id == consumerID }) else { return [] }
            state.queues[address]!.consumers[index].credit = UInt32(clamping: wanted)
            state.queues[address]!.consumers[index].paused = !writable
            return state.dispatch(address)
        }
        Self.send(sends, address: address)
        if sends.count(where: { $0.0.id == consumerID }) == Self.batch {
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
        connection.acceptLink(link, answering: attach, creditWindow: Self.creditWindow)
    }

    func removeConsumer(_ id: UInt64, address: String) {
        state.withLockedValue { state in
            state.queues[address]?.consumers.removeAll { $0.id == id }
        }
        // Messages sent to it and not settled go back to the queue.
        let unsettled = inFlight.filter { $0.value.address == address }
        for (key, entry) in unsettled {
            inFlight.removeValue(forKey: key)
            state.withLockedValue { $0.queues[address, default: Queue()].messages.pushFront(entry.message) }
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
            delegate.inFlight[id] = (address, message)
        }
    }

    func requeue(_ message: StoredMessage, address: String) {
        let sends = state.withLockedValue { state -> [(Consumer, StoredMessage)] in
            state.queues[address, default: Queue()].messages.pushFront(message)
            return state.dispatch(address)
        }
        Self.send(sends, address: address)
    }

    func connectionClosed(_ connection: AMQPServerConnection) {
        for (_, (address, consumer)) in outgoing { removeConsumer(consumer, address: address) }
        outgoing.removeAll()
        incoming.removeAll()
    }
}
