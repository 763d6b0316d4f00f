import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation
import Testing

@Suite("Management", .serialized, .timeLimit(.minutes(2)))
struct ManagementTests {
    @Test("hub properties, partition ids and partition properties, typed")
    func properties() async throws {
        try await withEmulator(hubs: [.init(name: "telemetry", partitionCount: 3)]) { fixture, client in
            let hub = try await client.eventHubProperties()
            #expect(hub.name == "telemetry")
            #expect(hub.partitionIDs == ["0", "1", "2"])
            #expect(abs(hub.createdAt.timeIntervalSinceNow) < 3600)
            #expect(try await client.partitionIDs() == ["0", "1", "2"])

            let empty = try await client.partitionProperties(partitionID: "1")
            #expect(empty.isEmpty)
            #expect(empty.id == "1")
            #expect(empty.eventHubName == "telemetry")
            #expect(empty.lastEnqueuedOffset == "-1")

            try await client.makeProducer().send((0..<3).map { EventData("m-\($0)") }, options: .partition("1"))
            let filled = try await client.partitionProperties(partitionID: "1")
            #expect(!filled.isEmpty)
            #expect(filled.beginningSequenceNumber == 0)
            #expect(filled.lastEnqueuedSequenceNumber == 2)
            let events = try await take(3, from: client.makePartitionReceiver(partitionID: "1", startingAt: .earliest))
            #expect(filled.lastEnqueuedOffset == events.last?.offset)
            #expect(filled.lastEnqueuedTime == events.last?.enqueuedTime)
        }
    }

    @Test("a partition that does not exist is notFound")
    func unknownPartition() async throws {
        try await withEmulator { fixture, client in
            #expect(await eventHubsError { _ = try await client.partitionProperties(partitionID: "42") }?.kind == .notFound)
        }
    }

    @Test("producers, receivers and management share one connection; after it is lost the next call reconnects, the producer too")
    func sharedConnection() async throws {
        let fixture = try await EmulatorFixture.startRestartable()
        let port = fixture.port
        var options = EventHubsClientOptions.fastRetries
        options.retry.maxRetries = 10
        let client = try fixture.client(options: options)
        let producer = client.makeProducer()
        try await producer.send(EventData("a"), options: .partition("0"))
        _ = try await client.eventHubProperties()
        let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
        _ = try await take(1, from: receiver)
        #expect(fixture.emulator.connectionCount == 1)
        try await fixture.stop()
        let restarted = try await EmulatorFixture.restart(on: port)
        #expect(try await client.partitionIDs() == ["0", "1", "2", "3"])
        // The producer's link died with the old connection: it attaches again on the new one.
        try await producer.send(EventData("b"), options: .partition("0"))
        #expect(restarted.emulator.eventCount(hub: "eh1", partition: 0) == 1)
        #expect(restarted.emulator.connectionCount == 1)
        await client.close()
        try await restarted.stop()
    }
}
