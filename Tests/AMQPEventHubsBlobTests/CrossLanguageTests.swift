import AMQPBlobStorage
import AMQPEventHubs
import AMQPEventHubsBlobCheckpointStore
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import NIOConcurrencyHelpers
import Testing

/// What one processor (a Python process or one of ours) did, in order.
struct ProcessorRecord {
    var events: [(partition: String, sequence: Int64, body: String)] = []
    var lastCheckpoint: [String: Int64] = [:]
    var owned: Set<String> = []
}

extension ProcessorRecord {
    /// Reads a `blob-sdk.py process` output.
    init(pythonOutput: String) {
        for line in jsonLines(pythonOutput) {
            if let event = line["event"] as? [String: Any], let p = event["partition"] as? String, let s = event["sequence_number"] as? Int,
               let body = event["body"] as? String {
                events.append((p, Int64(s), body))
            } else if let checkpoint = line["checkpoint"] as? [String: Any], let p = checkpoint["partition"] as? String,
                      let s = checkpoint["sequence_number"] as? Int {
                lastCheckpoint[p] = Int64(s)
            } else if let p = line["claimed"] as? String {
                owned.insert(p)
            } else if let p = line["closed"] as? String {
                owned.remove(p)
            }
        }
    }
}

/// Our processor's side of the same record.
final class SwiftProcessorLog: Sendable {
    private let box = NIOLockedValueBox(ProcessorRecord())
    var record: ProcessorRecord { box.withLockedValue { $0 } }
    func event(_ e: ReceivedEventData) { box.withLockedValue { $0.events.append((e.partitionID, e.sequenceNumber, e.text)) } }
    func checkpoint(_ e: ReceivedEventData) { box.withLockedValue { $0.lastCheckpoint[e.partitionID] = e.sequenceNumber } }
}

/// Checks a hand-over: every event was processed, and an event processed by both the first and
/// the second owner of its partition lies after the first owner's last checkpoint there.
/// Returns the number of duplicates.
func checkHandover(first: ProcessorRecord, second: ProcessorRecord, expected: Set<String>, alsoProcessed: [String] = []) -> Int {
    let seen = Set(first.events.map(\.body) + second.events.map(\.body) + alsoProcessed)
    #expect(seen.isSuperset(of: expected), "lost: \(expected.subtracting(seen).sorted().prefix(10))")
    let firstKeys = Set(first.events.map { "\($0.partition)/\($0.sequence)" })
    var duplicates = 0
    for event in second.events where firstKeys.contains("\(event.partition)/\(event.sequence)") {
        duplicates += 1
        let checkpoint = first.lastCheckpoint[event.partition] ?? -1
        #expect(event.sequence > checkpoint,
                "\(event.body) was processed again although the first owner checkpointed partition \(event.partition) at \(checkpoint)")
    }
    return duplicates
}

@Suite("Processors of two languages on one consumer group", .serialized, .timeLimit(.minutes(8)))
struct CrossLanguageTests {
    static let interval = 1.0, expiration = 10.0

    func expected(_ prefix: String, _ perPartition: Int) -> Set<String> {
        Set((0..<4).flatMap { p in (0..<perPartition).map { "\(prefix)-\(p)-\($0)" } })
    }

    func swiftProcessor(_ client: EventHubsClient, _ store: BlobCheckpointStore, _ log: SwiftProcessorLog, every: Int) -> EventProcessor {
        let counts = NIOLockedValueBox<[String: Int]>([:])
        return EventProcessor(client: client, checkpointStore: store,
                              options: .init(loadBalancingInterval: .milliseconds(Int64(Self.interval * 1000)),
                                             ownershipExpiration: .milliseconds(Int64(Self.expiration * 1000)), identifier: "swift")) { event, context in
            log.event(event)
            let n = counts.withLockedValue { c -> Int in
                c[event.partitionID, default: 0] += 1
                return c[event.partitionID]!
            }
            if n % every == 0 {
                try await context.updateCheckpoint(event)
                log.checkpoint(event)
            }
        }
    }

