import AMQPEventHubsProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Tracing

/// What an ``EventProcessor`` hands its handlers: the partition, and the way to record a checkpoint.
public struct PartitionContext: Sendable {
    /// The partition.
    public let partitionID: String
    /// The consumer group the processor reads as.
    public let consumerGroup: String
    /// The event hub.
    public let eventHubName: String
    /// The namespace host the checkpoints are recorded under.
    public let fullyQualifiedNamespace: String
    let store: any CheckpointStore

    /// Records `event` as processed: after a restart (of this processor or another, in any
    /// language sharing the store), this partition resumes after it. The processor never
    /// checkpoints on its own.
    public func updateCheckpoint(_ event: ReceivedEventData) async throws {
        try await store.updateCheckpoint(Checkpoint(
            fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName, consumerGroup: consumerGroup,
            partitionID: partitionID, offset: event.offset, sequenceNumber: event.sequenceNumber))
    }
}

/// A batch for ``EventProcessor``'s batch handler: up to ``EventProcessor/Options/maxBatchSize``
/// events of one partition, in order — empty when ``EventProcessor/Options/maxWaitTime`` passed
/// without any.
public struct PartitionEventBatch: Sendable {
    /// The events, oldest first.
    public var events: [ReceivedEventData]
    /// Their partition.
    public var context: PartitionContext

    /// Checkpoints after the batch's last event (nothing when the batch is empty).
    public func updateCheckpoint() async throws {
        if let last = events.last { try await context.updateCheckpoint(last) }
    }
}

/// Processes every partition of a hub for one consumer group, sharing the partitions with the
/// other processors of the group — in this process, in others, or in other languages — through a
/// ``CheckpointStore``: each claims its share, renews its claims every balancing interval, takes
/// over partitions whose owner stopped renewing, and reads each of its partitions from the last
/// checkpoint (or its start position).
///
/// ```swift
/// let processor = EventProcessor(client: client, consumerGroup: "$Default", checkpointStore: store) { event, context in
///     try await handle(event)
///     try await context.updateCheckpoint(event)
/// }
/// try await processor.run()  // until stop(), graceful shutdown or cancellation
/// ```
///
/// It is a swift-service-lifecycle `Service`: in a `ServiceGroup`, graceful shutdown lets the
/// handlers finish what they are doing (and so the checkpoints they are writing), closes each
/// partition (``PartitionCloseReason/shutdown``) and gives its claims up, so that the other
/// processors take the partitions at once rather than after the ownership expires.
///
/// Delivery is at least once: after a partition changes hands, the events after its last
/// checkpoint are processed again.
public final class EventProcessor: Sendable {
    /// How a processor balances, starts and reads. The defaults are the .NET SDK's.
    public struct Options: Sendable {
        /// One more partition per round, or all it lacks (``LoadBalancingStrategy``).
        public var loadBalancingStrategy: LoadBalancingStrategy
        /// How often claims are renewed and the partitions rebalanced: 10 s by default, as in .NET.
        public var loadBalancingInterval: Duration
        /// Ownership not renewed for this long is free to take (the owner is presumed gone): 30 s by
        /// default, as in .NET (Python and Go default to 60 s; processors sharing a consumer group
        /// should agree).
        public var ownershipExpiration: Duration
        /// Where a partition without a checkpoint starts, unless ``startingPositions`` names it.
        public var startingPosition: EventPosition
        /// Per-partition start positions, used when the partition has no checkpoint.
        public var startingPositions: [String: EventPosition]
        /// The receivers' owner level; processors of one group use the same one (0, as .NET's).
        public var ownerLevel: Int64?
        /// Each partition receiver's prefetch (300, as every SDK).
        public var prefetchCount: UInt32
        /// The most events the batch handler gets at once (the event handler gets them one by one).
        public var maxBatchSize: Int
        /// With the batch handler: how long to wait for events before calling it with an empty
        /// batch; `nil` waits for at least one event.
        public var maxWaitTime: Duration?
        /// The processor's name in ownership records; unique per instance.
        public var identifier: String

