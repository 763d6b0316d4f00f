import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPMessage
import AMQPTransport
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

    func run() async throws {
        guard events > 0, size >= 0, partitions > 0, keyCount > 0 else { throw ValidationError("counts must be positive") }
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "demo", partitionCount: partitions)])
        configuration.healthPort = nil
        configuration.maxMessageSize = UInt64(max(1 << 20, size + 4096))
        let emulator = try await EventHubsEmulator.start(configuration)
        let connectionString = emulator.connectionString(eventHub: "demo")
        print("Embedded Event Hubs emulator on 127.0.0.1:\(emulator.port) (hub \"demo\", \(partitions) partitions)")
        print("Connection string: \(connectionString)")

        let report = try await DemoRun(connectionString: connectionString, events: events, size: size,
                                       partitions: partitions, keyCount: keyCount).run()
        try await emulator.stop()
        report.print()
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

        func format(_ seconds: Double) -> String {
            let hundredths = Int((seconds * 100).rounded())
            return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
        }
    }

    func options() -> AMQPConnectionOptions {
        var options = AMQPConnectionOptions(
            host: "127.0.0.1", port: connectionString.port ?? 5672,
            authentication: .plain(username: connectionString.sharedAccessKeyName ?? "", password: connectionString.sharedAccessKey ?? ""))
        // A development emulator on loopback: PLAIN without TLS is what it is for.
        options.allowsCleartextCredentials = true
        return options
    }

    func run() async throws -> Report {
        let hub = connectionString.eventHubName ?? "demo"
        let connection = try await AMQPConnection.connect(options())
        let sender = try await connection.openSender(to: hub)
        let body = Binary((0..<size).map { UInt8(truncatingIfNeeded: $0) })
        let start = ContinuousClock.now
        var pending: [PendingDelivery] = []
        pending.reserveCapacity(events)
        for i in 0..<events {
            let message = Message(
                messageAnnotations: MessageAnnotations([.symbol(EventHubsNames.partitionKey): .string("device-\(i % keyCount)")]),
                properties: Properties(messageID: .uuid(AMQPUUID.random()), contentType: "application/octet-stream", groupID: "demo"),
                applicationProperties: ApplicationProperties([.string("index"): .long(Int64(i))]),
                body: .data([DataSection(body)]))
            pending.append(try await sender.enqueue(message))
        }
        for p in pending {
            guard case .accepted = try await p.outcome() else { throw AMQPClientError(.rejected, detail: "the emulator did not accept an event") }
        }
        let published = ContinuousClock.now - start

        let consumeStart = ContinuousClock.now
        let reports = try await withThrowingTaskGroup(of: PartitionReport.self) { group in
            for partition in 0..<partitions {
                group.addTask {
                    try await self.consume(partition: partition, hub: hub, connection: connection)
                }
            }
            var all: [PartitionReport] = []
            for try await r in group { all.append(r) }
            return all.sorted { $0.partition < $1.partition }
        }
        let consumed = ContinuousClock.now - consumeStart
        try await connection.close()
        return Report(published: events, publishSeconds: published.seconds, consumeSeconds: consumed.seconds, partitions: reports)
    }

    /// Reads a partition from the start until a second passes without an event after the last
    /// published one has arrived.
    func consume(partition: Int, hub: String, connection: AMQPConnection) async throws -> PartitionReport {
        var source = Source(address: .string("\(hub)/ConsumerGroups/$Default/Partitions/\(partition)"))
        source.filter = AMQPMap([EventPosition.earliest.filterEntry])
        let receiver = try await connection.openReceiver(from: "\(hub)/ConsumerGroups/$Default/Partitions/\(partition)",
                                                         options: .init(credit: .prefetch(300), source: source))
        var report = PartitionReport(partition: partition)
        let expected = try await expectedCount(partition: partition, connection: connection, hub: hub)
        while report.events < expected, let delivery = try await receiver.receive() {
            report.events += 1
            if case .long(let sequence)? = delivery.message.messageAnnotations?.value[symbol: EventHubsNames.sequenceNumber] {
                if report.firstSequenceNumber == nil { report.firstSequenceNumber = sequence }
                report.lastSequenceNumber = sequence
            }
            report.bytes += delivery.payload.count
        }
        try await receiver.close()
        return report
    }

    /// The partition's event count, from `$management`.
    func expectedCount(partition: Int, connection: AMQPConnection, hub: String) async throws -> Int {
        let management = try await AMQPRequestResponseLink.attach(on: try await connection.openSession(), node: EventHubsNames.managementNode)
        let request = Message(applicationProperties: ApplicationProperties([
            .string(EventHubsNames.operation): .string(EventHubsNames.readOperation),
            .string(EventHubsNames.type): .string(EventHubsNames.partitionEntityType),
            .string(EventHubsNames.name): .string(hub),
            .string(EventHubsNames.partition): .string(String(partition)),
        ]))
        let reply = try await management.request(request)
        try await management.close()
        guard case .value(let section) = reply.body, case .map(let map) = section.value,
              case .long(let begin)? = map[.string(EventHubsNames.beginSequenceNumber)],
              case .long(let last)? = map[.string(EventHubsNames.lastEnqueuedSequenceNumberKey)]
        else { throw AMQPClientError(.decodeFailed, detail: "unexpected management reply") }
        return Int(last - begin + 1)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
