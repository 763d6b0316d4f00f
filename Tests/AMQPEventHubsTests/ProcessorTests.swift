import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation
import NIOConcurrencyHelpers
import Testing

/// What processors handled: (processor, partition, body) in order.
final class Processed: Sendable {
    private let box = NIOLockedValueBox<[(String, String, String)]>([])
    func add(_ processor: String, _ event: ReceivedEventData) {
        box.withLockedValue { $0.append((processor, event.partitionID, event.text)) }
    }
    var all: [(processor: String, partition: String, body: String)] { box.withLockedValue { $0.map { ($0.0, $0.1, $0.2) } } }
    var bodies: Set<String> { Set(all.map(\.body)) }
}

@Suite("Event processor", .serialized, .timeLimit(.minutes(3)))
struct ProcessorTests {
    static func options(_ name: String) -> EventProcessor.Options {
        EventProcessor.Options(loadBalancingInterval: .milliseconds(200), ownershipExpiration: .seconds(3), identifier: name)
    }

    func processor(_ name: String, _ client: EventHubsClient, _ store: any CheckpointStore, _ processed: Processed,
                   checkpoint: Bool = true) -> EventProcessor {
        EventProcessor(client: client, checkpointStore: store, options: Self.options(name)) { event, context in
            processed.add(name, event)
            if checkpoint { try await context.updateCheckpoint(event) }
        }
    }

    func publish(_ client: EventHubsClient, _ prefix: String, perPartition: Int) async throws {
        let producer = client.makeProducer()
        for p in 0..<4 {
            try await producer.send((0..<perPartition).map { EventData("\(prefix)-\(p)-\($0)") }, options: .partition("\(p)"))
        }
    }

    func expected(_ prefix: String, perPartition: Int) -> Set<String> {
        Set((0..<4).flatMap { p in (0..<perPartition).map { "\(prefix)-\(p)-\($0)" } })
    }

    @Test("two processors split the partitions; when one stops, the other takes them all over")
    func splitAndRebalance() async throws {
        try await withEmulator { fixture, client in
            let store = InMemoryCheckpointStore()
            let processed = Processed()
            let a = processor("A", client, store, processed)
            let runA = Task { try await a.run() }
            try await eventually(timeout: .seconds(60), "A owns every partition") { a.ownedPartitionIDs.count == 4 }

            let otherClient = try fixture.client()
            let b = processor("B", otherClient, store, processed)
            let runB = Task { try await b.run() }
            try await eventually(timeout: .seconds(60), "A and B own two partitions each") {
                a.ownedPartitionIDs.count == 2 && b.ownedPartitionIDs.count == 2
            }
            #expect(a.ownedPartitionIDs.isDisjoint(with: b.ownedPartitionIDs))

            try await publish(client, "split", perPartition: 5)
            try await eventually(timeout: .seconds(60), "every event processed") { processed.bodies.isSuperset(of: expected("split", perPartition: 5)) }
            for (processor, partition, body) in processed.all where body.hasPrefix("split") {
                let owner = processor == "A" ? a.ownedPartitionIDs : b.ownedPartitionIDs
                #expect(owner.contains(partition), "\(body) was processed by \(processor), which does not own \(partition)")
            }

            try await eventually(timeout: .seconds(60), "every partition checkpointed at its fifth event") {
                let checkpoints = await store.listCheckpoints(
                    fullyQualifiedNamespace: client.endpoint.checkpointNamespace, eventHubName: "eh1", consumerGroup: "$Default")
                return checkpoints.count == 4 && checkpoints.allSatisfy { $0.sequenceNumber == 4 }
            }

            a.stop()
            try await runA.value
            #expect(a.ownedPartitionIDs.isEmpty)
            try await eventually(timeout: .seconds(60), "B owns every partition") { b.ownedPartitionIDs.count == 4 }
            try await publish(client, "after", perPartition: 3)
            try await eventually(timeout: .seconds(60), "B processes every partition") { processed.bodies.isSuperset(of: expected("after", perPartition: 3)) }
            #expect(processed.all.filter { $0.body.hasPrefix("after") }.allSatisfy { $0.processor == "B" })
            // Checkpoints were saved: nothing was read twice after the hand-over.
            #expect(processed.all.filter { $0.body.hasPrefix("split") }.count == 20)
            b.stop()
            try await runB.value
            await otherClient.close()
        }
    }

