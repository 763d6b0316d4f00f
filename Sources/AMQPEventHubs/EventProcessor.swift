import AMQPEventHubsProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers

/// What an ``EventProcessor`` hands its event handler: the event, its partition, and the way to
/// record a checkpoint.
public struct PartitionContext: Sendable {
    /// The partition the event came from.
    public let partitionID: String
    /// The consumer group the processor reads as.
    public let consumerGroup: String
    /// The event hub.
    public let eventHubName: String
    let fullyQualifiedNamespace: String
    let store: any CheckpointStore

    /// Records `event` as processed: after a restart (of this processor or another), this
    /// partition resumes after it. The processor never checkpoints on its own.
    public func updateCheckpoint(_ event: ReceivedEventData) async throws {
        try await store.updateCheckpoint(Checkpoint(
            fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName, consumerGroup: consumerGroup,
            partitionID: partitionID, offset: event.offset, sequenceNumber: event.sequenceNumber))
    }
}

/// Processes every partition of a hub for one consumer group, sharing the partitions with the
/// other processors of the group through a ``CheckpointStore``: each claims its fair share,
/// renews its claims, takes over partitions whose owner stopped renewing, and reads each of
/// its partitions from the last checkpoint (or ``Options/startingPosition``).
///
/// ```swift
/// let processor = EventProcessor(client: client, consumerGroup: "$Default", checkpointStore: store) { event, context in
///     try await handle(event)
///     try await context.updateCheckpoint(event)
/// }
/// try await processor.run()  // until stop() or cancellation
/// ```
///
/// Delivery is at least once: after a partition changes hands, events since its last
/// checkpoint are processed again.
public final class EventProcessor: Sendable {
    /// How a processor balances, starts and reads.
    public struct Options: Sendable {
        /// How often claims are renewed and the partitions rebalanced.
        public var loadBalancingInterval: Duration
        /// Ownership not renewed for this long is free to take (the owner is presumed gone).
        public var ownershipExpiration: Duration
        /// Where a partition without a checkpoint starts.
        public var startingPosition: EventPosition
        /// The receivers' owner level; processors of one group use the same one.
        public var ownerLevel: Int64?
        /// Each partition receiver's prefetch.
        public var prefetchCount: UInt32
        /// The processor's name in ownership records; unique per instance.
        public var identifier: String

        /// Azure SDK-like defaults: balance every 10 s, claims expire after 30 s, start at the earliest
        /// event.
        public init(loadBalancingInterval: Duration = .seconds(10), ownershipExpiration: Duration = .seconds(30),
                    startingPosition: EventPosition = .earliest, ownerLevel: Int64? = 0, prefetchCount: UInt32 = 300,
                    identifier: String = UUID().uuidString) {
            self.loadBalancingInterval = loadBalancingInterval
            self.ownershipExpiration = ownershipExpiration
            self.startingPosition = startingPosition
            self.ownerLevel = ownerLevel
            self.prefetchCount = prefetchCount
            self.identifier = identifier
        }
    }

    /// A failure reported to the error handler: a partition's receiver ended, a handler threw,
    /// or the store or service could not be reached while balancing. Processing goes on.
    public struct Failure: Sendable {
        /// The partition, when the failure concerns one.
        public var partitionID: String?
        /// What went wrong.
        public var error: any Error
    }

    /// The client whose connection the receivers share.
    public let client: EventHubsClient
    /// The consumer group whose partitions the processors share.
    public let consumerGroup: String
    /// Where ownership and checkpoints are kept.
    public let checkpointStore: any CheckpointStore
    /// How it balances and reads.
    public let options: Options
    let processEvent: @Sendable (ReceivedEventData, PartitionContext) async throws -> Void
    let processError: @Sendable (Failure) async -> Void
    let state = NIOLockedValueBox(RunState())

    struct RunState {
        var running: Task<Void, Never>?
        var stopRequested = false
        var owned: Set<String> = []
        /// Partitions whose receiver failed for good; read again from their checkpoint.
        var endedPumps: Set<String> = []
    }

