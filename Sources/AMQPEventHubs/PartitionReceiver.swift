import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTransport
import AMQPTypes
import Tracing
import Logging

/// How a partition receiver reads.
public struct PartitionReceiverOptions: Sendable, Hashable {
    /// The receiver's owner level (`com.microsoft:epoch`): a receiver with a higher one takes
    /// the partition from this one, which then ends with ``EventHubsError/Kind/ownershipLost``;
    /// `nil` for a receiver that any owner level displaces.
    public var ownerLevel: Int64?
    /// How many events the service may send ahead of the consumer (link credit).
    public var prefetchCount: UInt32
    /// Ask the service to report the partition's last enqueued event with each delivery
    /// (``PartitionReceiver/lastEnqueuedEventProperties``).
    public var trackLastEnqueuedEventProperties: Bool
    /// Retries when the link or connection fails; the client's by default.
    public var retry: EventHubsRetryOptions?

    /// No owner level, prefetch 300, no runtime metrics unless given.
    public init(ownerLevel: Int64? = nil, prefetchCount: UInt32 = 300, trackLastEnqueuedEventProperties: Bool = false,
                retry: EventHubsRetryOptions? = nil) {
        self.ownerLevel = ownerLevel
        self.prefetchCount = prefetchCount
        self.trackLastEnqueuedEventProperties = trackLastEnqueuedEventProperties
        self.retry = retry
    }
}

/// Reads one partition of one consumer group, from a start position, as an `AsyncSequence` of
/// events.
///
/// When the link or the connection fails for a transient reason, the receiver attaches again
/// after the last event it delivered, so no event is lost and none is delivered twice. It ends
/// (returns `nil`) after ``close()`` or when the iterating task is cancelled, and throws an ``EventHubsError`` for failures retries
/// cannot fix, ``EventHubsError/Kind/ownershipLost`` among them. One task at a time may iterate.
///
/// ```swift
/// let receiver = try await client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
/// for try await event in receiver {
///     print(event.sequenceNumber, String(decoding: event.body, as: UTF8.self))
/// }
/// ```
public final class PartitionReceiver: AsyncSequence, Sendable {
    /// The partition's events, in order.
    public typealias Element = ReceivedEventData

    /// The partition it reads.
    public let partitionID: String
    /// The consumer group it reads as.
    public let consumerGroup: String
    /// Owner level, prefetch and runtime metrics.
    public let options: PartitionReceiverOptions
    let state: ReceiverState

    init(scope: ConnectionScope, partitionID: String, consumerGroup: String, startingAt position: EventPosition,
         options: PartitionReceiverOptions, retry: EventHubsRetryOptions) {
        self.partitionID = partitionID
        self.consumerGroup = consumerGroup
        self.options = options
        self.state = ReceiverState(scope: scope, partitionID: partitionID, consumerGroup: consumerGroup, position: position,
                                   options: options, retry: options.retry ?? retry)
    }

    /// Attaches the link now rather than on the first ``receive()`` (to hold an owner level, or
    /// to fail early when the partition does not exist).
    public func open() async throws(EventHubsError) {
        try await state.open()
    }

    /// Up to `maximum` events that have arrived, in one call (waiting for the first); empty
    /// once the receiver is closed. Cancelling the waiting task closes the receiver.
    public func receive(upTo maximum: Int) async throws(EventHubsError) -> [ReceivedEventData] {
        guard maximum > 0 else { throw EventHubsError(.invalidArgument, detail: "receive(upTo:) needs a positive maximum") }
        let state = self.state
        let events: [ReceivedEventData]
        do {
            events = try await withTaskCancellationHandler {
                try await state.next(upTo: maximum)
            } onCancel: {
                Task { await state.close() }
            }
        } catch {
            throw FailureClassification.classify(error)
        }
        await report(events)
        return events
    }

