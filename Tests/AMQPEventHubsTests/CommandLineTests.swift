import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import Testing

/// `amqp eventhubs send|receive|info`, run as the built executable against the in-process
/// emulator.
@Suite("amqp eventhubs", .serialized, .timeLimit(.minutes(3)))
struct CommandLineTests {
    static var amqp: String { TestPaths.packageRoot.appendingPathComponent(".build/debug/amqp").path }

    func run(_ arguments: [String], connectionString: String? = nil, environment: [String: String]? = nil) async throws -> Subprocess.Result {
        var arguments = ["eventhubs"] + arguments
        if let connectionString { arguments += ["--connection-string", connectionString] }
        return try await Subprocess.run(Self.amqp, arguments, timeout: 60, environment: environment)
    }

    /// Runs a shell pipeline that feeds `input` to `amqp eventhubs …`.
    func run(_ arguments: [String], input: String, connectionString: String) async throws -> Subprocess.Result {
        let quoted = (["eventhubs"] + arguments + ["--connection-string", connectionString]).map { "'\($0)'" }.joined(separator: " ")
        return try await Subprocess.run("/bin/sh", ["-c", "printf '\(input)' | '\(Self.amqp)' \(quoted)"], timeout: 60)
    }

    func objects(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test("send generated events to a partition; the summary counts them")
    func sendGenerated() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let result = try await run(["send", "--count", "50", "--size", "32", "--partition", "1"], connectionString: cs)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("sent 50 events (1600 bytes) in "), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("events/s"))
        #expect(fixture.emulator.eventCount(hub: "eh1", partition: 1) == 50)
        try await fixture.stop()
    }

    @Test("send --batch packs events into batches no larger than the hub allows")
    func sendBatched() async throws {
        let fixture = try await EmulatorFixture.start(configure: { $0.maxMessageSize = 16 * 1024 })
        let cs = fixture.connectionString().text
        let result = try await run(["send", "--count", "300", "--size", "1000", "--batch", "--partition-key", "k"], connectionString: cs)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("sent 300 events (300000 bytes)"), "\(result.standardOutput)")
        #expect((0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }.max() == 300)
        try await fixture.stop()
    }

    @Test("send --stdin sends one event per line, in order; receive --json prints them with every field")
    func stdinAndJSON() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let sent = try await run(["send", "--stdin", "--partition-key", "sensor"], input: "alpha\\nbeta\\ngamma\\n", connectionString: cs)
        #expect(sent.status == 0, "\(sent.standardError)")
        let partition = try #require((0..<4).first { fixture.emulator.eventCount(hub: "eh1", partition: $0) == 3 })

        // A binary event with properties, from our client, after the three lines.
        let client = try fixture.client()
        try await client.makeProducer().send(EventData(body: [0xFF, 0x00, 0x80], properties: ["n": .long(7), "ok": true, "s": "x"]),
                                             options: .partition("\(partition)"))
        await client.close()

        let received = try await run(["receive", "--partition", "\(partition)", "--count", "4", "--json", "--timeout", "10"], connectionString: cs)
        #expect(received.status == 0, "\(received.standardError)")
        let lines = try objects(received.standardOutput)
        #expect(lines.compactMap { $0["body"] as? String } == ["alpha", "beta", "gamma", "ff0080"])
        #expect(lines.compactMap { $0["sequence_number"] as? Int } == [0, 1, 2, 3])
        #expect(lines.allSatisfy { $0["partition"] as? String == "\(partition)" })
        #expect(lines.prefix(3).allSatisfy { $0["partition_key"] as? String == "sensor" })
        #expect(lines.last?["partition_key"] is NSNull)
        #expect(lines.allSatisfy { $0["offset"] is String && $0["enqueued_time"] is Int })
        let properties = try #require(lines.last?["properties"] as? [String: Any])
        #expect(properties["n"] as? Int == 7)
        #expect(properties["ok"] as? Bool == true)
        #expect(properties["s"] as? String == "x")
        #expect(Set(lines[0].keys) == ["partition", "sequence_number", "offset", "enqueued_time", "partition_key", "properties", "body"])

        // From a sequence number, inclusive; the connection string from the environment.
        let from = try await run(["receive", "--partition", "\(partition)", "--from", "sequence:1", "--inclusive", "--count", "2"],
                                 environment: ["EVENTHUB_CONNECTION_STRING": cs])
        #expect(from.status == 0, "\(from.standardError)")
        #expect(from.standardOutput.split(separator: "\n").map { $0.hasSuffix(": beta") || $0.hasSuffix(": gamma") } == [true, true], "\(from.standardOutput)")
        try await fixture.stop()
    }

    @Test("receive --count exits 1 when fewer events arrive before --timeout")
    func receiveTimeout() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let result = try await run(["receive", "--partition", "0", "--count", "1", "--timeout", "1"], connectionString: cs)
        #expect(result.status == 1)
        #expect(result.standardError.contains("received 0 of 1 events"))
        try await fixture.stop()
    }

    @Test("info prints the hub or a partition")
    func info() async throws {
        let fixture = try await EmulatorFixture.start(hubs: [.init(name: "orders", partitionCount: 2)])
        let cs = fixture.connectionString("orders").text
        let hub = try await run(["info"], connectionString: cs)
        #expect(hub.status == 0, "\(hub.standardError)")
        #expect(hub.standardOutput.contains("event hub: orders"))
        #expect(hub.standardOutput.contains("partitions: 2 (0, 1)"))
        let partition = try await run(["info", "--partition", "1"], connectionString: cs)
        #expect(partition.standardOutput.contains("partition: 1"))
        #expect(partition.standardOutput.contains("empty: true"))
        try await fixture.stop()
    }

    @Test("failures exit non-zero with one line and no key")
    func failures() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let bad = try await run(["send", "--partition", "9"], connectionString: cs)
        #expect(bad.status == 1)
        #expect(bad.standardError.contains("not found"), "\(bad.standardError)")
        #expect(!bad.standardError.contains(EmulatorConfiguration.defaultKey))
        let wrong = cs.replacingOccurrences(of: EmulatorConfiguration.defaultKey, with: "NOT-THE-KEY")
        let refused = try await run(["info"], connectionString: wrong)
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("authentication"), "\(refused.standardError)")
        #expect(!refused.standardError.contains("NOT-THE-KEY"))
        let missing = try await run(["info"], environment: ["EVENTHUB_CONNECTION_STRING": ""])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("EVENTHUB_CONNECTION_STRING"))
        let malformed = try await run(["info"], connectionString: "Endpoint=sb://h/;SharedAccessKey=SECRET-VALUE")
        #expect(malformed.status == 1)
        #expect(malformed.standardError.contains("SharedAccessKeyName"))
        #expect(!malformed.standardError.contains("SECRET-VALUE"))
        try await fixture.stop()
    }
}
