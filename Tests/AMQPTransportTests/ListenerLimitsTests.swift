import AMQPMessage
import AMQPTestSupport
import AMQPTypes
import Foundation
import Testing

@testable import AMQPTransport

/// What keeps one client from holding the listener's resources: the handshake deadline and the
/// connection cap (the accept backoff is proven through the real executable, where file
/// descriptors can be made to run out: see the command-line tests).
@Suite("Listener limits", .serialized, .timeLimit(.minutes(2)))
struct ListenerLimitsTests {
    @Test("a client that never sends open is closed at the handshake deadline; one that opens stays")
    func handshakeDeadline() async throws {
        var configuration = AMQPListener.Configuration()
        // Long enough for the good client's handshake while other suites load the machine (at
        // 300 ms it lost the race under a parallel run).
        configuration.handshakeTimeout = .seconds(2)
        let broker = try await AMQPInMemoryBroker.start(configuration)
        // A byte at a time would keep the connection forever without the deadline: send half a
        // protocol header and stop.
        let slow = try TCPTestSocket(port: broker.port)
        try slow.write(Array("AM".utf8))
        // Wait without blocking a thread: the listener counts the connection until its socket closes.
        let deadline = ContinuousClock.now + .seconds(20)
        while broker.listener.connectionCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        while broker.listener.connectionCount > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(broker.listener.connectionCount == 0, "the silent client is still connected")
        #expect(slow.readUntilClosed(timeout: .seconds(2)).closedByPeer)

        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        options.authentication = .anonymous
        let connection = try await AMQPConnection.connect(options)
        try await Task.sleep(for: .milliseconds(2500))
        let sender = try await connection.openSender(to: "after-deadline")
        try await sender.sendExpectingAcceptance(Message(body: .value(AMQPValueSection(.string("still here")))))
        try await connection.close()
        try await broker.stop()
    }

    @Test("connections over maxConnections are closed at once; the open ones keep working, and room comes back")
    func connectionCap() async throws {
        var configuration = AMQPListener.Configuration()
        configuration.maxConnections = 3
        let broker = try await AMQPInMemoryBroker.start(configuration)
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        options.authentication = .anonymous
        var open: [AMQPConnection] = []
        for _ in 0..<3 { open.append(try await AMQPConnection.connect(options)) }
        let extra = try TCPTestSocket(port: broker.port)
        try extra.write([0x41, 0x4D, 0x51, 0x50, 0, 1, 0, 0])
        let (bytes, closed) = extra.readUntilClosed(timeout: .seconds(10))
        #expect(closed && bytes.isEmpty, "the fourth connection was served")
        let sender = try await open[0].openSender(to: "capped")
        try await sender.sendExpectingAcceptance(Message(body: .value(AMQPValueSection(.string("served")))))
        try await open.removeLast().close()
        // The count drops when the socket is closed, which the server sees a moment later.
        let deadline = ContinuousClock.now + .seconds(5)
        while broker.listener.connectionCount > 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let again = try await AMQPConnection.connect(options)
        try await again.close()
        for connection in open { try await connection.close() }
        try await broker.stop()
    }
}