    func python(_ fixture: BlobFixture) throws -> ExternalProcess {
        try BlobSDK.start(["process", fixture.eventHubsConnectionString, fixture.storage.text, "checkpoints",
                           "--interval", "\(Self.interval)", "--expiration", "\(Self.expiration)", "--checkpoint-every", "1"])
    }

    @Test("Python's EventHubConsumerClient with its BlobCheckpointStore and our EventProcessor with ours split the partitions, and each takes over from the other's checkpoints")
    func pythonAndSwift() async throws {
        try await withBlobEmulator { fixture in
            let store = try fixture.store()
            try await store.createContainerIfNotExists()
            let client = try fixture.client()
            try await publish(client, "before", perPartition: 10)

            // Phase 1: both run; each holds some partitions within a few balancing intervals.
            let pythonOne = try python(fixture)
            let swiftLog = SwiftProcessorLog()
            let processor = swiftProcessor(client, store, swiftLog, every: 3)
            let run = Task { try await processor.run() }
            try await eventually(timeout: .seconds(60), "both hold partitions, all four held, none twice") {
                let py = ProcessorRecord(pythonOutput: pythonOne.output).owned
                let sw = processor.ownedPartitionIDs
                return !py.isEmpty && !sw.isEmpty && py.isDisjoint(with: sw) && py.union(sw).count == 4
            }
            let pythonShare = ProcessorRecord(pythonOutput: pythonOne.output).owned
            let swiftShare = processor.ownedPartitionIDs
            try await publish(client, "during", perPartition: 10)
            try await eventually(timeout: .seconds(60), "every event so far processed") {
                let all = Set(ProcessorRecord(pythonOutput: pythonOne.output).events.map(\.body) + swiftLog.record.events.map(\.body))
                return all.isSuperset(of: expected("before", 10).union(expected("during", 10)))
            }
            // Both process while they share the group. (Which partitions each reads may still shift
            // on a loaded machine, when a renewal comes late and a claim expires.)
            let pythonDuring = ProcessorRecord(pythonOutput: pythonOne.output).events.filter { $0.body.hasPrefix("during") }
            let swiftDuring = swiftLog.record.events.filter { $0.body.hasPrefix("during") }
            #expect(!pythonDuring.isEmpty && !swiftDuring.isEmpty)
            let pythonInShare = pythonDuring.filter { pythonShare.contains($0.partition) }.count
            let swiftInShare = swiftDuring.filter { swiftShare.contains($0.partition) }.count
            #expect(pythonInShare > 0 && swiftInShare > 0)

            // Phase 2: Python stops; we take its partitions and resume after its checkpoints.
            try await terminate(pythonOne)
            let first = ProcessorRecord(pythonOutput: pythonOne.output)
            let swiftBefore = swiftLog.record.events.count
            try await eventually(timeout: .seconds(60), "ours holds all four") { processor.ownedPartitionIDs.count == 4 }
            try await publish(client, "after", perPartition: 10)
            try await eventually(timeout: .seconds(60), "every 'after' event processed by ours") {
                Set(swiftLog.record.events.map(\.body)).isSuperset(of: expected("after", 10))
            }
            var second = swiftLog.record
            second.events = Array(second.events.dropFirst(swiftBefore))
            let duplicatesOne = checkHandover(first: first, second: second,
                                              expected: expected("before", 10).union(expected("during", 10)).union(expected("after", 10)),
                                              alsoProcessed: swiftLog.record.events.prefix(swiftBefore).map(\.body))

            // Phase 3: a new Python processor joins, ours stops; Python resumes after our checkpoints.
            let pythonTwo = try python(fixture)
            try await eventually(timeout: .seconds(60), "the new Python processor holds partitions") {
                !ProcessorRecord(pythonOutput: pythonTwo.output).owned.isEmpty
            }
            processor.stop()
            try await run.value
            let ours = swiftLog.record
            try await eventually(timeout: .seconds(60), "Python holds all four") { ProcessorRecord(pythonOutput: pythonTwo.output).owned.count == 4 }
            try await publish(client, "final", perPartition: 10)
            try await eventually(timeout: .seconds(60), "every 'final' event processed by Python") {
                Set(ProcessorRecord(pythonOutput: pythonTwo.output).events.map(\.body)).isSuperset(of: expected("final", 10))
            }
            try await terminate(pythonTwo)
            let third = ProcessorRecord(pythonOutput: pythonTwo.output)
            let duplicatesTwo = checkHandover(first: ours, second: third, expected: expected("final", 10))
            print("hand-over duplicates: Python → ours \(duplicatesOne), ours → Python \(duplicatesTwo)")
            // Ours checkpointed every third event, so at most two per partition come again (Python every event: at most one).
            #expect(duplicatesOne <= 4, "Python → ours: \(duplicatesOne) duplicates")
            #expect(duplicatesTwo <= 8, "ours → Python: \(duplicatesTwo) duplicates")
            await client.close()
        }
    }

