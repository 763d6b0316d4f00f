import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestCertificates
import AMQPTestSupport
import Foundation
import Testing

/// `amqp eventhubs send|receive|info`, run as the built executable against the in-process
/// emulator.
@Suite("amqp eventhubs", .serialized, .timeLimit(.minutes(3)))
struct CommandLineTests {
    static var amqp: String { TestPaths.packageRoot.appendingPathComponent(".build/debug/amqp").path }

    func run(_ arguments: [String], connectionString: String? = nil, environment: [String: String]? = nil) async throws -> CompletedProcess {
        var arguments = ["eventhubs"] + arguments
        if let connectionString { arguments += ["--connection-string", connectionString] }
        return try await CompletedProcess.run(Self.amqp, arguments, timeout: 60, environment: environment)
    }

    /// Runs a shell pipeline that feeds `input` to `amqp eventhubs …`.
    func run(_ arguments: [String], input: String, connectionString: String) async throws -> CompletedProcess {
        let quoted = (["eventhubs"] + arguments + ["--connection-string", connectionString]).map { "'\($0)'" }.joined(separator: " ")
        return try await CompletedProcess.run("/bin/sh", ["-c", "printf '\(input)' | '\(Self.amqp)' \(quoted)"], timeout: 60)
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
        #expect(Set(lines[0].keys) == ["partition", "sequence_number", "offset", "enqueued_time", "partition_key", "message_id", "correlation_id", "content_type", "properties", "body"])

        // From a sequence number, inclusive; the connection string from the environment.
        let from = try await run(["receive", "--partition", "\(partition)", "--from", "sequence:1", "--inclusive", "--count", "2"],
                                 environment: ["EVENTHUB_CONNECTION_STRING": cs])
        #expect(from.status == 0, "\(from.standardError)")
        #expect(from.standardOutput.split(separator: "\n").map { $0.hasSuffix(": beta") || $0.hasSuffix(": gamma") } == [true, true], "\(from.standardOutput)")
        try await fixture.stop()
    }

    @Test("receive --count exits 5 (timeout) when fewer events arrive before --timeout")
    func receiveTimeout() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let result = try await run(["receive", "--partition", "0", "--count", "1", "--timeout", "1"], connectionString: cs)
        #expect(result.status == 5)
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

