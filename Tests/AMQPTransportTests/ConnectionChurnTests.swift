import AMQPProtocol
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import AMQPTransport

/// Remembers, weakly, the handler of every connection it serves.
final class HandlerWatcher: AMQPServerConnectionDelegate {
    let seen: NIOLockedValueBox<[Weak]>
    struct Weak: @unchecked Sendable { weak var handler: ConnectionHandler? }  // only read after the loop let go
    init(_ seen: NIOLockedValueBox<[Weak]>) { self.seen = seen }
    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
        if case .opened = event { seen.withLockedValue { $0.append(Weak(handler: connection.handler)) } }
    }
    func connectionClosed(_ connection: AMQPServerConnection) {}
}

@Suite("Connection churn leaves nothing behind", .timeLimit(.minutes(1)))
struct ConnectionChurnTests {
    @Test("a closed connection's handler (and its engine, context and channel) is freed")
    func handlersAreFreed() async throws {
        let seen = NIOLockedValueBox<[HandlerWatcher.Weak]>([])
        let listener = try await AMQPListener.bind(AMQPListener.Configuration()) { HandlerWatcher(seen) }
        for _ in 0..<20 {
            let connection = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
            try await connection.close()
        }
        #expect(seen.withLockedValue { $0.count } == 20)
        // The server's side closes after the client's close: wait until its sockets are gone.
        var waited = 0
        while listener.connectionCount > 0, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(listener.connectionCount == 0)
        // Let the event loops finish tearing the pipelines down.
        try await Task.sleep(for: .milliseconds(100))
        let alive = seen.withLockedValue { $0.filter { $0.handler != nil }.count }
        #expect(alive == 0, "\(alive) of 20 closed connections' handlers are still in memory")
        try await listener.close()
    }
}
