import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Testing

@testable import AMQPTransport

@Suite("A broker queue with no consumer is bounded", .timeLimit(.minutes(2)))
struct BoundedQueueTests {
    @Test("past maxMessages, credit is withheld and what came on credit already is rejected with resource-limit-exceeded; room gives credit back")
    func boundedByMessages() async throws {
        let broker = try await AMQPInMemoryBroker.start(queueLimits: .init(maxMessages: 10, maxBytes: nil))
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "b")
        let link = sender.link
        // One whole credit window: the broker grants it when the link attaches.
        let window = Int(BrokerConnection.creditWindow)
        var pending: [PendingDelivery] = []
        for index in 0..<window { pending.append(try await sender.enqueue(textMessage("m\(index)"))) }
        var accepted = 0, refused = 0
        for delivery in pending {
            switch try await delivery.outcome() {
            case .accepted: accepted += 1
            case .rejected(let error?) where error.condition == .amqp(.resourceLimitExceeded): refused += 1
            case let other: Issue.record("unexpected outcome \(other)")
            }
        }
        #expect(accepted == 10)
        #expect(refused == window - 10)
        #expect(broker.depth(of: "b") == 10)
        // The broker gave back no credit for what it could not store: the producer waits.
        #expect(try await connection.onLoop { $0.handler?.engine.credit(of: link) } == 0)
        let waiting = try await sender.enqueue(textMessage("after room"))

        let receiver = try await connection.openReceiver(from: "b", options: .init(credit: .prefetch(10), totalCredit: 10))
        for index in 0..<10 {
            let delivery = try #require(try await receiver.receive(timeout: .seconds(20)))
            #expect(text(of: delivery.message) == "m\(index)")
            try await delivery.accept()
        }
        // Room again: the held credit comes back and the waiting message is stored.
        #expect(try await waiting.outcome() == .accepted)
        #expect(broker.depth(of: "b") == 1)
        try await connection.close()
        try await broker.stop()
    }

    @Test("maxBytes counts payload bytes: a message that would pass it is refused, a smaller one after it is not")
    func boundedByBytes() async throws {
        let broker = try await AMQPInMemoryBroker.start(queueLimits: .init(maxMessages: nil, maxBytes: 1000))
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "bytes")
        let big = textMessage(String(repeating: "x", count: 400))
        let size = big.encoded(policy: .full).count
        #expect(try await sender.send(big) == .accepted)
        #expect(try await sender.send(big) == .accepted)
        let third = try await sender.send(big)
        #expect(third == .rejected(AMQPError(condition: .amqp(.resourceLimitExceeded), description: "queue bytes is full")))
        let small = textMessage("s")
        #expect(2 * size + small.encoded(policy: .full).count <= 1000)
        #expect(try await sender.send(small) == .accepted)
        #expect(broker.depth(of: "bytes") == 3)
        try await connection.close()
        try await broker.stop()
    }
}
