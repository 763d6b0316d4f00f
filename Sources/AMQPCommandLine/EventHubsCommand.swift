import AMQPCodec
import AMQPEventHubs
import AMQPTypedJSON
import AMQPTransport
import ArgumentParser
import Foundation
import NIOSSL

/// `amqp eventhubs`: publish to, read from and describe an event hub.
struct EventHubsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventhubs",
        abstract: "Send to, receive from and describe an Azure event hub (or an emulator).",
        discussion: """
            Every subcommand takes --connection-string or --connection-string-file, or reads \
            EVENTHUB_CONNECTION_STRING when neither is given (a key on the command line is visible to \
            every user of the machine). The connection string must name the hub (EntityPath). Keys are \
            never printed. For an endpoint with a private CA (an emulator started with --tls-cert), \
            give --ca-file, and --custom-endpoint HOST:PORT when it is not the namespace's port 5671.
            """,
        subcommands: [EventHubsSendCommand.self, EventHubsReceiveCommand.self, EventHubsInfoCommand.self, EventHubsProcessCommand.self]
    )
}

/// The connection options every `amqp eventhubs` subcommand shares.
struct EventHubsConnectionOptions: ParsableArguments {
    static let environmentVariable = "EVENTHUB_CONNECTION_STRING"

    @Option(name: .customLong("connection-string"),
            help: ArgumentHelp("Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=… (default: $EVENTHUB_CONNECTION_STRING)", valueName: "CS"))
    var connectionString: String?

    @Option(name: .customLong("connection-string-file"), help: ArgumentHelp(
        "Read the connection string from this file (its first line), so the key is not on the command line.", valueName: "FILE"))
    var connectionStringFile: String?

    @Flag(name: .customLong("websockets"), help: "Connect over WebSockets (port 443) instead of AMQP on 5671.")
    var webSockets = false

    @Flag(name: .customLong("sasl-plain"), help: "Authenticate with SASL PLAIN (key name and key) instead of CBS tokens.")
    var saslPlain = false

    @Option(name: .customLong("custom-endpoint"), help: ArgumentHelp(
        "Connect to HOST:PORT instead of the namespace (a proxy, a private endpoint, a TLS emulator); TLS and tokens still name the namespace.",
        valueName: "HOST:PORT"))
    var customEndpoint: String?

    @Option(name: .customLong("ca-file"), help: "Trust the certificates in this PEM file instead of the system's.")
    var caFile: String?

    @Flag(name: .customLong("insecure-skip-verify"), help: "Accept any certificate. Anyone on the path can read and change the traffic.")
    var insecureSkipVerify = false

    @OptionGroup var log: LogOptions

    func validate() throws {
        if connectionString != nil && connectionStringFile != nil {
            throw ValidationError("give --connection-string or --connection-string-file, not both")
        }
        if let customEndpoint { _ = try Self.hostAndPort(customEndpoint) }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) { throw ValidationError("cannot read --ca-file \(caFile)") }
    }

    /// `HOST:PORT`, `[IPv6]:PORT`.
    static func hostAndPort(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("--custom-endpoint must be HOST:PORT, not \(text)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--custom-endpoint must be HOST:PORT, not \(text)") }
        return (host, port)
    }

    func connectionStringText() throws -> String {
        let text: String?
        if let connectionStringFile {
            guard let data = FileManager.default.contents(atPath: connectionStringFile) else {
                throw ValidationError("cannot read --connection-string-file \(connectionStringFile)")
            }
            text = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
        } else {
            text = connectionString ?? ProcessInfo.processInfo.environment[Self.environmentVariable]
        }
        guard let text, !text.isEmpty else {
            throw ValidationError("give --connection-string, --connection-string-file or set \(Self.environmentVariable)")
        }
        return text
    }

    func makeClient() throws -> EventHubsClient {
        var options = EventHubsClientOptions()
        if webSockets { options.transport = .webSockets }
        if saslPlain { options.authorization = .saslPlain }
        if let customEndpoint { options.customEndpoint = try Self.hostAndPort(customEndpoint) }
        if caFile != nil || insecureSkipVerify {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile { configuration.trustRoots = .file(caFile) }
            if insecureSkipVerify { configuration.certificateVerification = .none }
            options.tlsConfiguration = .enabled(configuration)
        }
        options.logger.logLevel = log.logLevel
        return try EventHubsClient(connectionString: try connectionStringText(), options: options)
    }
}