    /// A span per received batch, linked to the context each event carries; the counts; and,
    /// with last-enqueued tracking, how far the reader is behind the partition.
    private func report(_ events: [ReceivedEventData]) async {
        guard let last = events.last else { return }
        let telemetry = state.scope.telemetry
        let links = events.compactMap { telemetry.extract(from: $0.properties) }.map { SpanLink(context: $0, attributes: [:]) }
        let span = telemetry.startSpan("EventHubs.receive", kind: .consumer, partitionID: last.partitionID, links: links)
        span.attributes["messaging.batch.message_count"] = events.count
        span.attributes["messaging.operation.type"] = "receive"
        span.end()
        telemetry.received(events: events.count, bytes: events.reduce(0) { $0 + $1.body.count }, partitionID: last.partitionID)
        if let newest = await state.lastEnqueued?.sequenceNumber {
            telemetry.processorLag(Swift.max(0, newest - last.sequenceNumber), partitionID: last.partitionID)
        }
    }

    /// The next event; `nil` once the receiver is closed. Cancelling the waiting task closes
    /// the receiver.
    public func receive() async throws(EventHubsError) -> ReceivedEventData? {
        let state = self.state
        do {
            return try await withTaskCancellationHandler {
                try await state.next()
            } onCancel: {
                Task { await state.close() }
            }
        } catch {
            throw FailureClassification.classify(error)
        }
    }

    /// The partition's last enqueued event as of the latest delivery, when
    /// ``PartitionReceiverOptions/trackLastEnqueuedEventProperties`` is on.
    public var lastEnqueuedEventProperties: LastEnqueuedEventProperties? {
        get async { await state.lastEnqueued }
    }

    /// Where the receiver attaches next: after the last event it took from its link, or where it
    /// started.
    public var position: EventPosition {
        get async { await state.position }
    }

    /// Detaches; an iteration in progress ends with `nil`.
    public func close() async {
        await state.close()
    }

    /// Iterates the partition's events; one task at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let receiver: PartitionReceiver
        /// The next event; `nil` once the receiver is closed.
        public mutating func next() async throws(EventHubsError) -> ReceivedEventData? {
            try await receiver.receive()
        }
    }

    /// An iterator over the events, attaching on first use.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(receiver: self)
    }
}

