import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// sequence number, offset, enqueued time, header end, partition key and message. At startup the
/// segments are read back in order; the first record that is short or fails its checksum (a write
/// torn by a crash) is cut off with everything after it. Only an index stays in memory.
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

    init(hub: String, id: Int, directory: String?, sync: EmulatorConfiguration.SyncPolicy, retentionSeconds: Int64, retentionBytes: Int64) throws {
        self.hub = hub
        self.id = id
        self.retentionSeconds = retentionSeconds
        self.retentionBytes = retentionBytes
        if let directory {
            let storage = try SegmentStorage(directory: directory, sync: sync)
            self.storage = storage
            for event in try storage.recover() {
                events.append(event)
                retainedBytes += Int64(event.size)
                nextSequenceNumber = event.sequenceNumber + 1
                nextOffset = event.offset + Int64(event.size)
            }
        } else {
            storage = nil
        }
    }

    // MARK: Writing

    /// Appends events, assigning sequence numbers, offsets and the enqueued time; on disk they
    /// are written (and synced, per policy) before this returns. Listeners hear about them after.
    func append(_ new: [NewEvent], now: Int64, annotate: (inout Message, StoredEvent) -> Void) throws -> [StoredEvent] {
        let (stored, toNotify) = try lock.withLock { () throws -> ([StoredEvent], [@Sendable () -> Void]) in
            let enqueued = max(now, events.last?.enqueuedTime ?? 0)
            var out: [StoredEvent] = []
            var records: [(StoredEvent, [UInt8])] = []
            for event in new {
                var meta = StoredEvent(sequenceNumber: nextSequenceNumber, offset: nextOffset, enqueuedTime: enqueued,
                                       partitionKey: event.partitionKey, headerEnd: event.headerEnd, location: .memory([]))
                var message = try Message(decoding: event.message)
                annotate(&message, meta)
                let bytes = message.encoded(policy: .full)
                meta.headerEnd = message.header.map { AMQPEncoder.encode($0, policy: .full).count } ?? 0
                meta.location = .memory(bytes)
                nextSequenceNumber += 1
                nextOffset += Int64(bytes.count)
                records.append((meta, bytes))
            }
            if let storage {
                let placed = try storage.write(records)
                for (i, location) in placed.enumerated() { records[i].0.location = location }
            }
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
            guard head < events.count else { return [] }
            let first = events[head].sequenceNumber
            let start = head + Int(max(sequenceNumber - first, 0))
            guard start < events.count else { return [] }
            return Array(events[start..<min(events.count, start + limit)])
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

// MARK: - Segment files

/// A partition's segment files: `00000000000000000000.log`, named by their first sequence number.
final class SegmentStorage: @unchecked Sendable {
    static let magic: UInt32 = 0x4548_5231  // "EHR1"
    static let segmentLimit: Int64 = 64 << 20
    let directory: String
    let sync: EmulatorConfiguration.SyncPolicy
    private var segments: [Int: (name: String, fd: Int32)] = [:]
    private var current: Int = 0
    private var currentSize: Int64 = 0

    init(directory: String, sync: EmulatorConfiguration.SyncPolicy) throws {
        self.directory = directory
        self.sync = sync
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    struct StorageError: Error, CustomStringConvertible {
        var description: String
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    /// Reads every segment back, cutting off a torn or corrupt tail.
    func recover() throws -> [StoredEvent] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
        var events: [StoredEvent] = []
        var damaged = false
        for (index, name) in names.enumerated() {
            if damaged {
                // Everything after a damaged record is gone with it.
                try? FileManager.default.removeItem(atPath: path(name))
                continue
            }
            let fd = open(path(name), O_RDWR | O_APPEND)
            guard fd >= 0 else { throw StorageError(description: "cannot open \(path(name))") }
            let data = (try? Data(contentsOf: URL(fileURLWithPath: path(name)))) ?? Data()
            let bytes = [UInt8](data)
            var position = 0
            while position < bytes.count {
                guard let (event, length) = Self.parseRecord(bytes, at: position, segment: index) else {
                    ftruncate(fd, off_t(position))
                    damaged = true
                    break
                }
                events.append(event)
                position += length
            }
            segments[index] = (name, fd)
            current = index
            currentSize = Int64(position)
        }
        if segments.isEmpty { try openSegment(0, firstSequence: 0) }
        return events
    }

    static func parseRecord(_ bytes: [UInt8], at start: Int, segment: Int) -> (StoredEvent, Int)? {
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3]) }
        func i64(_ at: Int) -> Int64 { Int64(bitPattern: UInt64(u32(at)) << 32 | UInt64(u32(at + 4))) }
        guard start + 12 <= bytes.count, u32(start) == magic else { return nil }
        let bodyLength = Int(u32(start + 4))
        let body = start + 12
        guard bodyLength >= 30, body + bodyLength <= bytes.count else { return nil }
        guard CRC32.checksum(bytes[body..<(body + bodyLength)]) == u32(start + 8) else { return nil }
        let sequence = i64(body)
        let offset = i64(body + 8)
        let time = i64(body + 16)
        let headerEnd = Int(u32(body + 24))
        let keyLength = Int(UInt16(bytes[body + 28]) << 8 | UInt16(bytes[body + 29]))
        var cursor = body + 30
        var key: String? = nil
        if keyLength != 0xFFFF {
            guard cursor + keyLength <= body + bodyLength else { return nil }
            key = String(decoding: bytes[cursor..<(cursor + keyLength)], as: UTF8.self)
            cursor += keyLength
        }
        let payloadLength = body + bodyLength - cursor
        let event = StoredEvent(sequenceNumber: sequence, offset: offset, enqueuedTime: time, partitionKey: key, headerEnd: headerEnd,
                                location: .file(segment: segment, position: Int64(cursor), length: payloadLength))
        return (event, 12 + bodyLength)
    }

    private func openSegment(_ index: Int, firstSequence: Int64) throws {
        let name = String(format: "%020lld.log", firstSequence)
        let fd = open(path(name), O_RDWR | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw StorageError(description: "cannot create \(path(name))") }
        segments[index] = (name, fd)
        current = index
        currentSize = 0
    }

    /// Writes records in one `write` and syncs per policy; returns where each message landed.
    func write(_ records: [(StoredEvent, [UInt8])]) throws -> [StoredEvent.Location] {
        guard let first = records.first else { return [] }
        if currentSize >= Self.segmentLimit {
            try openSegment(current + 1, firstSequence: first.0.sequenceNumber)
        }
        var buffer: [UInt8] = []
        var locations: [StoredEvent.Location] = []
        for (meta, message) in records {
            var body: [UInt8] = []
            body.reserveCapacity(30 + message.count + (meta.partitionKey?.utf8.count ?? 0))
            Self.append64(meta.sequenceNumber, to: &body)
            Self.append64(meta.offset, to: &body)
            Self.append64(meta.enqueuedTime, to: &body)
            Self.append32(UInt32(meta.headerEnd), to: &body)
            if let key = meta.partitionKey, key.utf8.count < 0xFFFF {
                let k = Array(key.utf8)
                body += [UInt8(k.count >> 8), UInt8(k.count & 0xFF)] + k
            } else {
                body += [0xFF, 0xFF]
            }
            let payloadPosition = currentSize + Int64(buffer.count) + 12 + Int64(body.count)
            body += message
            Self.append32(Self.magic, to: &buffer)
            Self.append32(UInt32(body.count), to: &buffer)
            Self.append32(CRC32.checksum(body[...]), to: &buffer)
            buffer += body
            locations.append(.file(segment: current, position: payloadPosition, length: message.count))
        }
        let fd = segments[current]!.fd
        var written = 0
        while written < buffer.count {
            let n = buffer[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw StorageError(description: "write to \(path(segments[current]!.name)) failed: errno \(errno)") }
            written += n
        }
        if sync == .always { fsync(fd) }
        currentSize += Int64(buffer.count)
        return locations
    }

    func read(segment: Int, position: Int64, length: Int) -> [UInt8]? {
        guard let fd = segments[segment]?.fd else { return nil }
        var bytes = [UInt8](repeating: 0, count: length)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position)) }
        return n == length ? bytes : nil
    }

    func deleteSegments(before segment: Int) {
        for (index, entry) in segments where index < segment {
            Glibc.close(entry.fd)
            try? FileManager.default.removeItem(atPath: path(entry.name))
            segments.removeValue(forKey: index)
        }
    }

    func close() {
        for (_, entry) in segments { Glibc.close(entry.fd) }
        segments.removeAll()
    }

    static func append32(_ v: UInt32, to out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }

    static func append64(_ v: Int64, to out: inout [UInt8]) {
        let u = UInt64(bitPattern: v)
        append32(UInt32(u >> 32), to: &out)
        append32(UInt32(truncatingIfNeeded: u), to: &out)
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
