import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPMessage
import AMQPTypedJSON
import AMQPTypes
import ArgumentParser
import Foundation

/// `amqp demo`: the whole stack in one command, needing nothing but Swift.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start an embedded Event Hubs emulator, publish events with partition keys, consume every partition, print what arrived.",
        discussion: """
            Everything runs in this process on a free loopback port: the emulator (memory only), a \
            producer that authenticates with SASL PLAIN using the emulator's SAS key name and key, and \
            one consumer per partition reading from the start of the stream.
            """
    )

    @Option(help: "How many events to publish.") var events = 5000
    @Option(help: "Body size of each event, in bytes.") var size = 256
    @Option(help: "Partitions of the demo hub.") var partitions = 4
    @Option(name: .customLong("keys"), help: "Distinct partition keys to spread events over.") var keyCount = 32
    @Flag(help: "Print the report as one JSON object instead of the table.") var json = false
    @OptionGroup var log: LogOptions

    /// Whether this executable was compiled for debugging, where the rates are a fraction of a
    /// release build's: a newcomer's first `swift run` is one.
    static var isDebugBuild: Bool {
        #if DEBUG
        return true
        #else
        return false
        #endif
    }

    static let debugBuildNote = "note: this is a debug build; rates are many times lower than a release build's: swift run -c release amqp demo"

    func run() async throws {
        log.bootstrap()
        guard events > 0, size >= 0, partitions > 0, keyCount > 0 else { throw ValidationError("counts must be positive") }
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "demo", partitionCount: partitions)])
        configuration.healthPort = nil
        configuration.maxMessageSize = UInt64(max(1 << 20, size + 4096))
        let emulator = try await EventHubsEmulator.start(configuration)
        let connectionString = emulator.connectionString(eventHub: "demo")
        // With --json, standard output carries only the report.
        let json = self.json
        func say(_ line: String) { if json { printError(line) } else { Swift.print(line) } }
        say("Embedded Event Hubs emulator on 127.0.0.1:\(emulator.port) (hub \"demo\", \(partitions) partitions)")
        say("Connection string: \(connectionString)")

        let report = try await DemoRun(connectionString: connectionString, events: events, size: size,
                                       partitions: partitions, keyCount: keyCount).run()
        try await emulator.stop()
        if json { Swift.print(report.json(debugBuild: Self.isDebugBuild)) } else { report.print() }
        // Beside the rates, where a newcomer's eye is; on standard error with --json.
        if Self.isDebugBuild { say(Self.debugBuildNote) }
    }
}

/// The demo's publish and consume, against any endpoint given by a connection string.
struct DemoRun {
    let connectionString: EventHubsConnectionString
    let events: Int
    let size: Int
    let partitions: Int
    let keyCount: Int

    struct PartitionReport {
        var partition: Int
        var events = 0
        var firstSequenceNumber: Int64?
        var lastSequenceNumber: Int64?
        var bytes = 0
    }

    struct Report {
        var published: Int
        var publishSeconds: Double
        var consumeSeconds: Double
        var partitions: [PartitionReport]

        func print() {
            func pad(_ value: CustomStringConvertible, _ width: Int) -> String {
                let text = "\(value)"
                return String(repeating: " ", count: max(0, width - text.count)) + text
            }
            Swift.print("")
            Swift.print("partition  events  first seq  last seq       bytes")
            for p in partitions {
                Swift.print(pad(p.partition, 9) + pad(p.events, 8) + pad(p.firstSequenceNumber.map { "\($0)" } ?? "-", 11)
                            + pad(p.lastSequenceNumber.map { "\($0)" } ?? "-", 10) + pad(p.bytes, 12))
            }
            let total = partitions.reduce(0) { $0 + $1.events }
            let bytes = partitions.reduce(0) { $0 + $1.bytes }
            Swift.print(pad("total", 9) + pad(total, 8) + pad("", 21) + pad(bytes, 12))
            Swift.print("")
            Swift.print("published \(published) events in \(format(publishSeconds)) s: \(Int(Double(published) / max(publishSeconds, 1e-9))) events/s")
            Swift.print("consumed  \(total) events in \(format(consumeSeconds)) s: \(Int(Double(total) / max(consumeSeconds, 1e-9))) events/s")
            if total != published { Swift.print("MISMATCH: \(published - total) events missing") }
        }