    @Test("two `amqp eventhubs process` processes split the partitions; when one stops, the other takes them and loses nothing")
    func twoCommandLineProcessors() async throws {
        try await withBlobEmulator { fixture in
            let amqp = try TestPaths.builtProduct("amqp")
            let client = try fixture.client()
            func start(_ name: String) throws -> ExternalProcess {
                try ExternalProcess(amqp, ["eventhubs", "process", "--connection-string", fixture.eventHubsConnectionString,
                                           "--checkpoint-store", "blob:" + fixture.storage.text, "--create-checkpoint-container",
                                           "--balancing-interval", "1", "--ownership-expiration", "6", "--identifier", name, "--json"],
                                    name: name)
            }
            func owned(_ process: ExternalProcess) -> Set<String> {
                var owned = Set<String>()
                for line in process.errorOutput.split(separator: "\n") {
                    if line.hasPrefix("claimed partition ") { owned.insert(String(line.dropFirst("claimed partition ".count))) }
                    if line.hasPrefix("released partition ") { owned.remove(String(line.dropFirst("released partition ".count).split(separator: " ")[0])) }
                }
                return owned
            }
            func bodies(_ process: ExternalProcess) -> [String] { jsonLines(process.output).compactMap { $0["body"] as? String } }
            let one = try start("one")
            let two = try start("two")
            try await eventually(timeout: .seconds(60), "both hold two partitions") {
                owned(one).count == 2 && owned(two).count == 2 && owned(one).isDisjoint(with: owned(two))
            }
            // Published once the split holds, so that no partition changes hands with events in flight.
            try await publish(client, "cli", perPartition: 5)
            try await eventually(timeout: .seconds(30), "every event processed") {
                Set(bodies(one) + bodies(two)).isSuperset(of: expected("cli", 5))
            }
            let line = try #require(jsonLines(one.output).first)
            #expect(Set(line.keys) == ["partition", "sequence_number", "offset", "enqueued_time", "partition_key", "message_id", "correlation_id", "content_type", "properties", "body"])
            try await terminate(one)
            #expect(one.exitStatus == 0, "a graceful stop: \(one.errorOutput.suffix(500))")
            #expect(one.errorOutput.contains("(shutdown)"))
            try await eventually(timeout: .seconds(60), "the other holds all four") { owned(two).count == 4 }
            try await publish(client, "late", perPartition: 5)
            try await eventually(timeout: .seconds(30), "the late events processed by the survivor") {
                Set(bodies(two)).isSuperset(of: expected("late", 5))
            }
            // Each checkpointed every event: the survivor read nothing the first had processed.
            #expect(Set(bodies(one)).isDisjoint(with: Set(bodies(two))), "duplicates: \(Set(bodies(one)).intersection(bodies(two)).sorted())")
            try await terminate(two)
            await client.close()
        }
    }
}
