import AMQPCodec
import AMQPEventHubsProtocol
import AMQPTypes
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Every hub's partitions, the partition chooser, and the registry of active receivers that
/// enforces owner levels (epochs). Shared by all connections, so everything here is locked.
final class EventHubsStore: Sendable {
    let configuration: EmulatorConfiguration
    /// Lower-cased hub name → partitions.
    private let partitions: [String: [PartitionLog]]
    let createdAt: Int64
    private let state = NIOLockedValueBox(State())

    private struct State {
        var roundRobin: [String: Int] = [:]
        var receivers: [String: [ActiveReceiver]] = [:]
        var nextReceiverID: UInt64 = 0
    }
    /// Producer ids, epochs and sequence numbers of idempotent producers.
    let idempotentProducers = IdempotentProducerRegistry()

    struct ActiveReceiver: Sendable {
        let id: UInt64
        let ownerLevel: Int64?
        /// Detaches the receiver (on its own event loop) with `error`.
        let evict: @Sendable (AMQPError) -> Void
    }

    init(configuration: EmulatorConfiguration, logger: Logger = Logger(label: "swift-amqp.emulator")) throws {
        self.configuration = configuration
        var partitions: [String: [PartitionLog]] = [:]
        for hub in configuration.hubs {
            partitions[hub.name.lowercased()] = try (0..<hub.partitionCount).map { (id: Int) throws -> PartitionLog in
                let hubName = hub.name
                var beforeWrite: (@Sendable () -> Void)? = nil
                if let hook = configuration.beforeSegmentWrite { beforeWrite = { @Sendable in hook(hubName, id) } }
                let log = try PartitionLog(
                    hub: hub.name, id: id, directory: Self.partitionDirectory(configuration, hub: hub.name, id: id),
                    sync: configuration.syncPolicy, segmentBytes: configuration.segmentBytes,
                    retentionSeconds: configuration.retentionSeconds, retentionBytes: configuration.retentionBytesPerPartition,
                    maxEventBytes: Int(clamping: configuration.maxMessageSize) - EmulatorConnection.runtimeMetricsReserve,
                    beforeWrite: beforeWrite)
                if let damage = log.damage {
                    logger.error("partition refused: its log is damaged; the other partitions are served; run amqp emulator --repair to cut it there",
                                 metadata: ["eventhub": "\(hub.name)", "partition": "\(id)", "file": "\(damage.file)",
                                            "byte_offset": "\(damage.byteOffset)", "reason": "\(damage.reason)"])
                }
                if let torn = log.tornTail {
                    logger.warning("cut a torn record off the end of the log (a write interrupted by a crash; never acknowledged)",
                                   metadata: ["eventhub": "\(hub.name)", "partition": "\(id)", "file": "\(torn.damage.file)",
                                              "byte_offset": "\(torn.damage.byteOffset)", "bytes": "\(torn.bytes)", "reason": "\(torn.damage.reason)"])
                }
                return log
            }
        }
        self.partitions = partitions
        self.createdAt = Self.creationTime(configuration)
    }

    static func partitionDirectory(_ configuration: EmulatorConfiguration, hub: String, id: Int) -> String? {
        configuration.dataDirectory.map { "\($0)/\(hub.lowercased())/\(id)" }
    }

    /// Partitions refused because their log is damaged, in hub and partition order.
    var damagedPartitions: [(hub: String, partition: Int, damage: LogDamage)] {
        configuration.hubs.flatMap { hub in
            (partitions[hub.name.lowercased()] ?? []).compactMap { log in log.damage.map { (hub.name, log.id, $0) } }
        }
    }

    /// The time the hubs were created: kept in the data directory so it survives restarts.
    static func creationTime(_ configuration: EmulatorConfiguration) -> Int64 {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard let directory = configuration.dataDirectory else { return now }
        let path = directory + "/created-at"
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let stored = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return stored
        }
        try? "\(now)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return now
    }

    func hub(_ name: String) -> EmulatorConfiguration.Hub? { configuration.hub(named: name) }

    func partition(hub: String, id: Int) -> PartitionLog? {
        guard let logs = partitions[hub.lowercased()], id >= 0, id < logs.count else { return nil }
        return logs[id]
    }

    /// The partition for an event sent to the hub itself: the service's hash of the partition key
    /// (so a key lands in the partition it would on Azure, and in the one a client-side resolver
    /// predicts), or round robin without one, passing over partitions refused for a damaged log (a
    /// keyed event keeps its partition, and is refused with it).
    func choosePartition(hub: String, partitionKey: String?) -> Int {
        let count = max(partitions[hub.lowercased()]?.count ?? 1, 1)
        if let key = partitionKey {
            return PartitionResolver.partitionIndex(forKey: key, partitionCount: count)
        }
        let logs = partitions[hub.lowercased()] ?? []
        return state.withLockedValue { state in
            var next = state.roundRobin[hub.lowercased(), default: 0]
            for _ in 0..<count where next < logs.count && logs[next].damage != nil { next = (next + 1) % count }
            state.roundRobin[hub.lowercased()] = (next + 1) % count
            return next
        }
    }

    /// Admits a receiver on `hub/group/partition`. A higher owner level displaces receivers with
    /// a lower one or none (they are detached with `amqp:link:stolen`); a receiver with a lower
    /// owner level, or none while one with an owner level is active, is refused.
    enum Admission {
        case admitted(UInt64)
        case refused(AMQPError)
    }

    func admitReceiver(hub: String, group: String, partition: Int, ownerLevel: Int64?,
                       evict: @escaping @Sendable (AMQPError) -> Void) -> Admission {
        let key = "\(hub.lowercased())/\(group.lowercased())/\(partition)"
        let (result, evicted) = state.withLockedValue { state -> (Admission, [ActiveReceiver]) in
            var active = state.receivers[key, default: []]
            let highest = active.compactMap(\.ownerLevel).max()
            if let highest {
                guard let level = ownerLevel else {
                    return (.refused(AMQPError(condition: .link(.stolen),
                        description: "a receiver with owner level \(highest) is active on partition \(partition) of \(group)")), [])
                }
                if level < highest {
                    return (.refused(AMQPError(condition: .link(.stolen),
                        description: "a receiver with the higher owner level \(highest) is active on partition \(partition) of \(group)")), [])
                }
            }
            var displaced: [ActiveReceiver] = []
            if let level = ownerLevel {
                displaced = active.filter { ($0.ownerLevel ?? Int64.min) < level }
                active.removeAll { ($0.ownerLevel ?? Int64.min) < level }
            }
            let id = state.nextReceiverID
            state.nextReceiverID += 1
            active.append(ActiveReceiver(id: id, ownerLevel: ownerLevel, evict: evict))
            state.receivers[key] = active
            return (.admitted(id), displaced)
        }
        for receiver in evicted {
            receiver.evict(AMQPError(condition: .link(.stolen),
                description: "displaced by a receiver with owner level \(ownerLevel ?? 0) on partition \(partition) of \(group)"))
        }
        return result
    }

    func removeReceiver(hub: String, group: String, partition: Int, id: UInt64) {
        let key = "\(hub.lowercased())/\(group.lowercased())/\(partition)"
        state.withLockedValue { _ = $0.receivers[key]?.removeAll { $0.id == id } }
    }

    func close() {
        for logs in partitions.values { for log in logs { log.close() } }
    }

    /// Receivers admitted and listeners on the partition logs, which closed connections must
    /// leave none of.
    var registrations: Int {
        state.withLockedValue { $0.receivers.values.reduce(0) { $0 + $1.count } }
            + partitions.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.listenerCount } }
    }
}
