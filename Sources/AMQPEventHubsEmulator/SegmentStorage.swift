import AMQPDurableFiles
import Foundation
import NIOConcurrencyHelpers

/// Where and why a partition's log cannot be trusted: the file, the byte offset in it where the
/// first bad record starts, and what is wrong there.
struct LogDamage: Sendable, Hashable, CustomStringConvertible {
    var file: String
    var byteOffset: Int64
    var reason: String

    var description: String { "\(file) at byte \(byteOffset): \(reason)" }
}

/// The sequence number and offset the next record has: after the last record, or after a cut
/// made by a repair (which skips what the dropped records may have used, so that no number is
/// given out twice).
struct LogPosition: Sendable, Hashable {
    var sequenceNumber: Int64
    var offset: Int64
}

/// Checks a partition's segments in order, one at a time: every record's checksum, that the
/// first record of each segment has the sequence number the file is named for, and that
/// sequence numbers and offsets continue from record to record across files (or resume exactly
/// at a point a repair recorded). Only the last segment may end in a torn record; anything else
/// is damage. Pure: it sees bytes, not files.
struct LogVerifier {
    /// Where logs legitimately jump: after a repair cut records off.
    let resumePoints: [LogPosition]
    /// What the next record must be; `nil` before the first.
    private(set) var expected: LogPosition?
    private(set) var events: [StoredEvent] = []

    init(resumePoints: [LogPosition]) {
        self.resumePoints = resumePoints
    }

    enum Verdict: Equatable {
        case whole
        /// A torn write at the end of the last segment, from `at` on: cut it.
        case tornTail(at: Int, reason: String)
        case damaged(at: Int, reason: String)
    }

    /// The first sequence number a segment's file name says it holds.
    static func firstSequenceNumber(ofSegment name: String) -> Int64? {
        guard name.hasSuffix(".log") else { return nil }
        let digits = name.dropLast(4)
        guard digits.count == 20, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int64(digits)
    }

    func follows(_ position: LogPosition) -> Bool {
        guard let expected else { return true }
        if position == expected { return true }
        return resumePoints.contains(position) && position.sequenceNumber >= expected.sequenceNumber && position.offset >= expected.offset
    }

    mutating func verify(segment index: Int, name: String, bytes: [UInt8], isLast: Bool) -> Verdict {
        guard let named = Self.firstSequenceNumber(ofSegment: name) else {
            return .damaged(at: 0, reason: "the file name is not a 20-digit sequence number")
        }
        if bytes.isEmpty {
            guard isLast else { return .damaged(at: 0, reason: "empty segment before the last one: its records are missing") }
            if let expected, named != expected.sequenceNumber, !(resumePoints.contains { $0.sequenceNumber == named } && named >= expected.sequenceNumber) {
                return .damaged(at: 0, reason: "empty last segment named for sequence number \(named), but the log continues at \(expected.sequenceNumber)")
            }
            return .whole
        }
        var position = 0
        while position < bytes.count {
            switch SegmentStorage.parseRecord(bytes, at: position, segment: index) {
            case .record(let event, let length):
                if position == 0, event.sequenceNumber != named {
                    return .damaged(at: 0, reason: "the first record has sequence number \(event.sequenceNumber), the file is named for \(named)")
                }
                let here = LogPosition(sequenceNumber: event.sequenceNumber, offset: event.offset)
                guard follows(here) else {
                    let wanted = expected.map { "sequence number \($0.sequenceNumber) at offset \($0.offset)" } ?? ""
                    return .damaged(at: position, reason: "record with sequence number \(event.sequenceNumber) at offset \(event.offset) where \(wanted) should follow: records are missing")
                }
                guard event.sequenceNumber < Int64.max, event.offset <= Int64.max - Int64(event.size) else {
                    return .damaged(at: position, reason: "record numbers out of range")
                }
                events.append(event)
                expected = LogPosition(sequenceNumber: event.sequenceNumber + 1, offset: event.offset + Int64(event.size))
                position += length
            case .incomplete(let reason):
                // A torn write leaves one partial record at the end. Whole records after it mean
                // its header was damaged (a flipped length "runs past the end" too): cutting
                // there would drop acknowledged events.
                if isLast, !SegmentStorage.holdsWholeRecord(bytes, after: position) { return .tornTail(at: position, reason: reason) }
                return .damaged(at: position, reason: isLast ? reason + ", yet whole records follow it" : reason)
            case .invalid(let reason, let endsFile):
                // A record that fails its checksum but ends exactly at the end of the last file,
                // or zeros where the next record should start, is what a write cut by power loss
                // leaves. The same anywhere else is damage.
                if isLast, endsFile || bytes[position...].allSatisfy({ $0 == 0 }) {
                    return .tornTail(at: position, reason: reason)
                }
                return .damaged(at: position, reason: reason)
            }
        }
        return .whole
    }
}

