import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation
import InMemoryTracing
import NIOConcurrencyHelpers
import Testing
import Tracing

/// A token provider of the kind the README's Azure example names.
struct MyEntraIDTokens: EventHubsTokenProvider {
    func token(forAudience audience: String) async throws -> EventHubsAccessToken {
        EventHubsAccessToken(token: "eyJ…", type: .jsonWebToken, expiresOn: Date().addingTimeInterval(3600))
    }
}

/// What a documentation example printed: the tests shadow `print` with a function that keeps the
/// lines here, so that the examples run as written and the tests check what they printed.
final class PrintedLines: Sendable {
    private let box = NIOLockedValueBox<[String]>([])
    func append(_ items: [Any]) { box.withLockedValue { $0.append(items.map { "\($0)" }.joined(separator: " ")) } }
    var lines: [String] { box.withLockedValue { $0 } }
}

/// The Event Hubs code of the README and of the AMQPEventHubs and AMQPEventHubsEmulator articles,
/// region for region (AMQPDocumentationTests checks that each block equals its region here),
/// run against the emulator. The connection string is the emulator's, on its own port.
@Suite("README examples", .serialized, .timeLimit(.minutes(2)))
struct ReadmeExampleTests {
    @Test("the producer and the consumer of the README")
    func producerAndConsumer() async throws {
        let printed = PrintedLines()
        func print(_ items: Any...) { printed.append(items) }
        let fixture = try await EmulatorFixture.start()
        let connectionString = fixture.connectionString().text

        do {
            // snippet: event hubs producer
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
            // snippet end
            await client.close()
        }
        let keyed = (0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }
        #expect(keyed.reduce(0, +) == 1001)

        // snippet: event hubs receiver
        let client = try EventHubsClient(connectionString: connectionString)
        let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
        for try await event in receiver {                   // re-attaches after the last event if the link drops
            let text = String(decoding: event.body, as: UTF8.self)
            print(event.sequenceNumber, event.offset, event.enqueuedTime, event.partitionKey ?? "-", text)
            if text == "reading 999" { break }
        }
        // snippet end
        #expect(printed.lines.count >= 1000)
        #expect(printed.lines.last?.hasSuffix("- reading 999") == true)
        await client.close()
        try await fixture.stop()
    }

    @Test("the Azure example builds a client for the namespace, over WebSockets")
    func azureExample() throws {
        // snippet: event hubs azure
        let client = EventHubsClient(
            endpoint: EventHubsEndpoint(fullyQualifiedNamespace: "myns.servicebus.windows.net", eventHubName: "telemetry"),
            credential: .tokenProvider(MyEntraIDTokens()),  // or .sharedAccessKey(name:key:), .sharedAccessSignature(_:)
            options: EventHubsClientOptions(transport: .webSockets))  // port 443 where only HTTPS gets out
        // snippet end
        #expect(client.eventHubName == "telemetry")
        let options = try client.endpoint.connectionOptions(credential: .tokenProvider(MyEntraIDTokens()), options: client.options)
        #expect(options.port == 443)
        #expect(options.host == "myns.servicebus.windows.net")
    }

    @Test("the buffered and idempotent producers of the README")
    func bufferedAndIdempotent() async throws {
        let printed = PrintedLines()
        @Sendable func print(_ items: Any...) { printed.append(items) }
        let fixture = try await EmulatorFixture.start()
        let client = try EventHubsClient(connectionString: fixture.connectionString().text)

        // snippet: event hubs buffered producer
        let buffered = EventHubsBufferedProducer(client: client, options: .init(
            maxWaitTime: .milliseconds(250),
            onSendSucceeded: { batch in print("sent \(batch.events.count) to partition \(batch.partitionID)") },
            onSendFailed: { batch, error in print("\(batch.events.count) events failed: \(error)") }))
        for i in 0..<10_000 {
            try await buffered.enqueue(EventData("reading \(i)"), options: .partitionKey("device-\(i % 16)"))
        }
        await buffered.close()                              // publishes what is buffered, then returns
        // snippet end
        let sent = printed.lines.compactMap { line in line.hasPrefix("sent ") ? Int(line.split(separator: " ")[1]) : nil }
        #expect(sent.reduce(0, +) == 10_000)
        #expect(!printed.lines.contains { $0.contains("failed") })
        #expect((0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }.reduce(0, +) == 10_000)

        // snippet: event hubs idempotent producer
        let producer = client.makeProducer(options: .init(enableIdempotentPartitions: true))
        try await producer.send([EventData("a"), EventData("b")], options: .partition("0"))
        let state = try await producer.partitionPublishingState(partitionID: "0")  // producer id, epoch, last sequence number
        // snippet end
        #expect(state.producerID != nil && state.lastSequenceNumber == 1)
        await client.close()
        try await fixture.stop()
    }

    @Test("the processor of the Event Hubs article reads every partition and checkpoints")
    func processor() async throws {
        let printed = PrintedLines()
        @Sendable func print(_ items: Any...) { printed.append(items) }
        let fixture = try await EmulatorFixture.start()
        let client = try EventHubsClient(connectionString: fixture.connectionString().text)
        let producer = client.makeProducer()
        for partition in 0..<4 { try await producer.send(EventData("event for \(partition)"), options: .partition(String(partition))) }

        // snippet: event hubs processor
        let processor = EventProcessor(client: client, checkpointStore: InMemoryCheckpointStore()) { event, context in
            print("partition \(context.partitionID):", String(decoding: event.body, as: UTF8.self))
            try await context.updateCheckpoint(event)
        }
        let running = Task { try await processor.run() }   // or run it in a swift-service-lifecycle ServiceGroup
        // snippet end

        // Bounded by events: the four lines, within the suite's time limit.
        while printed.lines.count < 4 { try await Task.sleep(for: .milliseconds(20)) }
        processor.stop()
        try await running.value
        #expect(Set(printed.lines) == Set((0..<4).map { "partition \($0): event for \($0)" }))
        await client.close()
        try await fixture.stop()
    }

    @Test("the emulator article's test: one event into one partition")
    func emulatorInTests() async throws {
        // snippet: emulator in tests
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "orders", partitionCount: 2)]))
        let client = try EventHubsClient(connectionString: emulator.connectionString(eventHub: "orders").text)
        try await client.makeProducer().send(EventData("order 17"), options: .partition("1"))
        #expect(emulator.eventCount(hub: "orders", partition: 1) == 1)
        await client.close()
        try await emulator.stop()
        // snippet end
        #expect(emulator.eventCount(hub: "orders", partition: 0) == 0)
    }

    /// Compiled, not run: bootstrapping the global tracing system would change it for every test
    /// in this process (TelemetryTests pass tracers in the client's options instead).
    func tracing(myOpenTelemetryTracer: InMemoryTracer, producer: EventHubProducer) async throws {
        // snippet: event hubs tracing
        InstrumentationSystem.bootstrap(myOpenTelemetryTracer)   // swift-otel, for example
        try await InstrumentationSystem.tracer.withSpan("checkout") { _ in
            try await producer.send(EventData("order 17"), options: .partition("0"))  // the processor's span continues this trace
        }
        // snippet end
    }
}
