import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTransport
import AMQPTypes
import Logging
import NIOConcurrencyHelpers
import Tracing

/// Publishes events to one event hub over its client's connection.
///
/// Every send returns once the service has accepted the events (stored them), and throws an
/// ``EventHubsError`` when it does not after the client's retries. Sends may run concurrently
/// from many tasks: they share one link per target and are in flight together.
///
/// ```swift
/// let producer = client.makeProducer()
/// try await producer.send(EventData("hello"), options: .partitionKey("device-7"))
/// ```
public final class EventHubProducer: Sendable {
    let scope: ConnectionScope
    let retry: EventHubsRetryOptions
    let options: EventHubProducerOptions
    let links: NIOLockedValueBox<Links>
    /// Partition id → idempotent publishing state, when ``EventHubProducerOptions/enableIdempotentPartitions``.
    let idempotentPartitions = NIOLockedValueBox<[String: IdempotentPartition]>([:])

    /// The link per target (`HUB`, `HUB/Partitions/ID`), opened on first use and replaced after a
    /// failure that broke it.
    struct Links {
        var byTarget: [String: Task<SenderLink, any Error>] = [:]
        /// The links whose attach completed, for sends that need not wait on the task.
        var ready: [String: (link: SenderLink, task: Task<SenderLink, any Error>)] = [:]
        var closed = false
    }

    struct SenderLink: Sendable {
        let generation: Int
        let session: AMQPSession
        let sender: AMQPSender
    }

    /// Used when the service does not state a `max-message-size` (Azure's 1 MiB).
    public static let defaultMaximumMessageSize = 1 << 20

    init(scope: ConnectionScope, retry: EventHubsRetryOptions, options: EventHubProducerOptions = .init()) {
        self.scope = scope
        self.retry = retry
        self.options = options
        self.links = NIOLockedValueBox(Links())
    }

    /// The event hub it publishes to.
    public var eventHubName: String { scope.endpoint.eventHubName }

    // MARK: Sending

    /// Sends one event as a plain AMQP message.
    public func send(_ event: EventData, options: SendEventOptions = .init()) async throws(EventHubsError) {
        try options.validate()
        var event = event
        scope.telemetry.inject(into: &event)
        if self.options.enableIdempotentPartitions { return try await sendIdempotently([event], options: options) }
        try await send(payload: event.encoded(partitionKey: options.partitionKey), format: 0, count: 1, options: options)
    }

    /// Sends `events` together as one batch: all are stored, or none. Throws
    /// ``EventHubsError/Kind/messageTooLarge`` when they do not fit in one message; use
    /// ``makeBatch(options:maximumSizeInBytes:)`` to split them.
    public func send(_ events: [EventData], options: SendEventOptions = .init()) async throws(EventHubsError) {
        try options.validate()
        guard !events.isEmpty else { return }
        if self.options.enableIdempotentPartitions {
            let telemetry = scope.telemetry
            return try await sendIdempotently(events.map { var event = $0; telemetry.inject(into: &event); return event }, options: options)
        }
        var batch = try await makeBatch(options: options)
        for event in events where !batch.tryAdd(event) {
            throw EventHubsError(.messageTooLarge, condition: "amqp:link:message-size-exceeded",
                                 detail: "\(events.count) events do not fit in one message of at most \(batch.maximumSizeInBytes) bytes")
        }
        try await send(batch)
    }

    /// Sends a batch made by ``makeBatch(options:maximumSizeInBytes:)``. An empty batch sends nothing.
    public func send(_ batch: EventDataBatch) async throws(EventHubsError) {
        guard batch.count > 0 else { return }
        if options.enableIdempotentPartitions { return try await sendIdempotently(batch.sources, options: batch.options) }
        try await send(payload: batch.envelope, format: EventHubsNames.batchMessageFormat, count: batch.count, options: batch.options)
    }

    /// An empty batch for `options`' target, sized by the link's `max-message-size` (or by
    /// `maximumSizeInBytes` when it is smaller).
    public func makeBatch(options: SendEventOptions = .init(), maximumSizeInBytes: Int? = nil) async throws(EventHubsError) -> EventDataBatch {
        try options.validate()
        let target = options.target(hub: eventHubName)
        var schedule = RetrySchedule(retry)
        let (link, _) = try await schedule.run(on: scope.clock, { try await self.link(for: target) })
        var limit = link.sender.maxMessageSize.flatMap { Int(exactly: $0) } ?? Self.defaultMaximumMessageSize
        if let maximumSizeInBytes {
            guard maximumSizeInBytes > 0 else { throw EventHubsError(.invalidArgument, detail: "a batch's maximum size must be positive") }
            limit = min(limit, maximumSizeInBytes)
        }
        return EventDataBatch(maximumSizeInBytes: limit, options: options, idempotent: self.options.enableIdempotentPartitions,
                              telemetry: scope.telemetry)
    }