/// A partition's segment files, `00000000000000000000.log`, each named by its first sequence
/// number, plus `resume-points` once a repair has cut the log.
///
/// Appends come from one writer at a time (the partition's); reads may run beside them.
final class SegmentStorage: Sendable {
    static let magic: UInt32 = 0x4548_5231  // "EHR1"
    static let headerLength = 12
    static let minimumBodyLength = 30
    static let resumePointsName = "resume-points"
    static let largestNumber: Int64 = 1 << 62
    let directory: String
    let sync: EmulatorConfiguration.SyncPolicy
    let segmentLimit: Int64
    /// Segment index → file; readers take a reference under the lock and read outside it.
    private let files = NIOLockedValueBox<[Int: (name: String, file: AppendOnlyFile)]>([:])
    /// The segment appends go to. Its lock is held for a whole append: the partition has one
    /// writer, so it is never contended, and the compiler sees what guards this state.
    private let writer = NIOLockedValueBox(WriterState())

    struct WriterState {
        var current: Int = 0
        var currentSize: Int64 = 0
        /// A failed append may have left part of a record after `currentSize`, and cutting it
        /// off failed too: the next append cuts it first.
        var tailNeedsCut = false
    }

    init(directory: String, sync: EmulatorConfiguration.SyncPolicy, segmentLimit: Int64) throws {
        self.directory = directory
        self.sync = sync
        self.segmentLimit = segmentLimit
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    struct StorageError: Error, CustomStringConvertible {
        var description: String
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    private func segmentNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
    }

    /// The points where a repair cut the log, oldest first.
    func loadResumePoints() throws -> [LogPosition] {
        let file = path(Self.resumePointsName)
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            guard fields.count == 2, let sequence = Int64(fields[0]), let offset = Int64(fields[1]) else {
                throw StorageError(description: "\(file): unreadable line \"\(line)\"")
            }
            return LogPosition(sequenceNumber: sequence, offset: offset)
        }
    }

    enum Recovery {
        /// The records, where the next one goes, and the torn tail cut off, if any.
        case intact([StoredEvent], next: LogPosition, cut: (damage: LogDamage, bytes: Int64)?)
        /// Nothing is served: the log is damaged before its end.
        case damaged(LogDamage)
    }

    /// Reads every segment back and checks it. A torn tail of the last segment is cut off;
    /// damage anywhere else leaves every file as it is and is reported.
    func recover() throws -> Recovery {
        let resumePoints: [LogPosition]
        do {
            resumePoints = try loadResumePoints()
        } catch {
            return .damaged(LogDamage(file: path(Self.resumePointsName), byteOffset: 0, reason: "\(error)"))
        }
        let names = try segmentNames()
        var verifier = LogVerifier(resumePoints: resumePoints)
        var opened: [Int: (name: String, file: AppendOnlyFile)] = [:]
        var cut: (damage: LogDamage, bytes: Int64)? = nil
        var state = WriterState()
        for (index, name) in names.enumerated() {
            let file: AppendOnlyFile
            let bytes: [UInt8]
            do {
                file = try AppendOnlyFile(path: path(name), create: false)
                bytes = try file.readAll()
            } catch {
                return .damaged(LogDamage(file: path(name), byteOffset: 0, reason: "\(error)"))
            }
            switch verifier.verify(segment: index, name: name, bytes: bytes, isLast: index == names.count - 1) {
            case .whole:
                state.currentSize = Int64(bytes.count)
            case .tornTail(let at, let reason):
                try file.truncate(to: Int64(at))
                if sync == .always { try file.sync() }
                cut = (LogDamage(file: path(name), byteOffset: Int64(at), reason: reason), Int64(bytes.count - at))
                state.currentSize = Int64(at)
            case .damaged(let at, let reason):
                return .damaged(LogDamage(file: path(name), byteOffset: Int64(at), reason: reason))
            }
            opened[index] = (name, file)
            state.current = index
        }
        var next = verifier.expected ?? LogPosition(sequenceNumber: 0, offset: 0)
        if let resume = resumePoints.last {
            next = LogPosition(sequenceNumber: max(next.sequenceNumber, resume.sequenceNumber), offset: max(next.offset, resume.offset))
        }
        files.withLockedValue { $0 = opened }
        if opened.isEmpty { try openSegment(0, firstSequence: next.sequenceNumber, &state) }
        writer.withLockedValue { [state] in $0 = state }
        return .intact(verifier.events, next: next, cut: cut)
    }

