import AMQPDurableFiles
import AMQPEventHubsProtocol
import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A partition claimed by an event processor, as a ``CheckpointStore`` records it.
public struct PartitionOwnership: Sendable, Hashable, Codable {
    /// The namespace host, `myns.servicebus.windows.net`.
    public var fullyQualifiedNamespace: String
    /// The event hub.
    public var eventHubName: String
    /// The consumer group whose processors share the partitions.
    public var consumerGroup: String
    /// The partition claimed.
    public var partitionID: String
    /// The processor that owns the partition; empty when it was given up.
    public var ownerID: String
    /// When the owner last claimed or renewed it; ownership older than the processors'
    /// expiration interval is free to take.
    public var lastModified: Date
    /// The store's version of the record: a claim succeeds only if it names the current one
    /// (`nil` claims a partition never owned before).
    public var etag: String?

    /// A claim of `partitionID` by `ownerID`; the store fills in ``lastModified`` and ``etag``.
    public init(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, partitionID: String,
                ownerID: String, lastModified: Date = Date(), etag: String? = nil) {
        self.fullyQualifiedNamespace = fullyQualifiedNamespace
        self.eventHubName = eventHubName
        self.consumerGroup = consumerGroup
        self.partitionID = partitionID
        self.ownerID = ownerID
        self.lastModified = lastModified
        self.etag = etag
    }
}

/// Where a consumer group got to in a partition: processing resumes after this event.
public struct Checkpoint: Sendable, Hashable, Codable {
    /// The namespace host, `myns.servicebus.windows.net`.
    public var fullyQualifiedNamespace: String
    /// The event hub.
    public var eventHubName: String
    /// The consumer group the checkpoint belongs to.
    public var consumerGroup: String
    /// The partition.
    public var partitionID: String
    /// The offset of the last processed event; preferred for resuming.
    public var offset: String?
    /// The sequence number of the last processed event.
    public var sequenceNumber: Int64?

    /// A checkpoint after the event with `offset` (preferred) or `sequenceNumber`.
    public init(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, partitionID: String,
                offset: String?, sequenceNumber: Int64?) {
        self.fullyQualifiedNamespace = fullyQualifiedNamespace
        self.eventHubName = eventHubName
        self.consumerGroup = consumerGroup
        self.partitionID = partitionID
        self.offset = offset
        self.sequenceNumber = sequenceNumber
    }

    /// Where a receiver continues: after the checkpointed event.
    var position: EventPosition? {
        if let offset { return .offset(offset, inclusive: false) }
        if let sequenceNumber { return .sequenceNumber(sequenceNumber, inclusive: false) }
        return nil
    }
}