    /// Hands `event` to the link and returns as soon as it is queued there, before the service
    /// answers: events enqueued from one task go out in that order, many in flight at once.
    /// Await ``PendingSend/accepted()`` for the answer (and the retries a ``send(_:options:)-(EventData,_)``
    /// would make). Suspends while the link has more queued than its credit allows.
    public func enqueue(_ event: EventData, options: SendEventOptions = .init()) async throws(EventHubsError) -> PendingSend {
        try options.validate()
        guard !self.options.enableIdempotentPartitions else {
            throw EventHubsError(.invalidArgument, detail: "an idempotent producer sends one batch at a time per partition: use send")
        }
        var event = event
        scope.telemetry.inject(into: &event)
        let payload = event.encoded(partitionKey: options.partitionKey)
        let target = options.target(hub: eventHubName)
        let (link, task) = try await readyLink(for: target)
        do {
            let delivery = try await link.sender.enqueue(encoded: payload, messageFormat: 0)
            return PendingSend(producer: self, payload: payload, options: options, first: .queued(delivery, link, task))
        } catch {
            if FailureClassification.invalidatesLink(error) { await discard(target, link, task) }
            let failure = FailureClassification.classify(error)
            guard failure.isTransient else { throw failure }
            // The link broke under us: accepted() sends again, with the usual retries.
            return PendingSend(producer: self, payload: payload, options: options, first: .failed(failure))
        }
    }

