import AMQPCodec
@testable import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTypes
import InMemoryTracing
import MetricsTestKit
import NIOConcurrencyHelpers
import Testing
import Tracing

@Suite("Tracing and metrics", .serialized, .timeLimit(.minutes(3)))
struct TelemetryTests {
    @Test("a trace crosses the hub: the send span's context travels in the event, the receive span links it, the process span continues it")
    func traceAcrossTheHub() async throws {
        let tracer = InMemoryTracer()
        var options = EventHubsClientOptions.fastRetries
        options.tracer = tracer
        try await withEmulator(options: options) { fixture, client in
            let producer = client.makeProducer()
            let parent = try await tracer.withSpan("checkout") { span in
                try await producer.send(EventData("order-1"), options: .partition("0"))
                return span.context.inMemorySpanContext
            }
            let checkout = try #require(parent)
            let send = try #require(tracer.finishedSpans.first { $0.operationName == "EventHubs.send" })
            #expect(send.kind == .producer && send.traceID == checkout.traceID && send.parentSpanID == checkout.spanID)
            #expect(send.attributes["messaging.destination.name"]?.toSpanAttribute() == "eh1".toSpanAttribute())

            // The context is in the event's application properties.
            let received = try await take(1, from: client.makePartitionReceiver(partitionID: "0", startingAt: .earliest))
            #expect(received.first?.properties[InMemoryTracer.traceIDKey] == .string(checkout.traceID))

            let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
            _ = try await receiver.receive(upTo: 10)
            await receiver.close()
            let receive = try #require(tracer.finishedSpans.first { $0.operationName == "EventHubs.receive" })
            #expect(receive.kind == .consumer)
            #expect(receive.links.compactMap { $0.context.inMemorySpanContext?.traceID } == [checkout.traceID])

            // A processor's handler runs inside a span continuing the producer's trace.
            let seen = NIOLockedValueBox<[String]>([])
            let processor = EventProcessor(client: client, checkpointStore: InMemoryCheckpointStore(),
                                           options: .init(loadBalancingInterval: .milliseconds(200), identifier: "traced")) { event, _ in
                if let current = ServiceContext.current?.inMemorySpanContext { seen.withLockedValue { $0.append(current.traceID) } }
            }
            let run = Task { try await processor.run() }
            try await eventually("the event was processed") { !seen.withLockedValue { $0 }.isEmpty }
            processor.stop()
            try await run.value
            #expect(seen.withLockedValue { $0 } == [checkout.traceID])
            let process = try #require(tracer.finishedSpans.first { $0.operationName == "EventHubs.process" })
            #expect(process.traceID == checkout.traceID && process.parentSpanID == checkout.spanID)
        }
    }

    @Test("traceparent is written under Diagnostic-Id too and read back from either; a context already there is kept")
    func propertyNames() {
        var properties: [String: AMQPValue] = [:]
        EventPropertiesInjector().inject("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", forKey: "traceparent", into: &properties)
        EventPropertiesInjector().inject("congo=t61rcWkgMzE", forKey: "tracestate", into: &properties)
        #expect(properties["traceparent"] == .string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
        #expect(properties["Diagnostic-Id"] == properties["traceparent"])
        #expect(properties["tracestate"] == .string("congo=t61rcWkgMzE"))
        #expect(properties["Diagnostic-Id"] != nil && properties.count == 3)
        let older: [String: AMQPValue] = ["Diagnostic-Id": .string("00-aa-bb-01")]
        #expect(EventPropertiesExtractor().extract(key: "traceparent", from: older) == "00-aa-bb-01")
        #expect(EventPropertiesExtractor().extract(key: "tracestate", from: older) == nil)

        let tracer = InMemoryTracer()
        var options = EventHubsClientOptions()
        options.tracer = tracer
        let telemetry = EventHubsTelemetry(options: options, endpoint: EventHubsEndpoint(fullyQualifiedNamespace: "ns", eventHubName: "eh1"))
        var event = EventData("x", properties: ["Diagnostic-Id": .string("00-from-dotnet-01")])
        tracer.withSpan("outer") { _ in telemetry.inject(into: &event) }
        #expect(event.properties == ["Diagnostic-Id": .string("00-from-dotnet-01")])
        var untraced = EventData("y")
        telemetry.inject(into: &untraced)
        #expect(untraced.properties.isEmpty, "no current context, nothing written")
    }

    @Test("metrics: events and bytes sent and received, send latency, retries by condition, recoveries, buffer depth, lag")
    func metrics() async throws {
        let metrics = TestMetrics()
        var options = EventHubsClientOptions.fastRetries
        options.metricsFactory = metrics
        let busy = NIOLockedValueBox(1)
        let fixture = try await EmulatorFixture.start(configure: { configuration in
            configuration.publishFault = { _ in
                busy.withLockedValue { remaining in
                    guard remaining > 0 else { return nil }
                    remaining -= 1
                    return AMQPError(condition: .unknown("com.microsoft:server-busy"), description: "busy")
                }
            }
        })
        let proxy = try await TCPProxy.start(to: fixture.port)
        options.customEndpoint = (host: "127.0.0.1", port: proxy.port)
        let client = try fixture.client(options: options)
        let producer = client.makeProducer()
        try await producer.send((0..<3).map { EventData("m-\($0)") }, options: .partition("1"))
        let hubAndPartition = [("eventhubs.hub", "eh1"), ("eventhubs.partition", "1")]
        #expect(try metrics.expectCounter("eventhubs.events.sent", hubAndPartition).totalValue == 3)
        #expect(try metrics.expectCounter("eventhubs.bytes.sent", hubAndPartition).totalValue > 3 * 3)
        #expect(try metrics.expectTimer("eventhubs.send.duration", hubAndPartition).values.count == 1)
        #expect(try metrics.expectCounter("eventhubs.retries", [("eventhubs.hub", "eh1"), ("eventhubs.condition", "com.microsoft:server-busy")]).totalValue == 1)

        // A lost connection is counted when the client reconnects.
        await proxy.cutAll()
        try await producer.send(EventData("m-3"), options: .partition("1"))
        #expect(try metrics.expectCounter("eventhubs.connection.recoveries", [("eventhubs.hub", "eh1")]).totalValue >= 1)
        #expect(try metrics.expectCounter("eventhubs.link.recoveries", [("eventhubs.hub", "eh1"), ("eventhubs.link", "sender")]).totalValue >= 1)

        let receiver = client.makePartitionReceiver(partitionID: "1", startingAt: .earliest,
                                                    options: .init(prefetchCount: 1, trackLastEnqueuedEventProperties: true))
        let first = try await receiver.receive(upTo: 1)
        #expect(first.count == 1)
        #expect(try metrics.expectCounter("eventhubs.events.received", hubAndPartition).totalValue == 1)
        #expect(try metrics.expectCounter("eventhubs.bytes.received", hubAndPartition).totalValue == 3)
        #expect(try metrics.expectGauge("eventhubs.processor.lag", hubAndPartition).lastValue == 3, "4 events, the first one read")
        await receiver.close()

        let buffered = EventHubsBufferedProducer(client: client)
        for i in 0..<5 { try await buffered.enqueue(EventData("b-\(i)"), options: .partition("2")) }
        #expect(try metrics.expectGauge("eventhubs.buffered.depth", [("eventhubs.hub", "eh1")]).values.contains(5))
        await buffered.flush()
        #expect(try metrics.expectGauge("eventhubs.buffered.depth", [("eventhubs.hub", "eh1")]).lastValue == 0)
        await buffered.close()
        await client.close()
        await proxy.close()
        try await fixture.stop()
    }
}
