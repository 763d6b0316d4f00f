import AMQPMessage
import AMQPMessageJSON
import AMQPTestCertificates
import AMQPTestSupport
import AMQPTransport
import AMQPTypedJSON
import ArgumentParser
import Foundation
import Testing

@testable import AMQPCommandLine

@Suite("amqp send / receive URLs")
struct EndpointURLTests {
    @Test("the path is the address; credentials are percent-decoded; default ports")
    func parsing() throws {
        let rabbit = try EndpointURL("amqp://guest:g%40st@localhost:5673//queue/orders")
        #expect(rabbit.address == "/queue/orders")
        #expect(rabbit.port == 5673)
        #expect(rabbit.username == "guest")
        #expect(rabbit.password == "g@st")
        #expect(!rabbit.tls)
        let tls = try EndpointURL("amqps://broker.example.com/orders%20eu")
        #expect(tls.tls && tls.port == 5671 && tls.address == "orders eu" && tls.username == nil)
        #expect(try EndpointURL("amqp://[::1]/q").host == "::1")
        #expect(try EndpointURL("amqp://127.0.0.1/q").port == 5672)
        // Decoded once: `%2541` is the three characters `%41`.
        #expect(try EndpointURL("amqp://u:p%2541@h/q").password == "p%41")
        // The path is the address, not a virtual host.
        let options = try EndpointOptions.parse(["amqp://u:p@h/orders", "--allow-plain-without-tls"])
        let connection = try options.connectionOptions(try options.endpoint())
        #expect(connection.virtualHost == nil && connection.host == "h" && connection.cleartextCredentials == .allowed)
    }