    @Test("a processor that stops renewing (crashed) loses its partitions once its claims expire")
    func expiredOwnership() async throws {
        try await withEmulator { fixture, client in
            let store = InMemoryCheckpointStore()
            // A dead processor's claims on half the partitions: its fair share while fresh.
            let stale = (0..<2).map {
                PartitionOwnership(fullyQualifiedNamespace: client.endpoint.checkpointNamespace, eventHubName: "eh1",
                                   consumerGroup: "$Default", partitionID: "\($0)", ownerID: "crashed")
            }
            #expect(await store.claimOwnership(stale).count == 2)
            let claimed = ContinuousClock.now
            let processed = Processed()
            let b = processor("B", client, store, processed)
            let run = Task { try await b.run() }
            try await eventually(timeout: .seconds(60), "B claims the partitions nobody holds") { b.ownedPartitionIDs.count >= 2 }
            // Judged only while the crashed claims are fresh: on a machine slow enough for them to
            // have expired already, taking them would be right.
            if ContinuousClock.now - claimed < Self.options("B").ownershipExpiration - .milliseconds(500) {
                #expect(Set(b.ownedPartitionIDs) == ["2", "3"], "the other claims are still fresh")
            }
            try await eventually(timeout: .seconds(60), "B takes the expired partitions") { b.ownedPartitionIDs.count == 4 }
            b.stop()
            try await run.value
        }
    }

    @Test("after a restart, processing resumes after the last checkpoint (file store)")
    func resumeFromCheckpoint() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eh-checkpoints-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withEmulator { fixture, client in
            try await publish(client, "first", perPartition: 4)
            let processed = Processed()
            let one = processor("one", client, try FileCheckpointStore(directory: directory), processed)
            let run = Task { try await one.run() }
            try await eventually(timeout: .seconds(60), "first events processed") { processed.bodies.isSuperset(of: expected("first", perPartition: 4)) }
            one.stop()
            try await run.value

            try await publish(client, "second", perPartition: 2)
            let again = Processed()
            // A new store object on the same directory: what a restarted process sees.
            let two = processor("two", client, try FileCheckpointStore(directory: directory), again)
            let rerun = Task { try await two.run() }
            try await eventually(timeout: .seconds(60), "second events processed") { again.bodies.isSuperset(of: expected("second", perPartition: 2)) }
            try await Task.sleep(for: .milliseconds(500))
            #expect(again.bodies == expected("second", perPartition: 2), "only events after the checkpoints")
            two.stop()
            try await rerun.value
        }
    }

    @Test("checkpoints are the caller's: without them a restart processes from the start again")
    func noCheckpoint() async throws {
        try await withEmulator { fixture, client in
            try await publish(client, "x", perPartition: 2)
            let store = InMemoryCheckpointStore()
            let first = Processed()
            let one = processor("one", client, store, first, checkpoint: false)
            let run = Task { try await one.run() }
            try await eventually(timeout: .seconds(60), "processed") { first.bodies == expected("x", perPartition: 2) }
            one.stop()
            try await run.value
            #expect(await store.listCheckpoints(fullyQualifiedNamespace: client.endpoint.checkpointNamespace,
                                                    eventHubName: "eh1", consumerGroup: "$Default").isEmpty)
            let second = Processed()
            let two = processor("two", client, store, second, checkpoint: false)
            let rerun = Task { try await two.run() }
            try await eventually(timeout: .seconds(60), "processed again") { second.bodies == expected("x", perPartition: 2) }
            two.stop()
            try await rerun.value
        }
    }

    @Test("the file store's claims are optimistic: a stale etag loses")
    func fileStoreClaims() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eh-claims-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try FileCheckpointStore(directory: directory)
        let claim = PartitionOwnership(fullyQualifiedNamespace: "ns", eventHubName: "hub", consumerGroup: "$Default", partitionID: "0", ownerID: "a")
        let won = try await store.claimOwnership([claim])
        #expect(won.count == 1)
        let etag = try #require(won.first?.etag)
        var rival = claim
        rival.ownerID = "b"
        #expect(try await store.claimOwnership([rival]).isEmpty, "no etag, but a record exists")
        rival.etag = etag
        let stolen = try await store.claimOwnership([rival])
        #expect(stolen.first?.ownerID == "b")
        var late = claim
        late.etag = etag
        #expect(try await store.claimOwnership([late]).isEmpty, "a's etag is stale now")
        let reread = try FileCheckpointStore(directory: directory)
        #expect(try await reread.listOwnership(fullyQualifiedNamespace: "ns", eventHubName: "hub", consumerGroup: "$default").map(\.ownerID) == ["b"])
    }
}
