import AMQPEventHubs
@testable import AMQPEventHubsEmulator
import AMQPProtocol
import AMQPTestSupport
@testable import AMQPTransport
import Foundation
import Logging
import ServiceLifecycle
import Testing

@Suite("swift-service-lifecycle", .serialized, .timeLimit(.minutes(2)))
struct ServiceLifecycleTests {
    @Test("the emulator and a listener run in a ServiceGroup and stop on graceful shutdown")
    func gracefulShutdown() async throws {
        var configuration = EmulatorConfiguration(port: 0)
        configuration.healthPort = nil
        configuration.blobPort = 0
        let emulator = try await EventHubsEmulator.start(configuration)
        let listener = try await AMQPListener.bind(AMQPListener.Configuration(port: 0)) { ListenerDelegate() }
        let ports = [emulator.port, emulator.blobPort!, listener.port]
        #expect(ports.allSatisfy { LocalPort.isAccepting($0) })
        let group = ServiceGroup(services: [emulator, listener], logger: Logger(label: "test"))
        let run = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(200))
        #expect(ports.allSatisfy { LocalPort.isAccepting($0) }, "still serving while the group runs")
        await group.triggerGracefulShutdown()
        try await run.value
        // The channels, not the ports: another test may bind a port as soon as it is free.
        #expect(!emulator.listener.channel.isActive && emulator.blob?.channel.isActive == false && !listener.channel.isActive,
                "every listening channel closed")
    }
}

/// A listener delegate that ignores everything: only the listener's lifecycle is tested.
final class ListenerDelegate: AMQPServerConnectionDelegate {
    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {}
    func connectionClosed(_ connection: AMQPServerConnection) {}
}
