import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTypes
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// What the handlers of a buffered producer saw: every event's index, success or failure.
final class Outcomes: Sendable {
    private struct Seen {
        var succeeded = 0
        var failed = 0
        var conditions: [String?] = []
        var marks: [UInt8]
        var twice = 0
        var batches = 0
    }

    private let seen: NIOLockedValueBox<Seen>

    init(expecting count: Int) { seen = NIOLockedValueBox(Seen(marks: [UInt8](repeating: 0, count: count))) }

    var options: EventHubsBufferedProducer.Options {
        var options = EventHubsBufferedProducer.Options()
        options.onSendSucceeded = { batch in self.record(batch.events, failure: nil) }
        options.onSendFailed = { batch, error in self.record(batch.events, failure: error) }
        return options
    }

    func record(_ events: [EventData], failure: EventHubsError?) {
        seen.withLockedValue { seen in
            seen.batches += 1
            for event in events {
                guard let index = Int(String(decoding: event.body, as: UTF8.self)), seen.marks.indices.contains(index) else {
                    seen.twice += 1
                    continue
                }
                if seen.marks[index] != 0 { seen.twice += 1 }
                seen.marks[index] = 1
                if let failure {
                    seen.failed += 1
                    seen.conditions.append(failure.condition)
                } else {
                    seen.succeeded += 1
                }
            }
        }
    }

    var succeeded: Int { seen.withLockedValue { $0.succeeded } }
    var failed: Int { seen.withLockedValue { $0.failed } }
    var reported: Int { seen.withLockedValue { $0.succeeded + $0.failed } }
    var reportedTwice: Int { seen.withLockedValue { $0.twice } }
    var unreported: Int { seen.withLockedValue { $0.marks.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } } }
    var conditions: Set<String?> { seen.withLockedValue { Set($0.conditions) } }
    var batches: Int { seen.withLockedValue { $0.batches } }
}

@Suite("Buffered producer", .serialized, .timeLimit(.minutes(10)))
struct BufferedProducerTests {
    @Test("keys go to the partition the service's hash picks, the others round robin; flush reports each event once")
    func routing() async throws {
        try await withEmulator { fixture, client in
            let outcomes = Outcomes(expecting: 120)
            let buffered = EventHubsBufferedProducer(client: client, options: outcomes.options)
            var expected = [0, 0, 0, 0]
            for i in 0..<80 {
                let key = "device-\(i % 8)"
                try await buffered.enqueue(EventData("\(i)"), options: .partitionKey(key))
                expected[PartitionResolver.partitionIndex(forKey: key, partitionCount: 4)] += 1
            }
            for i in 80..<120 { try await buffered.enqueue(EventData("\(i)")) }
            for p in 0..<4 { expected[p] += 10 }
            await buffered.flush()
            #expect(outcomes.succeeded == 120 && outcomes.failed == 0 && outcomes.reportedTwice == 0)
            #expect((0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) } == expected)
            #expect(buffered.bufferedEventCount == 0)
            // The key travels with the event.
            let partition = PartitionResolver.partitionIndex(forKey: "device-3", partitionCount: 4)
            let received = try await take(expected[partition], from: client.makePartitionReceiver(partitionID: "\(partition)", startingAt: .earliest))
            #expect(received.contains { $0.partitionKey == "device-3" })
            await buffered.close()
        }
    }

