import AMQPCodec
import AMQPMessage
import AMQPMessageJSON
import AMQPTestSupport
import AMQPTypes
import ArgumentParser
import Foundation
import Testing

@testable import AMQPCommandLine

/// The flags every user meets first, through the built `amqp` executable: message fields, exit
/// statuses, passwords kept off the command line, progress on a terminal, JSON summaries,
/// completion scripts.
@Suite("amqp flags", .serialized, .timeLimit(.minutes(3)))
struct CommandLineFlagTests {
    static func amqp(_ arguments: [String], environment: [String: String]? = nil) async throws -> ExternalProcess {
        try await MessagingCommandTests.amqp(arguments, environment: environment)
    }

    @Test("--property, --message-annotation and the header and properties flags set every message's fields")
    func messageFields() async throws {
        let (broker, port) = try await MessagingCommandTests.broker()
        defer { broker.stop() }
        let url = "amqp://127.0.0.1:\(port)/fields"
        let send = try await Self.amqp([
            "send", url, "--count", "3", "--size", "4",
            "--property", "color=red", "--property", #"n:={"t":"long","v":5}"#, "--property", "json-looking={not json}",
            "--message-annotation", "x-opt-origin=cli", "--content-type", "text/plain", "--message-id", "order-{n}",
            "--correlation-id", "c-1", "--subject", "greeting", "--ttl", "60000", "--durable", "--priority", "7",
        ])
        #expect(send.exitStatus == 0, "\(send.outputTail)")
        let receive = try await MessagingCommandTests.amqp(["receive", url, "--count", "3", "--json"])
        #expect(receive.exitStatus == 0, "\(receive.outputTail)")
        let messages = try receive.output.split(separator: "\n").map { try MessageJSON.message(from: String($0)) }
        try #require(messages.count == 3)
        for (number, message) in messages.enumerated() {
            #expect(message.header == Header(durable: true, priority: 7, ttl: 60000))
            #expect(message.properties?.messageID == .string("order-\(number)"))
            #expect(message.properties?.correlationID == .string("c-1"))
            #expect(message.properties?.subject == "greeting")
            #expect(message.properties?.contentType == "text/plain")
            #expect(message.applicationProperties?.value == [
                .string("color"): .string("red"), .string("n"): .long(5), .string("json-looking"): .string("{not json}"),
            ])
            #expect(message.messageAnnotations?.value == [.symbol("x-opt-origin"): .string("cli")])
        }
    }

    @Test("inspect --types names a vendor's outcome in a capture; a file naming a core descriptor exits 1 naming its line")
    func inspectWithVendorTypes() async throws {
        let folder = try ScratchFolder.make("cli-inspect-types")
        let capture = folder.appendingPathComponent("c2s.bin")
        try Data(InspectTests.dispositionWithVendorOutcome()).write(to: capture)
        let xml = folder.appendingPathComponent("vendor.xml")
        try InspectTests.vendorXML.write(to: xml, atomically: true, encoding: .utf8)
        let named = try await Self.amqp(["inspect", capture.path, "--types", xml.path])
        #expect(named.exitStatus == 0, "\(named.outputTail)")
        #expect(named.output.contains("@1 disposition(role=true, first=7, settled=true, state=deferred(retry-after=30000))"), "\(named.output)")
        let clash = folder.appendingPathComponent("clash.xml")
        try #"<amqp name="v"><section name="s"><type name="mine" class="composite" source="list"><descriptor name="x:mine:list" code="0x00000000:0x00000024"/></type></section></amqp>"#
            .write(to: clash, atomically: true, encoding: .utf8)
        let refused = try await Self.amqp(["inspect", capture.path, "--types", clash.path])
        #expect(refused.exitStatus == 1)
        #expect(refused.outputTail.contains("clash.xml:1: error: duplicate descriptor"), "\(refused.outputTail)")
    }

    @Test("a flag overrides the same field of a --messages line and keeps the others")
    func fieldsOverJSONMessages() async throws {
        let (broker, port) = try await MessagingCommandTests.broker()
        defer { broker.stop() }
        let url = "amqp://127.0.0.1:\(port)/override"
        let folder = try ScratchFolder.make("cli-fields")
        let file = folder.appendingPathComponent("messages.jsonl")
        let line = #"{"properties":{"subject":"from file","to":"x"},"application_properties":{"t":"map","v":[[{"t":"string","v":"keep"},{"t":"int","v":1}],[{"t":"string","v":"color"},{"t":"string","v":"blue"}]]}}"#
        try (line + "\n").write(to: file, atomically: true, encoding: .utf8)
        let send = try await Self.amqp(["send", url, "--messages", file.path, "--subject", "from flag", "--property", "color=red"])
        #expect(send.exitStatus == 0, "\(send.outputTail)")
        let receive = try await MessagingCommandTests.amqp(["receive", url, "--count", "1", "--json"])
        let message = try MessageJSON.message(from: receive.output.trimmingCharacters(in: .newlines))
        #expect(message.properties?.subject == "from flag")
        #expect(message.properties?.to == .string("x"))
        #expect(message.applicationProperties?.value == [.string("keep"): .int(1), .string("color"): .string("red")])
    }

    @Test("bad field flags are usage errors (status 64) before anything connects")
    func badFieldFlags() async throws {
        for arguments in [
            ["--property", "no-equals-sign"], ["--property", #"n:={"t":"nonsense"}"#], ["--property", "=value"],
            ["--content-type", "tëxt/plain"], ["--message-annotation", "ünïcode=1"], ["--priority", "256"],
        ] {
            let run = try await Self.amqp(["send", "amqp://127.0.0.1:1/q", "--count", "1"] + arguments)
            #expect(run.exitStatus == ExitStatus.usage.rawValue, "\(arguments): \(run.outputTail)")
        }
    }

    @Test("send --json prints the summary as one object on standard output")
    func sendJSON() async throws {
        let (broker, port) = try await MessagingCommandTests.broker()
        defer { broker.stop() }
        let send = try await Self.amqp(["send", "amqp://127.0.0.1:\(port)/json-summary", "--count", "25", "--size", "8", "--json"])
        #expect(send.exitStatus == 0, "\(send.outputTail)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(send.output.utf8)) as? [String: Any])
        #expect(object["messages"] as? Int == 25)
        #expect(object["bytes"] as? Int ?? 0 > 25 * 8)
        #expect((object["outcomes"] as? [String: Int])?["accepted"] == 25)
        #expect((object["outcomes"] as? [String: Int])?["rejected"] == 0)
        #expect(send.errorOutput.contains("sent 25 messages"))
    }

    @Test("exit statuses: connection 2, authentication 3, timeout 5, protocol error 6, usage 64")
    func exitStatuses() async throws {
        // Nothing listens on a port we bound and closed.
        let closedPort = try LocalPort.free()
        let refused = try await Self.amqp(["send", "amqp://127.0.0.1:\(closedPort)/q", "--count", "1", "--connect-timeout", "5"])
        #expect(refused.exitStatus == ExitStatus.connection.rawValue, "\(refused.outputTail)")

        let (broker, port) = try await MessagingCommandTests.broker(["--user", "app", "--password", "right"])
        defer { broker.stop() }
        let wrong = try await Self.amqp(["send", "amqp://app:wrong@127.0.0.1:\(port)/q", "--count", "1", "--allow-plain-without-tls"])
        #expect(wrong.exitStatus == ExitStatus.authentication.rawValue, "\(wrong.outputTail)")

        let late = try await Self.amqp(["receive", "amqp://app:right@127.0.0.1:\(port)/empty", "--count", "1", "--timeout", "0.5", "--allow-plain-without-tls"])
        #expect(late.exitStatus == ExitStatus.timeout.rawValue, "\(late.outputTail)")

        // A server that answers an HTTP error instead of the AMQP protocol header.
        let garbage = try await HTTPLikeServer.start()
        defer { garbage.process.stop() }
        let notAMQP = try await Self.amqp(["send", "amqp://127.0.0.1:\(garbage.port)/q", "--count", "1"])
        #expect(notAMQP.exitStatus == ExitStatus.protocolError.rawValue, "\(notAMQP.outputTail)")

        let usage = try await Self.amqp(["send", "amqp://127.0.0.1:\(port)/q"])
        #expect(usage.exitStatus == ExitStatus.usage.rawValue)

        let help = try await Self.amqp(["--help"])
        for status in ExitStatus.allCases {
            #expect(help.output.contains("\(status.rawValue)  \(status)") || help.output.contains("\(status.rawValue)   \(status)"),
                    "amqp --help does not list exit status \(status.rawValue)")
        }
    }

    @Test("--password-file and $AMQP_PASSWORD keep the password off the command line")
    func passwordSources() async throws {
        let folder = try ScratchFolder.make("cli-password")
        let file = folder.appendingPathComponent("password")
        try "s3cret\n".write(to: file, atomically: true, encoding: .utf8)
        let (broker, port) = try await MessagingCommandTests.broker(["--user", "app", "--password-file", file.path])
        defer { broker.stop() }
        let url = "amqp://app@127.0.0.1:\(port)/pw"
        let fromFile = try await Self.amqp(["send", url, "--count", "2", "--password-file", file.path, "--allow-plain-without-tls"])
        #expect(fromFile.exitStatus == 0, "\(fromFile.outputTail)")
        let fromEnvironment = try await Self.amqp(["receive", url, "--count", "2", "--allow-plain-without-tls"],
                                                  environment: [PasswordOptions.environmentVariable: "s3cret"])
        #expect(fromEnvironment.exitStatus == 0, "\(fromEnvironment.outputTail)")
        let wrongEnvironment = try await Self.amqp(["receive", url, "--count", "1", "--allow-plain-without-tls"],
                                                   environment: [PasswordOptions.environmentVariable: "nope"])
        #expect(wrongEnvironment.exitStatus == ExitStatus.authentication.rawValue, "\(wrongEnvironment.outputTail)")
        let twice = try await Self.amqp(["send", "amqp://app:x@127.0.0.1:\(port)/pw", "--count", "1", "--password-file", file.path])
        #expect(twice.exitStatus == ExitStatus.usage.rawValue)
        #expect(twice.errorOutput.contains("give the password once"))
        for process in [fromFile, fromEnvironment, wrongEnvironment, twice, broker] {
            #expect(!process.output.contains("s3cret") && !process.errorOutput.contains("s3cret"), "\(process.name) printed the password")
        }
    }

    @Test("AMQP_TRACE_FRAMES=1 prints every frame in and out on standard error, the password hidden")
    func frameTrace() async throws {
        let (broker, port) = try await MessagingCommandTests.broker(["--user", "app", "--password", "s3cret"])
        defer { broker.stop() }
        let send = try await Self.amqp(["send", "amqp://app:s3cret@127.0.0.1:\(port)/traced", "--count", "2", "--allow-plain-without-tls"],
                                       environment: ["AMQP_TRACE_FRAMES": "1"])
        #expect(send.exitStatus == 0, "\(send.outputTail)")
        let lines = send.errorOutput.split(separator: "\n")
        #expect(lines.contains { $0.hasSuffix("-> SASL 3-1.0.0") })
        #expect(lines.contains { $0.contains("-> @0 sasl-init(mechanism=:PLAIN, initial-response=\"<11 bytes hidden>\"") })
        #expect(lines.contains { $0.contains("<- @0 open(") })
        #expect(lines.filter { $0.contains("-> @0 transfer(") }.count == 2)
        #expect(lines.contains { $0.contains("<- @0 disposition(") })
        #expect(!send.errorOutput.contains("s3cret") && !send.output.contains("s3cret"))
        let quiet = try await Self.amqp(["send", "amqp://app:s3cret@127.0.0.1:\(port)/traced", "--count", "1", "--allow-plain-without-tls"],
                                        environment: ["AMQP_TRACE_FRAMES": "0"])
        #expect(quiet.exitStatus == 0, "\(quiet.outputTail)")
        #expect(!quiet.errorOutput.contains("-> @0 open("))
    }

    @Test("on a terminal, progress is a bar redrawn in place with the rate and the time left")
    func progressOnATerminal() async throws {
        let (broker, port) = try await MessagingCommandTests.broker()
        defer { broker.stop() }
        let amqp = try TestPaths.builtProduct("amqp")
        // util-linux `script` runs the command on a pseudo-terminal and copies what it drew.
        let command = "'\(amqp)' send amqp://127.0.0.1:\(port)/progress --count 30000 --size 16"
        let run = try await ExternalProcess.run("/usr/bin/script", ["-qefc", command, "/dev/null"], name: "script", timeout: .seconds(120))
        #expect(run.exitStatus == 0, "\(run.outputTail)")
        #expect(run.output.contains("\r"), "no line redrawn in place")
        #expect(run.output.contains("ETA "), "\(run.output.suffix(400))")
        #expect(run.output.contains("/30000 ["))
        #expect(run.output.contains("sent 30000 messages"))

        // Not a terminal: a line a second, nothing redrawn.
        let piped = try await Self.amqp(["send", "amqp://127.0.0.1:\(port)/progress", "--count", "10", "--size", "16"])
        #expect(!piped.errorOutput.contains("\r") && !piped.errorOutput.contains("ETA"))
    }

    @Test("the progress line: bar, percentage, rate and ETA")
    func progressLine() {
        let line = RateMeter.progressLine(verb: "sent", done: 250, total: 1000, elapsed: .seconds(1), width: 10)
        #expect(line == "sent 250/1000 [==>       ] 25%  250 msgs/s  ETA 3s")
        #expect(RateMeter.progressLine(verb: "sent", done: 1000, total: 1000, elapsed: .seconds(2), width: 4)
                == "sent 1000/1000 [====] 100%  500 msgs/s  ETA 0s")
        #expect(RateMeter.progressLine(verb: "received", done: 7, total: nil, elapsed: .seconds(1)) == "received 7 messages  7 msgs/s")
        #expect(RateMeter.duration(185) == "3m05s")
        #expect(RateMeter.duration(7620) == "2h07m")
    }

    @Test("--generate-completion-script prints a completion script for bash, zsh and fish")
    func completion() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let run = try await Self.amqp(["--generate-completion-script", shell])
            #expect(run.exitStatus == 0)
            // fish lists long options without their dashes.
            #expect(run.output.contains("eventhubs") && run.output.contains("log-level") && run.output.contains("password-file"),
                    "\(shell): \(run.output.prefix(200))")
        }
    }

    @Test("demo --json prints the report for scripts and says it runs from a debug build")
    func demoJSON() async throws {
        let run = try await Self.amqp(["demo", "--events", "200", "--partitions", "2", "--json"])
        #expect(run.exitStatus == 0, "\(run.outputTail)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect(object["published"] as? Int == 200)
        #expect(object["consumed"] as? Int == 200)
        #expect((object["partitions"] as? [[String: Any]])?.count == 2)
        // The tests run the debug build: the note tells a newcomer where the real rates are.
        #expect(object["debug_build"] as? Bool == true)
        #expect(run.errorOutput.contains("swift run -c release amqp demo"))
    }
    @Test("out of file descriptors, amqp broker refuses new clients instead of spinning, and serves again when they return")
    func acceptBackoff() async throws {
        // 64 descriptors and no connection cap: a few dozen connections exhaust them.
        let amqp = try TestPaths.builtProduct("amqp")
        let broker = try ExternalProcess("/usr/bin/prlimit", ["--nofile=64", amqp, "broker", "--port", "0", "--max-connections", "0"],
                                         name: "amqp-broker-prlimit")
        defer { broker.stop() }
        var port: Int?
        let deadline = ContinuousClock.now + .seconds(20)
        while port == nil && ContinuousClock.now < deadline {
            port = broker.output.split(separator: "\n").first(where: { $0.contains("listening on") })
                .flatMap { $0.split(separator: ":").last.flatMap { Int($0) } }
            if port == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let brokerPort = try #require(port, "\(broker.outputTail)")
        var sockets: [TCPTestSocket] = []
        for _ in 0..<80 { sockets.append(try TCPTestSocket(port: brokerPort)) }
        try await Task.sleep(for: .milliseconds(500))
        // CPU time of the broker while new connections wait and its descriptors are gone.
        let before = try Self.cpuTicks(pid: broker.pid)
        try await Task.sleep(for: .seconds(2))
        let used = try Self.cpuTicks(pid: broker.pid) - before
        #expect(used < 60, "the accept loop spun: \(used) ticks of CPU in 2 s (100 a second is one core)")
        // The clients beyond the descriptors were closed, not left hanging.
        let refused = sockets.suffix(10).filter { $0.readUntilClosed(timeout: .seconds(5)).closedByPeer }.count
        #expect(refused == 10)
        for socket in sockets { socket.close() }
        // Once the broker has seen those connections close, it has descriptors and serves again.
        var send = try await Self.amqp(["send", "amqp://127.0.0.1:\(brokerPort)/after", "--count", "3"])
        for _ in 0..<20 where send.exitStatus != 0 {
            try await Task.sleep(for: .milliseconds(500))
            send = try await Self.amqp(["send", "amqp://127.0.0.1:\(brokerPort)/after", "--count", "3"])
        }
        #expect(send.exitStatus == 0, "\(send.outputTail)\n\(broker.outputTail)")
    }

    @Test("a process a test starts inherits standard input, output and error, and no other descriptor")
    func spawnedProcessesInheritNothing() async throws {
        // A descriptor without close-on-exec, as NIO's and other tests' sockets may be.
        let held = open("/dev/null", O_RDONLY)
        defer { close(held) }
        let run = try await ExternalProcess.run(
            "/usr/bin/python3", ["-c", "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"],
            name: "python-fds", timeout: .seconds(30))
        // Python's own listing holds one more: the directory it reads.
        #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[0, 1, 2, 3]", "\(run.outputTail)")
        // The same for a peer started to run beside the test (spawned by ExternalProcess itself).
        let peer = try ExternalProcess(
            "/usr/bin/python3", ["-c", "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"], name: "python-fds-peer")
        try await peer.expectSuccess(timeout: .seconds(30))
        #expect(peer.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[0, 1, 2, 3]", "\(peer.outputTail)")
    }

    @Test("a process a test starts has no signal blocked or ignored, whichever way it is started")
    func spawnedProcessesHaveDefaultSignals() async throws {
        // The test process's threads block signals; a child that kept that mask would never see
        // SIGTERM. The masks are hexadecimal, bit n - 1 for signal n.
        func masks(_ status: String) -> (blocked: UInt64, ignored: UInt64)? {
            var found: [String: UInt64] = [:]
            for line in status.split(separator: "\n") {
                let parts = line.split(separator: "\t")
                if parts.count == 2 { found[String(parts[0])] = UInt64(parts[1], radix: 16) }
            }
            guard let blocked = found["SigBlk:"], let ignored = found["SigIgn:"] else { return nil }
            return (blocked, ignored)
        }
        // Signals 1 to 31. Glibc keeps 32 and 33 for itself (thread cancellation, setxid): they
        // are outside sigfillset, so no spawn can give them back their default action.
        let standardSignals: UInt64 = 0x7fff_ffff
        let run = try await ExternalProcess.run("/bin/grep", ["-E", "^Sig(Blk|Ign)", "/proc/self/status"], name: "grep-signals", timeout: .seconds(30))
        let peer = try ExternalProcess("/bin/grep", ["-E", "^Sig(Blk|Ign)", "/proc/self/status"], name: "grep-signals-peer")
        try await peer.expectSuccess(timeout: .seconds(30))
        for process in [run, peer] {
            let found = try #require(masks(process.output), "\(process.outputTail)")
            #expect(found.blocked == 0, "\(process.outputTail)")
            #expect(found.ignored & standardSignals == 0, "\(process.outputTail)")
        }
    }

    @Test("a program run to completion gets its folder, its environment, its input and its status")
    func runToCompletion() async throws {
        let folder = try ScratchFolder.make("run-to-completion")
        let input = folder.appendingPathComponent("input")
        try "from a file\n".write(to: input, atomically: true, encoding: .utf8)
        let run = try await ExternalProcess.run(
            "/bin/sh", ["-c", "pwd; echo \"$AMQP_DOC_TEST\"; cat; echo oops >&2; exit 3"], name: "sh-run",
            environment: ["AMQP_DOC_TEST": "set"], currentDirectory: folder, standardInput: input.path, timeout: .seconds(30))
        #expect(run.exitStatus == 3)
        #expect(run.output == "\(folder.resolvingSymlinksInPath().path)\nset\nfrom a file\n", "\(run.outputTail)")
        #expect(run.errorOutput == "oops\n")
        let killed = try await ExternalProcess.run("/bin/sh", ["-c", "kill -9 $$"], name: "sh-killed", timeout: .seconds(30))
        #expect(killed.exitStatus == 128 + SIGKILL)
    }

    @Test("a program that outlives its time is stopped with SIGTERM and reported")
    func runTimesOut() async throws {
        let started = ContinuousClock.now
        await #expect(throws: PeerError.self) {
            try await ExternalProcess.run("/bin/sleep", ["600"], name: "sleep", timeout: .milliseconds(500))
        }
        // SIGTERM ends sleep at once: well before the 10 s after which SIGKILL would follow.
        #expect(ContinuousClock.now - started < .seconds(9))
    }

    /// User plus system CPU time of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
    static func cpuTicks(pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The command name (field 2) is in parentheses and may hold spaces: count after it.
        guard let close = stat.lastIndex(of: ")") else { throw PeerError("unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { throw PeerError("unreadable /proc/\(pid)/stat") }
        return user + system
    }
}

/// A TCP server that answers every connection with an HTTP error, as a web server on the AMQP
/// port would: the client must call it a protocol error, not a lost connection.
struct HTTPLikeServer {
    let process: ExternalProcess
    let port: Int

    static func start() async throws -> HTTPLikeServer {
        let script = """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
            print(s.getsockname()[1], flush=True)
            while True:
                c, _ = s.accept()
                c.recv(8)
                c.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n")
                c.close()
            """
        let process = try ExternalProcess("/usr/bin/python3", ["-c", script], name: "http-like")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let port = Int(process.output.trimmingCharacters(in: .whitespacesAndNewlines)) { return HTTPLikeServer(process: process, port: port) }
            if let status = process.exitStatus { throw PeerError("http-like server exited with \(status)\n\(process.outputTail)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.stop()
        throw PeerError("http-like server printed no port")
    }
}
