import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

@testable import AMQPEventHubsEmulator

/// The partition log against real damage to real files: bytes flipped and segments cut in a
/// data directory, then the emulator started on it.
@Suite("Emulator partition log durability", .serialized, .timeLimit(.minutes(3)))
struct LogDurabilityTests {
    static let segmentBytes: Int64 = 16 << 10
    static let eventCount = 300

    static var binary: String { TestPaths.packageRoot.appendingPathComponent(".build/debug/amqp").path }

    func configuration(_ directory: String) -> EmulatorConfiguration {
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 2)])
        configuration.dataDirectory = directory
        configuration.segmentBytes = Self.segmentBytes
        configuration.syncPolicy = .never
        configuration.healthPort = 0
        return configuration
    }

    /// Partition 0's log in `directory`, in small segments, as the emulator opens it.
    func openLog(_ directory: String) throws -> PartitionLog {
        try PartitionLog(hub: "eh1", id: 0, directory: "\(directory)/eh1/0", sync: .never, segmentBytes: Self.segmentBytes,
                         retentionSeconds: 3600, retentionBytes: 1 << 30)
    }

    /// A filled log whose last segment `damage` changes (given its bytes and where its records
    /// start); returns the segment's path, its records' starts and its damaged bytes.
    func damageLastSegment(_ directory: String, _ damage: (inout [UInt8], [Int]) -> Void) throws -> (path: String, records: [Int], bytes: [UInt8]) {
        let names = try fill(directory)
        let last = "\(directory)/eh1/0/\(names.last!)"
        let records = try boundaries(last)
        try #require(records.count >= 4)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: last)))
        damage(&bytes, records)
        try Data(bytes).write(to: URL(fileURLWithPath: last))
        return (last, records, bytes)
    }

    /// Writes `count` events to partition 0 the way the emulator does, in small segments.
    func fill(_ directory: String, count: Int = LogDurabilityTests.eventCount) throws -> [String] {
        let log = try openLog(directory)
        for i in 0..<count {
            let message = event("event-\(i)-" + String(repeating: "x", count: 150))
            _ = try log.appendAndWait([NewEvent(message: message.encoded(policy: .full), headerEnd: 0, partitionKey: nil)],
                                      now: 1_800_000_000_000 + Int64(i), annotate: EmulatorConnection.annotate)
        }
        log.close()
        return try segments(directory)
    }

    func segments(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "\(directory)/eh1/0").filter { $0.hasSuffix(".log") }.sorted()
    }

    func contents(_ directory: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try segments(directory) { out[name] = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/eh1/0/\(name)")) }
        return out
    }

    /// Record boundaries of a segment file.
    func boundaries(_ path: String) throws -> [Int] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var out = [0]
        while case .record(_, let length) = SegmentStorage.parseRecord(bytes, at: out.last!, segment: 0) { out.append(out.last! + length) }
        return out
    }

    /// Every event of a partition: (body prefix, sequence number, offset), in order.
    func readAll(_ emulator: EventHubsEmulator, partition: Int) async throws -> [(String, Int64, Int64)] {
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let address = "eh1/ConsumerGroups/$Default/Partitions/\(partition)"
        let receiver = try await connection.openReceiver(from: address, options: consumerOptions(address))
        var out: [(String, Int64, Int64)] = []
        while let delivery = try await receiver.receive(timeout: .seconds(1)) {
            let annotations = delivery.message.messageAnnotations?.value
            guard case .long(let sequence)? = annotations?[symbol: EventHubsNames.sequenceNumber],
                  case .string(let offset)? = annotations?[symbol: EventHubsNames.offset], let offsetNumber = Int64(offset) else {
                Issue.record("event without sequence number or offset")
                break
            }
            out.append((String(bodyText(delivery.message)?.prefix(12) ?? ""), sequence, offsetNumber))
        }
        try? await connection.close()
        return out
    }

    func health(_ emulator: EventHubsEmulator) async throws -> (Int, [String: Any]) {
        let port = try #require(emulator.healthPort)
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    /// The partition is refused for reading and writing; partition 1 keeps working.
    func expectRefused(_ emulator: EventHubsEmulator) async throws {
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 0)
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1/Partitions/0")
        let outcome = try await sender.send(event("into a damaged partition"))
        guard case .rejected(let error?) = outcome else {
            Issue.record("a publish to a damaged partition was \(outcome), not rejected")
            return
        }
        #expect(error.condition == .amqp(.internalError))
        #expect(error.description?.contains("damaged") == true)
        let address = "eh1/ConsumerGroups/$Default/Partitions/0"
        await #expect(throws: (any Error).self) {
            let receiver = try await connection.openReceiver(from: address, options: consumerOptions(address))
            _ = try await receiver.receive(timeout: .seconds(2))
        }
        let other = try await connection.openSender(to: "eh1/Partitions/1")
        #expect(try await other.send(event("partition 1 still works")) == .accepted)
        // Round robin on the hub passes over the refused partition.
        let hub = try await connection.openSender(to: "eh1")
        for _ in 0..<3 { #expect(try await hub.send(event("to the hub")) == .accepted) }
        try? await connection.close()
        #expect(try await readAll(emulator, partition: 1).map(\.0) == ["partition 1 ", "to the hub", "to the hub", "to the hub"])
    }

    @Test("a byte flipped in the middle of the first of three segments: partition refused, files untouched, health names file and offset; repair cuts there and numbers are never reused")
    func flippedByteInFirstSegment() async throws {
        let directory = try ScratchFolder.make("log-flip").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = try fill(directory)
        try #require(names.count >= 3, "\(names.count) segments")
        let first = "\(directory)/eh1/0/\(names[0])"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: first)))
        let flipped = bytes.count / 2
        bytes[flipped] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: first))
        let damagedRecord = try #require(try boundaries(first).last { $0 <= flipped })
        let before = try contents(directory)

        var emulator = try await EventHubsEmulator.start(configuration(directory))
        try await expectRefused(emulator)
        let (status, json) = try await health(emulator)
        #expect(status == 503)
        #expect(json["status"] as? String == "Degraded")
        let damaged = try #require((json["damagedPartitions"] as? [[String: Any]])?.first)
        #expect(damaged["eventHub"] as? String == "eh1")
        #expect(damaged["partition"] as? String == "0")
        #expect(damaged["file"] as? String == first)
        #expect((damaged["byteOffset"] as? Int) == damagedRecord)
        try await emulator.stop()
        #expect(try contents(directory) == before, "nothing was cut or deleted without --repair")

        let reports = try EventHubsEmulator.repair(configuration(directory))
        let report = try #require(reports.first)
        #expect(reports.count == 1)
        #expect(report.eventHub == "eh1" && report.partition == 0)
        #expect(report.droppedBytes > 0)
        #expect(report.nextSequenceNumber >= Int64(Self.eventCount), "past every sequence number given out")
        #expect(report.summary.contains(names[0]) && report.summary.contains("byte \(damagedRecord)"))

        emulator = try await EventHubsEmulator.start(configuration(directory))
        let kept = try await readAll(emulator, partition: 0)
        #expect(!kept.isEmpty && kept.count < Self.eventCount)
        #expect(kept.map(\.1) == (0..<Int64(kept.count)).map { $0 }, "what is left is the log up to the damaged record")
        let highestOffset = kept.last!.2
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1/Partitions/0")
        #expect(try await sender.send(event("after-repair")) == .accepted)
        try? await connection.close()
        let afterRepair = try #require(try await readAll(emulator, partition: 0).last)
        #expect(afterRepair.0 == "after-repair")
        #expect(afterRepair.1 >= Int64(Self.eventCount), "sequence number \(afterRepair.1) not reused")
        #expect(afterRepair.2 > highestOffset)
        try await emulator.stop()

        // The jump a repair made is recorded, so the next start accepts it as continuous.
        emulator = try await EventHubsEmulator.start(configuration(directory))
        let reread = try await readAll(emulator, partition: 0)
        #expect(reread.count == kept.count + 1)
        #expect(reread.last?.1 == afterRepair.1)
        #expect(try await health(emulator).0 == 200)
        try await emulator.stop()
    }

    @Test("a middle segment cut at a record boundary is noticed, not read past; amqp emulator --repair cuts and reports, and numbers are never reused")
    func middleSegmentTruncatedAtRecordBoundary() async throws {
        let directory = try ScratchFolder.make("log-cut").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = try fill(directory)
        try #require(names.count >= 3, "\(names.count) segments")
        let middle = "\(directory)/eh1/0/\(names[1])"
        let cuts = try boundaries(middle)
        let cut = cuts[cuts.count / 2]
        try #require(truncate(middle, off_t(cut)) == 0)
        let before = try contents(directory)

        let emulator = try await EventHubsEmulator.start(configuration(directory))
        try await expectRefused(emulator)
        let (status, json) = try await health(emulator)
        #expect(status == 503)
        let damaged = try #require((json["damagedPartitions"] as? [[String: Any]])?.first)
        #expect(damaged["file"] as? String == "\(directory)/eh1/0/\(names[2])", "the first record that does not follow")
        #expect((damaged["reason"] as? String)?.contains("missing") == true)
        try await emulator.stop()
        #expect(try contents(directory) == before)

        // Without the --config that named the hub: repair finds every partition folder itself.
        try FileManager.default.moveItem(atPath: "\(directory)/eh1", toPath: "\(directory)/orders")
        let repair = try await ExternalProcess.run(Self.binary, ["emulator", "--data-dir", directory, "--repair"], name: "amqp emulator --repair",
                                                   timeout: .seconds(60))
        try FileManager.default.moveItem(atPath: "\(directory)/orders", toPath: "\(directory)/eh1")
        #expect(repair.exitStatus == 0, "\(repair.outputTail)")
        #expect(repair.output.contains("repaired orders/0: damaged at \(directory)/orders/0/\(names[2]) at byte 0"), "\(repair.output)")
        #expect(repair.output.contains("removed"))
        let again = try await ExternalProcess.run(Self.binary, ["emulator", "--data-dir", directory, "--repair"], timeout: .seconds(60))
        #expect(again.output.contains("nothing to repair"), "\(again.output)")

        let restarted = try await EventHubsEmulator.start(configuration(directory))
        let kept = try await readAll(restarted, partition: 0)
        #expect(kept.map(\.1) == (0..<Int64(kept.count)).map { $0 })
        #expect(kept.count < Self.eventCount)
        let connection = try await AMQPConnection.connect(plainOptions(restarted))
        let sender = try await connection.openSender(to: "eh1/Partitions/0")
        #expect(try await sender.send(event("after-repair")) == .accepted)
        try? await connection.close()
        let last = try #require(try await readAll(restarted, partition: 0).last)
        #expect(last.0 == "after-repair" && last.1 >= Int64(Self.eventCount))
        try await restarted.stop()
    }

    @Test("a byte flipped in the middle of the last segment is damage too: only a torn end may be cut")
    func flippedByteInLastSegment() throws {
        let directory = try ScratchFolder.make("log-last").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (last, records, bytes) = try damageLastSegment(directory) { bytes, records in bytes[records[1] + 40] ^= 0x01 }
        let log = try openLog(directory)
        #expect(log.damage?.file == last)
        #expect(log.damage?.byteOffset == Int64(records[1]))
        #expect(log.damage?.reason == "checksum mismatch")
        #expect(throws: PartitionLog.AppendFailure.self) {
            _ = try log.appendAndWait([NewEvent(message: event("x").encoded(policy: .full), headerEnd: 0, partitionKey: nil)], now: 0,
                                      annotate: EmulatorConnection.annotate)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: last)) == Data(bytes))
    }

    @Test("a flipped length field in the middle of the last segment is damage, not a torn tail: whole records follow it")
    func flippedLengthInLastSegment() throws {
        let directory = try ScratchFolder.make("log-length").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The record's body length (after the 4-byte marker): its top byte flipped claims ~4 GB,
        // which "runs past the end of the file" like a torn write, yet whole records follow.
        let (last, records, bytes) = try damageLastSegment(directory) { bytes, records in bytes[records[1] + 4] ^= 0xff }
        let log = try openLog(directory)
        #expect(log.damage?.file == last)
        #expect(log.damage?.byteOffset == Int64(records[1]))
        #expect(try Data(contentsOf: URL(fileURLWithPath: last)) == Data(bytes))
    }

    @Test("a segment before the last emptied, removed, or renamed so that its name and first record disagree, is damage")
    func missingOrRenamedSegment() throws {
        for damage in ["empty", "renamed", "removed"] {
            let directory = try ScratchFolder.make("log-\(damage)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let names = try fill(directory)
            try #require(names.count >= 3)
            let middle = "\(directory)/eh1/0/\(names[1])"
            switch damage {
            case "empty": try #require(truncate(middle, 0) == 0)
            case "renamed": try FileManager.default.moveItem(atPath: middle, toPath: "\(directory)/eh1/0/00000000000000000001.log")
            default: try FileManager.default.removeItem(atPath: middle)
            }
            let log = try openLog(directory)
            #expect(log.damage != nil, "\(damage)")
            #expect(log.count == 0)
            #expect(log.read(from: 0, limit: 10).isEmpty)
        }
    }

    @Test("a torn record at the end of the last segment is cut, and the log continues from the last whole record")
    func tornTailIsCut() throws {
        let directory = try ScratchFolder.make("log-torn").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = try fill(directory, count: 50)
        let last = "\(directory)/eh1/0/\(names.last!)"
        let records = try boundaries(last)
        let whole = records.last!
        // Half of one more record, as a crash during its write leaves it.
        let handle = try #require(FileHandle(forWritingAtPath: last))
        handle.seekToEndOfFile()
        handle.write(Data([UInt8](try Data(contentsOf: URL(fileURLWithPath: last)))[records[0]..<(records[1] / 2)]))
        try handle.close()
        let log = try openLog(directory)
        #expect(log.damage == nil)
        #expect(log.tornTail?.damage.byteOffset == Int64(whole))
        #expect(log.count == 50)
        #expect(log.nextSequenceNumber == 50)
        #expect(try FileManager.default.attributesOfItem(atPath: last)[.size] as? Int == whole)
    }
}
