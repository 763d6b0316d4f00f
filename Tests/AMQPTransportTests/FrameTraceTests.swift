import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import AMQPTransport

/// The live frame trace (`AMQP_TRACE_FRAMES`): every frame in and out of a real connection.
@Suite("Live frame trace", .timeLimit(.minutes(2)))
struct FrameTraceTests {
    /// Collects trace lines from the event loops.
    final class Lines: Sendable {
        let lines = NIOLockedValueBox<[String]>([])
        var all: [String] { lines.withLockedValue { $0 } }
        var trace: AMQPFrameTrace { trace(payloads: .lengthOnly) }
        func trace(payloads: FrameStreamDescriber.Payloads) -> AMQPFrameTrace {
            AMQPFrameTrace(payloads: payloads) { [lines] line in lines.withLockedValue { $0.append(line) } }
        }
    }

    @Test("client and listener print each frame both ways, SASL responses and payloads by length only")
    func clientAndListener() async throws {
        let serverLines = Lines()
        var configuration = AMQPListener.Configuration()
        configuration.saslMechanisms = [PlainServerMechanism { $0 == "user" && $1 == "pa55word" }]
        configuration.saslRequired = true
        configuration.frameTrace = serverLines.trace
        let broker = try await AMQPInMemoryBroker.start(configuration)
        let clientLines = Lines()
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port, authentication: .plain(username: "user", password: "pa55word"))
        options.cleartextCredentials = .allowedOnLoopback
        options.frameTrace = clientLines.trace
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "traced")
        #expect(try await sender.send(textMessage("private text")) == .accepted)
        try await connection.close()
        try await broker.stop()

        let client = clientLines.all
        let prefix = "[127.0.0.1:\(broker.port)] "
        #expect(client.allSatisfy { $0.hasPrefix(prefix) }, "\(client)")
        let sent = client.filter { $0.hasPrefix(prefix + "-> ") }.map { $0.dropFirst(prefix.count + 3) }
        let received = client.filter { $0.hasPrefix(prefix + "<- ") }.map { $0.dropFirst(prefix.count + 3) }
        #expect(sent.first == "SASL 3-1.0.0")
        #expect(sent.contains { $0.hasPrefix("@0 sasl-init(mechanism=:PLAIN, initial-response=\"<14 bytes hidden>\"") })
        #expect(sent.contains { $0.hasPrefix("@0 open(container-id=") })
        #expect(sent.contains { $0.hasPrefix("@0 attach(name=") && $0.contains("role=false") })
        #expect(sent.contains { $0.hasPrefix("@0 transfer(handle=0, delivery-id=0") && $0.hasSuffix(" bytes)") })
        #expect(sent.last?.hasPrefix("@0 close(") == true)
        #expect(received.contains { $0 == "@0 sasl-outcome(code=0)" })
        #expect(received.contains { $0.hasPrefix("@0 disposition(role=true") && $0.contains("state=accepted()") })
        #expect(!client.joined().contains("pa55word"))
        #expect(!client.joined().contains("private text"))

        // The listener sees the same conversation from the other side, prefixed with the client's port.
        let server = serverLines.all
        #expect(server.contains { $0.contains("<- @0 sasl-init(mechanism=:PLAIN, initial-response=\"<14 bytes hidden>\"") })
        #expect(server.contains { $0.contains("-> @0 sasl-outcome(code=0)") })
        #expect(server.contains { $0.contains("<- @0 transfer(handle=0") })
        #expect(!server.joined().contains("pa55word"))
    }

    @Test("with payloads asked for, a transfer shows its message sections")
    func payloads() async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let lines = Lines()
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        options.frameTrace = lines.trace(payloads: .sections)
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "traced")
        #expect(try await sender.send(textMessage("shown text")) == .accepted)
        try await connection.close()
        try await broker.stop()
        #expect(lines.all.contains { $0.contains("-> @0 transfer(") && $0.hasSuffix("amqp-value(\"shown text\")") })
    }

    @Test("AMQP_TRACE_FRAMES: 1 traces lengths, payloads traces sections, 0 and unset trace nothing")
    func environment() {
        #expect(AMQPFrameTrace.parse(environmentValue: nil) == nil)
        #expect(AMQPFrameTrace.parse(environmentValue: "") == nil)
        #expect(AMQPFrameTrace.parse(environmentValue: "0") == nil)
        #expect(AMQPFrameTrace.parse(environmentValue: "false") == nil)
        #expect(AMQPFrameTrace.parse(environmentValue: "1")?.payloads == .lengthOnly)
        #expect(AMQPFrameTrace.parse(environmentValue: "true")?.payloads == .lengthOnly)
        #expect(AMQPFrameTrace.parse(environmentValue: "payloads")?.payloads == .sections)
    }
}