    @Test("a partition is published maxWaitTime after its oldest event, without a flush")
    func maxWaitTime() async throws {
        try await withEmulator { fixture, client in
            let outcomes = Outcomes(expecting: 3)
            var options = outcomes.options
            options.maxWaitTime = .milliseconds(200)
            let buffered = EventHubsBufferedProducer(client: client, options: options)
            for i in 0..<3 { try await buffered.enqueue(EventData("\(i)"), options: .partition("1")) }
            try await eventually(timeout: .seconds(10), "the events were published") { outcomes.succeeded == 3 }
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 1) == 3)
            await buffered.close()
        }
    }

    @Test("a full buffer makes enqueue wait (nothing dropped); idempotent sends through a cut connection store each event once")
    func backpressureThroughCut() async throws {
        let fixture = try await EmulatorFixture.start(hubs: [.init(name: "eh1", partitionCount: 2)])
        let proxy = try await TCPProxy.start(to: fixture.port)
        var clientOptions = EventHubsClientOptions.fastRetries
        clientOptions.customEndpoint = (host: "127.0.0.1", port: proxy.port)
        let client = try fixture.client(options: clientOptions)
        let outcomes = Outcomes(expecting: 12)
        var options = outcomes.options
        options.maxBufferedEventCount = 10
        options.maxWaitTime = .milliseconds(20)
        options.enableIdempotentPartitions = true
        let buffered = EventHubsBufferedProducer(client: client, options: options)
        // The link is attached (and the producer's state known) before the answers stop.
        try await buffered.enqueue(EventData("0"), options: .partition("0"))
        await buffered.flush()
        proxy.holdReplies()
        for i in 1...10 { try await buffered.enqueue(EventData("\(i)"), options: .partition("0")) }
        let eleventhDone = NIOLockedValueBox(false)
        let eleventh = Task {
            try await buffered.enqueue(EventData("11"), options: .partition("0"))
            eleventhDone.withLockedValue { $0 = true }
        }
        try await eventually("a batch was stored while its answer is held") { fixture.emulator.eventCount(hub: "eh1", partition: 0) > 1 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(buffered.bufferedEventCount == 10)
        #expect(eleventhDone.withLockedValue { $0 } == false, "the eleventh event waits for room")
        #expect(outcomes.reported == 1)
        await proxy.cutAll()
        try await eleventh.value
        await buffered.flush()
        #expect(outcomes.succeeded == 12 && outcomes.failed == 0 && outcomes.reportedTwice == 0)
        #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 12)
        await buffered.close()
        await client.close()
        await proxy.close()
        try await fixture.stop()
    }

    @Test("a hub that is gone: every event is reported failed with the condition, and the producer stops")
    func hubGone() async throws {
        try await withEmulator(configure: { $0.publishFault = { _ in AMQPError(condition: .amqp(.notFound), description: "The messaging entity eh1 could not be found") } }) { fixture, client in
            let outcomes = Outcomes(expecting: 50)
            let buffered = EventHubsBufferedProducer(client: client, options: outcomes.options)
            for i in 0..<50 { try await buffered.enqueue(EventData("\(i)"), options: .partition("\(i % 4)")) }
            await buffered.flush()
            #expect(outcomes.failed == 50 && outcomes.succeeded == 0 && outcomes.reportedTwice == 0)
            #expect(outcomes.conditions == ["amqp:not-found"])
            let error = await eventHubsError { try await buffered.enqueue(EventData("late")) }
            #expect(error?.kind == .notFound)
            await buffered.close()
        }
    }

    @Test("close without flushing reports what is buffered as failed; enqueue after close throws")
    func closeWithoutFlush() async throws {
        try await withEmulator { fixture, client in
            let outcomes = Outcomes(expecting: 5)
            var options = outcomes.options
            options.maxWaitTime = .seconds(60)
            let buffered = EventHubsBufferedProducer(client: client, options: options)
            for i in 0..<5 { try await buffered.enqueue(EventData("\(i)"), options: .partition("0")) }
            await buffered.close(flush: false)
            #expect(outcomes.failed == 5 && outcomes.conditions == [nil])
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 0)
            #expect(await eventHubsError { try await buffered.enqueue(EventData("x")) }?.kind == .clientClosed)
        }
    }
}

/// Its own suite: a million events take minutes in a debug build on a busy machine, longer than
/// the other buffered-producer tests may.
@Suite("Buffered producer throughput", .timeLimit(.minutes(30)))
struct BufferedProducerThroughputTests {
    @Test("throughput: one million small events to the emulator, every one reported once, none stored twice")
    func oneMillion() async throws {
        let total = 1_000_000
        // Event loops of its own for this emulator and client: on the shared ones, a million
        // events would queue every other test's I/O behind them.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 4)])
        configuration.healthPort = nil
        let emulator = try await EventHubsEmulator.start(configuration, eventLoopGroup: group)
        var clientOptions = EventHubsClientOptions.fastRetries
        clientOptions.eventLoopGroup = group
        let client = try EventHubsClient(connectionString: emulator.connectionString(eventHub: "eh1"), options: clientOptions)
        let outcomes = Outcomes(expecting: total)
        var options = outcomes.options
        options.maxBufferedEventCount = 100_000
        options.maxConcurrentSendsPerPartition = 4
        options.maxWaitTime = .milliseconds(50)
        let buffered = EventHubsBufferedProducer(client: client, options: options)
        let start = ContinuousClock.now
        for i in 0..<total {
            try await buffered.enqueue(EventData("\(i)"))
            // enqueue rarely suspends: without a yield now and then this loop would hold a
            // thread of the cooperative pool and starve the tests running beside it.
            if i % 1000 == 0 { await Task.yield() }
        }
        await buffered.close()
        let elapsed = ContinuousClock.now - start
        let stored = (0..<4).map { emulator.eventCount(hub: "eh1", partition: $0) }.reduce(0, +)
        print("buffered producer: \(total) events in \(elapsed), \(Int(Double(total) / elapsed.seconds)) events/s, \(outcomes.batches) batches")
        #expect(outcomes.reported == total && outcomes.unreported == 0 && outcomes.reportedTwice == 0)
        #expect(outcomes.succeeded == stored, "every success is stored, and only once")
        #expect(outcomes.failed == 0)
        await client.close()
        try await emulator.stop()
        try await group.shutdownGracefully()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