    /// Sends until accepted, on one retry schedule; `earlierFailure` is the failure of a first
    /// attempt made elsewhere (a ``PendingSend``'s), which the schedule counts as its first.
    func send(payload: [UInt8], format: MessageFormat, count: Int, options: SendEventOptions,
                      after earlierFailure: EventHubsError? = nil) async throws(EventHubsError) {
        let target = options.target(hub: eventHubName)
        let logger = scope.logger
        let telemetry = scope.telemetry
        let span = telemetry.startSpan("EventHubs.send", kind: .producer, partitionID: options.partitionID)
        span.attributes["messaging.batch.message_count"] = count
        span.attributes["messaging.operation.type"] = "send"
        defer { span.end() }
        let started = scope.clock.now
        var schedule = RetrySchedule(retry)
        do {
            try await schedule.run(on: scope.clock, after: earlierFailure, {
                let (link, task) = try await self.link(for: target)
                do {
                    try Self.check(try await link.sender.send(encoded: payload, messageFormat: format), count: count)
                } catch {
                    if FailureClassification.invalidatesLink(error) { await self.discard(target, link, task) }
                    throw error
                }
            }, onFailure: { error in
                let failure = FailureClassification.classify(error)
                logger.debug("send to \(target) failed: \(failure)")
                if FailureClassification.isRetried(failure) { telemetry.retried(after: failure) }
            })
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error, message: error.kind.description))
            throw error
        }
        telemetry.sent(events: count, bytes: payload.count, duration: scope.clock.now - started, partitionID: options.partitionID)
    }

    /// Turns anything but `accepted` into the error it means.
    static func check(_ outcome: DeliveryOutcome, count: Int) throws {
        switch outcome {
        case .accepted:
            return
        case .rejected(let error):
            throw AMQPClientError(.rejected, amqpError: error, detail: "the service rejected \(count == 1 ? "the event" : "\(count) events")")
        case .released:
            throw AMQPClientError(.released, detail: "the service released the events unprocessed")
        case .modified, .settled, .other:
            throw AMQPClientError(.rejected, detail: "the service settled the events without accepting them")
        }
    }

    /// The first attempt of an enqueued send failed: what ``PendingSend`` does next. That failure
    /// is the schedule's first, so the sends after it continue the backoff rather than restart it.
    func resend(_ payload: [UInt8], options: SendEventOptions, after failure: EventHubsError) async throws(EventHubsError) {
        try await send(payload: payload, format: 0, count: 1, options: options, after: failure)
    }

    func discardIfBroken(_ error: any Error, target: String, link: SenderLink, task: Task<SenderLink, any Error>) async {
        if FailureClassification.invalidatesLink(error) { await discard(target, link, task) }
    }

    // MARK: Links

    /// The link for `target` at once when it is attached, else opened with retries.
    private func readyLink(for target: String) async throws(EventHubsError) -> (SenderLink, Task<SenderLink, any Error>) {
        let ready = links.withLockedValue { $0.closed ? nil : $0.ready[target] }
        if let ready { return (ready.link, ready.task) }
        var schedule = RetrySchedule(retry)
        return try await schedule.run(on: scope.clock, { try await self.link(for: target) })
    }

    /// The link for `target`, and the task that opened it (which names it in ``discard(_:_:_:)``).
    func link(for target: String) async throws -> (SenderLink, Task<SenderLink, any Error>) {
        enum Found { case ready(SenderLink, Task<SenderLink, any Error>), opening(Task<SenderLink, any Error>) }
        let found: Found = try links.withLockedValue { links in
            guard !links.closed else { throw EventHubsError(.clientClosed, detail: "the producer is closed") }
            if let ready = links.ready[target] { return .ready(ready.link, ready.task) }
            if let existing = links.byTarget[target] { return .opening(existing) }
            let opening = Task { try await self.open(target) }
            links.byTarget[target] = opening
            return .opening(opening)
        }
        let task: Task<SenderLink, any Error>
        switch found {
        case .ready(let link, let task): return (link, task)
        case .opening(let opening): task = opening
        }
        do {
            let link = try await task.value
            links.withLockedValue { links in
                if links.byTarget[target] == task { links.ready[target] = (link, task) }
            }
            return (link, task)
        } catch {
            links.withLockedValue { links in
                if links.byTarget[target] == task { links.byTarget[target] = nil }
            }
            throw error
        }
    }

    private func open(_ target: String) async throws -> SenderLink {
        try await scope.authorize(scope.endpoint.hubAudience)
        let (generation, session) = try await scope.session()
        do {
            var linkOptions = AMQPSender.Options(settleMode: .unsettled, receiverSettleMode: .first)
            var idempotent: IdempotentPartition?
            if options.enableIdempotentPartitions, case .partition(_, let id)? = EventHubsEntityAddress(target) {
                let partition = idempotentPartition(id)
                linkOptions.desiredCapabilities = [EventHubsNames.idempotentProducer]
                linkOptions.properties = partition.attachProperties
                idempotent = partition
            }
            let sender = try await session.openSender(to: target, options: linkOptions)
            if let idempotent {
                guard sender.peerAttach.offeredCapabilities.contains(EventHubsNames.idempotentProducer) else {
                    try? await sender.close()
                    throw EventHubsError(.invalidArgument, detail: "the service does not offer idempotent publishing on \(target)")
                }
                idempotent.attached(IdempotentProducerState(properties: sender.peerAttach.properties))
            }
            return SenderLink(generation: generation.number, session: session, sender: sender)
        } catch {
            try? await session.end()
            throw error
        }
    }

    /// Forgets the link of `target`, whatever its state, and ends its session.
    func discardLink(for target: String) async {
        let current = links.withLockedValue { $0.ready[target] }
        if let current { await discard(target, current.link, current.task) }
    }

    /// Forgets a broken link, unless another task replaced it already, and ends its session.
    private func discard(_ target: String, _ link: SenderLink, _ task: Task<SenderLink, any Error>) async {
        let removed: Bool = links.withLockedValue { links in
            guard links.byTarget[target] == task else { return false }
            links.byTarget[target] = nil
            links.ready[target] = nil
            return true
        }
        if removed {
            // The next send attaches a new link: a link recovery.
            scope.telemetry.linkRecovered("sender")
            try? await link.session.end()
        }
    }

    /// Closes the producer's links. Sends after this fail with ``EventHubsError/Kind/clientClosed``;
    /// the client's connection stays open for others.
    public func close() async {
        let tasks = links.withLockedValue { links -> [Task<SenderLink, any Error>] in
            links.closed = true
            links.ready.removeAll()
            defer { links.byTarget.removeAll() }
            return Array(links.byTarget.values)
        }
        for task in tasks {
            if let link = try? await task.value {
                try? await link.sender.close()
                try? await link.session.end()
            }
        }
    }
}

/// An event handed to the link by ``EventHubProducer/enqueue(_:options:)``, not yet answered.
public struct PendingSend: Sendable {
    enum First: Sendable {
        case queued(PendingDelivery, EventHubProducer.SenderLink, Task<EventHubProducer.SenderLink, any Error>)
        case failed(EventHubsError)
    }

    let producer: EventHubProducer
    let payload: [UInt8]
    let options: SendEventOptions
    let first: First

    /// Returns once the service accepted the event; a transient failure sends it again, with the
    /// producer's retries, and what cannot be fixed throws.
    public func accepted() async throws(EventHubsError) {
        let failure: EventHubsError
        switch first {
        case .failed(let error):
            failure = error
        case .queued(let delivery, let link, let task):
            do {
                try EventHubProducer.check(try await delivery.outcome(), count: 1)
                return
            } catch {
                await producer.discardIfBroken(error, target: options.target(hub: producer.eventHubName), link: link, task: task)
                failure = FailureClassification.classify(error)
            }
        }
        try await producer.resend(payload, options: options, after: failure)
    }
}