    @Test("failures exit with their status (not found 4, authentication 3, usage 64), one line and no key")
    func failures() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let bad = try await run(["send", "--partition", "9"], connectionString: cs)
        #expect(bad.status == 4)
        #expect(bad.standardError.contains("not found"), "\(bad.standardError)")
        #expect(!bad.standardError.contains(EmulatorConfiguration.defaultKey))
        let wrong = cs.replacingOccurrences(of: EmulatorConfiguration.defaultKey, with: "NOT-THE-KEY")
        let refused = try await run(["info"], connectionString: wrong)
        #expect(refused.status == 3)
        #expect(refused.standardError.contains("authentication"), "\(refused.standardError)")
        #expect(!refused.standardError.contains("NOT-THE-KEY"))
        let missing = try await run(["info"], environment: ["EVENTHUB_CONNECTION_STRING": ""])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("EVENTHUB_CONNECTION_STRING"))
        let malformed = try await run(["info"], connectionString: "Endpoint=sb://h/;SharedAccessKey=SECRET-VALUE")
        #expect(malformed.status == 64)
        #expect(malformed.standardError.contains("SharedAccessKeyName"))
        #expect(!malformed.standardError.contains("SECRET-VALUE"))
        try await fixture.stop()
    }

    @Test("info --json and send --json print one object; event fields from flags arrive")
    func jsonAndFields() async throws {
        let fixture = try await EmulatorFixture.start(hubs: [.init(name: "orders", partitionCount: 2)])
        let cs = fixture.connectionString("orders").text
        let hub = try await run(["info", "--json"], connectionString: cs)
        #expect(hub.status == 0, "\(hub.standardError)")
        let hubObject = try #require(try objects(hub.standardOutput).first)
        #expect(hubObject["event_hub"] as? String == "orders")
        #expect(hubObject["partition_ids"] as? [String] == ["0", "1"])
        #expect(hubObject["created_at"] is Int)

        let sent = try await run(["send", "--count", "3", "--size", "5", "--partition", "1", "--json",
                                  "--property", "region=eu", "--property", #"attempt:={"t":"int","v":2}"#,
                                  "--content-type", "application/json", "--message-id", "e-{n}"], connectionString: cs)
        #expect(sent.status == 0, "\(sent.standardError)")
        let summary = try #require(try objects(sent.standardOutput).first)
        #expect(summary["events"] as? Int == 3 && summary["bytes"] as? Int == 15 && summary["failed"] as? Int == 0)

        let partition = try await run(["info", "--partition", "1", "--json"], connectionString: cs)
        let partitionObject = try #require(try objects(partition.standardOutput).first)
        #expect(partitionObject["is_empty"] as? Bool == false)
        #expect(partitionObject["last_enqueued_sequence_number"] as? Int == 2)

        let received = try await run(["receive", "--partition", "1", "--count", "3", "--json"], connectionString: cs)
        #expect(received.status == 0, "\(received.standardError)")
        let events = try objects(received.standardOutput)
        #expect(events.map { ($0["properties"] as? [String: Any])?["region"] as? String } == ["eu", "eu", "eu"])
        #expect(events.map { ($0["properties"] as? [String: Any])?["attempt"] as? Int } == [2, 2, 2])
        #expect(events.map { $0["message_id"] as? String } == ["e-0", "e-1", "e-2"])
        #expect(events.allSatisfy { $0["content_type"] as? String == "application/json" })
        try await fixture.stop()
    }

    @Test("--log-level debug shows the client's log on standard error; the default shows none of it")
    func logLevel() async throws {
        let fixture = try await EmulatorFixture.start()
        let cs = fixture.connectionString().text
        let quiet = try await run(["info"], connectionString: cs)
        #expect(quiet.status == 0 && !quiet.standardError.contains("debug"), "\(quiet.standardError)")
        let verbose = try await run(["info", "--log-level", "debug"], connectionString: cs)
        #expect(verbose.status == 0, "\(verbose.standardError)")
        #expect(verbose.standardError.contains("debug") && verbose.standardError.contains("connection 1 open"), "\(verbose.standardError)")
        #expect(!verbose.standardError.contains(EmulatorConfiguration.defaultKey))
        try await fixture.stop()
    }

    @Test("--connection-string-file keeps the key off the command line")
    func connectionStringFile() async throws {
        let fixture = try await EmulatorFixture.start()
        let folder = try ScratchFolder.make("eh-cs-file")
        let file = folder.appendingPathComponent("cs")
        try (fixture.connectionString().text + "\n").write(to: file, atomically: true, encoding: .utf8)
        let info = try await run(["info", "--connection-string-file", file.path])
        #expect(info.status == 0, "\(info.standardError)")
        #expect(info.standardOutput.contains("event hub: eh1"))
        let both = try await run(["info", "--connection-string-file", file.path], connectionString: fixture.connectionString().text)
        #expect(both.status == 64)
        try await fixture.stop()
    }

    @Test("an emulator started with --tls-cert is reached with --custom-endpoint and --ca-file, and refused without the CA")
    func tlsEmulator() async throws {
        let certificate = try await TestCertificate.generate()
        let emulator = try ExternalProcess(Self.amqp, ["emulator", "--port", "0", "--health-port", "0",
                                                       "--tls-cert", certificate.certificatePath, "--tls-key", certificate.keyPath],
                                           name: "amqp-emulator-tls")
        defer { emulator.stop() }
        var printed: (endpoint: String, connectionString: String)?
        let deadline = ContinuousClock.now + .seconds(30)
        while printed == nil && ContinuousClock.now < deadline {
            let lines = emulator.output.split(separator: "\n").map(String.init)
            if let hint = lines.first(where: { $0.contains("--custom-endpoint ") }),
               let endpoint = hint.split(separator: " ").drop(while: { $0 != "--custom-endpoint" }).dropFirst().first,
               let cs = lines.first(where: { $0.hasPrefix("Endpoint=sb://") }) {
                printed = (String(endpoint), cs)
            }
            if let status = emulator.exitStatus { Issue.record("amqp emulator exited with \(status)\n\(emulator.outputTail)"); return }
            if printed == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let (endpoint, cs) = try #require(printed, "\(emulator.outputTail)")
        #expect(!cs.contains("UseDevelopmentEmulator"))
        let sent = try await run(["send", "--count", "5", "--custom-endpoint", endpoint, "--ca-file", certificate.certificatePath], connectionString: cs)
        #expect(sent.status == 0, "\(sent.standardError)")
        #expect(sent.standardOutput.hasPrefix("sent 5 events"))
        let untrusted = try await run(["info", "--custom-endpoint", endpoint], connectionString: cs)
        #expect(untrusted.status == 2, "\(untrusted.standardError)")
    }
}