    /// What ``repair(directory:)`` did to one partition.
    struct RepairReport: Sendable, CustomStringConvertible {
        var damage: LogDamage
        /// Bytes removed, from the damaged file and every later one.
        var droppedBytes: Int64
        /// Later segment files removed whole.
        var removedSegments: [String]
        /// Records in the dropped bytes that still passed their checksum, and the lowest and
        /// highest sequence numbers among them.
        var readableDroppedEvents: Int
        var droppedSequenceNumbers: ClosedRange<Int64>?
        /// Where new events continue: past everything the dropped bytes may have held.
        var resume: LogPosition

        var description: String {
            var text = "damaged at \(damage): cut there, dropping \(droppedBytes) bytes"
            if !removedSegments.isEmpty { text += " (removed \(removedSegments.joined(separator: ", ")))" }
            text += "; \(readableDroppedEvents) readable events dropped"
            if let range = droppedSequenceNumbers { text += " (sequence numbers \(range.lowerBound)...\(range.upperBound))" }
            text += "; new events start at sequence number \(resume.sequenceNumber), offset \(resume.offset)"
            return text
        }
    }

    /// Cuts a damaged log at its first bad record and removes the segments after it, after
    /// recording a resume point past every sequence number and offset the dropped bytes may
    /// have used (so none is given out again). `nil` when the log has no damage (a torn tail is
    /// left for the normal start to cut).
    static func repair(directory: String) throws -> RepairReport? {
        let storage = try SegmentStorage(directory: directory, sync: .always, segmentLimit: .max)
        let resumePoints = try storage.loadResumePoints()
        let names = try storage.segmentNames()
        var verifier = LogVerifier(resumePoints: resumePoints)
        for (index, name) in names.enumerated() {
            let file = try AppendOnlyFile(path: storage.path(name), create: false)
            let bytes = try file.readAll()
            guard case .damaged(let at, let reason) = verifier.verify(segment: index, name: name, bytes: bytes, isLast: index == names.count - 1) else {
                continue
            }
            var scan = DroppedBytes()
            scan.add(bytes, from: at)
            let later = Array(names[(index + 1)...])
            for laterName in later {
                scan.add(try AppendOnlyFile(path: storage.path(laterName), create: false).readAll(), from: 0)
                if let named = LogVerifier.firstSequenceNumber(ofSegment: laterName) { scan.sequenceFloor = max(scan.sequenceFloor, named) }
            }
            if let named = LogVerifier.firstSequenceNumber(ofSegment: name) { scan.sequenceFloor = max(scan.sequenceFloor, named) }
            let resume = scan.resume(after: [verifier.expected, resumePoints.last].compactMap { $0 })
            // The resume point is durable before anything is cut: a crash in between repeats
            // the repair, never reuses a number.
            let lines = (resumePoints + [resume]).map { "\($0.sequenceNumber) \($0.offset)\n" }.joined()
            try DurableFile.write(Array(lines.utf8), to: storage.path(resumePointsName))
            if at == 0 {
                try DurableFile.remove(storage.path(name))
            } else {
                try file.truncate(to: Int64(at))
                try file.sync()
            }
            for laterName in later { try DurableFile.remove(storage.path(laterName)) }
            try DurableFile.syncFolder(directory)
            return RepairReport(damage: LogDamage(file: storage.path(name), byteOffset: Int64(at), reason: reason),
                                droppedBytes: scan.bytes, removedSegments: (at == 0 ? [name] : []) + later,
                                readableDroppedEvents: scan.readable, droppedSequenceNumbers: scan.sequenceNumbers, resume: resume)
        }
        return nil
    }

    /// What dropped bytes may have held: the records still readable in them, and for the rest an
    /// upper bound (each record takes at least the header and the fixed body fields).
    struct DroppedBytes {
        var bytes: Int64 = 0
        var unreadableBytes: Int64 = 0
        var readable = 0
        var sequenceNumbers: ClosedRange<Int64>?
        var endOffset: Int64 = 0
        var sequenceFloor: Int64 = 0

