import AMQPCodec
import AMQPMessage
import AMQPMessageJSON
import AMQPProtocol
import AMQPTransport
import AMQPTypes
import ArgumentParser
import Foundation
import NIOCore
import NIOSSL

/// `amqp send`: messages to any AMQP 1.0 node.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send messages to an AMQP 1.0 address: generated ones, or JSON messages from a file.",
        discussion: """
            With --count and --size, sends COUNT messages whose body is one data section of SIZE \
            bytes and whose message-id is its number (ulong, from 0). With --messages, sends one \
            message per line of FILE (or standard input for -), in the JSON shape `amqp receive \
            --json` prints: {"properties":{"to":"…"},"application_properties":{"t":"map","v":[…]},\
            "body":{"value":{"t":"string","v":"hi"}}} — every key optional, values that can be of \
            any AMQP type in typed JSON.

            Deliveries are pipelined up to the link's credit; each is unsettled (the receiver's \
            outcome is counted) unless --settled. Progress goes to standard error (a bar with the rate \
            and the time left on a terminal, a line a second otherwise) and a summary (messages, \
            bytes, msgs/s, outcomes) at the end; --json prints the summary as JSON on standard \
            output. The flags --property, --content-type, --message-id, … set one field of every \
            message, over what the generator or a --messages line put there. The exit status is 1 \
            when any message was not accepted (`amqp --help` lists the others).
            """
    )

    @OptionGroup var endpoint: EndpointOptions

    @Option(help: "How many generated messages to send.") var count: Int?
    @Option(help: "The body size of each generated message, in bytes.") var size: Int = 1024
    @Option(help: "Send the JSON messages of this file, one per line (- for standard input).") var messages: String?
    @Flag(help: "Send pre-settled (at most once): no outcomes are awaited.") var settled = false
    @Flag(help: "Print the summary as one JSON object on standard output.") var json = false
    @OptionGroup(title: "Message fields") var fields: MessageFieldOptions

    func validate() throws {
        if messages != nil && count != nil { throw ValidationError("give either --count or --messages") }
        if messages == nil && count == nil { throw ValidationError("give --count (generated messages) or --messages FILE") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if size < 0 { throw ValidationError("--size cannot be negative") }
        _ = try endpoint.endpoint()
    }

    func run() async throws {
        endpoint.log.bootstrap()
        try await reportingFailures { try await EventLoopTaskExecutor.run { try await send(on: $0) } }
    }

    func send(on eventLoop: EventLoop) async throws {
        let source: AnyIterator<Result<Message, CommandFailure>>
        let total: Int?
        if let messages {
            source = try Self.messages(from: messages)
            total = nil
        } else {
            let body = DataSection(Binary((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }))
            var next = 0
            let count = self.count ?? 0
            source = AnyIterator {
                guard next < count else { return nil }
                defer { next += 1 }
                return .success(Message(properties: Properties(messageID: .ulong(UInt64(next))), body: .data([body])))
            }
            total = count
        }
        let (connection, url) = try await endpoint.connect(on: eventLoop)
        let meter = RateMeter(verb: "sent", total: total)
        var outcomes = OutcomeTally()
        do {
            let sender = try await connection.openSender(to: url.address, options: .init(settleMode: settled ? .settled : .mixed))
            var pending: [PendingDelivery] = []
            var oldest = 0
            var number = 0
            for result in source {
                var message = try result.get()
                fields.apply(to: &message, number: number)
                number += 1
                let encoded = message.encoded()
                pending.append(try await sender.enqueue(encoded: encoded, settled: settled))
                meter.add(bytes: encoded.count)
                // Keep at most a window of outcomes outstanding; they arrive in order of sending.
                while pending.count - oldest > Self.window {
                    outcomes.add(try await pending[oldest].outcome())
                    oldest += 1
                }
                if oldest > 4096 {
                    pending.removeFirst(oldest)
                    oldest = 0
                }
            }
            for delivery in pending[oldest...] { outcomes.add(try await delivery.outcome()) }
            try await connection.close()
        } catch {
            try? await connection.close()
            meter.finish(detail: outcomes.description)
            if let error = error as? AMQPClientError { throw CommandFailure("\(url.address) on \(url): \(error)", status: .of(error)) }
            throw error
        }
        let summary = meter.finish(detail: outcomes.description, outcomes: outcomes.entries)
        if json { print(summary.json) }
        if !outcomes.allAccepted { throw ExitStatus.failure.exitCode }
    }

    static let window = 4096

    /// The JSON messages of a file (or standard input), one per line; blank lines are skipped.
    static func messages(from path: String) throws -> AnyIterator<Result<Message, CommandFailure>> {
        let lines: AnyIterator<String>
        if path == "-" {
            lines = standardInputLines()
        } else {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandFailure("cannot read \(path)") }
            lines = fileLines(handle)
        }
        var number = 0
        return AnyIterator {
            while let line = lines.next() {
                number += 1
                if line.allSatisfy(\.isWhitespace) { continue }
                do {
                    return .success(try MessageJSON.message(from: line))
                } catch {
                    return .failure(CommandFailure("\(path == "-" ? "standard input" : path) line \(number): \(error)"))
                }
            }
            return nil
        }
    }
}