/// A partition receiver's link and position. Runs on its own actor: the iterating task and
/// ``PartitionReceiver/close()`` meet here.
actor ReceiverState {
    let scope: ConnectionScope
    let partitionID: String
    let consumerGroup: String
    let options: PartitionReceiverOptions
    let retry: EventHubsRetryOptions
    let logger: Logger
    /// Where the next attach starts: the start position, then after the last event taken from
    /// the link (into ``pending`` or to the caller).
    private(set) var position: EventPosition
    private(set) var lastEnqueued: LastEnqueuedEventProperties?
    private var link: (session: AMQPSession, receiver: AMQPReceiver)?
    private var closed = false
    /// Events taken from the link in one batch and not yet handed out; they survive a link
    /// failure (the next attach starts after them).
    private var pending: [ReceivedEventData] = []
    private var pendingHead = 0

    init(scope: ConnectionScope, partitionID: String, consumerGroup: String, position: EventPosition,
         options: PartitionReceiverOptions, retry: EventHubsRetryOptions) {
        self.scope = scope
        self.partitionID = partitionID
        self.consumerGroup = consumerGroup
        self.position = position
        self.options = options
        self.retry = retry
        var logger = scope.logger
        logger[metadataKey: "eventhubs.partition"] = "\(partitionID)"
        self.logger = logger
    }

    var address: String {
        EventHubsEntityAddress.consumer(hub: scope.endpoint.eventHubName, group: consumerGroup, partition: partitionID).description
    }

    func open() async throws(EventHubsError) {
        var schedule = RetrySchedule(retry)
        _ = try await schedule.run(on: scope.clock, { try await self.attached() })
    }

    /// The attached link, attaching it from ``position`` when there is none.
    private func attached() async throws -> AMQPReceiver {
        if closed { throw EventHubsError(.clientClosed, detail: "the receiver is closed") }
        if let link { return link.receiver }
        try await scope.authorize(scope.endpoint.consumerGroupAudience(consumerGroup))
        let (_, session) = try await scope.session()
        var source = Source(address: .string(address))
        source.filter = AMQPMap([position.filterEntry])
        var properties: Fields? = nil
        if let ownerLevel = options.ownerLevel { properties = [.symbol(EventHubsNames.epoch): .long(ownerLevel)] }
        let linkOptions = AMQPReceiver.Options(
            credit: .prefetch(max(options.prefetchCount, 1)), settleMode: .first, senderSettleMode: .settled, source: source,
            properties: properties,
            desiredCapabilities: options.trackLastEnqueuedEventProperties ? [EventHubsNames.receiverRuntimeMetric] : [])
        let receiver: AMQPReceiver
        do {
            receiver = try await session.openReceiver(from: address, options: linkOptions)
        } catch {
            try? await session.end()
            throw error
        }
        if closed {
            // Closed while attaching: do not leave the link behind.
            try? await session.end()
            throw EventHubsError(.clientClosed, detail: "the receiver is closed")
        }
        logger.debug("attached \(address) from \(position)")
        link = (session, receiver)
        return receiver
    }

    func next() async throws(EventHubsError) -> ReceivedEventData? {
        try await next(upTo: 1).first
    }

    /// Up to `maximum` events: those waiting here, else what the link has (waiting for at least
    /// one). Empty once closed. A failure of the link or connection is retried on the retry
    /// schedule, attaching again after the last event taken.
    func next(upTo maximum: Int) async throws(EventHubsError) -> [ReceivedEventData] {
        if closed { return [] }
        if let events = takePending(upTo: maximum) { return events }
        var schedule = RetrySchedule(retry)
        return try await schedule.run(on: scope.clock, {
            if self.closed { return [] }
            do {
                let receiver = try await self.attached()
                let deliveries = try await receiver.receive(upTo: Int(max(self.options.prefetchCount, 1)))
                guard !deliveries.isEmpty else {
                    // A clean detach: ours (close) ends the sequence; the service's is retried.
                    if self.closed { return [] }
                    throw AMQPClientError(.linkDetached, detail: "the service detached \(self.address)")
                }
                for delivery in deliveries {
                    if !delivery.isSettled { try? await delivery.accept() }
                    let event = try ReceivedEventData(message: delivery.message, partitionID: self.partitionID)
                    if self.options.trackLastEnqueuedEventProperties,
                       let last = LastEnqueuedEventProperties(delivery.message.deliveryAnnotations?.value) {
                        self.lastEnqueued = last
                    }
                    self.position = .offset(event.offset, inclusive: false)
                    self.pending.append(event)
                }
            } catch {
                if self.closed { return [] }
                // Events already taken are handed out first; a transient failure waits for the
                // next call, which attaches again after them.
                if self.pendingHead < self.pending.count, FailureClassification.isRetried(FailureClassification.classify(error)) {
                    await self.dropLink()
                    return self.takePending(upTo: maximum) ?? []
                }
                throw error
            }
            return self.takePending(upTo: maximum) ?? []
        }, onFailure: { error in
            await self.dropLink()
            self.logger.notice("\(self.address) failed (\(FailureClassification.classify(error))); it attaches again after \(self.position) if retries allow")
        })
    }

    /// Up to `maximum` of the events taken from the link and not yet handed out; `nil` when
    /// there are none.
    private func takePending(upTo maximum: Int) -> [ReceivedEventData]? {
        guard pendingHead < pending.count else { return nil }
        let end = min(pending.count, pendingHead + maximum)
        let events = Array(pending[pendingHead..<end])
        pendingHead = end
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        return events
    }

    private func dropLink() async {
        guard let link else { return }
        self.link = nil
        try? await link.session.end()
    }

    func close() async {
        closed = true
        guard let link else { return }
        self.link = nil
        try? await link.receiver.close()
        try? await link.session.end()
    }
}
