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

    /// What keeping this event costs the retention budget: on disk, its record's bytes; in
    /// memory, what it really holds resident. That is its bytes plus the array's header and the
    /// allocator's rounding, its partition key when Swift stores it out of line (past 15 UTF-8
    /// bytes), and its entry in the index counted twice (an array's capacity is up to twice its
    /// count, and dropped entries wait there for the next compaction). Counting the payload alone
    /// let memory-only retention hold 3 to 4.5 times its budget with small events.
    var retainedCost: Int {
        switch location {
        case .file(_, _, let length):
            return length
        case .memory(let bytes):
            let keyBytes = partitionKey.map { $0.utf8.count > 15 ? $0.utf8.count + Self.heapAllocationOverhead : 0 } ?? 0
            return bytes.count + Self.heapAllocationOverhead + 2 * MemoryLayout<StoredEvent>.stride + keyBytes
        }
    }

    /// A Swift array's or string's heap header (32 bytes) and malloc's own header and rounding.
    static let heapAllocationOverhead = 48
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
final class PartitionLog: Sendable {
    let hub: String
    let id: Int
    /// The index and the numbers, under one lock that readers and the writer share.
    private let state: NIOLockedValueBox<State>

    private struct State: Sendable {
        var events: [StoredEvent] = []
        var head = 0
        var nextSequenceNumber: Int64 = 0
        var nextOffset: Int64 = 0
        var retainedBytes: Int64 = 0
        /// Publishes waiting for the writer, and whether it has been asked to run.
        var pending: [PendingAppend] = []
        var writerScheduled = false
        var listeners: [UInt64: @Sendable () -> Void] = [:]
        var nextListener: UInt64 = 0

        var retained: ArraySlice<StoredEvent> { events[head...] }
    }

    /// The sequence number the next event gets.
    var nextSequenceNumber: Int64 { state.withLockedValue { $0.nextSequenceNumber } }

    /// A persisted partition's writer: one serial queue, so appends keep their order and block
    /// only it.
    private let writer: DispatchQueue?
    /// Serialises writes: the writer's, or in memory the publishing loops'.
    private let writeLock = NIOLock()
    private let beforeWrite: (@Sendable () -> Void)?
    /// The largest event as stored (with the service's annotations) that is accepted.
    private let maxEventBytes: Int?
    private let storage: SegmentStorage?
    private let retentionSeconds: Int64
    private let retentionBytes: Int64
    /// Set when the log on disk is damaged before its end: nothing is read or written then.
    let damage: LogDamage?
    /// The torn tail cut off at startup, if any, and how many bytes it had.
    let tornTail: (damage: LogDamage, bytes: Int64)?

