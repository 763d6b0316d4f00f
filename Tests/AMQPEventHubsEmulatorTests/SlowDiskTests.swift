import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@testable import AMQPEventHubsEmulator

/// A partition whose disk stalls, with every connection on one event loop: only that
/// partition's producers wait, and only for their own writes.
@Suite("Emulator with a slow disk", .serialized, .timeLimit(.minutes(2)))
struct SlowDiskTests {
    /// Holds partition 0's writes until opened.
    final class Gate: Sendable {
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let closed = NIOLockedValueBox(true)

        func pass(partition: Int) {
            guard partition == 0, closed.withLockedValue({ $0 }) else { return }
            entered.signal()
            _ = release.wait(timeout: .now() + 30)
        }

        func open() {
            closed.withLockedValue { $0 = false }
            release.signal()
        }
    }

    @Test("a write stalled on partition 0 holds only partition 0's publish, which is acknowledged only after its write completes")
    func slowPartitionStallsOnlyItsProducers() async throws {
        let directory = try ScratchFolder.make("slow-disk").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let gate = Gate()
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 2)])
        configuration.dataDirectory = directory
        configuration.beforeSegmentWrite = { _, partition in gate.pass(partition: partition) }
        let emulator = try await EventHubsEmulator.start(configuration, eventLoopGroup: group)

        let slow = try await AMQPConnection.connect(plainOptions(emulator))
        let slowSender = try await slow.openSender(to: "eh1/Partitions/0")
        let acknowledged = NIOLockedValueBox(false)
        let stalled = Task {
            let outcome = try await slowSender.send(event("stalled"))
            acknowledged.withLockedValue { $0 = true }
            return outcome
        }
        // The writer of partition 0 is inside its write now, and stays there.
        let entered = await Task.detached { gate.entered.wait(timeout: .now() + 10) }.value
        try #require(entered == .success, "partition 0's writer never started")

        // Another connection on the same event loop publishes to partition 1 and reads it back.
        let started = ContinuousClock.now
        let other = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await other.openSender(to: "eh1/Partitions/1")
        for i in 0..<20 { #expect(try await sender.send(event("fast-\(i)")) == .accepted) }
        let receiver = try await other.openReceiver(from: "eh1/ConsumerGroups/$Default/Partitions/1")
        let first = try #require(try await receiver.receive(timeout: .seconds(30)))
        #expect(bodyText(first.message) == "fast-0")
        // All of that finished with partition 0's write still stalled: had partition 1 waited on
        // it, nothing above would have finished before the gate opens below. (No bound on the time
        // itself: the test machine may be busy.)
        let elapsed = ContinuousClock.now - started
        #expect(acknowledged.withLockedValue { $0 } == false, "partition 0's publish is not acknowledged before its write completes")
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 0)

        gate.open()
        #expect(try await stalled.value == .accepted)
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 1)
        print("slow disk: 20 publishes and a read on partition 1 took \(elapsed) while partition 0's write was stalled")
        try? await other.close()
        try? await slow.close()
        try await emulator.stop()
        try await group.shutdownGracefully()
    }
}
