import AMQPBlobStorage
import AMQPEventHubs
import Foundation

/// Where Microsoft's SDKs keep a consumer group's ownership and checkpoints in a container, and
/// what the blobs' metadata says. One layout is shared by Python's
/// `azure-eventhub-checkpointstoreblob` (`_blobstoragecs.py`: names lower-cased, metadata
/// `ownerid`, `offset`, `sequencenumber`), Go's `checkpoints.BlobStore` (`blob_store.go`) and
/// .NET's `BlobCheckpointStore`, which is what lets their processors and ours share a consumer group:
///
/// - `{namespace}/{hub}/{consumer group}/ownership/{partition}`: empty body, metadata `ownerid`;
///   its ETag is the claim's version and its Last-Modified the claim's time;
/// - `{namespace}/{hub}/{consumer group}/checkpoint/{partition}`: empty body, metadata `offset`
///   and `sequencenumber` (decimal strings).
enum CheckpointBlobLayout {
    static let ownerIDKey = "ownerid"
    static let offsetKey = "offset"
    static let sequenceNumberKey = "sequencenumber"

    /// The SDKs lower-case the whole name (namespace, hub and consumer group); so do we, or a
    /// Python processor would not see our claims.
    static func prefix(_ namespace: String, _ hub: String, _ group: String, _ kind: String) -> String {
        "\(namespace)/\(hub)/\(group)/\(kind)/".lowercased()
    }

    static func ownershipPrefix(_ namespace: String, _ hub: String, _ group: String) -> String {
        prefix(namespace, hub, group, "ownership")
    }

    static func checkpointPrefix(_ namespace: String, _ hub: String, _ group: String) -> String {
        prefix(namespace, hub, group, "checkpoint")
    }

    static func ownershipBlob(_ o: PartitionOwnership) -> String {
        ownershipPrefix(o.fullyQualifiedNamespace, o.eventHubName, o.consumerGroup) + o.partitionID.lowercased()
    }

    static func checkpointBlob(_ c: Checkpoint) -> String {
        checkpointPrefix(c.fullyQualifiedNamespace, c.eventHubName, c.consumerGroup) + c.partitionID.lowercased()
    }

    /// The partition a blob is about: its name's last segment (Go's `partitionIDRegexp`, Python's
    /// `name.split("/")[-1]`).
    static func partitionID(ofBlob name: String) -> String {
        name.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? name
    }

    static func checkpointMetadata(_ checkpoint: Checkpoint) -> [(name: String, value: String)] {
        var metadata: [(name: String, value: String)] = []
        if let offset = checkpoint.offset { metadata.append((offsetKey, offset)) }
        if let sequenceNumber = checkpoint.sequenceNumber { metadata.append((sequenceNumberKey, String(sequenceNumber))) }
        return metadata
    }

    /// A checkpoint blob's position, or why it is not one. Both SDKs fail the whole listing on one
    /// bad blob (Python's `int(metadata["sequencenumber"])`, Go's `strconv.ParseInt`); a processor
    /// should rather start that one partition from its default position, so the caller logs the
    /// reason and goes on without it.
    static func checkpoint(from item: BlobListing.Item) -> Result<(offset: String?, sequenceNumber: Int64?), GarbageCheckpoint> {
        let offsetText = item.metadata(offsetKey)
        let sequenceText = item.metadata(sequenceNumberKey)
        if offsetText == nil && sequenceText == nil {
            return .failure(GarbageCheckpoint(blob: item.name, reason: "neither offset nor sequencenumber in its metadata"))
        }
        var sequenceNumber: Int64?
        if let sequenceText {
            guard let number = Int64(sequenceText), number >= 0 else {
                return .failure(GarbageCheckpoint(blob: item.name, reason: "sequencenumber is not a non-negative integer"))
            }
            sequenceNumber = number
        }
        // Offsets are decimal on every Event Hubs namespace today (Go parses them as int64).
        if let offsetText, Int64(offsetText).map({ $0 < 0 }) ?? true {
            return .failure(GarbageCheckpoint(blob: item.name, reason: "offset is not a non-negative integer"))
        }
        return .success((offsetText, sequenceNumber))
    }
}

/// A checkpoint blob whose metadata is not a position: logged, and that partition has no checkpoint.
struct GarbageCheckpoint: Error, CustomStringConvertible {
    var blob: String
    var reason: String
    var description: String { "checkpoint blob \(blob): \(reason)" }
}
