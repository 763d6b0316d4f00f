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

@Suite("Write backpressure: the emulator stops reading a partition for a consumer that does not read", .serialized, .timeLimit(.minutes(3)))
struct EmulatorBackpressureTests {
    /// Bytes NIO holds for the emulator's sockets, written and not yet sent.
    static func bufferedBytes(_ listener: AMQPListener) async -> Int {
        var total = 0
        for channel in listener.accepted.all {
            total += (try? await channel.getOption(.bufferedWritableBytes).get()) ?? 0
        }
        return total
    }

    @Test("a stalled consumer granted a whole partition costs a bounded buffer; a second consumer is served; it gets everything once it reads")
    func stalledConsumer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)])
        let emulator = try await EventHubsEmulator.start(configuration, eventLoopGroup: group)
        let count = 20_000
        let body = String(repeating: "e", count: 1024)
        let producer = try await AMQPConnection.connect(plainOptions(emulator), eventLoopGroup: group)
        let sender = try await producer.openSender(to: "eh1/Partitions/0", options: .init(settleMode: .settled))
        let payload = event(body).encoded(policy: .full)
        for _ in 0..<count { _ = try await sender.enqueue(encoded: payload, settled: true) }
        let filled = ContinuousClock.now + .seconds(60)
        func stored() -> Int { emulator.store.partition(hub: "eh1", id: 0)?.count ?? 0 }
        while stored() < count, ContinuousClock.now < filled { try await Task.sleep(for: .milliseconds(20)) }
        #expect(stored() == count)

        var options = plainOptions(emulator)
        options.sessionIncomingWindow = 1_000_000
        let consumer = try await AMQPConnection.connect(options, eventLoopGroup: group)
        let address = "eh1/ConsumerGroups/$Default/Partitions/0"
        var receiverOptions = consumerOptions(address)
        receiverOptions.credit = .manual
        let receiver = try await consumer.openReceiver(from: address, options: receiverOptions)
        try await consumer.onLoop { core in try core.handler?.channel?.syncOptions?.setOption(.autoRead, value: false) }
        try await receiver.addCredit(UInt32(count))
        var peak = 0
        let end = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < end {
            peak = max(peak, await Self.bufferedBytes(emulator.listener))
            try await Task.sleep(for: .milliseconds(5))
        }
        // NIO's high-water mark (64 KiB), one batch of 256 events of about 1.2 KiB, one more frame.
        let bound = 64 * 1024 + 256 * 1400 + 2048
        print("stalled emulator consumer: peak buffered \(peak) bytes (bound \(bound))")
        #expect(peak <= bound, "the emulator buffered \(peak) bytes for a consumer that does not read")

        // A second consumer of the same partition is served meanwhile.
        let other = try await AMQPConnection.connect(plainOptions(emulator), eventLoopGroup: group)
        let otherReceiver = try await other.openReceiver(from: address, options: consumerOptions(address))
        for _ in 0..<100 { _ = try #require(try await otherReceiver.receive(timeout: .seconds(10))) }

        try await consumer.onLoop { core in
            guard let channel = core.handler?.channel else { return }
            try channel.syncOptions?.setOption(.autoRead, value: true)
            channel.read()
        }
        var received = 0
        while received < count, let delivery = try await receiver.receive(timeout: .seconds(20)) {
            #expect(bodyText(delivery.message) == body)
            received += 1
        }
        #expect(received == count)
        try await other.close()
        try await consumer.close()
        try await producer.close()
        try await emulator.stop()
        try await group.shutdownGracefully()
    }
}