/// Runs `body` with a client, closes it, and turns an ``EventHubsError`` into one line on
/// standard error and exit status 1.
func withEventHubsClient(_ connection: EventHubsConnectionOptions, _ body: (EventHubsClient) async throws -> Void) async throws {
    connection.log.bootstrap()
    let client: EventHubsClient
    do {
        client = try connection.makeClient()
    } catch let error as EventHubsError {
        printError("error: \(error)")
        throw ExitStatus.usage.exitCode
    }
    do {
        try await body(client)
    } catch let error as EventHubsError {
        await client.close()
        printError("error: \(error)")
        throw ExitStatus.of(error).exitCode
    } catch let failure as CommandFailure {
        await client.close()
        printError("error: \(failure)")
        throw failure.status.exitCode
    } catch {
        await client.close()
        throw error
    }
    await client.close()
}

// MARK: - send

struct EventHubsSendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send generated events, or one event per line of standard input, and print a summary.",
        discussion: """
            Exits with status 1 if any event was not accepted (`amqp --help` lists the others). \
            --property, --content-type, --message-id, … set one field of every event; --json prints \
            the summary as one JSON object.
            """
    )

    @OptionGroup var connection: EventHubsConnectionOptions
    @Option(help: "How many events to generate.") var count = 1
    @Option(help: "Body size of each generated event, in bytes.") var size = 64
    @Flag(help: "Send one event per line of standard input instead.") var stdin = false
    @Option(help: "Send to this partition.") var partition: String?
    @Option(name: .customLong("partition-key"), help: "Send with this partition key.") var partitionKey: String?
    @Flag(help: "Pack events into batches as large as the hub accepts.") var batch = false
    @Option(help: "Events awaiting the service's answer at once (without --batch); they go out in order.") var window = 1000
    @Flag(help: "Print the summary as one JSON object.") var json = false
    @OptionGroup(title: "Event fields") var fields: MessageFieldOptions

    func validate() throws {
        if partition != nil && partitionKey != nil { throw ValidationError("--partition and --partition-key go separately") }
        if !stdin && count < 1 { throw ValidationError("--count must be positive") }
        if size < 0 { throw ValidationError("--size cannot be negative") }
        if window < 1 { throw ValidationError("--window must be positive") }
    }

    /// A generated body: `event <i> ` repeated to `size` bytes, so it reads as text.
    static func generatedBody(_ index: Int, size: Int) -> [UInt8] {
        let unit = Array("event \(index) ".utf8)
        return (0..<size).map { unit[$0 % unit.count] }
    }

    func run() async throws {
        let options = SendEventOptions(partitionID: partition, partitionKey: partitionKey)
        let events: AnySequence<EventData>
        let fields = self.fields
        func withFields(_ event: EventData, _ number: Int) -> EventData {
            var event = event
            fields.apply(to: &event.message, number: number)
            return event
        }
        if stdin {
            events = AnySequence(standardInputLines().enumerated().lazy.map { withFields(EventData($0.element), $0.offset) })
        } else {
            let size = self.size
            events = AnySequence((0..<count).lazy.map { withFields(EventData(body: Self.generatedBody($0, size: size)), $0) })
        }
        try await withEventHubsClient(connection) { client in
            let producer = client.makeProducer()
            let start = ContinuousClock.now
            let summary = batch
                ? try await SendSummary.batched(events, producer: producer, options: options)
                : await SendSummary.pipelined(events, producer: producer, options: options, window: window)
            let seconds = (ContinuousClock.now - start).seconds
            await producer.close()
            let rate = Int((Double(summary.sent) / max(seconds, 1e-9)).rounded())
            if json {
                print(JSON.object([
                    ("events", .number(String(summary.sent))),
                    ("bytes", .number(String(summary.bytes))),
                    ("seconds", .number(String((seconds * 1000).rounded() / 1000))),
                    ("events_per_second", .number(String(rate))),
                    ("failed", .number(String(summary.failed))),
                    ("first_error", summary.firstError.map { .string("\($0)") } ?? .null),
                ]).serialized)
            } else {
                print("sent \(summary.sent) events (\(summary.bytes) bytes) in \(String(format: "%.2f", seconds)) s: \(rate) events/s")
            }
            if summary.failed > 0 {
                printError("\(summary.failed) events failed; first error: \(summary.firstError.map { "\($0)" } ?? "")")
                throw (summary.firstError.map(ExitStatus.of) ?? .failure).exitCode
            }
        }
    }
}

