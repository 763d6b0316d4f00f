import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import Foundation
import NIOConcurrencyHelpers


/// An event as stored: its service-assigned identity and the message as consumers receive it
/// (already carrying the `x-opt-*` annotations).
struct StoredEvent: Sendable {
    var sequenceNumber: Int64
    var offset: Int64
    var enqueuedTime: Int64
    var partitionKey: String?
    /// Where delivery annotations go when runtime metrics are asked for: the end of the header
    /// section (0 when there is none).
    var headerEnd: Int
    var location: Location

    enum Location: Sendable {
        case memory([UInt8])
        case file(segment: Int, position: Int64, length: Int)
    }

    var size: Int {
        switch location {
        case .memory(let bytes): return bytes.count
        case .file(_, _, let length): return length
        }
    }
}

/// What a publisher hands the log: the message to store and its partition key.
struct NewEvent: Sendable {
    var message: [UInt8]
    var headerEnd: Int
    var partitionKey: String?
}

/// One partition: an append-only sequence of events with sequence numbers, offsets and enqueued
/// times, kept in memory or in checksummed segment files on disk.
///
/// On disk each record is `magic, body length, CRC-32 of body, body`, the body holding the
/// sequence number, offset, enqueued time, header end, partition key and message. At startup
/// every segment is read back and checked (``LogVerifier``): a torn write at the end of the last
/// segment is cut off; damage anywhere else leaves the files untouched and the partition refused
/// (``damage``) until `amqp emulator --repair` cuts it explicitly. Only an index stays in memory.
final class PartitionLog: @unchecked Sendable {
    let hub: String
    let id: Int
    private let lock = NIOLock()
    private var events: [StoredEvent] = []
    private var head = 0
    private(set) var nextSequenceNumber: Int64 = 0
    private var nextOffset: Int64 = 0
    private var retainedBytes: Int64 = 0
    private var listeners: [UInt64: @Sendable () -> Void] = [:]
    private var nextListener: UInt64 = 0
    private let storage: SegmentStorage?
    private let retentionSeconds: Int64
    private let retentionBytes: Int64
    /// Set when the log on disk is damaged before its end: nothing is read or written then.
    let damage: LogDamage?
    /// The torn tail cut off at startup, if any, and how many bytes it had.
    let tornTail: (damage: LogDamage, bytes: Int64)?

