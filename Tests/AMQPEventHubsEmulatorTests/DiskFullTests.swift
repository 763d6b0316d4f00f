import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import AMQPEventHubsEmulator

/// The emulator's data directory on a real, small tmpfs that fills up. Needs root (CI runs as
/// root): without a mount the test fails, it never skips.
@Suite("Emulator on a full disk", .serialized, .timeLimit(.minutes(3)))
struct DiskFullTests {
    /// A fresh tmpfs of `size` mounted on a new folder.
    func mountTmpfs(size: String) async throws -> String {
        let folder = try ScratchFolder.make("tmpfs").path
        let mount = try await ExternalProcess.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", folder], timeout: .seconds(30))
        try #require(mount.exitStatus == 0, "cannot mount a tmpfs on \(folder) (the storage tests need root): \(mount.outputTail)")
        return folder
    }

    func unmount(_ folder: String) async {
        _ = try? await ExternalProcess.run("/usr/bin/umount", [folder], timeout: .seconds(30))
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Fills the file system with one file, then frees `free` bytes of it.
    func fill(_ path: String, leaving free: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xAB, count: 64 << 10)
        var size = 0
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            size += n
        }
        try #require(errno == ENOSPC, "the filler stopped at \(size) bytes with errno \(errno)")
        try #require(ftruncate(fd, off_t(max(size - free, 0))) == 0)
    }

    func send(_ sender: AMQPSender, _ text: String) async throws -> DeliveryOutcome {
        try await sender.send(event(text + String(repeating: ".", count: 3000)))
    }

    @Test("a full disk loses nothing: a failed or short write is cut back and rejected with the errno's text, no number is used up, publishing resumes when space returns, and every accepted event survives a restart")
    func fullDisk() async throws {
        let mountPoint = try await mountTmpfs(size: "1m")
        var emulator: EventHubsEmulator? = nil
        do {
            var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)])
            configuration.dataDirectory = mountPoint + "/data"
            configuration.syncPolicy = .always
            emulator = try await EventHubsEmulator.start(configuration)
            let connection = try await AMQPConnection.connect(plainOptions(emulator!))
            let sender = try await connection.openSender(to: "eh1/Partitions/0")
            var accepted: [String] = []
            for i in 0..<10 {
                #expect(try await send(sender, "before-\(i)") == .accepted)
                accepted.append("before-\(i)")
            }

            // A few KiB left: the next events fill it, one is cut short, then nothing fits.
            let filler = mountPoint + "/filler"
            try fill(filler, leaving: 10_000)
            var rejections: [AMQPError] = []
            for i in 0..<40 {
                switch try await send(sender, "full-\(i)") {
                case .accepted: accepted.append("full-\(i)")
                case .rejected(let error?): rejections.append(error)
                case let other: Issue.record("a publish on a full disk ended \(other)")
                }
            }
            #expect(rejections.count >= 30, "\(rejections.count) rejected")
            for error in rejections {
                #expect(error.condition == .amqp(.internalError))
                #expect(error.description?.contains("No space left on device") == true, "\(error.description ?? "")")
            }
            // What is on disk is whole records only: a short write was cut back.
            let segment = mountPoint + "/data/eh1/0/00000000000000000000.log"
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
            var position = 0
            var records = 0
            while case .record(_, let length) = SegmentStorage.parseRecord(bytes, at: position, segment: 0) {
                position += length
                records += 1
            }
            #expect(position == bytes.count, "the segment ends with a whole record")
            #expect(records == accepted.count)

            // Space returns: publishing resumes by itself, on the same link.
            try FileManager.default.removeItem(atPath: filler)
            for i in 0..<20 {
                #expect(try await send(sender, "after-\(i)") == .accepted)
                accepted.append("after-\(i)")
            }
            try? await connection.close()

            for round in ["running", "restarted"] {
                if round == "restarted" {
                    try await emulator?.stop()
                    emulator = try await EventHubsEmulator.start(configuration)
                }
                let reader = try await AMQPConnection.connect(plainOptions(emulator!))
                let address = "eh1/ConsumerGroups/$Default/Partitions/0"
                let receiver = try await reader.openReceiver(from: address, options: consumerOptions(address))
                var bodies: [String] = []
                var sequenceNumbers: [Int64] = []
                while let delivery = try await receiver.receive(timeout: .seconds(1)) {
                    bodies.append(String((bodyText(delivery.message) ?? "").prefix { $0 != "." }))
                    if case .long(let n)? = delivery.message.messageAnnotations?.value[symbol: EventHubsNames.sequenceNumber] { sequenceNumbers.append(n) }
                }
                try? await reader.close()
                #expect(bodies == accepted, "\(round): every accepted event, in order, nothing else")
                #expect(sequenceNumbers == (0..<Int64(accepted.count)).map { $0 }, "\(round): no sequence number used up by a failed write")
            }
            print("full disk: \(accepted.count) events accepted, \(rejections.count) rejected with \"\(rejections.first?.description ?? "")\", 0 lost")
        } catch {
            try? await emulator?.stop()
            await unmount(mountPoint)
            throw error
        }
        try? await emulator?.stop()
        await unmount(mountPoint)
    }
}