        /// The .NET SDK's defaults: balanced, every 10 s, claims expire after 30 s, from the earliest
        /// event, owner level 0, prefetch 300.
        public init(loadBalancingInterval: Duration = .seconds(10), ownershipExpiration: Duration = .seconds(30),
                    startingPosition: EventPosition = .earliest, ownerLevel: Int64? = 0, prefetchCount: UInt32 = 300,
                    identifier: String = UUID().uuidString, loadBalancingStrategy: LoadBalancingStrategy = .balanced,
                    startingPositions: [String: EventPosition] = [:], maxBatchSize: Int = 100, maxWaitTime: Duration? = nil) {
            self.loadBalancingStrategy = loadBalancingStrategy
            self.loadBalancingInterval = loadBalancingInterval
            self.ownershipExpiration = ownershipExpiration
            self.startingPosition = startingPosition
            self.startingPositions = startingPositions
            self.ownerLevel = ownerLevel
            self.prefetchCount = prefetchCount
            self.maxBatchSize = maxBatchSize
            self.maxWaitTime = maxWaitTime
            self.identifier = identifier
        }
    }

    /// Why a partition stopped being processed here.
    public enum PartitionCloseReason: Sendable, Hashable {
        /// Another processor claimed it (or our claim could not be renewed in time).
        case ownershipLost
        /// The processor is stopping.
        case shutdown
    }

    /// A failure reported to the error handler: a partition's receiver ended, a handler threw,
    /// or the store or service could not be reached while balancing (that round is skipped).
    /// Processing goes on.
    public struct Failure: Sendable {
        /// The partition, when the failure concerns one.
        public var partitionID: String?
        /// What went wrong.
        public var error: any Error
    }

    enum Handler: Sendable {
        case event(@Sendable (ReceivedEventData, PartitionContext) async throws -> Void)
        case batch(@Sendable (PartitionEventBatch) async throws -> Void)
    }

    /// The client whose connection the receivers share.
    public let client: EventHubsClient
    /// The consumer group whose partitions the processors share.
    public let consumerGroup: String
    /// Where ownership and checkpoints are kept.
    public let checkpointStore: any CheckpointStore
    /// How it balances and reads.
    public let options: Options
    let handler: Handler
    let processError: @Sendable (Failure) async -> Void
    let partitionInitializing: (@Sendable (PartitionContext) async -> Void)?
    let partitionClosing: (@Sendable (PartitionContext, PartitionCloseReason) async -> Void)?
    let state = NIOLockedValueBox(RunState())

    struct RunState {
        var running: Task<Void, Never>?
        /// The balancing loop's wait between rounds; cancelled to stop at once.
        var nap: Task<Void, Never>?
        var stopRequested = false
        var owned: Set<String> = []
        /// Partitions whose receiver failed for good; read again from their checkpoint.
        var endedPumps: Set<String> = []
    }

    /// A processor for `consumerGroup`: `processEvent` runs for each event, one at a time per
    /// partition; `partitionInitializing` before a partition's first event here,
    /// `partitionClosing` after its last; `processError` for failures. Call ``run()`` to start.
    public convenience init(
        client: EventHubsClient, consumerGroup: String = EventHubsNames.defaultConsumerGroup, checkpointStore: any CheckpointStore,
        options: Options = .init(),
        partitionInitializing: (@Sendable (PartitionContext) async -> Void)? = nil,
        partitionClosing: (@Sendable (PartitionContext, PartitionCloseReason) async -> Void)? = nil,
        processError: @escaping @Sendable (Failure) async -> Void = { _ in },
        processEvent: @escaping @Sendable (ReceivedEventData, PartitionContext) async throws -> Void
    ) {
        self.init(client: client, consumerGroup: consumerGroup, checkpointStore: checkpointStore, options: options,
                  handler: .event(processEvent), processError: processError,
                  partitionInitializing: partitionInitializing, partitionClosing: partitionClosing)
    }

