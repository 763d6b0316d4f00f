import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTypes
import NIOConcurrencyHelpers

/// A producer that takes events one at a time and publishes them in batches, in the background:
/// what the .NET SDK's `EventHubBufferedProducerClient` and Python's buffered mode do.
///
/// ``enqueue(_:options:)`` returns as soon as the event is buffered. Each partition has its own
/// queue, published when a batch is full or ``Options/maxWaitTime`` after its oldest event came;
/// events with a partition key go to the partition the service would pick for that key
/// (`PartitionResolver`), the others round robin. Every event is reported once, through
/// ``Options/onSendSucceeded`` or ``Options/onSendFailed``. When ``Options/maxBufferedEventCount``
/// events are buffered or in flight, `enqueue` waits: nothing is dropped.
///
/// ```swift
/// let buffered = EventHubsBufferedProducer(client: client, options: .init(
///     onSendSucceeded: { batch in print("sent \(batch.events.count) to \(batch.partitionID)") },
///     onSendFailed: { batch, error in print("failed: \(error)") }))
/// for reading in readings { try await buffered.enqueue(EventData(reading), options: .partitionKey(reading.device)) }
/// try await buffered.close()   // flushes what is buffered
/// ```
public final class EventHubsBufferedProducer: Sendable {
    /// Events that were published, or failed, together.
    public struct SentBatch: Sendable {
        /// The events, in the order they were enqueued.
        public var events: [EventData]
        /// The partition they went to.
        public var partitionID: String
    }

    public struct Options: Sendable {
        /// The most events buffered or in flight at once; `enqueue` waits while there are this many.
        public var maxBufferedEventCount: Int
        /// How long an event waits for its batch to fill before the partition is published anyway.
        public var maxWaitTime: Duration
        /// How many batches of one partition may be in flight together (1 with idempotence).
        public var maxConcurrentSendsPerPartition: Int
        /// Publish idempotently (see ``EventHubProducerOptions/enableIdempotentPartitions``).
        public var enableIdempotentPartitions: Bool
        /// Called once per published batch.
        public var onSendSucceeded: @Sendable (SentBatch) async -> Void
        /// Called once per batch that could not be published, with the reason.
        public var onSendFailed: @Sendable (SentBatch, EventHubsError) async -> Void

        /// The .NET SDK's defaults: 1500 events, 1 s, one send per partition.
        public init(maxBufferedEventCount: Int = 1500, maxWaitTime: Duration = .seconds(1), maxConcurrentSendsPerPartition: Int = 1,
                    enableIdempotentPartitions: Bool = false,
                    onSendSucceeded: @escaping @Sendable (SentBatch) async -> Void = { _ in },
                    onSendFailed: @escaping @Sendable (SentBatch, EventHubsError) async -> Void = { _, _ in }) {
            self.maxBufferedEventCount = maxBufferedEventCount
            self.maxWaitTime = maxWaitTime
            self.maxConcurrentSendsPerPartition = maxConcurrentSendsPerPartition
            self.enableIdempotentPartitions = enableIdempotentPartitions
            self.onSendSucceeded = onSendSucceeded
            self.onSendFailed = onSendFailed
        }
    }

    let client: EventHubsClient
    let producer: EventHubProducer
    let options: Options
    private let state = NIOLockedValueBox(State())

    private struct Queue {
        var events: [EventData] = []
        /// When the oldest buffered event came, on the client's clock.
        var oldest: Duration?
        /// Sends in flight.
        var sending = 0
        /// Something changed since the publisher last looked.
        var signaled = false
        var wakeup: CheckedContinuation<Void, Never>?
        var worker: Task<Void, Never>?
    }

    private struct State {
        var partitionIDs: [String]?
        var queues: [String: Queue] = [:]
        /// Buffered or in flight.
        var count = 0
        var roundRobin = 0
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var flushRequested = false
        var closed = false
        /// Set when a failure no retry fixes (the hub is gone): what every later event gets.
        var stopped: EventHubsError?
    }

