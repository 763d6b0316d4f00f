import AMQPCodec
import AMQPMessage
import AMQPTransport
import AMQPTypes
import NIOConcurrencyHelpers
import Testing

/// The transport's code in the README and the AMQPTransport articles, region for region
/// (AMQPDocumentationTests checks that each block equals its region here).
@Suite("Documentation examples: transport", .timeLimit(.minutes(2)))
struct TransportDocumentationExampleTests {
    @Test("Getting started: send and receive through the in-memory broker")
    func gettingStarted() async throws {
        let printed = PrintedLines()
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }

        // snippet: getting started
        let broker = try await AMQPInMemoryBroker.start()           // in this process, on a free port
        let connection = try await AMQPConnection.connect(to: "amqp://127.0.0.1:\(broker.port)/")
        let sender = try await connection.openSender(to: "orders")
        let outcome = try await sender.send(Message(body: .value(AMQPValueSection(.string("order 17")))))
        print(outcome)                                               // accepted: the broker has it

        let receiver = try await connection.openReceiver(from: "orders", options: .init(credit: .prefetch(100)))
        for try await delivery in receiver {
            print(delivery.message.body)
            try await delivery.accept()
            break
        }
        try await connection.close()
        try await broker.stop()
        // snippet end

        #expect(outcome == .accepted)
        #expect(printed.lines.count == 2)
        #expect(printed.lines.last?.contains("order 17") == true)
        #expect(broker.depth(of: "orders") == 0)
    }

    /// Compiled, not run: it names a broker the tests do not have (ClientListenerTests make the
    /// same calls against the in-memory broker).
    func transportOverview(message: Message, messages: [Message]) async throws {
        // snippet: transport overview
        let connection = try await AMQPConnection.connect(to: "amqps://user:secret@broker.example.com/")
        let sender = try await connection.openSender(to: "orders")
        print(try await sender.send(message))                       // waits for the receiver's outcome
        var pending: [PendingDelivery] = []
        for m in messages { pending.append(try await sender.enqueue(m)) }   // in flight up to credit
        for p in pending { _ = try await p.outcome() }

        let receiver = try await connection.openReceiver(from: "orders", options: .init(credit: .prefetch(300)))
        for try await delivery in receiver {
            try await delivery.accept()                              // or reject(error:), release(), modify(…)
        }
        // snippet end
    }

    /// Compiled, not run: RabbitMQ on its default port (AMQPPeerTests run the same calls against
    /// a RabbitMQ node of their own).
    func rabbitMQ() async throws {
        // snippet: rabbitmq
        var options = AMQPConnectionOptions(host: "localhost", authentication: .plain(username: "guest", password: "guest"))
        options.allowsCleartextCredentials = true            // PLAIN without TLS: a deliberate opt-in
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "/queue/orders")
        try await sender.sendExpectingAcceptance(Message(body: .value(AMQPValueSection(.string("hello")))))
        let receiver = try await connection.openReceiver(from: "/queue/orders")
        for try await delivery in receiver {
            print(delivery.message.body)
            try await delivery.accept()
            break
        }
        try await connection.close()
        // snippet end
    }

    /// Compiled, not run: the README's first example, against an emulator on port 5672
    /// (AMQPEventHubsTests run the emulator on ports of their own).
    func eventHubsWithTheTransport() async throws {
        // snippet: event hubs scenario
        var options = AMQPConnectionOptions(host: "localhost", port: 5672,
            authentication: .plain(username: "RootManageSharedAccessKey", password: "SAS_KEY_VALUE"))
        options.cleartextCredentials = .allowedOnLoopback   // the emulator on this machine; use TLS for Azure
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "eh1")
        try await sender.send(Message(properties: Properties(groupID: "orders"),
                                      body: .data([DataSection(Binary(Array("hello".utf8)))])))
        let receiver = try await connection.openReceiver(from: "eh1/ConsumerGroups/$default/Partitions/0")
        for try await delivery in receiver { print(delivery.message) }
        // snippet end
    }
}

/// What a documentation example printed, where a test shadows `print` to check it.
final class PrintedLines: Sendable {
    private let box = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { box.withLockedValue { $0.append(line) } }
    var lines: [String] { box.withLockedValue { $0 } }
}