/// `amqp receive`: messages from any AMQP 1.0 node.
struct ReceiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive messages from an AMQP 1.0 address and accept them.",
        discussion: """
            Receives COUNT messages, accepting each, granting credit as it goes but never more than \
            COUNT in all (nothing is taken from the queue that is not accepted). With --json, prints \
            each message as one JSON line on standard output (the shape `amqp send --messages` \
            reads); progress and the summary go to standard error. Exits with status 1 when fewer \
            than COUNT messages arrive for another reason, 5 when they did not arrive within --timeout \
            seconds (`amqp --help` lists the statuses).
            """
    )

    @OptionGroup var endpoint: EndpointOptions

    @Option(help: "How many messages to receive.") var count: Int
    @Option(help: "Give up (exit status 5) when COUNT messages have not arrived after this many seconds.") var timeout: Double = 60
    @Flag(help: "Print each message as one line of JSON.") var json = false

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if !(timeout > 0) { throw ValidationError("--timeout must be positive") }
        _ = try endpoint.endpoint()
    }

    func run() async throws {
        endpoint.log.bootstrap()
        try await reportingFailures { try await EventLoopTaskExecutor.run { try await receive(on: $0) } }
    }

    static let window: UInt32 = 500

    func receive(on eventLoop: EventLoop) async throws {
        let (connection, url) = try await endpoint.connect(on: eventLoop)
        let meter = RateMeter(verb: "received", total: count)
        let out = StandardOutput()
        var received = 0
        do {
            // The engine keeps WINDOW granted as messages are taken, never more than COUNT in all.
            let window = UInt32(min(count, Int(Self.window)))
            let receiver = try await connection.openReceiver(
                from: url.address, options: .init(credit: .prefetch(window), totalCredit: UInt64(count)))
            // Closing the link at the deadline ends the wait for the next delivery.
            let deadline = Task {
                try await Task.sleep(for: .seconds(timeout))
                try? await receiver.close()
            }
            defer { deadline.cancel() }
            while received < count, let delivery = try await receiver.receive() {
                received += 1
                meter.add(bytes: delivery.payload.count)
                if json { out.line(MessageJSON.string(for: delivery.message)) }
                try await delivery.accept()
            }
            out.flush()
            try await connection.close()
        } catch let error as AMQPClientError {
            out.flush()
            try? await connection.close()
            meter.finish()
            // The deadline closes the link, which may interrupt an accept: that is a timeout.
            if ContinuousClock.now - meter.start < .seconds(timeout) {
                throw CommandFailure("\(url.address) on \(url): \(error)", status: .of(error))
            }
        }
        meter.finish()
        if received < count {
            throw CommandFailure("only \(received) of \(count) messages arrived within \(timeout) s", status: .timeout)
        }
    }
}