        /// The report for scripts: totals, rates and one object per partition.
        func json(debugBuild: Bool) -> String {
            let total = partitions.reduce(0) { $0 + $1.events }
            func number(_ n: some BinaryInteger) -> JSON { .number(String(n)) }
            func rate(_ count: Int, _ seconds: Double) -> JSON { number(Int(Double(count) / max(seconds, 1e-9))) }
            return JSON.object([
                ("published", number(published)),
                ("consumed", number(total)),
                ("publish_seconds", .number(format(publishSeconds))),
                ("consume_seconds", .number(format(consumeSeconds))),
                ("published_per_second", rate(published, publishSeconds)),
                ("consumed_per_second", rate(total, consumeSeconds)),
                ("debug_build", .bool(debugBuild)),
                ("partitions", .array(partitions.map { p in
                    .object([
                        ("partition", number(p.partition)),
                        ("events", number(p.events)),
                        ("first_sequence_number", p.firstSequenceNumber.map(number) ?? .null),
                        ("last_sequence_number", p.lastSequenceNumber.map(number) ?? .null),
                        ("bytes", number(p.bytes)),
                    ])
                })),
            ]).serialized
        }

        func format(_ seconds: Double) -> String {
            let hundredths = Int((seconds * 100).rounded())
            return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
        }
    }

    func run() async throws -> Report {
        var options = EventHubsClientOptions()
        // PLAIN with the emulator's key; the client allows it without TLS only because this is a
        // development emulator on loopback.
        options.authorization = .saslPlain
        let client = try EventHubsClient(connectionString: connectionString, eventHubName: "demo", options: options)
        do {
            let report = try await run(client)
            await client.close()
            return report
        } catch {
            await client.close()
            throw error
        }
    }

    private func run(_ client: EventHubsClient) async throws -> Report {
        let producer = client.makeProducer()
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
        let start = ContinuousClock.now
        // Enqueued in order from this task, all in flight together; then every answer awaited.
        var pending: [PendingSend] = []
        pending.reserveCapacity(events)
        for i in 0..<events {
            var event = EventData(body: body, contentType: "application/octet-stream", messageID: AMQPUUID.random().uuidString,
                                  properties: ["index": .long(Int64(i))])
            event.message.properties?.groupID = "demo"
            pending.append(try await producer.enqueue(event, options: .partitionKey("device-\(i % keyCount)")))
        }
        for send in pending { try await send.accepted() }
        let published = ContinuousClock.now - start
        await producer.close()

        let consumeStart = ContinuousClock.now
        var expected = 0
        for id in try await client.partitionIDs() {
            let partition = try await client.partitionProperties(partitionID: id)
            if !partition.isEmpty { expected += Int(partition.lastEnqueuedSequenceNumber - partition.beginningSequenceNumber + 1) }
        }
        var reports = (0..<partitions).map { PartitionReport(partition: $0) }
        let all = try await client.receiveFromAllPartitions(startingAt: .earliest, options: PartitionReceiverOptions(prefetchCount: 300))
        var received = 0
        while received < expected, let event = try await all.receive() {
            received += 1
            guard let index = Int(event.partitionID), reports.indices.contains(index) else { continue }
            reports[index].events += 1
            if reports[index].firstSequenceNumber == nil { reports[index].firstSequenceNumber = event.sequenceNumber }
            reports[index].lastSequenceNumber = event.sequenceNumber
            reports[index].bytes += event.body.count
        }
        let consumed = ContinuousClock.now - consumeStart
        await all.close()
        return Report(published: events, publishSeconds: published.seconds, consumeSeconds: consumed.seconds, partitions: reports)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
