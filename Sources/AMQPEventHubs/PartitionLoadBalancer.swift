import Foundation

/// How an ``EventProcessor`` claims partitions in each balancing round.
public enum LoadBalancingStrategy: String, Sendable, Hashable, CaseIterable {
    /// At most one more partition per round, until the processor holds its share: slow and
    /// steady, so that processors joining together do not steal back and forth (the default of
    /// every Azure SDK).
    case balanced
    /// Every partition it needs for its share in one round: faster to converge when processors
    /// start or stop, at the cost of more contention while they do.
    case greedy
}

/// One balancing decision, without I/O: which ownership records a processor should ask the store
/// for, given every record of the consumer group, now. The algorithm is the one Microsoft's SDKs
/// share (Go's `processorLoadBalancer` in `processor_load_balancer.go`, .NET's
/// `PartitionLoadBalancer`):
///
/// - a record counts for its owner while it is younger than the ownership expiration and names an
///   owner (an empty owner was given up, as .NET treats it); older or empty ones are free;
/// - with `p` partitions and `n` active owners (this processor included), each may hold at most
///   `max = ⌈p / n⌉`; a processor at `max` (or above) only renews; one at `max − 1` when the
///   partitions do not divide evenly claims one more only if some partition is free or some owner
///   holds more than `max`;
/// - otherwise it claims, free partitions first (at random), then partitions of owners above `max`
///   (at random): one per round for ``LoadBalancingStrategy/balanced``, all it lacks for
///   ``LoadBalancingStrategy/greedy``.
///
/// Its own records are always in the result, so that each round renews them.
struct PartitionLoadBalancer {
    var ownerID: String
    var strategy: LoadBalancingStrategy
    var expiration: TimeInterval

    /// The ownership to claim this round: this owner's current records (to renew) plus the new
    /// claims, each with the ETag it was read with (`nil` for a partition never owned).
    func claims(records: [PartitionOwnership], partitionIDs: [String], template: PartitionOwnership, now: Date,
                random: inout some RandomNumberGenerator) -> [PartitionOwnership] {
        let known = Set(partitionIDs)
        var mine: [PartitionOwnership] = []
        var free: [PartitionOwnership] = []
        var byOwner: [String: [PartitionOwnership]] = [ownerID: []]
        var seen = Set<String>()
        for record in records where known.contains(record.partitionID) && seen.insert(record.partitionID).inserted {
            let active = !record.ownerID.isEmpty && now.timeIntervalSince(record.lastModified) < expiration
            if !active {
                free.append(record)
            } else if record.ownerID == ownerID {
                mine.append(record)
                byOwner[ownerID, default: []].append(record)
            } else {
                byOwner[record.ownerID, default: []].append(record)
            }
        }
        for id in partitionIDs where !seen.contains(id) {
            var never = template
            never.partitionID = id
            never.etag = nil
            free.append(never)
        }
        let owners = byOwner.count
        var maxAllowed = partitionIDs.count / owners
        let hasRemainder = partitionIDs.count % owners > 0
        if hasRemainder { maxAllowed += 1 }
        let aboveMax = byOwner.filter { $0.key != ownerID && $0.value.count > maxAllowed }.flatMap(\.value)

        var claimMore = true
        if mine.count >= maxAllowed {
            claimMore = false
        } else if hasRemainder && mine.count == maxAllowed - 1 {
            claimMore = !free.isEmpty || !aboveMax.isEmpty
        }
        var result = mine
        guard claimMore else { return result.map(claimed) }
        switch strategy {
        case .balanced:
            if let pick = free.randomElement(using: &random) {
                result.append(pick)
            } else if let pick = aboveMax.randomElement(using: &random) {
                result.append(pick)
            }
        case .greedy:
            let wanted = maxAllowed - mine.count
            result += free.shuffled(using: &random).prefix(wanted)
            if result.count < maxAllowed {
                result += aboveMax.shuffled(using: &random).prefix(maxAllowed - result.count)
            }
        }
        return result.map(claimed)
    }

    private func claimed(_ record: PartitionOwnership) -> PartitionOwnership {
        var claim = record
        claim.ownerID = ownerID
        return claim
    }
}
