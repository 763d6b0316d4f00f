import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// The code of the "engine without NIO" article, region for region (AMQPDocumentationTests
/// checks that each block equals its region here).
@Suite("Documentation examples: the engine")
struct EngineDocumentationExampleTests {
    @Test("two engines back to back: a message crosses, is accepted, and the outcome comes back")
    func backToBack() throws {
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }
        // A bare message with an amqp-value body: the string "order 17".
        let payload = AMQPEncoder.encode(AMQPValueSection(.string("order 17")))

        // snippet: engine back to back
        var client = ConnectionEngine(configuration: ConnectionConfiguration(role: .client, containerID: "client", hostname: "localhost"))
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "server"))
        server.start(now: 0)
        client.start(now: 0)
        let session = try client.beginSession()
        let link = try client.attachLink(on: session, .init(name: "orders-sender", role: .sender, target: .target(Target(address: .string("orders")))))
        try client.send(on: link, payload: ArraySlice(payload))   // waits in the engine for credit

        var received: [IncomingDelivery] = []
        while client.hasOutput || server.hasOutput {
            server.receive(client.takeOutput(), now: 0)         // the "network": bytes from one engine to the other
            client.receive(server.takeOutput(), now: 0)
            for event in server.takeEvents() {
                switch event {
                case .linkAttachRequested(_, let link, let attach):
                    try server.acceptLink(link, source: attach.source, target: attach.target, creditMode: .window(100))
                case .delivery(let link, let delivery):
                    received.append(delivery)
                    try server.settle(delivery.deliveryID, on: link, state: .accepted(Accepted()))
                default:
                    break
                }
            }
            server.answerDrains()
            for event in client.takeEvents() {
                if case .outcome(_, _, let state, _) = event { print("outcome:", state.map { "\($0)" } ?? "none") }
            }
        }
        // snippet end

        #expect(received.count == 1)
        #expect(received.first.map { Array($0.payload) } == payload)
        #expect(printed.count == 1)
        #expect(printed.first?.contains("accepted") == true, "\(printed)")
        #expect(client.isOpen && server.isOpen)
    }
}