    init(hub: String, id: Int, directory: String?, sync: EmulatorConfiguration.SyncPolicy, segmentBytes: Int64 = 64 << 20,
         retentionSeconds: Int64, retentionBytes: Int64) throws {
        self.hub = hub
        self.id = id
        self.retentionSeconds = retentionSeconds
        self.retentionBytes = retentionBytes
        guard let directory else {
            storage = nil
            damage = nil
            tornTail = nil
            return
        }
        let storage = try SegmentStorage(directory: directory, sync: sync, segmentLimit: segmentBytes)
        self.storage = storage
        let recovery: SegmentStorage.Recovery
        do {
            recovery = try storage.recover()
        } catch {
            // A file that cannot be read or cut is no reason to stop the other partitions.
            recovery = .damaged(LogDamage(file: directory, byteOffset: 0, reason: "\(error)"))
        }
        switch recovery {
        case .damaged(let found):
            damage = found
            tornTail = nil
        case .intact(let recovered, let next, let cut):
            damage = nil
            tornTail = cut
            events = recovered
            retainedBytes = recovered.reduce(0) { $0 + Int64($1.size) }
            nextSequenceNumber = next.sequenceNumber
            nextOffset = next.offset
        }
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    /// Why this partition serves nothing, for errors sent to clients.
    var refusal: String? {
        damage.map { "partition \(id) of \(hub) is not served: its log is damaged (\($0)); run amqp emulator --repair" }
    }

    // MARK: Writing

    /// Appends events, assigning sequence numbers, offsets and the enqueued time; on disk they
    /// are written (and synced, per policy) before this returns. Listeners hear about them after.
    func append(_ new: [NewEvent], now: Int64, annotate: (inout Message, StoredEvent) -> Void) throws -> [StoredEvent] {
        if let refusal { throw Refused(description: refusal) }
        let (stored, toNotify) = try lock.withLock { () throws -> ([StoredEvent], [@Sendable () -> Void]) in
            let enqueued = max(now, events.last?.enqueuedTime ?? 0)
            var out: [StoredEvent] = []
            var records: [(StoredEvent, [UInt8])] = []
            // Numbers are taken here and committed only once the records are written: a failed
            // write gives none of them out.
            var sequenceNumber = nextSequenceNumber
            var offset = nextOffset
            for event in new {
                var meta = StoredEvent(sequenceNumber: sequenceNumber, offset: offset, enqueuedTime: enqueued,
                                       partitionKey: event.partitionKey, headerEnd: event.headerEnd, location: .memory([]))
                var message = try Message(decoding: event.message)
                annotate(&message, meta)
                let bytes = message.encoded(policy: .full)
                meta.headerEnd = message.header.map { AMQPEncoder.encode($0, policy: .full).count } ?? 0
                meta.location = .memory(bytes)
                sequenceNumber += 1
                offset += Int64(bytes.count)
                records.append((meta, bytes))
            }
            if let storage {
                let placed = try storage.write(records)
                for (i, location) in placed.enumerated() { records[i].0.location = location }
            }
            nextSequenceNumber = sequenceNumber
            nextOffset = offset
            for (meta, _) in records {
                events.append(meta)
                retainedBytes += Int64(meta.size)
                out.append(meta)
            }
            applyRetention(now: now)
            return (out, Array(listeners.values))
        }
        for listener in toNotify { listener() }
        return stored
    }

    private func applyRetention(now: Int64) {
        let cutoff = now - retentionSeconds * 1000
        var dropped = false
        while head < events.count - 1, events[head].enqueuedTime < cutoff || retainedBytes > retentionBytes {
            retainedBytes -= Int64(events[head].size)
            head += 1
            dropped = true
        }
        if head > 4096 && head * 2 > events.count {
            events.removeSubrange(0..<head)
            head = 0
        }
        if dropped, let storage, let first = events[head...].first, case .file(let segment, _, _) = first.location {
            storage.deleteSegments(before: segment)
        }
    }

    // MARK: Reading

    /// Runs `listener` (on the appending thread) after every append, until removed.
    func addListener(_ listener: @escaping @Sendable () -> Void) -> UInt64 {
        lock.withLock {
            let id = nextListener
            nextListener += 1
            listeners[id] = listener
            return id
        }
    }

    func removeListener(_ id: UInt64) {
        lock.withLock { _ = listeners.removeValue(forKey: id) }
    }

    /// The sequence number of the first event a receiver starting at `position` gets.
    func startSequenceNumber(for position: EventPosition) -> Int64 {
        lock.withLock {
            let retained = events[head...]
            switch position {
            case .earliest:
                return retained.first?.sequenceNumber ?? nextSequenceNumber
            case .latest:
                return nextSequenceNumber
            case .sequenceNumber(let n, let inclusive):
                let wanted = inclusive ? n : n + 1
                return max(wanted, retained.first?.sequenceNumber ?? nextSequenceNumber)
            case .offset(let text, let inclusive):
                guard let offset = Int64(text) else { return nextSequenceNumber }
                if offset < 0 { return retained.first?.sequenceNumber ?? nextSequenceNumber }
                let index = retained.partitioningIndex { inclusive ? $0.offset >= offset : $0.offset > offset }
                return index < retained.endIndex ? retained[index].sequenceNumber : nextSequenceNumber
            case .enqueuedTime(let ms, let inclusive):
                let index = retained.partitioningIndex { inclusive ? $0.enqueuedTime >= ms : $0.enqueuedTime > ms }
                return index < retained.endIndex ? retained[index].sequenceNumber : nextSequenceNumber
            }
        }
    }

    /// Up to `limit` events from `sequenceNumber` on, with their bytes. Events dropped by
    /// retention are skipped.
    func read(from sequenceNumber: Int64, limit: Int) -> [(StoredEvent, [UInt8])] {
        let slice: [StoredEvent] = lock.withLock {
            // Sequence numbers may jump where a repair cut the log: search, never subtract.
            let retained = events[head...]
            let start = retained.partitioningIndex { $0.sequenceNumber >= sequenceNumber }
            return Array(retained[start..<(retained.index(start, offsetBy: max(limit, 0), limitedBy: retained.endIndex) ?? retained.endIndex)])
        }
        return slice.compactMap { event in
            switch event.location {
            case .memory(let bytes): return (event, bytes)
            case .file(let segment, let position, let length):
                guard let bytes = storage?.read(segment: segment, position: position, length: length) else { return nil }
                return (event, bytes)
            }
        }
    }

    struct Properties: Sendable {
        var beginSequenceNumber: Int64
        var lastEnqueuedSequenceNumber: Int64
        var lastEnqueuedOffset: String
        var lastEnqueuedTime: Int64
        var isEmpty: Bool
    }

    var properties: Properties {
        lock.withLock {
            guard let last = events.last, head < events.count else {
                return Properties(beginSequenceNumber: nextSequenceNumber == 0 ? 0 : nextSequenceNumber, lastEnqueuedSequenceNumber: nextSequenceNumber - 1,
                                  lastEnqueuedOffset: "-1", lastEnqueuedTime: 0, isEmpty: true)
            }
            return Properties(beginSequenceNumber: events[head].sequenceNumber, lastEnqueuedSequenceNumber: last.sequenceNumber,
                              lastEnqueuedOffset: String(last.offset), lastEnqueuedTime: last.enqueuedTime, isEmpty: false)
        }
    }

    var count: Int { lock.withLock { events.count - head } }

    func close() { storage?.close() }
}

extension RandomAccessCollection {
    /// The first index where `belongs` is true, for a predicate that is false then true.
    func partitioningIndex(where belongs: (Element) -> Bool) -> Index {
        var low = startIndex
        var count = self.count
        while count > 0 {
            let half = count / 2
            let middle = index(low, offsetBy: half)
            if belongs(self[middle]) {
                count = half
            } else {
                low = index(after: middle)
                count -= half + 1
            }
        }
        return low
    }
}

/// CRC-32 (IEEE 802.3, the zlib one).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