/// What a send run did.
struct SendSummary {
    var sent = 0
    var bytes = 0
    var failed = 0
    var firstError: EventHubsError?

    mutating func record(_ result: Result<Int, EventHubsError>, events: Int) {
        switch result {
        case .success(let size):
            sent += events
            bytes += size
        case .failure(let error):
            failed += events
            if firstError == nil { firstError = error }
        }
    }

    /// One message per event, enqueued in order from this task, up to `window` awaiting the
    /// service's answer.
    static func pipelined(_ events: AnySequence<EventData>, producer: EventHubProducer, options: SendEventOptions,
                          window: Int) async -> SendSummary {
        var summary = SendSummary()
        var pending: [(PendingSend, Int)] = []
        var head = 0
        func settleOldest() async {
            let (send, size) = pending[head]
            head += 1
            do throws(EventHubsError) {
                try await send.accepted()
                summary.record(.success(size), events: 1)
            } catch {
                summary.record(.failure(error), events: 1)
            }
        }
        for event in events {
            if pending.count - head >= window { await settleOldest() }
            do throws(EventHubsError) {
                pending.append((try await producer.enqueue(event, options: options), event.body.count))
            } catch {
                summary.record(.failure(error), events: 1)
            }
        }
        while head < pending.count { await settleOldest() }
        return summary
    }

    /// Events packed into batches with `tryAdd`, one batch in flight while the next fills.
    static func batched(_ events: AnySequence<EventData>, producer: EventHubProducer, options: SendEventOptions) async throws -> SendSummary {
        var summary = SendSummary()
        var pending: Task<Result<Int, EventHubsError>, Never>?
        var pendingCount = 0
        func flush(_ batch: EventDataBatch, bytes: Int) async {
            if let pending { summary.record(await pending.value, events: pendingCount) }
            pendingCount = batch.count
            pending = Task {
                do throws(EventHubsError) {
                    try await producer.send(batch)
                    return .success(bytes)
                } catch {
                    return .failure(error)
                }
            }
        }
        var batch = try await producer.makeBatch(options: options)
        var batchBytes = 0
        for event in events {
            if batch.tryAdd(event) {
                batchBytes += event.body.count
                continue
            }
            guard batch.count > 0 else {
                summary.record(.failure(EventHubsError(.messageTooLarge, detail: "a \(event.body.count)-byte event does not fit in a batch of \(batch.maximumSizeInBytes) bytes")), events: 1)
                continue
            }
            await flush(batch, bytes: batchBytes)
            batch = try await producer.makeBatch(options: options)
            batchBytes = 0
            if batch.tryAdd(event) {
                batchBytes = event.body.count
            } else {
                summary.record(.failure(EventHubsError(.messageTooLarge, detail: "a \(event.body.count)-byte event does not fit in a batch of \(batch.maximumSizeInBytes) bytes")), events: 1)
            }
        }
        if batch.count > 0 { await flush(batch, bytes: batchBytes) }
        if let pending { summary.record(await pending.value, events: pendingCount) }
        return summary
    }
}

// MARK: - receive