        mutating func add(_ data: [UInt8], from start: Int) {
            bytes += Int64(data.count - start)
            var position = start
            while position < data.count {
                switch SegmentStorage.parseRecord(data, at: position, segment: 0) {
                case .record(let event, let length):
                    readable += 1
                    let n = event.sequenceNumber
                    sequenceNumbers = sequenceNumbers.map { min($0.lowerBound, n)...max($0.upperBound, n) } ?? n...n
                    endOffset = max(endOffset, event.offset + Int64(event.size))
                    position += length
                case .invalid(_, _) where SegmentStorage.declaredLength(data, at: position).map({ position + $0 <= data.count }) == true:
                    let length = SegmentStorage.declaredLength(data, at: position)!
                    unreadableBytes += Int64(length)
                    position += length
                default:
                    unreadableBytes += Int64(data.count - position)
                    position = data.count
                }
            }
        }

        func resume(after known: [LogPosition]) -> LogPosition {
            let smallestRecord = Int64(SegmentStorage.headerLength + SegmentStorage.minimumBodyLength)
            var sequence = max(sequenceFloor, (sequenceNumbers?.upperBound ?? -1) + 1)
            var offset = endOffset
            for position in known {
                sequence = max(sequence, position.sequenceNumber)
                offset = max(offset, position.offset)
            }
            sequence += (unreadableBytes + smallestRecord - 1) / smallestRecord
            offset += unreadableBytes
            return LogPosition(sequenceNumber: sequence, offset: offset)
        }
    }

    // MARK: Records

    enum ParsedRecord {
        case record(StoredEvent, length: Int)
        /// The record runs past the end of the bytes.
        case incomplete(String)
        /// Not a valid record; `endsFile` when its declared length reaches exactly the end.
        case invalid(String, endsFile: Bool)
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    /// The whole length of the record at `start` as its header says, if it has a header.
    static func declaredLength(_ bytes: [UInt8], at start: Int) -> Int? {
        guard start + headerLength <= bytes.count, u32(bytes, start) == magic else { return nil }
        let body = Int(u32(bytes, start + 4))
        guard body >= minimumBodyLength else { return nil }
        return headerLength + body
    }

    /// Whether a whole, valid record starts anywhere after the record header at `start`.
    static func holdsWholeRecord(_ bytes: [UInt8], after start: Int) -> Bool {
        var at = start + 1
        while at + headerLength <= bytes.count {
            if u32(bytes, at) == magic, case .record = parseRecord(bytes, at: at, segment: 0) { return true }
            at += 1
        }
        return false
    }

    static func parseRecord(_ bytes: [UInt8], at start: Int, segment: Int) -> ParsedRecord {
        func i64(_ at: Int) -> Int64 { Int64(bitPattern: UInt64(u32(bytes, at)) << 32 | UInt64(u32(bytes, at + 4))) }
        guard start + headerLength <= bytes.count else { return .incomplete("a record header cut short") }
        guard u32(bytes, start) == magic else { return .invalid("no record marker", endsFile: false) }
        let bodyLength = Int(u32(bytes, start + 4))
        let body = start + headerLength
        guard bodyLength >= minimumBodyLength else { return .invalid("record length \(bodyLength) is too small", endsFile: false) }
        guard bodyLength <= bytes.count - body else { return .incomplete("a record of \(bodyLength) bytes runs past the end of the file") }
        let endsFile = body + bodyLength == bytes.count
        guard CRC32.checksum(bytes[body..<(body + bodyLength)]) == u32(bytes, start + 8) else {
            return .invalid("checksum mismatch", endsFile: endsFile)
        }
        let sequence = i64(body)
        let offset = i64(body + 8)
        let time = i64(body + 16)
        let headerEnd = Int(u32(bytes, body + 24))
        let keyLength = Int(UInt16(bytes[body + 28]) << 8 | UInt16(bytes[body + 29]))
        // Far below Int64.max, so sums over records (the next number, a repair's bound) cannot overflow.
        guard (0...Self.largestNumber).contains(sequence), (0...Self.largestNumber).contains(offset) else {
            return .invalid("sequence number or offset out of range", endsFile: endsFile)
        }
        var cursor = body + minimumBodyLength
        var key: String? = nil
        if keyLength != 0xFFFF {
            guard keyLength <= body + bodyLength - cursor else { return .invalid("partition key runs past the record", endsFile: endsFile) }
            key = String(decoding: bytes[cursor..<(cursor + keyLength)], as: UTF8.self)
            cursor += keyLength
        }
        let payloadLength = body + bodyLength - cursor
        guard headerEnd <= payloadLength else { return .invalid("header end past the message", endsFile: endsFile) }
        let event = StoredEvent(sequenceNumber: sequence, offset: offset, enqueuedTime: time, partitionKey: key, headerEnd: headerEnd,
                                location: .file(segment: segment, position: Int64(cursor), length: payloadLength))
        return .record(event, length: headerLength + bodyLength)
    }