    /// A buffered producer publishing through `client`'s connection.
    public init(client: EventHubsClient, options: Options = .init()) {
        self.client = client
        self.options = options
        self.producer = client.makeProducer(options: .init(enableIdempotentPartitions: options.enableIdempotentPartitions))
    }

    /// Events buffered or in flight.
    public var bufferedEventCount: Int { state.withLockedValue { $0.count } }

    // MARK: Enqueueing

    /// Buffers `event` for the partition `options` name, the one its key hashes to, or the next
    /// one round robin. Waits while the buffer is full; throws when the producer is closed or
    /// stopped (with the error that stopped it).
    public func enqueue(_ event: EventData, options sendOptions: SendEventOptions = .init()) async throws(EventHubsError) {
        try sendOptions.validate()
        let ids = try await partitionIDs()
        var event = event
        // The context of the caller, not of the background task that sends the batch.
        client.scope.telemetry.inject(into: &event)
        let partitionID: String
        if let id = sendOptions.partitionID {
            guard ids.contains(id) else { throw EventHubsError(.invalidArgument, detail: "the event hub has no partition \(id)") }
            partitionID = id
        } else if let key = sendOptions.partitionKey {
            partitionID = ids[PartitionResolver.partitionIndex(forKey: key, partitionCount: ids.count)]
            // The key stays on the event, as the service would have set it.
            var annotations = event.message.messageAnnotations?.value ?? AMQPMap()
            annotations[symbol: EventHubsNames.partitionKey] = .string(key)
            event.message.messageAnnotations = MessageAnnotations(annotations)
        } else {
            partitionID = state.withLockedValue { state in
                defer { state.roundRobin = (state.roundRobin + 1) % ids.count }
                return ids[state.roundRobin % ids.count]
            }
        }
        while true {
            enum Step { case added(CheckedContinuation<Void, Never>?, startWorker: Bool), wait, fail(EventHubsError) }
            let now = client.scope.clock.now
            let step: Step = state.withLockedValue { state in
                if let stopped = state.stopped { return .fail(stopped) }
                if state.closed { return .fail(EventHubsError(.clientClosed, detail: "the buffered producer is closed")) }
                guard state.count < self.options.maxBufferedEventCount else { return .wait }
                state.count += 1
                var queue = state.queues[partitionID] ?? Queue()
                state.queues[partitionID] = nil
                queue.events.append(event)
                if queue.oldest == nil { queue.oldest = now }
                // The publisher needs to hear of the first event (it sets the deadline) and of a
                // full batch; the events in between would only wake it for nothing.
                var wakeup: CheckedContinuation<Void, Never>?
                if queue.events.count == 1 || queue.events.count == self.eventsPerBatchHint {
                    wakeup = queue.wakeup
                    queue.wakeup = nil
                    if wakeup == nil { queue.signaled = true }
                }
                let startWorker = queue.worker == nil
                state.queues[partitionID] = queue
                return .added(wakeup, startWorker: startWorker)
            }
            switch step {
            case .added(let wakeup, let startWorker):
                client.scope.telemetry.bufferedDepth(bufferedEventCount)
                if startWorker { startWorkerIfNeeded(partitionID) }
                wakeup?.resume()
                return
            case .fail(let error):
                throw error
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow: Bool = state.withLockedValue { state in
                        if state.count < self.options.maxBufferedEventCount || state.closed || state.stopped != nil { return true }
                        state.spaceWaiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    private func partitionIDs() async throws(EventHubsError) -> [String] {
        if let ids = state.withLockedValue({ $0.partitionIDs }) { return ids }
        let ids = try await client.partitionIDs()
        guard !ids.isEmpty else { throw EventHubsError(.service, detail: "the event hub reports no partitions") }
        state.withLockedValue { if $0.partitionIDs == nil { $0.partitionIDs = ids } }
        return ids
    }

    // MARK: Publishing

    private func startWorkerIfNeeded(_ partitionID: String) {
        state.withLockedValue { state in
            guard var queue = state.queues[partitionID], queue.worker == nil else { return }
            queue.worker = Task { await self.publishLoop(partitionID) }
            state.queues[partitionID] = queue
        }
    }

    private enum Next {
        case publish([EventData])
        case wait(until: Duration?)
        case finish
    }

    /// The most events taken for one batch; the batch may hold fewer (by size).
    private var eventsPerBatchHint: Int { max(1, min(options.maxBufferedEventCount, 10_000)) }

    /// One partition's publisher: takes the queue when a batch's worth is waiting, the oldest
    /// event waited `maxWaitTime`, or a flush or close asks; keeps up to
    /// `maxConcurrentSendsPerPartition` sends in flight; every batch is reported once.
    private func publishLoop(_ partitionID: String) async {
        let limit = options.enableIdempotentPartitions ? 1 : max(1, options.maxConcurrentSendsPerPartition)
        let clock = client.scope.clock
        await withDiscardingTaskGroup { group in
            while true {
                let now = clock.now
                let next: Next = state.withLockedValue { state in
                    guard var queue = state.queues[partitionID] else { return .finish }
                    queue.signaled = false
                    defer { state.queues[partitionID] = queue }
                    let due = queue.oldest.map { now >= $0 + self.options.maxWaitTime } ?? false
                    let draining = state.flushRequested || state.closed || state.stopped != nil
                    if !queue.events.isEmpty, queue.sending < limit, due || draining || queue.events.count >= self.eventsPerBatchHint {
                        let take = min(queue.events.count, self.eventsPerBatchHint)
                        let events = Array(queue.events.prefix(take))
                        queue.events.removeFirst(take)
                        queue.oldest = queue.events.isEmpty ? nil : now
                        queue.sending += 1
                        return .publish(events)
                    }
                    if queue.events.isEmpty && queue.sending == 0 && (state.closed || state.stopped != nil) { return .finish }
                    if queue.events.isEmpty || queue.sending >= limit { return .wait(until: nil) }
                    return .wait(until: (queue.oldest ?? now) + self.options.maxWaitTime)
                }
                switch next {
                case .finish:
                    return
                case .publish(let events):
                    group.addTask {
                        await self.publish(events, to: partitionID)
                        self.state.withLockedValue { $0.queues[partitionID]?.sending -= 1 }
                        self.wake(partitionID)
                    }
                case .wait(let deadline):
                    await sleepUntilWoken(partitionID, deadline: deadline)
                }
            }
        }
    }

    /// Sleeps until something changes for the partition (an enqueue, a finished send, a flush,
    /// close or stop), or until `deadline`. A change that came before the sleep ends it at once.
    private func sleepUntilWoken(_ partitionID: String, deadline: Duration?) async {
        let clock = client.scope.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow: Bool = self.state.withLockedValue { state in
                        guard var queue = state.queues[partitionID], !queue.signaled, queue.wakeup == nil else { return true }
                        queue.wakeup = continuation
                        state.queues[partitionID] = queue
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            if let deadline {
                group.addTask {
                    try? await clock.sleep(until: deadline)
                    if !Task.isCancelled { self.wake(partitionID) }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Ends the partition's sleep, or makes its next one return at once.
    private func wake(_ partitionID: String) {
        let wakeup: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            guard var queue = state.queues[partitionID] else { return nil }
            defer { state.queues[partitionID] = queue }
            guard let wakeup = queue.wakeup else {
                queue.signaled = true
                return nil
            }
            queue.wakeup = nil
            return wakeup
        }
        wakeup?.resume()
    }

    private func wakeAll() {
        let ids = state.withLockedValue { Array($0.queues.keys) }
        for id in ids { wake(id) }
    }

    /// Sends `events` in as many batches as they need and reports each batch.
    private func publish(_ events: [EventData], to partitionID: String) async {
        var remaining = events[...]
        while !remaining.isEmpty {
            let stopped = state.withLockedValue { $0.stopped }
            if let stopped {
                await finish(Array(remaining), partitionID, .failure(stopped))
                return
            }
            let result: Result<Int, EventHubsError>
            do throws(EventHubsError) {
                var batch = try await producer.makeBatch(options: .partition(partitionID))
                var taken = 0
                for event in remaining {
                    guard batch.tryAdd(event) else { break }
                    taken += 1
                }
                if taken == 0 {
                    // Alone it does not fit: only this event fails.
                    taken = 1
                    throw EventHubsError(.messageTooLarge, condition: "amqp:link:message-size-exceeded",
                                         detail: "an event is larger than the link's max-message-size of \(batch.maximumSizeInBytes) bytes")
                }
                try await producer.send(batch)
                result = .success(taken)
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let taken):
                await finish(Array(remaining.prefix(taken)), partitionID, .success(()))
                remaining = remaining.dropFirst(taken)
            case .failure(let error):
                if error.kind == .notFound || error.kind == .authentication {
                    // The hub (or our right to it) is gone: every event fails with this, and the producer stops.
                    state.withLockedValue { if $0.stopped == nil { $0.stopped = error } }
                    client.scope.logger.error("buffered producer stopped: \(error)")
                    wakeAll()
                    resumeSpaceWaiters()
                }
                let failedCount = error.kind == .messageTooLarge ? 1 : remaining.count
                await finish(Array(remaining.prefix(failedCount)), partitionID, .failure(error))
                remaining = remaining.dropFirst(failedCount)
            }
        }
    }

    /// Reports a batch and frees its room in the buffer.
    private func finish(_ events: [EventData], _ partitionID: String, _ result: Result<Void, EventHubsError>) async {
        let batch = SentBatch(events: events, partitionID: partitionID)
        switch result {
        case .success: await options.onSendSucceeded(batch)
        case .failure(let error): await options.onSendFailed(batch, error)
        }
        let (waiters, flushed): ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) = state.withLockedValue { state in
            state.count -= events.count
            let waiters = state.spaceWaiters
            state.spaceWaiters = []
            var flushed: [CheckedContinuation<Void, Never>] = []
            if state.count == 0 {
                flushed = state.flushWaiters
                state.flushWaiters = []
                state.flushRequested = false
            }
            return (waiters, flushed)
        }
        client.scope.telemetry.bufferedDepth(bufferedEventCount)
        for waiter in waiters { waiter.resume() }
        for waiter in flushed { waiter.resume() }
    }

    private func resumeSpaceWaiters() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            defer { state.spaceWaiters = [] }
            return state.spaceWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Flushing and closing

    /// Publishes everything buffered now and returns when every event was reported.
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = state.withLockedValue { state in
                if state.count == 0 { return true }
                state.flushRequested = true
                state.flushWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wakeAll() }
        }
    }

    /// Stops taking events. With `flush`, publishes what is buffered first; without, reports it
    /// as failed (``EventHubsError/Kind/clientClosed``). Closes the producer's links.
    public func close(flush: Bool = true) async {
        let abandoned: [(String, [EventData])] = state.withLockedValue { state in
            state.closed = true
            guard !flush else { return [] }
            var abandoned: [(String, [EventData])] = []
            for (id, var queue) in state.queues where !queue.events.isEmpty {
                abandoned.append((id, queue.events))
                state.count -= queue.events.count
                queue.events = []
                queue.oldest = nil
                state.queues[id] = queue
            }
            return abandoned
        }
        for (id, events) in abandoned {
            await options.onSendFailed(SentBatch(events: events, partitionID: id), EventHubsError(.clientClosed, detail: "closed without flushing"))
        }
        resumeSpaceWaiters()
        wakeAll()
        let workers = state.withLockedValue { $0.queues.values.compactMap(\.worker) }
        for worker in workers { await worker.value }
        await producer.close()
    }
}