/// `--from`: `earliest`, `latest`, `offset:O`, `sequence:S` or `time:MS`.
struct StartPosition: ExpressibleByArgument, CustomStringConvertible {
    var kind: String
    var value: String

    var description: String { value.isEmpty ? kind : "\(kind):\(value)" }

    init?(argument: String) {
        switch argument {
        case "earliest", "latest":
            kind = argument
            value = ""
        default:
            let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["offset", "sequence", "time"].contains(parts[0]), !parts[1].isEmpty else { return nil }
            if parts[0] != "offset" && Int64(parts[1]) == nil { return nil }
            kind = parts[0]
            value = parts[1]
        }
    }

    func position(inclusive: Bool) -> EventPosition {
        switch kind {
        case "earliest": return .earliest
        case "latest": return .latest
        case "offset": return .offset(value, inclusive: inclusive)
        case "sequence": return .sequenceNumber(Int64(value)!, inclusive: inclusive)
        default: return .enqueuedTime(Int64(value)!, inclusive: inclusive)
        }
    }
}

struct EventHubsReceiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Print the events of one partition.",
        discussion: """
            Without --count it runs until interrupted (or --timeout). With --count it exits with status 5 \
            if fewer events arrived before the timeout. --json prints one object per line: partition, \
            sequence_number, offset, enqueued_time (milliseconds since 1970), partition_key, message_id, \
            correlation_id, content_type, properties and body (UTF-8 text when valid, else hex).
            """
    )

    @OptionGroup var connection: EventHubsConnectionOptions
    @Option(help: "The partition to read.") var partition: String
    @Option(name: .customLong("consumer-group"), help: "The consumer group.") var consumerGroup = EventHubsNames.defaultConsumerGroup
    @Option(name: .customLong("from"), help: ArgumentHelp("Where to start: earliest, latest, offset:O, sequence:S or time:MS.", valueName: "POSITION"))
    var from = StartPosition(argument: "earliest")!
    @Flag(help: "Include the event at the start position itself.") var inclusive = false
    @Option(help: "Stop after this many events.") var count: Int?
    @Option(help: "Stop when no event arrives for this many seconds.") var timeout: Double?
    @Flag(help: "One JSON object per event.") var json = false

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be positive") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let position = from.position(inclusive: inclusive)
        try await withEventHubsClient(connection) { client in
            let receiver = client.makePartitionReceiver(partitionID: partition, consumerGroup: consumerGroup, startingAt: position)
            let output = StandardOutput()
            var received = 0
            while count.map({ received < $0 }) ?? true {
                guard let event = try await Self.next(from: receiver, within: timeout) else { break }
                output.line(json ? Self.jsonLine(event) : Self.textLine(event))
                received += 1
                if received % 64 == 0 { output.flush() }
            }
            output.flush()
            await receiver.close()
            if let count, received < count {
                printError("received \(received) of \(count) events within the timeout")
                throw ExitStatus.timeout.exitCode
            }
        }
    }

    /// The next event, or `nil` when `seconds` pass without one (the receiver is closed then).
    static func next(from receiver: PartitionReceiver, within seconds: Double?) async throws -> ReceivedEventData? {
        guard let seconds else { return try await receiver.receive() }
        return try await withThrowingTaskGroup(of: ReceivedEventData?.self) { group in
            group.addTask { try await receiver.receive() }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = try await group.next()!
            // Whichever lost is cancelled: a cancelled receive closes the receiver.
            group.cancelAll()
            return first
        }
    }

    static func textLine(_ event: ReceivedEventData) -> String {
        let key = event.partitionKey.map { " key=\($0)" } ?? ""
        return "partition=\(event.partitionID) sequence=\(event.sequenceNumber) offset=\(event.offset)\(key): \(bodyText(event.body))"
    }

    static func jsonLine(_ event: ReceivedEventData) -> String {
        let properties = event.properties.sorted { $0.key < $1.key }.map { (key: $0.key, value: json(for: $0.value)) }
        let document = JSON.object([
            ("partition", .string(event.partitionID)),
            ("sequence_number", .number(String(event.sequenceNumber))),
            ("offset", .string(event.offset)),
            ("enqueued_time", .number(String(Int64((event.enqueuedTime.timeIntervalSince1970 * 1000).rounded())))),
            ("partition_key", event.partitionKey.map { .string($0) } ?? .null),
            ("message_id", event.messageID.map { .string($0) } ?? .null),
            ("correlation_id", event.correlationID.map { .string($0) } ?? .null),
            ("content_type", event.contentType.map { .string($0) } ?? .null),
            ("properties", .object(properties)),
            ("body", .string(bodyText(event.body))),
        ])
        return document.serialized
    }

    /// The body as UTF-8 text when it is valid UTF-8, else as hex.
    static func bodyText(_ body: [UInt8]) -> String {
        // Decoding repairs invalid sequences; the bytes survive only when there were none.
        let text = String(decoding: body, as: UTF8.self)
        return text.utf8.elementsEqual(body) ? text : HexEncoding.string(body)
    }

    /// Plain JSON for the common property types; typed JSON for the rest.
    static func json(for value: AMQPValue) -> JSON {
        switch value {
        case .null: return .null
        case .boolean(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .symbol(let s): return .string(s.stringValue)
        case .byte(let n): return .number(String(n))
        case .short(let n): return .number(String(n))
        case .int(let n): return .number(String(n))
        case .long(let n): return .number(String(n))
        case .ubyte(let n): return .number(String(n))
        case .ushort(let n): return .number(String(n))
        case .uint(let n): return .number(String(n))
        case .ulong(let n): return .number(String(n))
        case .double(let d) where d.isFinite: return .number("\(d)")
        case .timestamp(let t): return .number(String(t.millisecondsSince1970))
        case .uuid(let u): return .string(u.uuidString)
        default: return TypedJSON.json(for: value)
        }
    }
}