    /// A processor for `consumerGroup`; `processEvent` runs for each event, one at a time per
    /// partition, and `processError` for failures. Call ``run()`` to start.
    public init(
        client: EventHubsClient, consumerGroup: String = EventHubsNames.defaultConsumerGroup, checkpointStore: any CheckpointStore,
        options: Options = .init(),
        processError: @escaping @Sendable (Failure) async -> Void = { _ in },
        processEvent: @escaping @Sendable (ReceivedEventData, PartitionContext) async throws -> Void
    ) {
        self.client = client
        self.consumerGroup = consumerGroup
        self.checkpointStore = checkpointStore
        self.options = options
        self.processEvent = processEvent
        self.processError = processError
    }

    /// The partitions this processor reads now.
    public var ownedPartitionIDs: Set<String> { state.withLockedValue { $0.owned } }

    /// Balances and processes until ``stop()`` is called or the calling task is cancelled;
    /// then stops every partition and gives up its claims, so other processors take them at
    /// once. Throws only when it cannot start (the hub's partitions cannot be read).
    public func run() async throws {
        let partitionIDs = try await client.partitionIDs()
        let loop = Task { await self.balance(partitionIDs: partitionIDs) }
        let stopNow = state.withLockedValue { state -> Bool in
            state.running = loop
            return state.stopRequested
        }
        if stopNow { loop.cancel() }
        await withTaskCancellationHandler {
            await loop.value
        } onCancel: {
            loop.cancel()
        }
    }

    /// Asks ``run()`` to stop and return.
    public func stop() {
        let task = state.withLockedValue { state -> Task<Void, Never>? in
            state.stopRequested = true
            return state.running
        }
        task?.cancel()
    }

    // MARK: Balancing

    var namespace: String { client.endpoint.fullyQualifiedNamespace }
    var logger: Logger {
        var logger = client.scope.logger
        logger[metadataKey: "eventhubs.processor"] = "\(options.identifier)"
        return logger
    }

    /// One partition being read: its task, and the ownership record that lets us hold it.
    struct Pump {
        var task: Task<Void, Never>
        var ownership: PartitionOwnership
    }

    private func balance(partitionIDs: [String]) async {
        var pumps: [String: Pump] = [:]
        while !Task.isCancelled {
            do {
                pumps = try await balanceOnce(partitionIDs: partitionIDs, pumps: pumps)
            } catch {
                await processError(Failure(partitionID: nil, error: error))
            }
            let owned = Set(pumps.keys)
            state.withLockedValue { $0.owned = owned }
            try? await client.scope.clock.sleep(for: options.loadBalancingInterval)
        }
        // Stopping: end every partition, then give the claims up.
        for pump in pumps.values { pump.task.cancel() }
        for pump in pumps.values { await pump.task.value }
        var released = pumps.values.map(\.ownership)
        for index in released.indices { released[index].ownerID = "" }
        _ = try? await checkpointStore.claimOwnership(released)
        state.withLockedValue { $0.owned = [] }
        logger.debug("stopped; gave up \(released.count) partitions")
    }

