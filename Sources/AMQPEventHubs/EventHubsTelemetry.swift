import AMQPCodec
import CoreMetrics
import Instrumentation
import ServiceContextModule
import Tracing

/// Where the client reports what it does: spans (swift-distributed-tracing) and metrics
/// (swift-metrics). Both default to the process's bootstrapped systems, which are no-ops until
/// an application bootstraps them; a test or an application with several backends gives its own
/// in ``EventHubsClientOptions``.
struct EventHubsTelemetry: Sendable {
    let tracer: any Tracer
    let metrics: any MetricsFactory
    let hub: String
    let namespace: String

    init(options: EventHubsClientOptions, endpoint: EventHubsEndpoint) {
        tracer = options.tracer ?? InstrumentationSystem.tracer
        metrics = options.metricsFactory ?? MetricsSystem.factory
        hub = endpoint.eventHubName
        namespace = endpoint.fullyQualifiedNamespace
    }

    // MARK: Spans

    /// A span of the Event Hubs operation `name`, with the attributes OpenTelemetry's messaging
    /// conventions and Microsoft's SDKs give it.
    func startSpan(_ name: String, kind: SpanKind, context: ServiceContext = .current ?? .topLevel,
                   partitionID: String? = nil, links: [SpanLink] = []) -> any Span {
        let span = tracer.startSpan(name, context: context, ofKind: kind)
        span.attributes["messaging.system"] = "eventhubs"
        span.attributes["messaging.destination.name"] = hub
        span.attributes["server.address"] = namespace
        span.attributes["az.namespace"] = "Microsoft.EventHub"
        if let partitionID { span.attributes["messaging.destination.partition.id"] = partitionID }
        for link in links { span.addLink(link) }
        return span
    }

    /// Writes the current trace context into `event`'s application properties, as
    /// `traceparent`/`tracestate` (W3C, with a W3C propagator) and `Diagnostic-Id` (the name
    /// Microsoft's SDKs read), unless the event carries a context already.
    func inject(into event: inout EventData) {
        guard let context = ServiceContext.current else { return }
        if event.properties[TraceContextNames.traceparent] != nil || event.properties[TraceContextNames.diagnosticID] != nil { return }
        var properties = event.properties
        let before = properties.count
        tracer.inject(context, into: &properties, using: EventPropertiesInjector())
        if properties.count != before { event.properties = properties }
    }

    /// The trace context a received event carries, for the spans of its consumers.
    func extract(from properties: [String: AMQPValue]) -> ServiceContext? {
        // Any instrument's keys may be there, not only the W3C ones: only an event without
        // application properties certainly carries no context.
        guard !properties.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        tracer.extract(properties, into: &context, using: EventPropertiesExtractor())
        return context.isEmpty ? nil : context
    }

    // MARK: Metrics

    private func dimensions(_ partitionID: String?) -> [(String, String)] {
        var dimensions = [("eventhubs.hub", hub)]
        if let partitionID { dimensions.append(("eventhubs.partition", partitionID)) }
        return dimensions
    }

    func sent(events: Int, bytes: Int, duration: Duration, partitionID: String?) {
        let dimensions = dimensions(partitionID)
        Counter(label: "eventhubs.events.sent", dimensions: dimensions, factory: metrics).increment(by: events)
        Counter(label: "eventhubs.bytes.sent", dimensions: dimensions, factory: metrics).increment(by: bytes)
        Timer(label: "eventhubs.send.duration", dimensions: dimensions, factory: metrics).recordNanoseconds(duration.nanoseconds)
    }

    func received(events: Int, bytes: Int, partitionID: String) {
        let dimensions = dimensions(partitionID)
        Counter(label: "eventhubs.events.received", dimensions: dimensions, factory: metrics).increment(by: events)
        Counter(label: "eventhubs.bytes.received", dimensions: dimensions, factory: metrics).increment(by: bytes)
    }

    func retried(after failure: EventHubsError) {
        Counter(label: "eventhubs.retries", dimensions: [("eventhubs.hub", hub), ("eventhubs.condition", failure.condition ?? "\(failure.kind)")],
                factory: metrics).increment()
    }

    func connectionRecovered() {
        Counter(label: "eventhubs.connection.recoveries", dimensions: [("eventhubs.hub", hub)], factory: metrics).increment()
    }

    func linkRecovered(_ kind: String) {
        Counter(label: "eventhubs.link.recoveries", dimensions: [("eventhubs.hub", hub), ("eventhubs.link", kind)], factory: metrics).increment()
    }

    func bufferedDepth(_ count: Int) {
        Gauge(label: "eventhubs.buffered.depth", dimensions: [("eventhubs.hub", hub)], factory: metrics).record(count)
    }

    /// How far a processor is behind its partition: the partition's last enqueued sequence
    /// number minus the one of the event it just handled.
    func processorLag(_ events: Int64, partitionID: String) {
        Gauge(label: "eventhubs.processor.lag", dimensions: dimensions(partitionID), factory: metrics).record(events)
    }
}

/// The application-property names that carry trace context across the hub.
enum TraceContextNames {
    static let traceparent = "traceparent"
    static let tracestate = "tracestate"
    /// The name Microsoft's SDKs write the W3C `traceparent` value under.
    static let diagnosticID = "Diagnostic-Id"
}

/// Writes an instrument's keys into application properties; a `traceparent` is written under
/// `Diagnostic-Id` too, so that Microsoft's SDKs of every version find it.
struct EventPropertiesInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: AMQPValue]) {
        carrier[key] = .string(value)
        if key == TraceContextNames.traceparent { carrier[TraceContextNames.diagnosticID] = .string(value) }
    }
}

/// Reads an instrument's keys from application properties; `traceparent` falls back to
/// `Diagnostic-Id`, which is all older Microsoft SDKs write.
struct EventPropertiesExtractor: Extractor {
    func extract(key: String, from carrier: [String: AMQPValue]) -> String? {
        if case .string(let value)? = carrier[key] { return value }
        if key == TraceContextNames.traceparent, case .string(let value)? = carrier[TraceContextNames.diagnosticID] { return value }
        return nil
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ attoseconds / 1_000_000_000
    }
}
