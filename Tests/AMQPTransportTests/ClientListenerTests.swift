import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import AMQPTransport

func textMessage(_ text: String, properties: Properties? = nil) -> Message {
    Message(properties: properties, body: .value(AMQPValueSection(.string(text))))
}

func text(of message: Message) -> String? {
    if case .value(let v) = message.body, case .string(let s) = v.value { return s }
    return nil
}

@Suite("Client against our listener (in-memory broker)", .timeLimit(.minutes(2)))
struct ClientListenerTests {
    @Test("send and receive 200 messages through a queue, accepting each")
    func sendReceive() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "q1")
        let receiver = try await connection.openReceiver(from: "q1", options: .init(credit: .prefetch(50)))
        try await withThrowingTaskGroup(of: DeliveryOutcome.self) { group in
            for i in 0..<200 {
                group.addTask { try await sender.send(textMessage("m\(i)")) }
            }
            for try await outcome in group { #expect(outcome == .accepted) }
        }
        var seen = Set<String>()
        for try await delivery in receiver {
            seen.insert(text(of: delivery.message) ?? "?")
            try await delivery.accept()
            if seen.count == 200 { break }
        }
        #expect(seen.count == 200)
        #expect(broker.depth(of: "q1") == 0)
        try await connection.close()
        #expect(await connection.isOpen == false)
        try await broker.stop()
    }

    @Test("enqueue returns before the outcome; outcomes arrive as they come")
    func pipelinedSends() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "q2")
        var pending: [PendingDelivery] = []
        for i in 0..<1000 { pending.append(try await sender.enqueue(textMessage("x\(i)"))) }
        for p in pending { #expect(try await p.outcome() == .accepted) }
        #expect(broker.depth(of: "q2") == 1000)
        try await connection.close()
        try await broker.stop()
    }

    @Test("a sender's encoding policy decides the bytes it sends: full writes every field, compact trims")
    func senderEncodingPolicy() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        // Properties with only a message-id: compact omits the twelve trailing nulls (§1.4 lets a
        // list end early); full writes them, for peers that cannot read the short form.
        let message = textMessage("policy", properties: Properties(messageID: .ulong(7)))
        let full = try await connection.openSender(to: "policy", options: .init(encodingPolicy: .full))
        let compact = try await connection.openSender(to: "policy")
        #expect(try await full.send(message) == .accepted)
        #expect(try await compact.send(message) == .accepted)
        let receiver = try await connection.openReceiver(from: "policy", options: .init(credit: .prefetch(2)))
        var payloads: [[UInt8]] = []
        for try await delivery in receiver {
            payloads.append(Array(delivery.payload))
            try await delivery.accept()
            if payloads.count == 2 { break }
        }
        #expect(payloads == [message.encoded(policy: .full), message.encoded(policy: .compact)].map { Array($0) })
        #expect(payloads[0].count > payloads[1].count)
        try await connection.close()
        try await broker.stop()
    }

    /// A listener that attaches every link and grants credit `window` at a time, each window a
    /// little after the last one is used up; with a window of 0, never.
    final class SlowCreditDelegate: AMQPServerConnectionDelegate {
        let window: UInt32
        var received = 0
        init(window: UInt32) { self.window = window }

        func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
            switch event {
            case .linkAttachRequested(_, let link, let attach):
                connection.withEngine { engine in
                    try? engine.acceptLink(link, source: attach.source, target: attach.target)
                    if window > 0 { try? engine.setCredit(window, on: link) }
                }
            case .delivery(let link, _):
                received += 1
                guard received % Int(window) == 0 else { return }
                let window = self.window
                let bound = NIOLoopBound(connection, eventLoop: connection.eventLoop)
                connection.eventLoop.scheduleTask(in: .milliseconds(20)) {
                    bound.value.withEngine { try? $0.setCredit(window, on: link) }
                }
            default:
                break
            }
        }
        func connectionClosed(_ connection: AMQPServerConnection) {}
    }

    @Test("close() lets what was enqueued go out first, while the receiver grants credit a little at a time")
    func closeFlushes() async throws {
        let listener = try await AMQPListener.bind(AMQPListener.Configuration()) { SlowCreditDelegate(window: 10) }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let sender = try await connection.openSender(to: "slow")
        var pending: [PendingDelivery] = []
        for i in 0..<200 { pending.append(try await sender.enqueue(textMessage("f\(i)"), settled: true)) }
        // 20 windows, 20 ms apart: close has to wait for them.
        try await sender.close()
        for p in pending { #expect(try await p.outcome() == .settled) }
        try await connection.close()
        try await listener.close()
    }

    @Test("close() waits for credit at most flushTimeout; what is still waiting fails with linkDetached; enqueue after close throws")
    func closeFlushTimeout() async throws {
        let listener = try await AMQPListener.bind(AMQPListener.Configuration()) { SlowCreditDelegate(window: 0) }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let sender = try await connection.openSender(to: "nowhere")
        let pending = try await sender.enqueue(textMessage("never sent"))
        let started = ContinuousClock.now
        try await sender.close(flushTimeout: .milliseconds(300))
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        await #expect(throws: AMQPClientError.self) { _ = try await pending.outcome() }
        await #expect(throws: AMQPClientError.self) { _ = try await sender.enqueue(textMessage("late")) }
        try await connection.close()
        try await listener.close()
    }

    @Test("SASL PLAIN needs TLS or an explicit opt-in; a wrong password is an authentication error")
    func plainAuthentication() async throws {
        var configuration = AMQPListener.Configuration()
        configuration.saslMechanisms = [PlainServerMechanism { $0 == "user" && $1 == "secret" }]
        configuration.saslRequired = true
        let broker = try await AMQPInMemoryBroker.start(configuration)

        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port, authentication: .plain(username: "user", password: "secret"))
        do {
            _ = try await AMQPConnection.connect(options)
            Issue.record("PLAIN went out without TLS")
        } catch let error as AMQPClientError {
            #expect(error.kind == .connectionFailed)
            #expect("\(error)".contains("without TLS"))
            #expect(!"\(error)".contains("secret"))
        }

        options.allowsCleartextCredentials = true
        let connection = try await AMQPConnection.connect(options)
        try await connection.close()

        options.authentication = .plain(username: "user", password: "wrong")
        do {
            _ = try await AMQPConnection.connect(options)
            Issue.record("wrong password accepted")
        } catch let error as AMQPClientError {
            #expect(error.kind == .connectionFailed)
            guard case .sasl(let sasl)? = error.underlying as? ConnectionFailure else {
                Issue.record("not a SASL failure: \(error)")
                return
            }
            #expect(sasl.kind == .authenticationFailed)
        }
        try await broker.stop()
    }

    @Test("SCRAM-SHA-256 between our client and our listener")
    func scram() async throws {
        let stored = try SCRAMSHA256Credentials(password: "pencil", salt: Array("saltsaltsaltsalt".utf8), iterations: 4096)
        var configuration = AMQPListener.Configuration()
        configuration.saslMechanisms = [SCRAMSHA256ServerMechanism { $0 == "user" ? stored : nil }, PlainServerMechanism { _, _ in false }]
        configuration.saslRequired = true
        let broker = try await AMQPInMemoryBroker.start(configuration)
        let good = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port, authentication: .scramSHA256(username: "user", password: "pencil"))
        let connection = try await AMQPConnection.connect(good)
        try await connection.close()
        let bad = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port, authentication: .scramSHA256(username: "user", password: "crayon"))
        await #expect(throws: AMQPClientError.self) { _ = try await AMQPConnection.connect(bad) }
        try await broker.stop()
    }

    @Test("a refused link fails openReceiver with the peer's condition")
    func refusedLink() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let session = try await connection.openSession()
        do {
            _ = try await session.openReceiver(from: "", options: .init(source: Source()))
            Issue.record("attached")
        } catch let error as AMQPClientError {
            #expect(error.kind == .linkRefused)
            #expect(error.condition == .amqp(.invalidField))
        }
        // The connection and session are still good.
        let sender = try await session.openSender(to: "ok")
        #expect(try await sender.send(textMessage("still here")) == .accepted)
        try await connection.close()
        try await broker.stop()
    }

    @Test("a message over the receiver's max-message-size is refused before it is sent")
    func maxMessageSize() async throws {
        var configuration = AMQPListener.Configuration()
        configuration.maxMessageSize = 1024
        let broker = try await AMQPInMemoryBroker.start(configuration)
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "q")
        #expect(sender.maxMessageSize == 1024)
        do {
            try await sender.send(Message(body: .data([DataSection(Binary([UInt8](repeating: 7, count: 2000)))])))
            Issue.record("sent")
        } catch let error as AMQPClientError {
            #expect(error.kind == .invalidArgument)
            #expect(error.condition == .link(.messageSizeExceeded))
        }
        try await connection.close()
        try await broker.stop()
    }

    @Test("multi-frame messages through a listener with 512-byte frames")
    func largeMessages() async throws {
        var configuration = AMQPListener.Configuration()
        configuration.maxFrameSize = 512
        configuration.maxMessageSize = 4 << 20
        let broker = try await AMQPInMemoryBroker.start(configuration)
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        options.maxFrameSize = 512
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "big")
        let receiver = try await connection.openReceiver(from: "big")
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(try await sender.send(Message(body: .data([DataSection(Binary(body))]))) == .accepted)
        let delivery = try #require(try await receiver.receive())
        guard case .data(let sections) = delivery.message.body else {
            Issue.record("not data")
            return
        }
        #expect(Array(sections.first?.value.bytes ?? []) == body)
        try await delivery.accept()
        try await connection.close()
        try await broker.stop()
    }

    @Test("manual credit, drain, and release puts a message back")
    func manualCreditDrainRelease() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "m")
        for i in 0..<3 { try await sender.send(textMessage("n\(i)")) }
        let receiver = try await connection.openReceiver(from: "m", options: .init(credit: .manual))
        try await receiver.addCredit(2)
        let first = try #require(try await receiver.receive())
        let second = try #require(try await receiver.receive())
        #expect([text(of: first.message), text(of: second.message)] == ["n0", "n1"])
        try await first.accept()
        try await second.release()
        try await receiver.addCredit(5)
        try await receiver.drain()
        var rest: [String] = []
        while rest.count < 2, let d = try await receiver.receive() {
            rest.append(text(of: d.message) ?? "?")
            try await d.accept()
        }
        #expect(Set(rest) == ["n1", "n2"])
        try await connection.close()
        try await broker.stop()
    }

    @Test("after close, every call fails with connectionClosed")
    func closed() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let sender = try await connection.openSender(to: "z")
        try await connection.close()
        do {
            try await sender.send(textMessage("late"))
            Issue.record("sent after close")
        } catch let error as AMQPClientError {
            #expect(error.kind == .connectionClosed || error.kind == .linkDetached)
        }
        try await broker.stop()
    }

    @Test("connecting to a port nobody listens on fails with connectionFailed")
    func refusedConnection() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let port = broker.port
        try await broker.stop()
        do {
            _ = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: port))
            Issue.record("connected")
        } catch let error as AMQPClientError {
            #expect(error.kind == .connectionFailed)
        }
    }

    @Test("URLs: scheme, credentials, port and virtual host; the password never shows")
    func urls() throws {
        let plain = try AMQPConnectionOptions(url: "amqp://guest:g%40est@localhost:5673/vh")
        #expect(plain.port == 5673)
        #expect(plain.virtualHost == "vh")
        guard case .plain("guest", "g@est") = plain.authentication else {
            Issue.record("\(plain.authentication)")
            return
        }
        #expect(!"\(plain.authentication)".contains("g@est"))
        let tls = try AMQPConnectionOptions(url: "amqps://broker.example.com")
        #expect(tls.port == 5671)
        guard case .enabled(let configuration) = tls.tls else {
            Issue.record("no TLS")
            return
        }
        #expect(configuration.certificateVerification == .fullVerification)
        #expect(throws: AMQPClientError.self) { try AMQPConnectionOptions(url: "http://x") }
        #expect(AMQPEndpoint.redacted("amqp://u:hunter2@h") == "amqp://u:***@h")
    }
}

@Suite("Receiving with a time limit or cancellation", .timeLimit(.minutes(1)))
struct ReceiveWaitTests {
    @Test("receive(timeout:) returns nil in time; a cancelled receive throws and loses nothing")
    func timeoutAndCancellation() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: broker.port))
        let receiver = try await connection.openReceiver(from: "w")
        let start = ContinuousClock.now
        #expect(try await receiver.receive(timeout: .milliseconds(200)) == nil)
        #expect(ContinuousClock.now - start < .seconds(5))
        let waiting = Task { try await receiver.receive() }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        let sender = try await connection.openSender(to: "w")
        try await sender.send(textMessage("later"))
        let delivery = try #require(try await receiver.receive(timeout: .seconds(10)))
        #expect(text(of: delivery.message) == "later")
        try await connection.close()
        try await broker.stop()
    }
}