/// `amqp broker`: the in-memory broker.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a small in-memory AMQP 1.0 broker until interrupted: each address is a queue.",
        discussion: """
            Messages sent to an address are stored in memory (and accepted) and handed to its \
            receivers in turn as their credit allows; released and modified ones go back to the \
            head of the queue, rejected ones are dropped. For tests and benchmarks, not production: \
            nothing is durable. Clients authenticate with SASL ANONYMOUS, or with PLAIN when --user \
            and a password (--password, --password-file or $AMQP_PASSWORD) are given (then PLAIN is \
            required). Prints the address it listens on.
            """
    )

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0 picks a free one).") var port = 5672
    @Option(name: .customLong("max-message-size"), help: "The largest message accepted, in bytes.") var maxMessageSize: UInt64 = 64 << 20
    @Option(help: "Require SASL PLAIN with this user name (with --password).") var user: String?
    @Option(help: "The password for --user (visible to other users of the machine: prefer --password-file).") var password: String?
    @OptionGroup var passwordSource: PasswordOptions
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain for direct TLS (amqps).") var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for direct TLS.") var tlsKey: String?
    @Option(name: .customLong("max-connections"), help: "Refuse connections beyond this many open at once (0: no limit; default 10,000, or the file-descriptor limit less 64).")
    var maxConnections = AMQPListener.Configuration.defaultMaxConnections
    @Option(name: .customLong("handshake-timeout"), help: "Seconds a client has from connecting to its open (0: no limit).")
    var handshakeTimeout: Double = 30
    @Option(name: .customLong("max-queue-messages"), help: "The most messages one queue holds; a full queue holds its producers back and refuses what they had credit for (0: no limit).")
    var maxQueueMessages = AMQPInMemoryBroker.QueueLimits().maxMessages ?? 0
    @Option(name: .customLong("max-queue-mb"), help: "The most MiB of message payload one queue holds (0: no limit).")
    var maxQueueMegabytes = (AMQPInMemoryBroker.QueueLimits().maxBytes ?? 0) >> 20
    @Option(name: .customLong("login-failures"), help: "Failed logins from one address within a minute that refuse its connections for 5 minutes (0: no throttling).")
    var loginFailures = LoginThrottle.Policy().maxFailures
    @OptionGroup var log: LogOptions

    /// The password from --password, --password-file or the environment, in that order.
    func requiredPassword() throws -> String? {
        if password != nil && passwordSource.passwordFile != nil { throw ValidationError("give --password or --password-file, not both") }
        return try password ?? passwordSource.password()
    }

    func validate() throws {
        let password = try requiredPassword()
        if user != nil && password == nil { throw ValidationError("--user needs a password: --password, --password-file or $AMQP_PASSWORD") }
        if user == nil && (self.password != nil || passwordSource.passwordFile != nil) { throw ValidationError("a password needs --user") }
        if (tlsCertificate == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if maxConnections < 0 || !(handshakeTimeout >= 0) { throw ValidationError("--max-connections and --handshake-timeout cannot be negative") }
        if maxQueueMessages < 0 || maxQueueMegabytes < 0 || loginFailures < 0 {
            throw ValidationError("--max-queue-messages, --max-queue-mb and --login-failures cannot be negative")
        }
        if maxQueueMegabytes > Int.max >> 20 { throw ValidationError("--max-queue-mb is too large") }
    }

    func run() async throws {
        log.bootstrap()
        var configuration = AMQPListener.Configuration(host: host, port: port)
        configuration.maxMessageSize = maxMessageSize
        configuration.maxConnections = maxConnections > 0 ? maxConnections : nil
        configuration.handshakeTimeout = handshakeTimeout > 0 ? .milliseconds(Int64(handshakeTimeout * 1000)) : nil
        configuration.loginThrottle = loginFailures > 0 ? LoginThrottle.Policy(maxFailures: loginFailures) : nil
        let queueLimits = AMQPInMemoryBroker.QueueLimits(maxMessages: maxQueueMessages > 0 ? maxQueueMessages : nil,
                                                         maxBytes: maxQueueMegabytes > 0 ? maxQueueMegabytes << 20 : nil)
        if let user, let password = try requiredPassword() {
            // Both sides of the comparison prepared with SASLprep, as RFC 4616 asks of a server; a
            // client that sent an unpreparable name or password is refused.
            let user = try SASLprep.prepare(user), password = try SASLprep.prepare(password)
            configuration.saslMechanisms = [PlainServerMechanism {
                (try? SASLprep.prepare($0)) == user && (try? SASLprep.prepare($1)) == password
            }]
            configuration.saslRequired = true
        }
        if let tlsCertificate, let tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(tlsCertificate).map { NIOSSLCertificateSource.certificate($0) }
            configuration.tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem)))
        }
        let broker = try await AMQPInMemoryBroker.start(configuration, queueLimits: queueLimits)
        let scheme = configuration.tls == nil ? "amqp" : "amqps"
        print("amqp broker listening on \(scheme)://\(host):\(broker.port)")
        if user != nil && configuration.tls == nil {
            print("  note: SASL PLAIN over plain TCP — clients need --allow-plain-without-tls; not for real secrets")
        }
        fflushStdout()
        await waitForTermination()
        try await broker.stop()
    }
}

/// Runs a command, printing a ``CommandFailure`` as one line on standard error and exiting with
/// its status.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as CommandFailure {
        printError("error: \(failure)")
        throw failure.status.exitCode
    }
}

/// The outcomes of sent messages.
struct OutcomeTally: CustomStringConvertible {
    var accepted = 0
    var settled = 0
    var rejected = 0
    var released = 0
    var modified = 0
    var other = 0

    mutating func add(_ outcome: DeliveryOutcome) {
        switch outcome {
        case .accepted: accepted += 1
        case .settled: settled += 1
        case .rejected: rejected += 1
        case .released: released += 1
        case .modified: modified += 1
        case .other: other += 1
        }
    }

    /// Every outcome by name, zeros included, for `--json`.
    var entries: [(String, Int)] {
        [("accepted", accepted), ("pre_settled", settled), ("rejected", rejected), ("released", released),
         ("modified", modified), ("other", other)]
    }

    var allAccepted: Bool { rejected == 0 && released == 0 && modified == 0 && other == 0 }

    var description: String {
        let parts = [("accepted", accepted), ("pre-settled", settled), ("rejected", rejected), ("released", released),
                     ("modified", modified), ("other outcomes", other)]
        return parts.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    }
}

/// Reads a file line by line without loading it whole.
func fileLines(_ handle: FileHandle) -> AnyIterator<String> {
    var buffer: [UInt8] = []
    var start = 0
    var atEnd = false
    return AnyIterator {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                return line.hasSuffix("\r") ? String(line.dropLast()) : line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return line
            }
            buffer.removeSubrange(0..<start)
            start = 0
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