    /// A processor that hands its handler batches of up to ``Options/maxBatchSize`` events of one
    /// partition (and empty batches every ``Options/maxWaitTime`` without events, when set).
    public convenience init(
        client: EventHubsClient, consumerGroup: String = EventHubsNames.defaultConsumerGroup, checkpointStore: any CheckpointStore,
        options: Options = .init(),
        partitionInitializing: (@Sendable (PartitionContext) async -> Void)? = nil,
        partitionClosing: (@Sendable (PartitionContext, PartitionCloseReason) async -> Void)? = nil,
        processError: @escaping @Sendable (Failure) async -> Void = { _ in },
        processBatch: @escaping @Sendable (PartitionEventBatch) async throws -> Void
    ) {
        self.init(client: client, consumerGroup: consumerGroup, checkpointStore: checkpointStore, options: options,
                  handler: .batch(processBatch), processError: processError,
                  partitionInitializing: partitionInitializing, partitionClosing: partitionClosing)
    }

    init(client: EventHubsClient, consumerGroup: String, checkpointStore: any CheckpointStore, options: Options, handler: Handler,
         processError: @escaping @Sendable (Failure) async -> Void,
         partitionInitializing: (@Sendable (PartitionContext) async -> Void)?,
         partitionClosing: (@Sendable (PartitionContext, PartitionCloseReason) async -> Void)?) {
        self.client = client
        self.consumerGroup = consumerGroup
        self.checkpointStore = checkpointStore
        var options = options
        options.maxBatchSize = max(options.maxBatchSize, 1)
        self.options = options
        self.handler = handler
        self.processError = processError
        self.partitionInitializing = partitionInitializing
        self.partitionClosing = partitionClosing
    }

    /// The partitions this processor reads now.
    public var ownedPartitionIDs: Set<String> { state.withLockedValue { $0.owned } }

