import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTransport
import AMQPTypes
import NIOConcurrencyHelpers

/// How an ``EventHubProducer`` publishes.
public struct EventHubProducerOptions: Sendable {
    /// Publish idempotently to partitions (`com.microsoft:idempotent-producer`), as the .NET
    /// SDK's `EnableIdempotentPartitions`: each event carries the producer's id, epoch and a
    /// sequence number, so a batch resent after a lost answer is stored once. Sends must then name
    /// a partition, and go out one batch at a time per partition.
    public var enableIdempotentPartitions: Bool
    /// The state to start each partition with (a producer id, epoch and last sequence number of
    /// an earlier run); the service assigns what is not given.
    public var partitionOptions: [String: IdempotentProducerState]

    public init(enableIdempotentPartitions: Bool = false, partitionOptions: [String: IdempotentProducerState] = [:]) {
        self.enableIdempotentPartitions = enableIdempotentPartitions
        self.partitionOptions = partitionOptions
    }
}

/// The client side of idempotent publishing for one partition: the state the service answered
/// the attach with, moved on by each batch it accepted, and a gate that lets one batch out at a
/// time (a later batch's numbers depend on the earlier one being stored).
final class IdempotentPartition: Sendable {
    private struct Guarded {
        /// The state of the last attach, with `lastSequenceNumber` moved on by accepted batches.
        var state: IdempotentProducerState?
        /// What the next attach asks for when `state` is unknown.
        var requested: IdempotentProducerState
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let guarded: NIOLockedValueBox<Guarded>

    init(requested: IdempotentProducerState) {
        guarded = NIOLockedValueBox(Guarded(requested: requested))
    }

    /// The attach properties: the known state (so the service recognises the producer after a
    /// reconnect), else what the options asked for.
    var attachProperties: Fields? {
        guarded.withLockedValue { ($0.state ?? $0.requested).properties }
    }

    /// The state of the last attach; the first one that completes sets it.
    var state: IdempotentProducerState? { guarded.withLockedValue { $0.state } }

    func attached(_ answered: IdempotentProducerState) {
        guarded.withLockedValue { if $0.state == nil { $0.state = answered } }
    }

    func published(through sequence: Int32) {
        guarded.withLockedValue { $0.state?.lastSequenceNumber = sequence }
    }

    /// Forgets the producer's state after the service refused it: the next attach asks for a new
    /// producer id, as the SDKs do.
    func reset() {
        guarded.withLockedValue {
            $0.state = nil
            $0.requested = IdempotentProducerState()
        }
    }

    func withGate<T>(_ body: () async throws(EventHubsError) -> T) async throws(EventHubsError) -> T {
        await enter()
        defer { leave() }
        return try await body()
    }

    private func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let run: Bool = guarded.withLockedValue {
                if $0.busy {
                    $0.waiters.append(continuation)
                    return false
                }
                $0.busy = true
                return true
            }
            if run { continuation.resume() }
        }
    }

    private func leave() {
        let next: CheckedContinuation<Void, Never>? = guarded.withLockedValue {
            if $0.waiters.isEmpty {
                $0.busy = false
                return nil
            }
            return $0.waiters.removeFirst()
        }
        next?.resume()
    }
}

extension EventHubProducer {
    /// The conditions with which the service refuses a producer's idempotent state.
    static let refusedStateConditions: Set<String> = [
        EventHubsNames.outOfOrderSequence.stringValue, EventHubsNames.producerEpochStolen.stringValue,
    ]

    /// The idempotent state of a partition's producer, created on first use.
    func idempotentPartition(_ partitionID: String) -> IdempotentPartition {
        idempotentPartitions.withLockedValue { partitions in
            if let existing = partitions[partitionID] { return existing }
            let created = IdempotentPartition(requested: options.partitionOptions[partitionID] ?? IdempotentProducerState())
            partitions[partitionID] = created
            return created
        }
    }

    /// The state the service holds for the partition's producer, attaching its link if needed:
    /// what the .NET SDK's `GetPartitionPublishingPropertiesAsync` returns.
    public func partitionPublishingState(partitionID: String) async throws(EventHubsError) -> IdempotentProducerState {
        guard options.enableIdempotentPartitions else {
            throw EventHubsError(.invalidArgument, detail: "the producer does not publish idempotently")
        }
        let target = SendEventOptions.partition(partitionID).target(hub: eventHubName)
        var schedule = RetrySchedule(retry)
        _ = try await schedule.run(on: scope.clock, { try await self.link(for: target) })
        guard let state = idempotentPartition(partitionID).state else {
            throw EventHubsError(.service, detail: "the service answered without producer state")
        }
        return state
    }

    /// Sends events to one partition idempotently: numbered from the last accepted one, resent
    /// with the same numbers on every retry, so the service stores each once.
    func sendIdempotently(_ events: [EventData], options sendOptions: SendEventOptions) async throws(EventHubsError) {
        guard let partitionID = sendOptions.partitionID, sendOptions.partitionKey == nil else {
            throw EventHubsError(.invalidArgument, detail: "an idempotent producer sends to a partition id, without a partition key")
        }
        guard !events.isEmpty else { return }
        let partition = idempotentPartition(partitionID)
        let target = sendOptions.target(hub: eventHubName)
        let logger = scope.logger
        try await partition.withGate { () throws(EventHubsError) in
            var schedule = RetrySchedule(retry)
            // The link's attach gives the state the numbers continue from.
            _ = try await schedule.run(on: scope.clock, { try await self.link(for: target) })
            guard let state = partition.state, state.producerID != nil else {
                throw EventHubsError(.service, detail: "the service answered the idempotent attach without a producer id")
            }
            var sequence = state.lastSequenceNumber ?? -1
            var encoded: [[UInt8]] = []
            encoded.reserveCapacity(events.count)
            var scratch = AMQPEncoder(policy: .full)
            for var event in events {
                sequence = IdempotentProducerState.next(after: sequence)
                var annotations = event.message.messageAnnotations?.value ?? AMQPMap()
                state.annotate(&annotations, sequenceNumber: sequence)
                event.message.messageAnnotations = MessageAnnotations(annotations)
                encoded.append(event.encoded(partitionKey: nil, using: &scratch))
            }
            let payload = encoded.count == 1 ? encoded[0] : EventBatchEnvelope.encode(encoded, partitionKey: nil)
            let format: MessageFormat = encoded.count == 1 ? 0 : EventHubsNames.batchMessageFormat
            if let limit = self.links.withLockedValue({ $0.ready[target]?.link.sender.maxMessageSize }), UInt64(payload.count) > limit {
                throw EventHubsError(.messageTooLarge, condition: "amqp:link:message-size-exceeded",
                                     detail: "\(events.count) events take \(payload.count) bytes; the link takes \(limit)")
            }
            do throws(EventHubsError) {
                try await self.send(payload: payload, format: format, count: events.count, options: sendOptions)
            } catch {
                if let condition = error.condition, Self.refusedStateConditions.contains(condition) {
                    logger.warning("the service refused the idempotent state of partition \(partitionID) (\(condition)); resetting it: the next send starts a new producer id")
                    partition.reset()
                    await self.discardLink(for: target)
                }
                throw error
            }
            partition.published(through: sequence)
        }
    }
}
