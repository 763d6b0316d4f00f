import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Testing

@testable import AMQPTransport

/// A management-style node: every request gets a reply with the request's body, on the link
/// whose target is the request's `reply-to`, correlated by message-id. Requests whose body is
/// the string "ignore" get no reply.
final class EchoNode: AMQPServerConnectionDelegate {
    var replyLinks: [String: LinkID] = [:]
    var replyLinkAddresses: [LinkID: String] = [:]

    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
        switch event {
        case .linkAttachRequested(_, let link, let attach):
            connection.withEngine { engine in
                try? engine.acceptLink(link, source: attach.source, target: attach.target)
                if attach.role == .sender { try? engine.setCredit(100, on: link) }
            }
            if attach.role == .receiver, case .target(let t)? = attach.target, case .string(let address)? = t.address {
                replyLinks[address] = link
            }
        case .delivery(let link, let delivery):
            connection.withEngine { try? $0.settle(delivery.deliveryID, on: link, state: .accepted(Accepted())) }
            var decoder = AMQPDecoder(delivery.payload)
            guard let request = try? Message(from: &decoder), let replyTo = request.properties?.replyTo,
                  case .string(let address) = replyTo, let replyLink = replyLinks[address] else { return }
            if case .value(let v) = request.body, v.value == .string("ignore") { return }
            let reply = Message(properties: Properties(correlationID: request.properties?.messageID), body: request.body)
            connection.withEngine { try? $0.send(on: replyLink, payload: reply.encoded()[...], settled: true) }
        default:
            break
        }
    }

    func connectionClosed(_ connection: AMQPServerConnection) {}
}

@Suite("Request/response over one node", .timeLimit(.minutes(1)))
struct RequestResponseTests {
    @Test("concurrent requests each get their own reply")
    func concurrent() async throws {
        let listener = try await AMQPListener.bind(.init()) { EchoNode() }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let node = try await AMQPRequestResponseLink.attach(on: try await connection.session(), node: "$management")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask {
                    let reply = try await node.request(textMessage("request \(i)"))
                    #expect(text(of: reply) == "request \(i)")
                }
            }
            try await group.waitForAll()
        }
        try await node.close()
        try await connection.close()
        try await listener.close()
    }

    @Test("a request without a reply times out, and the link keeps working")
    func timeout() async throws {
        let listener = try await AMQPListener.bind(.init()) { EchoNode() }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let node = try await AMQPRequestResponseLink.attach(on: try await connection.session(), node: "$cbs")
        do {
            _ = try await node.request(textMessage("ignore"), timeout: .milliseconds(200))
            Issue.record("got a reply")
        } catch let error as AMQPClientError {
            #expect(error.kind == .timedOut)
        }
        #expect(text(of: try await node.request(textMessage("again"))) == "again")
        try await connection.close()
        try await listener.close()
    }

    @Test("when the connection goes away, waiting requests fail instead of hanging")
    func connectionLoss() async throws {
        let listener = try await AMQPListener.bind(.init()) { EchoNode() }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let node = try await AMQPRequestResponseLink.attach(on: try await connection.session(), node: "$x")
        let waiting = Task { try await node.request(textMessage("ignore"), timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        try await connection.close()
        await #expect(throws: AMQPClientError.self) { _ = try await waiting.value }
        try await listener.close()
    }
}