    @Test("the password never shows: not in descriptions, not in errors")
    func redaction() throws {
        let url = try EndpointURL("amqp://user:hunter2@localhost:5672/q")
        #expect("\(url)" == "amqp://user:***@localhost:5672/q")
        #expect(AMQPEndpoint.redacted("amqp://user:hunter2@h/q") == "amqp://user:***@h/q")
        for bad in ["amqp://user:hunter2@h", "http://user:hunter2@h/q", "amqp://:hunter2@h/q"] {
            do {
                _ = try EndpointURL(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(!"\(error)".contains("hunter2"), "\(error)")
            }
        }
    }

    /// The message ArgumentParser would print for these arguments, or nil when they parse.
    func refusal<Command: ParsableCommand>(_: Command.Type, _ arguments: [String]) -> String? {
        do {
            _ = try Command.parse(arguments)
            return nil
        } catch {
            return Command.message(for: error)
        }
    }

    @Test("PLAIN over plain TCP needs --allow-plain-without-tls; TLS options need amqps")
    func plainNeedsOptIn() throws {
        let refused = refusal(SendCommand.self, ["amqp://u:hunter2@h/q", "--count", "1"])
        #expect(refused?.contains("--allow-plain-without-tls") == true)
        #expect(refused?.contains("hunter2") == false)
        #expect(refusal(SendCommand.self, ["amqp://u:hunter2@h/q", "--count", "1", "--allow-plain-without-tls"]) == nil)
        #expect(refusal(SendCommand.self, ["amqps://u:hunter2@h/q", "--count", "1"]) == nil)
        #expect(refusal(ReceiveCommand.self, ["amqp://h/q", "--count", "1"]) == nil)
        #expect(refusal(ReceiveCommand.self, ["amqp://h/q", "--count", "1", "--ca-file", "x.pem"])?.contains("are for amqps:// URLs") == true)
        #expect(refusal(SendCommand.self, ["amqp://h/q"])?.contains("give --count") == true)
        #expect(refusal(SendCommand.self, ["amqp://h/q", "--count", "1", "--messages", "-"])?.contains("either --count or --messages") == true)
        #expect(refusal(ReceiveCommand.self, ["amqp://h/q", "--count", "0"])?.contains("at least 1") == true)
        let help = SendCommand.helpMessage()
        #expect(help.contains("--allow-plain-without-tls"))
        #expect(help.contains("over plain TCP"))
    }
}

/// The `amqp` executable against `amqp broker`, as separate processes.
@Suite("amqp send, receive and broker", .serialized, .timeLimit(.minutes(3)))
struct MessagingCommandTests {
    /// `amqp broker` on a free port, and the URL of `address` on it.
    static func broker(_ arguments: [String] = []) async throws -> (process: ExternalProcess, port: Int) {
        let amqp = try TestPaths.builtProduct("amqp")
        let process = try ExternalProcess(amqp, ["broker", "--port", "0"] + arguments, name: "amqp-broker")
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let line = process.output.split(separator: "\n").first(where: { $0.contains("listening on") }),
               let port = line.split(separator: ":").last.flatMap({ Int($0) }) {
                return (process, port)
            }
            if let status = process.exitStatus { throw PeerError("amqp broker exited with \(status)\n\(process.outputTail)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.stop()
        throw PeerError("amqp broker printed no address\n\(process.outputTail)")
    }

    /// The built `amqp` with `arguments`, run to its end.
    static func amqp(_ arguments: [String], standardInput: String? = nil, environment: [String: String]? = nil) async throws -> ExternalProcess {
        try await ExternalProcess.run(try TestPaths.builtProduct("amqp"), arguments, name: "amqp-\(arguments[0])",
                                      environment: environment, standardInput: standardInput, timeout: .seconds(120))
    }

    @Test("send --count/--size, then receive --json prints each message; summaries on standard error")
    func generated() async throws {
        let (broker, port) = try await Self.broker()
        defer { broker.stop() }
        let url = "amqp://127.0.0.1:\(port)/generated"
        let send = try await Self.amqp(["send", url, "--count", "500", "--size", "64"])
        #expect(send.exitStatus == 0, "\(send.outputTail)")
        #expect(send.errorOutput.contains("sent 500 messages"))
        #expect(send.errorOutput.contains("msgs/s (accepted 500)"))
        let receive = try await Self.amqp(["receive", url, "--count", "500", "--json"])
        #expect(receive.exitStatus == 0, "\(receive.outputTail)")
        let messages = try receive.output.split(separator: "\n").map { try MessageJSON.message(from: String($0)) }
        #expect(messages.count == 500)
        #expect(messages.map(\.properties?.messageID) == (0..<500).map { .ulong(UInt64($0)) })
        #expect(messages.allSatisfy { if case .data(let d) = $0.body { return d.count == 1 && d[0].value.count == 64 } else { return false } })
        #expect(receive.errorOutput.contains("received 500 messages"))

        let settled = try await Self.amqp(["send", url, "--count", "20", "--size", "0", "--settled"])
        #expect(settled.exitStatus == 0, "\(settled.outputTail)")
        #expect(settled.errorOutput.contains("(pre-settled 20)"))
    }

    @Test("the issue's scenario: send --count 3000 --settled against amqp emulator goes past the first credit window")
    func presettledAgainstEmulator() async throws {
        let emulator = try ExternalProcess(try TestPaths.builtProduct("amqp"), ["emulator", "--port", "0", "--health-port", "0"], name: "amqp-emulator")
        defer { emulator.stop() }
        let port = try await emulator.waitForOutput(#"listening on amqp://127\.0\.0\.1:(\d+)"#)
        let url = "amqp://RootManageSharedAccessKey:SAS_KEY_VALUE@127.0.0.1:\(port)/eh1"
        let send = try await Self.amqp(["send", url, "--count", "3000", "--settled", "--allow-plain-without-tls"])
        #expect(send.exitStatus == 0, "\(send.outputTail)")
        #expect(send.errorOutput.contains("sent 3000 messages"), "\(send.errorOutput)")
        #expect(send.errorOutput.contains("(pre-settled 3000)"), "\(send.errorOutput)")
    }

    @Test("send --messages FILE and - send JSON messages that receive --json prints back unchanged")
    func jsonMessages() async throws {
        let (broker, port) = try await Self.broker()
        defer { broker.stop() }
        let url = "amqp://127.0.0.1:\(port)/json"
        let lines = [
            MessageJSONTests.full,
            #"{"properties":{"subject":"no body"}}"#,
            #"{"application_properties":{"t":"map","v":[[{"t":"string","v":"k"},{"t":"int","v":1}]]},"body":{"sequence":[{"t":"list","v":[{"t":"symbol","v":"a"}]}]}}"#,
        ]
        let folder = try ScratchFolder.make("cli-json")
        let file = folder.appendingPathComponent("messages.jsonl")
        try (lines.joined(separator: "\n") + "\n\n").write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try await Self.amqp(["send", url, "--messages", file.path])
        #expect(fromFile.exitStatus == 0, "\(fromFile.outputTail)")
        let fromStdin = try await Self.amqp(["send", url, "--messages", "-"], standardInput: file.path)
        #expect(fromStdin.exitStatus == 0, "\(fromStdin.outputTail)")
        let receive = try await Self.amqp(["receive", url, "--count", "6", "--json"])
        #expect(receive.exitStatus == 0, "\(receive.outputTail)")
        #expect(receive.output.split(separator: "\n").map(String.init) == lines + lines)

        try (lines[1] + "\n{\"body\":{\"data\":[\"zz\"]}}\n").write(to: file, atomically: true, encoding: .utf8)
        let bad = try await Self.amqp(["send", url, "--messages", file.path])
        #expect(bad.exitStatus == 1)
        #expect(bad.errorOutput.contains("line 2: a data section must be a string of hexadecimal digits in pairs at $.body.data[0]"), "\(bad.errorOutput)")
    }

    @Test("receive exits 5 (timeout) when fewer than --count arrive in time, after accepting those that did")
    func timeout() async throws {
        let (broker, port) = try await Self.broker()
        defer { broker.stop() }
        let url = "amqp://127.0.0.1:\(port)/few"
        #expect(try await Self.amqp(["send", url, "--count", "2", "--size", "3"]).exitStatus == 0)
        let clock = ContinuousClock()
        let start = clock.now
        let receive = try await Self.amqp(["receive", url, "--count", "5", "--timeout", "1", "--json"])
        #expect(receive.exitStatus == ExitStatus.timeout.rawValue)
        #expect(clock.now - start < .seconds(30))
        #expect(receive.output.split(separator: "\n").count == 2)
        #expect(receive.errorOutput.contains("only 2 of 5 messages arrived within 1.0 s"))
        let again = try await Self.amqp(["receive", url, "--count", "1", "--timeout", "0.5"])
        #expect(again.exitStatus == ExitStatus.timeout.rawValue, "the two accepted messages came back")
    }

    @Test("credentials: refused over plain TCP without the flag, used with it, never printed")
    func credentials() async throws {
        let (broker, port) = try await Self.broker(["--user", "app", "--password", "hunter2"])
        defer { broker.stop() }
        let url = "amqp://app:hunter2@127.0.0.1:\(port)/secret"
        let refused = try await Self.amqp(["send", url, "--count", "1"])
        #expect(refused.exitStatus != 0)
        #expect(refused.errorOutput.contains("--allow-plain-without-tls"))
        let sent = try await Self.amqp(["send", url, "--count", "3", "--allow-plain-without-tls"])
        #expect(sent.exitStatus == 0, "\(sent.outputTail)")
        let wrong = try await Self.amqp(["receive", "amqp://app:hunter3@127.0.0.1:\(port)/secret", "--count", "1", "--allow-plain-without-tls"])
        #expect(wrong.exitStatus == ExitStatus.authentication.rawValue)
        #expect(wrong.errorOutput.contains("cannot connect to amqp://app:***@127.0.0.1:\(port)/secret"), "\(wrong.errorOutput)")
        let received = try await Self.amqp(["receive", url, "--count", "3", "--allow-plain-without-tls", "--log-level", "trace"])
        #expect(received.exitStatus == 0, "\(received.outputTail)")
        for process in [refused, sent, wrong, received, broker] {
            #expect(!process.output.contains("hunter"), "\(process.name) printed a password")
            #expect(!process.errorOutput.contains("hunter"), "\(process.name) printed a password")
        }
    }

    @Test("amqps: PLAIN without the flag, verified against --ca-file; an untrusted certificate is refused")
    func tls() async throws {
        let certificate = try await TestCertificate.generate()
        let (broker, port) = try await Self.broker(["--user", "app", "--password", "pw", "--tls-cert", certificate.certificatePath, "--tls-key", certificate.keyPath])
        defer { broker.stop() }
        let url = "amqps://app:pw@127.0.0.1:\(port)/tls"
        let sent = try await Self.amqp(["send", url, "--count", "2", "--ca-file", certificate.certificatePath])
        #expect(sent.exitStatus == 0, "\(sent.outputTail)")
        let untrusted = try await Self.amqp(["receive", url, "--count", "2"])
        #expect(untrusted.exitStatus == ExitStatus.connection.rawValue)
        #expect(untrusted.errorOutput.contains("connection failed"), "\(untrusted.errorOutput)")
        let received = try await Self.amqp(["receive", url, "--count", "2", "--ca-file", certificate.certificatePath, "--server-name", "localhost"])
        #expect(received.exitStatus == 0, "\(received.outputTail)")
    }
}
