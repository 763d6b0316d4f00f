import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOPosix
import Testing

@testable import AMQPTransport

/// Sends `count` messages on each of three senders of one session — pre-settled, unsettled, and
/// mixed (every other message pre-settled) — and waits for every outcome. A server that tops
/// credit up only when it settles something stops pre-settled senders at its first window.
func sendPresettledUnsettledAndMixed(_ count: Int, to addresses: (settled: String, unsettled: String, mixed: String),
                                     on connection: AMQPConnection) async throws {
    let session = try await connection.openSession()
    let settled = try await session.openSender(to: addresses.settled, options: .init(settleMode: .settled))
    let unsettled = try await session.openSender(to: addresses.unsettled, options: .init(settleMode: .unsettled))
    let mixed = try await session.openSender(to: addresses.mixed, options: .init(settleMode: .mixed))
    let payload = textMessage("m").encoded(policy: .full)
    var pending: [(PendingDelivery, Bool)] = []
    pending.reserveCapacity(3 * count)
    for index in 0..<count {
        pending.append((try await settled.enqueue(encoded: payload, settled: true), true))
        pending.append((try await unsettled.enqueue(encoded: payload), false))
        let presettled = index % 2 == 0
        pending.append((try await mixed.enqueue(encoded: payload, settled: presettled), presettled))
    }
    var accepted = 0
    var presettledCount = 0
    for (delivery, presettled) in pending {
        let outcome = try await delivery.outcome()
        if presettled { #expect(outcome == .settled); presettledCount += 1 } else if outcome == .accepted { accepted += 1 }
    }
    #expect(accepted == count + count / 2)
    #expect(presettledCount == count + (count + 1) / 2)
}

@Suite("The in-memory broker's credit: the engine's window, whatever the settle mode", .timeLimit(.minutes(3)))
struct BrokerCreditTests {
    @Test("pre-settled, unsettled and mixed senders on one session are served past the window", arguments: [3000, 10_000])
    func servesEverySettleMode(_ count: Int) async throws {
        // Loops of its own: tens of thousands of messages must not starve other tests' timers.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let broker = try await AMQPInMemoryBroker.start(eventLoopGroup: group)
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port), eventLoopGroup: group)
        try await sendPresettledUnsettledAndMixed(count, to: ("s", "u", "m"), on: connection)
        #expect(broker.depth(of: "s") == count)
        #expect(broker.depth(of: "u") == count)
        #expect(broker.depth(of: "m") == count)
        try await connection.close()
        try await broker.stop()
        try await group.shutdownGracefully()
    }

    @Test("a prefetching receiver keeps credit plus buffered deliveries within its prefetch, and gets everything")
    func prefetchIsBounded() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "p", options: .init(settleMode: .settled))
        for _ in 0..<500 { _ = try await sender.enqueue(textMessage("x"), settled: true) }
        let receiver = try await connection.openReceiver(from: "p", options: .init(credit: .prefetch(20)))
        // Nothing taken yet: the broker may send no more than the prefetch.
        try await Task.sleep(for: .milliseconds(200))
        #expect(receiver.inbound.count <= 20)
        #expect(broker.depth(of: "p") >= 480)
        var received = 0
        while received < 500, let delivery = try await receiver.receive(timeout: .seconds(10)) {
            try await delivery.accept()
            received += 1
        }
        #expect(received == 500)
        try await connection.close()
        try await broker.stop()
    }

    @Test("totalCredit caps what a prefetching receiver takes from the queue")
    func totalCredit() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "t", options: .init(settleMode: .settled))
        for _ in 0..<100 { _ = try await sender.enqueue(textMessage("x"), settled: true) }
        let receiver = try await connection.openReceiver(from: "t", options: .init(credit: .prefetch(10), totalCredit: 25))
        var received = 0
        while received < 25, let delivery = try await receiver.receive(timeout: .seconds(10)) {
            try await delivery.accept()
            received += 1
        }
        // Nothing past the total: the rest stays in the queue.
        #expect(try await receiver.receive(timeout: .milliseconds(500)) == nil)
        #expect(received == 25)
        #expect(broker.depth(of: "t") == 75)
        try await connection.close()
        try await broker.stop()
    }
}

@Suite("A sender's one backlog: the engine's queue, bounded by SendQueue.limit", .timeLimit(.minutes(2)))
struct SenderBacklogTests {
    @Test("without credit, enqueue hands messages straight to the engine and waits once more than the limit are unwritten")
    func backlogIsTheEngineQueue() async throws {
        let listener = try await AMQPListener.bind(AMQPListener.Configuration()) { ClientListenerTests.SlowCreditDelegate(window: 0) }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let sender = try await connection.openSender(to: "nowhere")
        let link = sender.link
        let limit = SendQueue.limit
        let enqueued = Task {
            for index in 0..<(limit + 100) { _ = try await sender.enqueue(textMessage("m\(index)")) }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        func inEngine() async throws -> Int { try await connection.onLoop { core in core.handler?.engine.queuedDeliveries(on: link) ?? -1 } }
        while try await inEngine() < limit + 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(200))
        // The caller that went past the limit waits; everything appended is in the engine's queue.
        #expect(try await inEngine() == limit + 1)
        enqueued.cancel()
        try await sender.close(error: AMQPError(condition: .link(.detachForced)))
        _ = await enqueued.result
        try await connection.close()
        try await listener.close()
    }
}