    /// One round: renew our claims, claim what a fair share allows, start and stop pumps.
    private func balanceOnce(partitionIDs: [String], pumps current: [String: Pump]) async throws -> [String: Pump] {
        var pumps = current
        let me = options.identifier
        let now = Date()
        let expiration = TimeInterval(options.ownershipExpiration.components.seconds)
            + TimeInterval(options.ownershipExpiration.components.attoseconds) / 1e18
        var records: [String: PartitionOwnership] = [:]
        for record in try await checkpointStore.listOwnership(
            fullyQualifiedNamespace: namespace, eventHubName: client.eventHubName, consumerGroup: consumerGroup) {
            records[record.partitionID] = record
        }
        func isActive(_ record: PartitionOwnership) -> Bool {
            !record.ownerID.isEmpty && now.timeIntervalSince(record.lastModified) < expiration
        }

        // Partitions whose record names another owner now are lost: stop reading them.
        for (id, pump) in pumps where records[id]?.ownerID != me || records[id]?.etag != pump.ownership.etag {
            pump.task.cancel()
            pumps[id] = nil
            logger.debug("lost partition \(id)")
        }

        // Renew what we hold, with the etags we hold it by.
        if !pumps.isEmpty {
            let renewed = try await checkpointStore.claimOwnership(pumps.values.map(\.ownership))
            let renewedIDs = Set(renewed.map(\.partitionID))
            for id in pumps.keys where !renewedIDs.contains(id) {
                pumps[id]?.task.cancel()
                pumps[id] = nil
            }
            for record in renewed {
                pumps[record.partitionID]?.ownership = record
                records[record.partitionID] = record
            }
        }

        // Partitions still ours whose receiver ended: read them again from their checkpoint.
        let ended = state.withLockedValue { state -> Set<String> in
            defer { state.endedPumps = [] }
            return state.endedPumps
        }
        let restart = ended.filter { pumps[$0] != nil }
        if !restart.isEmpty {
            let checkpoints = try await listCheckpoints()
            for id in restart {
                let position = checkpoints.first { $0.partitionID == id }?.position ?? options.startingPosition
                pumps[id]?.task = startPump(partitionID: id, from: position)
                logger.debug("reading partition \(id) again from \(position)")
            }
        }

        // The fair share: partitions over active owners (us included); the first `remainder`
        // owners by count may hold one more.
        var counts: [String: Int] = [:]
        for record in records.values where isActive(record) && partitionIDs.contains(record.partitionID) {
            counts[record.ownerID, default: 0] += 1
        }
        counts[me] = pumps.count
        let owners = counts.count
        let minimum = partitionIDs.count / owners
        let remainder = partitionIDs.count % owners
        let atMaximum = counts.values.filter { $0 > minimum }.count
        var wanted = 0
        if pumps.count < minimum {
            wanted = minimum - pumps.count
            if remainder > atMaximum { wanted += 1 }
        } else if pumps.count == minimum && remainder > atMaximum {
            wanted = 1
        }
        guard wanted > 0 else { return pumps }

        // Free partitions first (never owned, given up or expired), then one stolen from the
        // owner that holds the most, if it holds more than its share.
        var candidates: [PartitionOwnership] = []
        for id in partitionIDs.shuffled() where pumps[id] == nil {
            if let record = records[id], isActive(record) { continue }
            var claim = records[id] ?? PartitionOwnership(fullyQualifiedNamespace: namespace, eventHubName: client.eventHubName,
                                                          consumerGroup: consumerGroup, partitionID: id, ownerID: me)
            claim.ownerID = me
            candidates.append(claim)
            if candidates.count == wanted { break }
        }
        if candidates.isEmpty, let (victim, count) = counts.filter({ $0.key != me }).max(by: { $0.value < $1.value }),
           count > minimum + (remainder > 0 ? 1 : 0) || (count > minimum && pumps.count < minimum),
           var claim = records.values.filter({ $0.ownerID == victim && isActive($0) }).randomElement() {
            claim.ownerID = me
            candidates.append(claim)
        }
        guard !candidates.isEmpty else { return pumps }
        let claimed = try await checkpointStore.claimOwnership(candidates)
        guard !claimed.isEmpty else { return pumps }
        let checkpoints = try await listCheckpoints()
        for record in claimed {
            let position = checkpoints.first { $0.partitionID == record.partitionID }?.position ?? options.startingPosition
            pumps[record.partitionID] = Pump(task: startPump(partitionID: record.partitionID, from: position), ownership: record)
            logger.debug("claimed partition \(record.partitionID) from \(position)")
        }
        return pumps
    }

    private func listCheckpoints() async throws -> [Checkpoint] {
        try await checkpointStore.listCheckpoints(fullyQualifiedNamespace: namespace, eventHubName: client.eventHubName, consumerGroup: consumerGroup)
    }

    /// Reads one partition into the handler until cancelled (the partition was lost or the
    /// processor stops) or the receiver fails for good.
    private func startPump(partitionID: String, from position: EventPosition) -> Task<Void, Never> {
        let receiver = client.makePartitionReceiver(
            partitionID: partitionID, consumerGroup: consumerGroup, startingAt: position,
            options: PartitionReceiverOptions(ownerLevel: options.ownerLevel, prefetchCount: options.prefetchCount))
        let context = PartitionContext(partitionID: partitionID, consumerGroup: consumerGroup, eventHubName: client.eventHubName,
                                       fullyQualifiedNamespace: namespace, store: checkpointStore)
        return Task {
            await withTaskCancellationHandler {
                do {
                    for try await event in receiver {
                        do {
                            try await self.processEvent(event, context)
                        } catch {
                            await self.processError(Failure(partitionID: partitionID, error: error))
                        }
                    }
                } catch {
                    await self.processError(Failure(partitionID: partitionID, error: error))
                }
            } onCancel: {
                Task { await receiver.close() }
            }
            await receiver.close()
            if !Task.isCancelled {
                self.state.withLockedValue { _ = $0.endedPumps.insert(partitionID) }
            }
        }
    }
}