// MARK: - info

struct EventHubsInfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the hub's properties, or one partition's."
    )

    @OptionGroup var connection: EventHubsConnectionOptions
    @Option(help: "Describe this partition instead of the hub.") var partition: String?
    @Flag(help: "Print one JSON object (times in milliseconds since 1970, as `receive --json` prints them).") var json = false

    func run() async throws {
        try await withEventHubsClient(connection) { client in
            if let partition {
                let p = try await client.partitionProperties(partitionID: partition)
                if json {
                    print(JSON.object([
                        ("event_hub", .string(p.eventHubName)),
                        ("partition", .string(p.id)),
                        ("is_empty", .bool(p.isEmpty)),
                        ("beginning_sequence_number", .number(String(p.beginningSequenceNumber))),
                        ("last_enqueued_sequence_number", .number(String(p.lastEnqueuedSequenceNumber))),
                        ("last_enqueued_offset", .string(p.lastEnqueuedOffset)),
                        ("last_enqueued_time", .number(String(Self.milliseconds(p.lastEnqueuedTime)))),
                    ]).serialized)
                    return
                }
                print("event hub: \(p.eventHubName)")
                print("partition: \(p.id)")
                print("empty: \(p.isEmpty)")
                print("beginning sequence number: \(p.beginningSequenceNumber)")
                print("last enqueued sequence number: \(p.lastEnqueuedSequenceNumber)")
                print("last enqueued offset: \(p.lastEnqueuedOffset)")
                print("last enqueued time: \(Self.iso8601(p.lastEnqueuedTime))")
            } else {
                let hub = try await client.eventHubProperties()
                if json {
                    print(JSON.object([
                        ("event_hub", .string(hub.name)),
                        ("created_at", .number(String(Self.milliseconds(hub.createdAt)))),
                        ("partition_ids", .array(hub.partitionIDs.map { .string($0) })),
                    ]).serialized)
                    return
                }
                print("event hub: \(hub.name)")
                print("created: \(Self.iso8601(hub.createdAt))")
                print("partitions: \(hub.partitionIDs.count) (\(hub.partitionIDs.joined(separator: ", ")))")
            }
        }
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