    static func encodeRecord(_ meta: StoredEvent, message: [UInt8], into buffer: inout [UInt8]) -> Int {
        var body: [UInt8] = []
        body.reserveCapacity(minimumBodyLength + message.count + (meta.partitionKey?.utf8.count ?? 0))
        append64(meta.sequenceNumber, to: &body)
        append64(meta.offset, to: &body)
        append64(meta.enqueuedTime, to: &body)
        append32(UInt32(meta.headerEnd), to: &body)
        if let key = meta.partitionKey, key.utf8.count < 0xFFFF {
            let k = Array(key.utf8)
            body += [UInt8(k.count >> 8), UInt8(k.count & 0xFF)] + k
        } else {
            body += [0xFF, 0xFF]
        }
        let payloadStart = buffer.count + headerLength + body.count
        body += message
        append32(magic, to: &buffer)
        append32(UInt32(body.count), to: &buffer)
        append32(CRC32.checksum(body[...]), to: &buffer)
        buffer += body
        return payloadStart
    }

    // MARK: Writing

    private func openSegment(_ index: Int, firstSequence: Int64, _ state: inout WriterState) throws {
        let name = String(format: "%020lld.log", firstSequence)
        let file = try AppendOnlyFile(path: path(name), create: true)
        // The new file's name is durable only once the folder is synced.
        if sync == .always { try DurableFile.syncFolder(directory) }
        files.withLockedValue { $0[index] = (name, file) }
        state.current = index
        state.currentSize = 0
    }

    /// Writes records in one `write` and syncs per policy; returns where each message landed.
    /// On any failure the segment is cut back to its last whole record and the error thrown:
    /// nothing of a failed append stays in the file.
    func write(_ records: [(StoredEvent, [UInt8])]) throws -> [StoredEvent.Location] {
        try writer.withLockedValue { state in try write(records, &state) }
    }

    private func write(_ records: [(StoredEvent, [UInt8])], _ state: inout WriterState) throws -> [StoredEvent.Location] {
        guard let first = records.first else { return [] }
        if state.currentSize >= segmentLimit {
            try openSegment(state.current + 1, firstSequence: first.0.sequenceNumber, &state)
        }
        let current = state.current, currentSize = state.currentSize
        var buffer: [UInt8] = []
        var locations: [StoredEvent.Location] = []
        for (meta, message) in records {
            let payload = Self.encodeRecord(meta, message: message, into: &buffer)
            locations.append(.file(segment: current, position: currentSize + Int64(payload), length: message.count))
        }
        guard let file = files.withLockedValue({ $0[current]?.file }) else {
            throw StorageError(description: "segment \(current) of \(directory) is not open")
        }
        if state.tailNeedsCut {
            try file.truncate(to: currentSize)
            state.tailNeedsCut = false
        }
        do {
            try file.append(buffer)
            if sync == .always { try file.sync() }
        } catch {
            // A short write leaves part of a record: cut it off, so the next append starts
            // on a record boundary. If even that fails, the next append tries again first.
            do {
                try file.truncate(to: currentSize)
            } catch {
                state.tailNeedsCut = true
            }
            throw error
        }
        state.currentSize += Int64(buffer.count)
        return locations
    }

    func read(segment: Int, position: Int64, length: Int) -> [UInt8]? {
        guard let file = files.withLockedValue({ $0[segment]?.file }) else { return nil }
        return file.read(at: position, length: length)
    }

    /// Retention: removes whole segments before `segment`, oldest first, so that a crash in
    /// between leaves a log that still starts cleanly (a gap would read as damage).
    func deleteSegments(before segment: Int) {
        let doomed = files.withLockedValue { files -> [String] in
            let names = files.filter { $0.key < segment }.sorted { $0.key < $1.key }.map(\.value.name)
            files = files.filter { $0.key >= segment }
            return names
        }
        for name in doomed { try? DurableFile.remove(path(name)) }
    }

    func close() {
        files.withLockedValue { $0.removeAll() }
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
