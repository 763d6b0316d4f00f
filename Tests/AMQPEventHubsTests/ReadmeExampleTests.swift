import AMQPEventHubs
import Foundation
import Testing

/// A token provider of the kind the README's Azure example names.
struct MyEntraIDTokens: EventHubsTokenProvider {
    func token(forAudience audience: String) async throws -> EventHubsAccessToken {
        EventHubsAccessToken(token: "eyJ…", type: .jsonWebToken, expiresOn: Date().addingTimeInterval(3600))
    }
}

/// The README's examples, as written there, against the emulator (only the connection string
/// differs: the README's names port 5672).
@Suite("README examples", .serialized, .timeLimit(.minutes(2)))
struct ReadmeExampleTests {
    @Test("the producer and the consumer of the README")
    func producerAndConsumer() async throws {
        let fixture = try await EmulatorFixture.start()
        let connectionString = fixture.connectionString().text

        // Producer, as in the README.
        do {
            let client = try EventHubsClient(connectionString: connectionString)
            let producer = client.makeProducer()
            try await producer.send(EventData("one event", properties: ["kind": "test"]), options: .partitionKey("device-7"))
            var batch = try await producer.makeBatch(options: .partition("0"))
            for i in 0..<1000 {
                let event = EventData("reading \(i)")
                if batch.tryAdd(event) { continue }
                try await producer.send(batch)                  // full: send it, start the next
                batch = try await producer.makeBatch(options: .partition("0"))
                _ = batch.tryAdd(event)
            }
            try await producer.send(batch)                      // returns once the hub accepted every event
            await client.close()
        }
        let keyed = (0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }
        #expect(keyed.reduce(0, +) == 1001)

        // Consumer, as in the README (stopping after the thousand readings).
        let client = try EventHubsClient(connectionString: connectionString)
        let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
        var lines: [String] = []
        for try await event in receiver {
            let text = String(decoding: event.body, as: UTF8.self)
            lines.append("\(event.sequenceNumber) \(event.offset) \(event.enqueuedTime) \(event.partitionKey ?? "-") \(text)")
            if text == "reading 999" { break }
        }
        #expect(lines.count >= 1000)
        #expect(lines.last?.hasSuffix("- reading 999") == true)
        await client.close()
        try await fixture.stop()
    }

    @Test("the Azure example builds a client for the namespace, over WebSockets")
    func azureExample() throws {
        let client = EventHubsClient(
            endpoint: EventHubsEndpoint(fullyQualifiedNamespace: "myns.servicebus.windows.net", eventHubName: "telemetry"),
            credential: .tokenProvider(MyEntraIDTokens()),  // or .sharedAccessKey(name:key:), .sharedAccessSignature(_:)
            options: EventHubsClientOptions(transport: .webSockets))  // port 443 where only HTTPS gets out
        #expect(client.eventHubName == "telemetry")
        let options = try client.endpoint.connectionOptions(credential: .tokenProvider(MyEntraIDTokens()), options: client.options)
        #expect(options.port == 443)
        #expect(options.host == "myns.servicebus.windows.net")
    }

    @Test("the buffered and idempotent producers of the README")
    func bufferedAndIdempotent() async throws {
        let fixture = try await EmulatorFixture.start()
        let client = try EventHubsClient(connectionString: fixture.connectionString().text)
        let sent = Counter()
        let failed = Counter()

        // Buffered producer, as in the README (the handlers count instead of printing).
        let buffered = EventHubsBufferedProducer(client: client, options: .init(
            maxWaitTime: .milliseconds(250),
            onSendSucceeded: { batch in for _ in batch.events { sent.increment() } },
            onSendFailed: { batch, error in for _ in batch.events { failed.increment() } }))
        for i in 0..<10_000 {
            try await buffered.enqueue(EventData("reading \(i)"), options: .partitionKey("device-\(i % 16)"))
        }
        await buffered.close()                              // publishes what is buffered, then returns
        #expect(sent.value == 10_000 && failed.value == 0)
        #expect((0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }.reduce(0, +) == 10_000)

        // Idempotent producer, as in the README.
        let producer = client.makeProducer(options: .init(enableIdempotentPartitions: true))
        try await producer.send([EventData("a"), EventData("b")], options: .partition("0"))
        let state = try await producer.partitionPublishingState(partitionID: "0")  // producer id, epoch, last sequence number
        #expect(state.producerID != nil && state.lastSequenceNumber == 1)
        await client.close()
        try await fixture.stop()
    }
}