    /// Balances and processes until ``stop()`` is called, graceful shutdown is triggered (in a
    /// `ServiceGroup`), or the calling task is cancelled. Stopping (the first two) lets each
    /// handler finish, closes the partitions and gives the claims up; cancellation abandons
    /// them. Throws only when it cannot start (the hub's partitions cannot be read).
    public func run() async throws {
        let partitionIDs = try await client.partitionIDs()
        let loop = Task { await self.balance(partitionIDs: partitionIDs) }
        let stopNow = state.withLockedValue { state -> Bool in
            state.running = loop
            return state.stopRequested
        }
        if stopNow { stop() }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await loop.value
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            loop.cancel()
        }
    }

    /// Asks ``run()`` to stop: the current round ends, handlers finish, partitions close and
    /// the claims are given up; then ``run()`` returns.
    public func stop() {
        let nap = state.withLockedValue { state -> Task<Void, Never>? in
            state.stopRequested = true
            return state.nap
        }
        nap?.cancel()
    }

    var isStopping: Bool { state.withLockedValue { $0.stopRequested } }

    // MARK: Balancing

    var namespace: String { client.endpoint.checkpointNamespace }
    var logger: Logger {
        var logger = client.scope.logger
        logger[metadataKey: "eventhubs.processor"] = "\(options.identifier)"
        return logger
    }

    private func context(_ partitionID: String) -> PartitionContext {
        PartitionContext(partitionID: partitionID, consumerGroup: consumerGroup, eventHubName: client.eventHubName,
                         fullyQualifiedNamespace: namespace, store: checkpointStore)
    }

    private func balance(partitionIDs: [String]) async {
        var pumps: [String: PartitionPump] = [:]
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled && !isStopping {
            do {
                pumps = try await balanceOnce(partitionIDs: partitionIDs, pumps: pumps, random: &random)
            } catch {
                // The store or the service failed (after its retries): skip this round, keep reading.
                logger.notice("balancing round skipped: \(error)")
                await processError(Failure(partitionID: nil, error: error))
            }
            let owned = Set(pumps.keys)
            state.withLockedValue { $0.owned = owned }
            let interval = options.loadBalancingInterval
            let clock = client.scope.clock
            let nap = Task { _ = try? await clock.sleep(for: interval) }
            let stopping = state.withLockedValue { state -> Bool in
                state.nap = nap
                return state.stopRequested
            }
            if stopping { nap.cancel() }
            await nap.value
        }
        // Stopping: let each partition finish, then give the claims up so others take them now.
        let reason: PartitionCloseReason = .shutdown
        for pump in pumps.values { pump.stop(reason) }
        for pump in pumps.values { await pump.finished() }
        var released = pumps.values.map(\.ownership)
        for index in released.indices { released[index].ownerID = "" }
        if !released.isEmpty {
            do {
                _ = try await checkpointStore.claimOwnership(released)
            } catch {
                logger.notice("could not give the partitions up; they free themselves when the claims expire: \(error)")
            }
        }
        state.withLockedValue { $0.owned = [] }
        logger.debug("stopped; gave up \(released.count) partitions")
    }

    /// One round: drop what others took, renew our claims and claim our share, start and
    /// restart partitions.
    private func balanceOnce(partitionIDs: [String], pumps current: [String: PartitionPump],
                             random: inout SystemRandomNumberGenerator) async throws -> [String: PartitionPump] {
        var pumps = current
        let me = options.identifier
        let records = try await checkpointStore.listOwnership(
            fullyQualifiedNamespace: namespace, eventHubName: client.eventHubName, consumerGroup: consumerGroup)
        var byPartition: [String: PartitionOwnership] = [:]
        for record in records { byPartition[record.partitionID] = record }

        // Partitions whose record names another owner now are lost: stop reading them.
        for (id, pump) in pumps {
            if let record = byPartition[id], record.ownerID != me {
                pump.stop(.ownershipLost)
                pumps[id] = nil
                logger.debug("lost partition \(id) to \(record.ownerID)")
            } else if let record = byPartition[id] {
                pump.ownership = record
            }
        }
        if isStopping { return pumps }

        let balancer = PartitionLoadBalancer(ownerID: me, strategy: options.loadBalancingStrategy,
                                             expiration: Self.seconds(options.ownershipExpiration))
        let template = PartitionOwnership(fullyQualifiedNamespace: namespace, eventHubName: client.eventHubName,
                                          consumerGroup: consumerGroup, partitionID: "", ownerID: me)
        // Our own records may have been renewed by a round whose answer we never got; read
        // records are the truth, our pumps' copies only fill in what the listing lacks.
        var ours = records.filter { $0.ownerID == me }
        for (id, pump) in pumps where byPartition[id] == nil { ours.append(pump.ownership) }
        let wanted = balancer.claims(records: records.filter { $0.ownerID != me } + ours, partitionIDs: partitionIDs,
                                     template: template, now: Date(), random: &random)
        let claimed = try await checkpointStore.claimOwnership(wanted)
        let claimedIDs = Set(claimed.map(\.partitionID))
        for (id, pump) in pumps where !claimedIDs.contains(id) {
            pump.stop(.ownershipLost)
            pumps[id] = nil
            logger.debug("could not renew partition \(id)")
        }

        // Partitions still ours whose receiver ended: read them again from their checkpoint.
        let ended = state.withLockedValue { state -> Set<String> in
            defer { state.endedPumps = [] }
            return state.endedPumps
        }
        let fresh = claimed.filter { pumps[$0.partitionID] == nil || ended.contains($0.partitionID) }
        var checkpoints: [String: Checkpoint] = [:]
        if !fresh.isEmpty {
            for checkpoint in try await listCheckpoints() { checkpoints[checkpoint.partitionID] = checkpoint }
        }
        for record in claimed {
            if let pump = pumps[record.partitionID], !ended.contains(record.partitionID) {
                pump.ownership = record
                continue
            }
            let id = record.partitionID
            let position = checkpoints[id]?.position ?? options.startingPositions[id] ?? options.startingPosition
            let restarting = pumps[id] != nil
            pumps[id] = PartitionPump(processor: self, ownership: record, context: context(id), position: position,
                                      announce: !restarting)
            logger.debug("\(restarting ? "reading partition \(id) again" : "claimed partition \(id)") from \(position)")
        }
        return pumps
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        TimeInterval(duration.components.seconds) + TimeInterval(duration.components.attoseconds) / 1e18
    }

    private func listCheckpoints() async throws -> [Checkpoint] {
        try await checkpointStore.listCheckpoints(fullyQualifiedNamespace: namespace, eventHubName: client.eventHubName, consumerGroup: consumerGroup)
    }

    func pumpEnded(_ partitionID: String) {
        state.withLockedValue { _ = $0.endedPumps.insert(partitionID) }
    }
}

