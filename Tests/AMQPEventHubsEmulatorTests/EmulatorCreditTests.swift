import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOPosix
import Testing

@testable import AMQPEventHubsEmulator
@testable import AMQPTransport

@Suite("The emulator's credit: producers are served whatever their settle mode", .timeLimit(.minutes(3)))
struct EmulatorCreditTests {
    @Test("pre-settled, unsettled and mixed producers on one session are served past the window (it used to stop pre-settled ones at 1,000)",
          arguments: [3000, 10_000])
    func servesEverySettleMode(_ count: Int) async throws {
        let configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 3)])
        // Loops of its own: tens of thousands of events must not starve other tests' timers.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let emulator = try await EventHubsEmulator.start(configuration, eventLoopGroup: group)
        let connection = try await AMQPConnection.connect(plainOptions(emulator), eventLoopGroup: group)
        let payload = event("e").encoded(policy: .full)
        let session = try await connection.openSession()
        let settled = try await session.openSender(to: "eh1/Partitions/0", options: .init(settleMode: .settled))
        let unsettled = try await session.openSender(to: "eh1/Partitions/1", options: .init(settleMode: .unsettled))
        let mixed = try await session.openSender(to: "eh1/Partitions/2", options: .init(settleMode: .mixed))
        var pending: [PendingDelivery] = []
        for index in 0..<count {
            pending.append(try await settled.enqueue(encoded: payload, settled: true))
            pending.append(try await unsettled.enqueue(encoded: payload))
            pending.append(try await mixed.enqueue(encoded: payload, settled: index % 2 == 0))
        }
        var accepted = 0
        for delivery in pending where try await delivery.outcome() == .accepted { accepted += 1 }
        #expect(accepted == count + count / 2)
        // Pre-settled deliveries have no outcome to wait for: the partitions say what arrived.
        let deadline = ContinuousClock.now + .seconds(30)
        func stored() -> [Int] { (0..<3).map { emulator.store.partition(hub: "eh1", id: $0)?.count ?? -1 } }
        while stored() != [count, count, count], ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(stored() == [count, count, count])
        try await connection.close()
        try await emulator.stop()
        try await group.shutdownGracefully()
    }
}