/// Shared state of the event processors of one consumer group: who owns which partition, and
/// the checkpoints. Claims are optimistic: each names the `etag` it read, and only claims whose
/// etag is still current succeed, so two processors never both win a partition.
public protocol CheckpointStore: Sendable {
    func listOwnership(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws -> [PartitionOwnership]
    /// Claims each ownership whose etag matches the stored record (or that has no record yet
    /// and no etag); returns the claims that succeeded, with their new etags and times.
    func claimOwnership(_ ownership: [PartitionOwnership]) async throws -> [PartitionOwnership]
    func listCheckpoints(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws -> [Checkpoint]
    func updateCheckpoint(_ checkpoint: Checkpoint) async throws
}

/// The records of one consumer group, and the claim rule every store applies.
struct CheckpointRecords: Codable, Sendable {
    var ownership: [String: PartitionOwnership] = [:]
    var checkpoints: [String: Checkpoint] = [:]

    mutating func claim(_ requests: [PartitionOwnership], now: Date) -> [PartitionOwnership] {
        var claimed: [PartitionOwnership] = []
        for request in requests {
            let current = ownership[request.partitionID]
            guard current?.etag == request.etag else { continue }
            var granted = request
            granted.lastModified = now
            granted.etag = UUID().uuidString
            ownership[request.partitionID] = granted
            claimed.append(granted)
        }
        return claimed
    }
}

/// A checkpoint store in memory: for processors in one process, and for tests.
public actor InMemoryCheckpointStore: CheckpointStore {
    private var groups: [String: CheckpointRecords] = [:]

    /// An empty store.
    public init() {}

    static func key(_ namespace: String, _ hub: String, _ group: String) -> String {
        "\(namespace.lowercased())/\(hub.lowercased())/\(group.lowercased())"
    }

    /// Every claim recorded for the consumer group.
    public func listOwnership(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) -> [PartitionOwnership] {
        Array(groups[Self.key(fullyQualifiedNamespace, eventHubName, consumerGroup)]?.ownership.values ?? [:].values)
    }

    /// Records the claims whose version still matches the stored one; returns those that succeeded.
    public func claimOwnership(_ ownership: [PartitionOwnership]) -> [PartitionOwnership] {
        guard let first = ownership.first else { return [] }
        let key = Self.key(first.fullyQualifiedNamespace, first.eventHubName, first.consumerGroup)
        return groups[key, default: CheckpointRecords()].claim(ownership, now: Date())
    }

    /// Every checkpoint of the consumer group.
    public func listCheckpoints(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) -> [Checkpoint] {
        Array(groups[Self.key(fullyQualifiedNamespace, eventHubName, consumerGroup)]?.checkpoints.values ?? [:].values)
    }

    /// Records `checkpoint`, replacing the partition's previous one.
    public func updateCheckpoint(_ checkpoint: Checkpoint) {
        let key = Self.key(checkpoint.fullyQualifiedNamespace, checkpoint.eventHubName, checkpoint.consumerGroup)
        groups[key, default: CheckpointRecords()].checkpoints[checkpoint.partitionID] = checkpoint
    }
}

/// A checkpoint store in a directory: one JSON file per consumer group, read and rewritten
/// under an exclusive `flock`, replaced durably (a temporary file, `fsync`, rename, `fsync` of the
/// directory), so a checkpoint that was written survives a crash of the process or the machine.
/// Processors in several processes on one machine (or sharing a file system with working
/// locks) can share it. The file work (and the wait for the lock) runs on NIO's blocking-I/O
/// thread pool, never on the cooperative pool that async code runs on.
public final class FileCheckpointStore: CheckpointStore {
    /// Where the JSON files and their lock files are.
    public let directory: URL

    /// A store in `directory`, created if needed.
    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    struct StoreError: Error, CustomStringConvertible {
        var description: String
    }

    private func file(_ namespace: String, _ hub: String, _ group: String) -> URL {
        let name = [namespace, hub, group].map { part in
            String(part.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        }.joined(separator: "~")
        return directory.appendingPathComponent(name + ".json")
    }

    /// Runs `body` on the group's records while holding the group's lock; writes them back
    /// when `body` changed them.
    private func withRecords<T>(_ url: URL, _ body: (inout CheckpointRecords) throws -> T) throws -> T {
        let lockPath = url.path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw StoreError(description: "cannot open \(lockPath): errno \(errno)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StoreError(description: "cannot lock \(lockPath): errno \(errno)") }
        defer { flock(fd, LOCK_UN) }
        var records = CheckpointRecords()
        if let data = FileManager.default.contents(atPath: url.path), !data.isEmpty {
            records = try JSONDecoder.store.decode(CheckpointRecords.self, from: data)
        }
        let before = records
        let result = try body(&records)
        let encoded = try JSONEncoder.store.encode(records)
        if encoded != (try JSONEncoder.store.encode(before)) {
            do {
                try DurableFile.write([UInt8](encoded), to: url.path)
            } catch {
                throw StoreError(description: error.description)
            }
        }
        return result
    }

    /// Runs `body` on the group's records on the blocking-I/O pool.
    private func offPool<T: Sendable>(_ url: URL, _ body: @escaping @Sendable (inout CheckpointRecords) throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive { try self.withRecords(url, body) }
    }

    /// Every claim recorded for the consumer group, read from its file.
    public func listOwnership(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws -> [PartitionOwnership] {
        try await offPool(file(fullyQualifiedNamespace, eventHubName, consumerGroup)) { Array($0.ownership.values) }
    }

    /// Records the claims whose version still matches, under the group's file lock; returns those that
    /// succeeded.
    public func claimOwnership(_ ownership: [PartitionOwnership]) async throws -> [PartitionOwnership] {
        guard let first = ownership.first else { return [] }
        return try await offPool(file(first.fullyQualifiedNamespace, first.eventHubName, first.consumerGroup)) {
            $0.claim(ownership, now: Date())
        }
    }

    /// Every checkpoint of the consumer group, read from its file.
    public func listCheckpoints(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws -> [Checkpoint] {
        try await offPool(file(fullyQualifiedNamespace, eventHubName, consumerGroup)) { Array($0.checkpoints.values) }
    }

    /// Records `checkpoint` under the group's file lock, replacing the partition's previous one.
    public func updateCheckpoint(_ checkpoint: Checkpoint) async throws {
        try await offPool(file(checkpoint.fullyQualifiedNamespace, checkpoint.eventHubName, checkpoint.consumerGroup)) {
            $0.checkpoints[checkpoint.partitionID] = checkpoint
        }
    }
}

extension JSONEncoder {
    /// Sorted keys and fixed dates: the same records always give the same bytes.
    static var store: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }
}

extension JSONDecoder {
    static var store: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }
}