    init(hub: String, id: Int, directory: String?, sync: EmulatorConfiguration.SyncPolicy, segmentBytes: Int64 = 64 << 20,
         retentionSeconds: Int64, retentionBytes: Int64, maxEventBytes: Int? = nil, beforeWrite: (@Sendable () -> Void)? = nil) throws {
        self.hub = hub
        self.id = id
        self.maxEventBytes = maxEventBytes
        self.beforeWrite = beforeWrite
        writer = directory.map { _ in DispatchQueue(label: "swift-amqp.emulator.writer.\(hub).\(id)") }
        self.retentionSeconds = retentionSeconds
        self.retentionBytes = retentionBytes
        guard let directory else {
            storage = nil
            damage = nil
            tornTail = nil
            state = NIOLockedValueBox(State())
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
        var initial = State()
        switch recovery {
        case .damaged(let found):
            damage = found
            tornTail = nil
        case .intact(let recovered, let next, let cut):
            damage = nil
            tornTail = cut
            initial.events = recovered
            initial.retainedBytes = recovered.reduce(0) { $0 + Int64($1.retainedCost) }
            initial.nextSequenceNumber = next.sequenceNumber
            initial.nextOffset = next.offset
        }
        state = NIOLockedValueBox(initial)
    }

    /// Why this partition serves nothing, for errors sent to clients.
    var refusal: String? {
        damage.map { "partition \(id) of \(hub) is not served: its log is damaged (\($0)); run amqp emulator --repair" }
    }

    // MARK: Writing

    /// Why an append stored nothing.
    struct AppendFailure: Error, Sendable, CustomStringConvertible {
        enum Kind: Sendable {
            /// The partition is refused, or the disk failed (the system's text is in the description).
            case storage
            /// An event is not a valid message.
            case invalidMessage
            /// An event with the service's annotations is larger than the largest message allowed.
            case tooLarge
        }
        var kind: Kind
        var description: String
    }

    typealias Completion = @Sendable (Result<[StoredEvent], AppendFailure>) -> Void
    typealias Annotate = @Sendable (inout Message, StoredEvent) -> Void

    /// One publish waiting for the writer.
    private struct PendingAppend: Sendable {
        var events: [NewEvent]
        var now: Int64
        var annotate: Annotate
        var completion: Completion
    }

    /// Appends events, assigning sequence numbers, offsets and the enqueued time, and calls
    /// `completion` once they are stored. A persisted partition writes (and syncs, per policy) on
    /// its own writer thread, never the caller's, so a slow disk holds up only this partition's
    /// publishers; publishes that queue up meanwhile share the next write and sync. In memory it
    /// completes at once. A failure stores nothing and gives out no number. Listeners hear about
    /// stored events before `completion` runs.
    func append(_ new: [NewEvent], now: Int64, annotate: @escaping Annotate, completion: @escaping Completion) {
        if let refusal {
            completion(.failure(AppendFailure(kind: .storage, description: refusal)))
            return
        }
        let request = PendingAppend(events: new, now: now, annotate: annotate, completion: completion)
        guard let writer else {
            let result = writeLock.withLock { write([request]) }[0]
            completion(result)
            return
        }
        let schedule = state.withLockedValue { state -> Bool in
            state.pending.append(request)
            defer { state.writerScheduled = true }
            return !state.writerScheduled
        }
        if schedule { writer.async { self.drain() } }
    }

    /// Blocks until the events are stored: for tests and tools, never on an event loop.
    func appendAndWait(_ new: [NewEvent], now: Int64, annotate: @escaping Annotate) throws(AppendFailure) -> [StoredEvent] {
        let result = NIOLockedValueBox<Result<[StoredEvent], AppendFailure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        append(new, now: now, annotate: annotate) { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLockedValue { $0! }.get()
    }

    /// The writer: takes what is pending, in order, until nothing is.
    private func drain() {
        while true {
            let batch = state.withLockedValue { state -> [PendingAppend] in
                let taken = Array(state.pending.prefix(Self.maxPublishesPerWrite))
                state.pending.removeFirst(taken.count)
                if taken.isEmpty { state.writerScheduled = false }
                return taken
            }
            guard !batch.isEmpty else { return }
            let results = writeLock.withLock { write(batch) }
            for (request, result) in zip(batch, results) { request.completion(result) }
        }
    }

    /// At most this many publishes share one write and sync, so one write's buffer stays bounded.
    static let maxPublishesPerWrite = 256

    /// Stores a batch of publishes with one write: numbers are taken here and committed only
    /// once the records are written, so a failed write gives none of them out. Called with
    /// `writeLock` held: only one writer moves the numbers on.
    private func write(_ batch: [PendingAppend]) -> [Result<[StoredEvent], AppendFailure>] {
        var (sequenceNumber, offset, enqueued) = state.withLockedValue { ($0.nextSequenceNumber, $0.nextOffset, $0.events.last?.enqueuedTime ?? 0) }
        var results: [Result<[StoredEvent], AppendFailure>?] = Array(repeating: nil, count: batch.count)
        var records: [(StoredEvent, [UInt8])] = []
        var owners: [Int] = []
        for (index, request) in batch.enumerated() {
            enqueued = max(enqueued, request.now)
            var prepared: [(StoredEvent, [UInt8])] = []
            var nextSequence = sequenceNumber
            var nextOffset = offset
            do {
                for event in request.events {
                    var meta = StoredEvent(sequenceNumber: nextSequence, offset: nextOffset, enqueuedTime: enqueued,
                                           partitionKey: event.partitionKey, headerEnd: event.headerEnd, location: .memory([]))
                    var message = try Message(decoding: event.message)
                    request.annotate(&message, meta)
                    let bytes = message.encoded(policy: .full)
                    if let maxEventBytes, bytes.count > maxEventBytes {
                        throw AppendFailure(kind: .tooLarge, description: "an event of \(event.message.count) bytes grows to \(bytes.count) with the annotations the service adds, over the \(maxEventBytes) allowed (max-message-size less room for runtime metrics)")
                    }
                    meta.headerEnd = message.header.map { AMQPEncoder.encode($0, policy: .full).count } ?? 0
                    meta.location = .memory(bytes)
                    nextSequence += 1
                    nextOffset += Int64(bytes.count)
                    prepared.append((meta, bytes))
                }
            } catch let failure as AppendFailure {
                results[index] = .failure(failure)
                continue
            } catch {
                results[index] = .failure(AppendFailure(kind: .invalidMessage, description: "\(error)"))
                continue
            }
            records += prepared
            owners += Array(repeating: index, count: prepared.count)
            sequenceNumber = nextSequence
            offset = nextOffset
        }
        if !records.isEmpty, let storage {
            beforeWrite?()
            do {
                let placed = try storage.write(records)
                for (i, location) in placed.enumerated() { records[i].0.location = location }
            } catch {
                let failure = AppendFailure(kind: .storage, description: "\(error)")
                return results.map { $0 ?? .failure(failure) }
            }
        }
        if !records.isEmpty {
            let stored = records
            let toNotify = state.withLockedValue { [sequenceNumber, offset, enqueued] state -> [@Sendable () -> Void] in
                for (meta, _) in stored {
                    state.events.append(meta)
                    state.retainedBytes += Int64(meta.retainedCost)
                }
                state.nextSequenceNumber = sequenceNumber
                state.nextOffset = offset
                applyRetention(&state, now: enqueued)
                return Array(state.listeners.values)
            }
            for listener in toNotify { listener() }
        }
        var stored = [[StoredEvent]](repeating: [], count: batch.count)
        for (k, (meta, _)) in records.enumerated() { stored[owners[k]].append(meta) }
        return batch.indices.map { results[$0] ?? .success(stored[$0]) }
    }

    private func applyRetention(_ state: inout State, now: Int64) {
        let cutoff = now - retentionSeconds * 1000
        var dropped = false
        while state.head < state.events.count - 1, state.events[state.head].enqueuedTime < cutoff || state.retainedBytes > retentionBytes {
            state.retainedBytes -= Int64(state.events[state.head].retainedCost)
            // Its bytes go now, not at the next compaction: until then the entry stays in the
            // array, and so would they.
            if case .memory = state.events[state.head].location { state.events[state.head].location = .memory([]) }
            state.head += 1
            dropped = true
        }
        if state.head > 4096 && state.head * 2 > state.events.count {
            state.events.removeSubrange(0..<state.head)
            state.head = 0
        }
        if dropped, let storage, let first = state.retained.first, case .file(let segment, _, _) = first.location {
            storage.deleteSegments(before: segment)
        }
    }

    // MARK: Reading

    /// Runs `listener` (on the appending thread) after every append, until removed.
    func addListener(_ listener: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLockedValue { state in
            let id = state.nextListener
            state.nextListener += 1
            state.listeners[id] = listener
            return id
        }
    }

    /// How many listeners are registered.
    var listenerCount: Int { state.withLockedValue { $0.listeners.count } }

    func removeListener(_ id: UInt64) {
        state.withLockedValue { _ = $0.listeners.removeValue(forKey: id) }
    }

    /// The sequence number of the first event a receiver starting at `position` gets.
    func startSequenceNumber(for position: EventPosition) -> Int64 {
        state.withLockedValue { state in
            let retained = state.retained
            let nextSequenceNumber = state.nextSequenceNumber
            switch position {
            case .earliest:
                return retained.first?.sequenceNumber ?? nextSequenceNumber
            case .latest:
                return nextSequenceNumber
            case .sequenceNumber(let n, let inclusive):
                // Nothing comes after the largest sequence number a client can name.
                let wanted = inclusive || n == .max ? n : n + 1
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
        let slice: [StoredEvent] = state.withLockedValue { state in
            // Sequence numbers may jump where a repair cut the log: search, never subtract.
            let retained = state.retained
            let start = retained.partitioningIndex { $0.sequenceNumber >= sequenceNumber }
            return Array(retained[start..<(retained.index(start, offsetBy: max(limit, 0), limitedBy: retained.endIndex) ?? retained.endIndex)])
        }
        // An event that cannot be read now ends the batch: the consumer asks again from it
        // later, rather than stepping over it.
        var out: [(StoredEvent, [UInt8])] = []
        for event in slice {
            switch event.location {
            case .memory(let bytes):
                out.append((event, bytes))
            case .file(let segment, let position, let length):
                guard let bytes = storage?.read(segment: segment, position: position, length: length) else { return out }
                out.append((event, bytes))
            }
        }
        return out
    }

    struct Properties: Sendable {
        var beginSequenceNumber: Int64
        var lastEnqueuedSequenceNumber: Int64
        var lastEnqueuedOffset: String
        var lastEnqueuedTime: Int64
        var isEmpty: Bool
    }

    var properties: Properties {
        state.withLockedValue { state in
            let nextSequenceNumber = state.nextSequenceNumber, events = state.events, head = state.head
            guard let last = events.last, head < events.count else {
                return Properties(beginSequenceNumber: nextSequenceNumber == 0 ? 0 : nextSequenceNumber, lastEnqueuedSequenceNumber: nextSequenceNumber - 1,
                                  lastEnqueuedOffset: "-1", lastEnqueuedTime: 0, isEmpty: true)
            }
            return Properties(beginSequenceNumber: events[head].sequenceNumber, lastEnqueuedSequenceNumber: last.sequenceNumber,
                              lastEnqueuedOffset: String(last.offset), lastEnqueuedTime: last.enqueuedTime, isEmpty: false)
        }
    }

    var count: Int { state.withLockedValue { $0.events.count - $0.head } }

    /// Waits for the writer to finish what it has, then closes the files.
    func close() {
        writer?.sync {}
        storage?.close()
    }
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
