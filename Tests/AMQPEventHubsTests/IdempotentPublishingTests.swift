import AMQPEventHubs
import AMQPEventHubsEmulator
import Testing

@Suite("Idempotent publishing", .serialized, .timeLimit(.minutes(3)))
struct IdempotentPublishingTests {
    /// An emulator behind a proxy that can cut the connection, and a client that goes through it.
    func withProxiedEmulator(_ body: (EmulatorFixture, TCPProxy, EventHubsClient) async throws -> Void) async throws {
        let fixture = try await EmulatorFixture.start(hubs: [.init(name: "eh1", partitionCount: 2)])
        let proxy = try await TCPProxy.start(to: fixture.port)
        var options = EventHubsClientOptions.fastRetries
        options.customEndpoint = (host: "127.0.0.1", port: proxy.port)
        let client = try fixture.client(options: options)
        do {
            try await body(fixture, proxy, client)
        } catch {
            await client.close()
            await proxy.close()
            try await fixture.stop()
            throw error
        }
        await client.close()
        await proxy.close()
        try await fixture.stop()
    }

    /// Sends a batch, lets the emulator store it, then cuts the connection before its answer
    /// comes back: the producer retries the batch on a new connection.
    func sendThroughCut(_ producer: EventHubProducer, _ events: [EventData], proxy: TCPProxy, fixture: EmulatorFixture, storedBefore: Int) async throws {
        proxy.holdReplies()
        let sending = Task { try await producer.send(events, options: .partition("0")) }
        try await eventually("the emulator stored the batch") { fixture.emulator.eventCount(hub: "eh1", partition: 0) >= storedBefore + events.count }
        try await eventually("the service's answer reached the proxy and was held back") { proxy.heldBytes > 0 }
        await proxy.cutAll()
        try await sending.value
    }

    @Test("a connection cut after the service stored a batch and before it answered: the retry is recognised, one copy of every event")
    func cutMidBatch() async throws {
        try await withProxiedEmulator { fixture, proxy, client in
            let producer = client.makeProducer(options: .init(enableIdempotentPartitions: true))
            try await producer.send((0..<5).map { EventData("warm-\($0)") }, options: .partition("0"))
            let first = try await producer.partitionPublishingState(partitionID: "0")
            #expect(first.producerID != nil && first.epoch == 0 && first.lastSequenceNumber == 4)
            let batch = (0..<100).map { EventData("cut-\($0)") }
            try await sendThroughCut(producer, batch, proxy: proxy, fixture: fixture, storedBefore: 5)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 105)
            // The producer goes on numbering after the batch, on the new connection.
            try await producer.send(EventData("after"), options: .partition("0"))
            let state = try await producer.partitionPublishingState(partitionID: "0")
            #expect(state.producerID == first.producerID && state.lastSequenceNumber == 105)
            let received = try await take(106, from: client.makePartitionReceiver(partitionID: "0", startingAt: .earliest))
            let expected = (0..<5).map { "warm-\($0)" } + batch.map { String(decoding: $0.body, as: UTF8.self) } + ["after"]
            #expect(received.map(\.text) == expected)
            #expect(Set(received.map(\.text)).count == 106)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 106)
        }
    }

    @Test("without idempotence the same cut stores the batch twice (what the feature prevents)")
    func cutWithoutIdempotence() async throws {
        try await withProxiedEmulator { fixture, proxy, client in
            let producer = client.makeProducer()
            try await producer.send(EventData("warm"), options: .partition("0"))
            try await sendThroughCut(producer, (0..<20).map { EventData("dup-\($0)") }, proxy: proxy, fixture: fixture, storedBefore: 1)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 41)
        }
    }

    @Test("a stale epoch is refused (ownership lost); the producer resets its state and the next send starts a new producer id")
    func staleEpochResets() async throws {
        try await withEmulator(hubs: [.init(name: "eh1", partitionCount: 2)]) { fixture, client in
            let owner = client.makeProducer(options: .init(enableIdempotentPartitions: true))
            try await owner.send(EventData("a"), options: .partition("1"))
            let ownerState = try await owner.partitionPublishingState(partitionID: "1")
            let id = try #require(ownerState.producerID)
            // A newer epoch of the same producer id takes over.
            let successor = client.makeProducer(options: .init(enableIdempotentPartitions: true, partitionOptions: [
                "1": IdempotentProducerState(producerID: id, epoch: 5, lastSequenceNumber: 0),
            ]))
            try await successor.send(EventData("b"), options: .partition("1"))
            let error = await eventHubsError { try await owner.send(EventData("c"), options: .partition("1")) }
            #expect(error?.kind == .ownershipLost)
            #expect(error?.condition == "com.microsoft:producer-epoch-stolen")
            // Reset: a new producer id, numbered from its start.
            try await owner.send(EventData("d"), options: .partition("1"))
            let fresh = try await owner.partitionPublishingState(partitionID: "1")
            #expect(fresh.producerID != nil && fresh.producerID != id && fresh.lastSequenceNumber == 0)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 1) == 3)
        }
    }

    @Test("idempotent sends need a partition id; enqueue is refused; a batch is numbered when sent")
    func rules() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer(options: .init(enableIdempotentPartitions: true))
            #expect(await eventHubsError { try await producer.send(EventData("x")) }?.kind == .invalidArgument)
            #expect(await eventHubsError { try await producer.send(EventData("x"), options: .partitionKey("k")) }?.kind == .invalidArgument)
            #expect(await eventHubsError { _ = try await producer.enqueue(EventData("x"), options: .partition("0")) }?.kind == .invalidArgument)
            var batch = try await producer.makeBatch(options: .partition("2"))
            for i in 0..<30 {
                let added = batch.tryAdd(EventData("b-\(i)"))
                #expect(added)
            }
            try await producer.send(batch)
            try await producer.send(batch)  // a second send of the same batch is new events with new numbers
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 2) == 60)
            #expect(try await producer.partitionPublishingState(partitionID: "2").lastSequenceNumber == 59)
        }
    }
}
