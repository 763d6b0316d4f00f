import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation
import Testing

@Suite("Consumer", .serialized, .timeLimit(.minutes(3)))
struct ConsumerTests {
    func publish(_ client: EventHubsClient, _ count: Int, prefix: String, partition: String) async throws {
        try await client.makeProducer().send((0..<count).map { EventData("\(prefix)-\($0)") }, options: .partition(partition))
    }

    @Test("start positions: earliest, offset, sequence number, enqueued time; inclusive or not")
    func startPositions() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, 10, prefix: "s", partition: "0")
            let all = try await take(10, from: client.makePartitionReceiver(partitionID: "0", startingAt: .earliest))
            #expect(all.map(\.text) == (0..<10).map { "s-\($0)" })
            let third = all[3]

            func first(_ position: EventPosition) async throws -> String? {
                let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: position)
                defer { Task { await receiver.close() } }
                return try await take(1, from: receiver).first?.text
            }
            #expect(try await first(.offset(third.offset)) == "s-4")
            #expect(try await first(.offset(third.offset, inclusive: true)) == "s-3")
            #expect(try await first(.sequenceNumber(5)) == "s-6")
            #expect(try await first(.sequenceNumber(5, inclusive: true)) == "s-5")
            let time = Int64(all[0].enqueuedTime.timeIntervalSince1970 * 1000)
            #expect(try await first(.enqueuedTime(time - 1)) == "s-0")
            #expect(try await first(.enqueuedTime(time, inclusive: true)) == "s-0")
        }
    }

    @Test("latest: only events sent after the receiver attached")
    func latest() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, 3, prefix: "old", partition: "1")
            let receiver = client.makePartitionReceiver(partitionID: "1", startingAt: .latest)
            try await receiver.open()
            try await publish(client, 2, prefix: "new", partition: "1")
            #expect(try await take(2, from: receiver).map(\.text) == ["new-0", "new-1"])
        }
    }

    @Test("a consumer group from the configuration works; an unknown one is notFound")
    func consumerGroups() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, 2, prefix: "g", partition: "0")
            let receiver = client.makePartitionReceiver(partitionID: "0", consumerGroup: "cg1", startingAt: .earliest)
            #expect(try await take(2, from: receiver).count == 2)
            let missing = client.makePartitionReceiver(partitionID: "0", consumerGroup: "nope", startingAt: .earliest)
            let error = await eventHubsError { _ = try await missing.receive() }
            #expect(error?.kind == .notFound)
        }
    }

    @Test("a higher owner level takes the partition: the first receiver ends with ownershipLost")
    func ownerLevel() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, 3, prefix: "o", partition: "2")
            let first = client.makePartitionReceiver(partitionID: "2", startingAt: .earliest, options: .init(ownerLevel: 1))
            #expect(try await take(3, from: first).count == 3)
            let second = client.makePartitionReceiver(partitionID: "2", startingAt: .earliest, options: .init(ownerLevel: 2))
            try await second.open()
            let error = await eventHubsError { _ = try await first.receive() }
            #expect(error?.kind == .ownershipLost)
            #expect(error?.condition == "amqp:link:stolen")
            // A lower owner level, or none, is refused while the higher one reads.
            let lower = client.makePartitionReceiver(partitionID: "2", startingAt: .earliest, options: .init(ownerLevel: 1))
            await #expect(throws: EventHubsError.self) { try await lower.open() }
            #expect(try await take(3, from: second).count == 3)
        }
    }

    @Test("runtime metrics report the partition's last enqueued event with each delivery")
    func runtimeMetrics() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, 5, prefix: "m", partition: "1")
            let receiver = client.makePartitionReceiver(partitionID: "1", startingAt: .earliest,
                                                        options: .init(trackLastEnqueuedEventProperties: true))
            let events = try await take(5, from: receiver)
            let last = try #require(await receiver.lastEnqueuedEventProperties)
            #expect(last.sequenceNumber == 4)
            #expect(last.offset == events.last?.offset)
            #expect(last.enqueuedTime != nil)
            #expect(last.retrievalTime != nil)
            let plain = client.makePartitionReceiver(partitionID: "1", startingAt: .earliest)
            _ = try await take(1, from: plain)
            #expect(await plain.lastEnqueuedEventProperties == nil)
        }
    }

    @Test("prefetch bounds what the service sends ahead")
    func prefetch() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, 50, prefix: "p", partition: "3")
            let receiver = client.makePartitionReceiver(partitionID: "3", startingAt: .earliest, options: .init(prefetchCount: 5))
            let events = try await take(50, from: receiver)
            #expect(events.map(\.sequenceNumber) == Array(0..<50))
        }
    }

    @Test("every partition at once, merged")
    func allPartitions() async throws {
        try await withEmulator { fixture, client in
            for p in 0..<4 { try await publish(client, 5, prefix: "p\(p)", partition: "\(p)") }
            let all = try await client.receiveFromAllPartitions(startingAt: .earliest)
            let events = try await take(20, from: all)
            #expect(Set(events.map(\.text)) == Set((0..<4).flatMap { p in (0..<5).map { "p\(p)-\($0)" } }))
            for p in 0..<4 {
                #expect(events.filter { $0.partitionID == "\(p)" }.map(\.sequenceNumber) == Array(0..<5))
            }
            // Events sent now arrive too.
            try await publish(client, 1, prefix: "late", partition: "2")
            #expect(try await take(1, from: all).first?.text == "late-0")
            await all.close()
            #expect(try await all.receive() == nil)
        }
    }

    @Test("closing a receiver ends its sequence")
    func closeEnds() async throws {
        try await withEmulator { fixture, client in
            let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .latest)
            try await receiver.open()
            async let next = receiver.receive()
            try await Task.sleep(for: .milliseconds(200))
            await receiver.close()
            #expect(try await next == nil)
        }
    }

    @Test("the consumer re-attaches after the emulator restarts: nothing lost, nothing repeated")
    func reconnectAcrossRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eh-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configure: (inout EmulatorConfiguration) -> Void = { $0.dataDirectory = directory.path; $0.syncPolicy = .never }
        var fixture = try await EmulatorFixture.startRestartable(configure: configure)
        let port = fixture.port
        var options = EventHubsClientOptions.fastRetries
        options.retry = EventHubsRetryOptions(maxRetries: 20, delay: .milliseconds(100), maxDelay: .milliseconds(500), tryTimeout: .seconds(10))
        let client = try fixture.client(options: options)
        let producer = client.makeProducer()
        try await producer.send((0..<100).map { EventData("r-\($0)") }, options: .partition("0"))
        let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest, options: .init(prefetchCount: 10))
        var received = try await take(40, from: receiver)

        try await fixture.stop()
        try await Task.sleep(for: .milliseconds(300))
        fixture = try await EmulatorFixture.restart(on: port, configure: configure)
        #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 100)
        try await producer.send((100..<150).map { EventData("r-\($0)") }, options: .partition("0"))

        received += try await take(110, from: receiver, timeout: .seconds(30))
        #expect(received.map(\.text) == (0..<150).map { "r-\($0)" })
        #expect(received.map(\.sequenceNumber) == Array(0..<150))
        await client.close()
        try await fixture.stop()
    }
}
