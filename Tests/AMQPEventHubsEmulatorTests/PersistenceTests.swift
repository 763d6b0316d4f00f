import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

@testable import AMQPEventHubsEmulator

/// The emulator as a separate process with `--data-dir`, killed with SIGKILL mid-publish.
@Suite("Emulator persistence", .serialized, .timeLimit(.minutes(3)))
struct PersistenceTests {
    static var binary: String { TestPaths.packageRoot.appendingPathComponent(".build/debug/amqp").path }

    func launch(_ directory: String, sync: String = "always") async throws -> (BackgroundProcess, Int) {
        let process = try BackgroundProcess(Self.binary, ["emulator", "--port", "0", "--health-port", "0", "--data-dir", directory, "--fsync", sync])
        let port = try await process.waitForOutput(#"listening on amqp://127\.0\.0\.1:(\d+)"#)
        return (process, Int(port)!)
    }

    func options(port: Int) -> AMQPConnectionOptions {
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: port,
                                            authentication: .plain(username: EmulatorConfiguration.defaultKeyName, password: EmulatorConfiguration.defaultKey))
        options.allowsCleartextCredentials = true
        return options
    }

    /// Every event of `partition`: body → (sequence number, offset).
    func readAll(port: Int, partition: Int) async throws -> [String: (Int64, String)] {
        let connection = try await AMQPConnection.connect(options(port: port))
        let address = "eh1/ConsumerGroups/$Default/Partitions/\(partition)"
        let receiver = try await connection.openReceiver(from: address, options: consumerOptions(address))
        var out: [String: (Int64, String)] = [:]
        var expectedSequence: Int64 = 0
        while true {
            guard let delivery = try await receiver.receive(timeout: .seconds(2)) else { break }
            let annotations = delivery.message.messageAnnotations?.value
            guard case .long(let sequence)? = annotations?[symbol: EventHubsNames.sequenceNumber],
                  case .string(let offset)? = annotations?[symbol: EventHubsNames.offset] else {
                Issue.record("event without sequence number or offset")
                break
            }
            #expect(sequence == expectedSequence, "sequence numbers are contiguous")
            expectedSequence = sequence + 1
            out[bodyText(delivery.message) ?? "?"] = (sequence, offset)
        }
        try? await connection.close()
        return out
    }

    @Test("after kill -9 and restart every accepted event is there with its sequence number and offset; a torn tail is dropped")
    func killAndRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emulator-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // Phase 1: publish and read back.
        var (process, port) = try await launch(directory)
        var connection = try await AMQPConnection.connect(options(port: port))
        var sender = try await connection.openSender(to: "eh1")
        for i in 0..<400 { #expect(try await sender.send(event("first-\(i)", key: "k\(i % 8)")) == .accepted) }
        var before: [Int: [String: (Int64, String)]] = [:]
        for partition in 0..<4 { before[partition] = try await readAll(port: port, partition: partition) }
        #expect(before.values.reduce(0) { $0 + $1.count } == 400)

        // Phase 2: publish from a task and kill the emulator mid-stream.
        connection = try await AMQPConnection.connect(options(port: port))
        sender = try await connection.openSender(to: "eh1")
        let publisher = Task { [sender] () -> [String] in
            var accepted: [String] = []
            for i in 0..<100_000 {
                guard (try? await sender.send(event("second-\(i)", key: "k\(i % 8)"))) == .accepted else { break }
                accepted.append("second-\(i)")
            }
            return accepted
        }
        try await Task.sleep(for: .milliseconds(1500))
        await process.kill()
        let accepted = await publisher.value
        #expect(accepted.count > 0, "some events were accepted before the kill")

        // A torn record at the end of one segment, as a crash during write leaves it.
        let partitionDirectory = "\(directory)/eh1/0"
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: partitionDirectory).filter { $0.hasSuffix(".log") }.sorted().last)
        let handle = try #require(FileHandle(forWritingAtPath: "\(partitionDirectory)/\(segment)"))
        handle.seekToEndOfFile()
        handle.write(Data([0x45, 0x48, 0x52, 0x31, 0x00, 0x00, 0x10, 0x00, 0xDE, 0xAD]))
        try handle.close()

        // Restart on the same data directory.
        (process, port) = try await launch(directory)
        var after: [String: (Int64, String)] = [:]
        for partition in 0..<4 {
            let events = try await readAll(port: port, partition: partition)
            for (body, position) in before[partition] ?? [:] {
                #expect(events[body]?.0 == position.0 && events[body]?.1 == position.1, "\(body) kept its sequence number and offset")
            }
            after.merge(events) { a, _ in a }
        }
        let missing = accepted.filter { after[$0] == nil }
        #expect(missing.isEmpty, "accepted events lost: \(missing.prefix(5))")
        // And the log keeps going after the repaired tail.
        connection = try await AMQPConnection.connect(options(port: port))
        sender = try await connection.openSender(to: "eh1/Partitions/0")
        #expect(try await sender.send(event("after-restart")) == .accepted)
        let final = try await readAll(port: port, partition: 0)
        #expect(final["after-restart"] != nil)
        try? await connection.close()
        await process.kill(SIGTERM)
        print("kill -9 recovery: \(accepted.count) events accepted in phase 2 before the kill, \(after.count - 400) found after restart, 0 lost")
    }
}