/// One partition being processed here: a reader taking batches from the partition's receiver,
/// the handler loop taking them from a one-batch hand-off (so a slow handler holds the reader
/// back rather than letting events pile up), and the ownership record we hold it by.
final class PartitionPump: Sendable {
    private let record: NIOLockedValueBox<PartitionOwnership>
    private let stopReason = NIOLockedValueBox<EventProcessor.PartitionCloseReason?>(nil)
    private let receiver: PartitionReceiver
    private let task: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    var ownership: PartitionOwnership {
        get { record.withLockedValue { $0 } }
        set { record.withLockedValue { $0 = newValue } }
    }

    init(processor: EventProcessor, ownership: PartitionOwnership, context: PartitionContext, position: EventPosition, announce: Bool) {
        self.record = NIOLockedValueBox(ownership)
        let options = processor.options
        let receiver = processor.client.makePartitionReceiver(
            partitionID: context.partitionID, consumerGroup: processor.consumerGroup, startingAt: position,
            options: PartitionReceiverOptions(ownerLevel: options.ownerLevel, prefetchCount: options.prefetchCount))
        self.receiver = receiver
        let stopReason = self.stopReason
        let work = Task {
            if announce, let initializing = processor.partitionInitializing { await initializing(context) }
            let handoff = BatchHandoff()
            let reader = Task {
                do {
                    while true {
                        let events = try await receiver.receive(upTo: options.maxBatchSize)
                        if events.isEmpty { break }
                        guard await handoff.put(events) else { break }
                    }
                    await handoff.finish(nil)
                } catch {
                    await handoff.finish(error)
                }
            }
            await withTaskCancellationHandler {
                let wait = processor.handler.isBatch ? options.maxWaitTime : nil
                while let next = await handoff.take(waitingAtMost: wait) {
                    switch next {
                    case .success(let events):
                        // A stop lets the handler finish what it has, but starts nothing new.
                        if stopReason.withLockedValue({ $0 }) != nil { break }
                        await PartitionPump.deliver(events, context: context, processor: processor)
                        continue
                    case .failure(let error):
                        if stopReason.withLockedValue({ $0 }) == nil {
                            await processor.processError(EventProcessor.Failure(partitionID: context.partitionID, error: error))
                        }
                    }
                    break
                }
            } onCancel: {
                reader.cancel()
            }
            await handoff.finish(nil)
            await receiver.close()
            _ = await reader.value
            if let reason = stopReason.withLockedValue({ $0 }) {
                if let closing = processor.partitionClosing { await closing(context, reason) }
            } else if !Task.isCancelled {
                processor.pumpEnded(context.partitionID)
            }
        }
        task.withLockedValue { $0 = work }
    }

