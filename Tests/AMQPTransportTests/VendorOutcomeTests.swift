import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

@testable import AMQPTransport

/// A vendor's outcome — `deferred` (`example.com:deferred:list`) of Examples/VendorTypes, which
/// AMQPTypes knows only as `DeliveryState.unknown` and the vendor's generated code converts to and
/// from — travels in a disposition between our listener and our client unchanged (issue 20).
@Suite("A vendor's outcome in a disposition", .timeLimit(.minutes(1)))
struct VendorOutcomeTests {
    static let deferred = DeliveryState.unknown(
        descriptor: .code(0x0000F00D_00000002),
        value: .list([.uint(30_000), .described(descriptor: .ulong(0x1D), value: .list([.symbol("amqp:resource-locked")]))]))

    /// Accepts every link, grants credit, and settles every transfer with the vendor's outcome.
    final class DeferringDelegate: AMQPServerConnectionDelegate {
        func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
            switch event {
            case .linkAttachRequested(_, let link, let attach):
                connection.withEngine { engine in
                    try? engine.acceptLink(link, source: attach.source, target: attach.target)
                    try? engine.setCredit(10, on: link)
                }
            case .delivery(let link, let delivery):
                connection.withEngine { try? $0.settle(delivery.deliveryID, on: link, state: VendorOutcomeTests.deferred) }
            default:
                break
            }
        }
        func connectionClosed(_ connection: AMQPServerConnection) {}
    }

    @Test("our listener settles a transfer with it; our client's sender reads the same state back")
    func listenerToClient() async throws {
        let listener = try await AMQPListener.bind(AMQPListener.Configuration()) { DeferringDelegate() }
        let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
        let sender = try await connection.openSender(to: "deferring")
        let pending = try await sender.enqueue(textMessage("m"))
        #expect(try await pending.outcome() == .other(Self.deferred))
        #expect(try await sender.send(textMessage("n")) == .other(Self.deferred))
        try await connection.close()
        try await listener.close()
    }
}
