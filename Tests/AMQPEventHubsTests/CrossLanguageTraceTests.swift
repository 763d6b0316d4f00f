import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import InMemoryTracing
import Instrumentation
import NIOConcurrencyHelpers
import Testing
import Tracing

/// The in-memory tracer with W3C propagation: `traceparent` in and out, as OpenTelemetry's
/// propagator writes it, so that a trace can cross to and from Microsoft's Python SDK.
struct W3CInMemoryTracer: Tracer {
    typealias Span = InMemorySpan
    let base = InMemoryTracer(idGenerator: InMemoryTracer.IDGenerator(
        nextTraceID: { (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() },
        nextSpanID: { (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() }))

    var finishedSpans: [FinishedInMemorySpan] { base.finishedSpans }

    func startSpan<Instant: TracerInstant>(_ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
                                           at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt) -> InMemorySpan {
        base.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func activeSpan(identifiedBy context: ServiceContext) -> InMemorySpan? { base.activeSpan(identifiedBy: context) }

    func forceFlush() { base.forceFlush() }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = value.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32, parts[2].count == 16 else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: String(parts[1]), spanID: String(parts[2]), parentSpanID: nil)
    }
}

@Suite("A trace across Python and Swift", .serialized, .timeLimit(.minutes(3)))
struct CrossLanguageTraceTests {
    @Test("azure-eventhub (tracing on) → the hub → a Swift processor, whose handler's send → azure-eventhub: one trace")
    func pythonToSwiftAndBack() async throws {
        let tracer = W3CInMemoryTracer()
        var options = EventHubsClientOptions.fastRetries
        options.tracer = tracer
        try await withEmulator(options: options) { fixture, client in
            let cs = fixture.connectionString().text
            let sent = try await EventHubsSDK.run(["traced-send", cs, "--partition", "0"])
            let traceID = try #require(sent["trace_id"] as? String)
            #expect(traceID.count == 32)

            // The processor's handler runs in the producer's trace, and sends on in it.
            let producer = client.makeProducer()
            let seen = NIOLockedValueBox<[String]>([])
            let processor = EventProcessor(client: client, checkpointStore: InMemoryCheckpointStore(),
                                           options: .init(loadBalancingInterval: .milliseconds(200), identifier: "traced")) { event, context in
                guard context.partitionID == "0" else { return }
                seen.withLockedValue { $0.append(ServiceContext.current?.inMemorySpanContext?.traceID ?? "none") }
                try await producer.send(EventData("answer from swift"), options: .partition("1"))
            }
            let run = Task { try await processor.run() }
            try await eventually(timeout: .seconds(60), "the Python event was processed") { !seen.withLockedValue { $0 }.isEmpty }
            processor.stop()
            try await run.value
            #expect(seen.withLockedValue { $0 } == [traceID])
            let process = try #require(tracer.finishedSpans.first { $0.operationName == "EventHubs.process" })
            #expect(process.traceID == traceID)

            // Back in Python: the Swift event carries the trace, and the SDK's spans link to it.
            let received = try await EventHubsSDK.run(["traced-receive", cs, "--partition", "1", "--count", "1"])
            let events = try #require(received["events"] as? [[String: Any]])
            let traceparent = try #require(events.first?["traceparent"] as? String)
            #expect(traceparent.split(separator: "-")[1] == Substring(traceID))
            #expect(events.first?["Diagnostic-Id"] as? String == traceparent)
            #expect((received["linked_trace_ids"] as? [String] ?? []).contains(traceID))
        }
    }
}