    private static func deliver(_ events: [ReceivedEventData], context: PartitionContext, processor: EventProcessor) async {
        let telemetry = processor.client.scope.telemetry
        switch processor.handler {
        case .event(let process):
            for event in events {
                // A span per event, a child of the context the producer sent with it, current
                // while the handler runs (so the handler's own spans and sends continue the trace).
                let parent = telemetry.extract(from: event.properties) ?? ServiceContext.current ?? .topLevel
                let span = telemetry.startSpan("EventHubs.process", kind: .consumer, context: parent, partitionID: context.partitionID)
                span.attributes["messaging.operation.type"] = "process"
                do {
                    try await ServiceContext.withValue(span.context) { try await process(event, context) }
                } catch {
                    span.recordError(error)
                    span.setStatus(SpanStatus(code: .error))
                    await processor.processError(EventProcessor.Failure(partitionID: context.partitionID, error: error))
                }
                span.end()
            }
        case .batch(let process):
            let links = events.compactMap { telemetry.extract(from: $0.properties) }.map { SpanLink(context: $0, attributes: [:]) }
            let span = telemetry.startSpan("EventHubs.process", kind: .consumer, partitionID: context.partitionID, links: links)
            span.attributes["messaging.batch.message_count"] = events.count
            do {
                try await ServiceContext.withValue(span.context) { try await process(PartitionEventBatch(events: events, context: context)) }
            } catch {
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error))
                await processor.processError(EventProcessor.Failure(partitionID: context.partitionID, error: error))
            }
            span.end()
        }
    }

    /// Stops taking events: the handler finishes what it has, then the partition closes with `reason`.
    func stop(_ reason: EventProcessor.PartitionCloseReason) {
        let first = stopReason.withLockedValue { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        guard first else { return }
        let receiver = self.receiver
        Task { await receiver.close() }
    }

    func finished() async {
        await task.withLockedValue { $0 }?.value
    }
}

/// In a `ServiceGroup`, graceful shutdown stops the processor as ``EventProcessor/stop()`` does.
extension EventProcessor: Service {}

extension EventProcessor.Handler {
    var isBatch: Bool {
        if case .batch = self { return true }
        return false
    }
}

/// Hands one batch at a time from a partition's reader to its handler loop; the handler side can
/// wait with a time limit (an empty batch then).
actor BatchHandoff {
    private var waiting: [ReceivedEventData]?
    private var ended = false
    private var failure: (any Error)?
    private var taker: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    private var putter: CheckedContinuation<Void, Never>?
    private var nextID = 0

    /// Waits until the previous batch was taken; `false` once the hand-off has ended.
    func put(_ events: [ReceivedEventData]) async -> Bool {
        while waiting != nil && !ended {
            await withCheckedContinuation { putter = $0 }
        }
        guard !ended else { return false }
        waiting = events
        wakeTaker()
        return true
    }

    /// Ends the hand-off; `error` is handed to the taker once the last batch is taken.
    func finish(_ error: (any Error)?) {
        if !ended {
            ended = true
            failure = error
        }
        wakeTaker()
        putter?.resume()
        putter = nil
    }

    /// The next batch; an empty one after `limit` without any; a failure or `nil` once ended.
    func take(waitingAtMost limit: Duration?) async -> Result<[ReceivedEventData], any Error>? {
        if waiting == nil && !ended {
            nextID += 1
            let id = nextID
            await withCheckedContinuation { continuation in
                taker = (id, continuation)
                if let limit {
                    Task { [weak self] in
                        try? await Task.sleep(for: limit)
                        await self?.timeOut(id)
                    }
                }
            }
        }
        if let events = waiting {
            waiting = nil
            putter?.resume()
            putter = nil
            return .success(events)
        }
        if ended {
            defer { failure = nil }
            return failure.map { .failure($0) }
        }
        return .success([])
    }

    private func timeOut(_ id: Int) {
        guard let taker, taker.id == id else { return }
        self.taker = nil
        taker.continuation.resume()
    }

    private func wakeTaker() {
        guard let taker else { return }
        self.taker = nil
        taker.continuation.resume()
    }
}

extension EventHubsEndpoint {
    /// The namespace that processors record ownership and checkpoints under. For Azure it is the
    /// host; for a development emulator it is `host:port`, as Microsoft's Python SDK records it
    /// (its `_address.hostname`), so that a Python processor and ours share records there too —
    /// and two emulators on one machine are two namespaces.
    public var checkpointNamespace: String {
        if usesDevelopmentEmulator, let port { return "\(fullyQualifiedNamespace):\(port)" }
        return fullyQualifiedNamespace
    }
}
