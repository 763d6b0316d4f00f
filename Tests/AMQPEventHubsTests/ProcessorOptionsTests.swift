@testable import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Testing

/// A generator with a fixed sequence, so that balancing decisions are repeatable.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}

@Suite("Partition load balancer (no I/O)")
struct LoadBalancerTests {
    let now = Date()
    let ids = ["0", "1", "2", "3", "4", "5", "6", "7"]

    func record(_ partition: String, _ owner: String, age: TimeInterval = 0) -> PartitionOwnership {
        PartitionOwnership(fullyQualifiedNamespace: "ns", eventHubName: "eh", consumerGroup: "$Default", partitionID: partition,
                           ownerID: owner, lastModified: now.addingTimeInterval(-age), etag: "e\(partition)")
    }

    func claims(_ me: String, _ strategy: LoadBalancingStrategy, _ records: [PartitionOwnership], seed: UInt64 = 1) -> [PartitionOwnership] {
        var random = SeededRandom(state: seed)
        let template = PartitionOwnership(fullyQualifiedNamespace: "ns", eventHubName: "eh", consumerGroup: "$Default", partitionID: "", ownerID: me)
        return PartitionLoadBalancer(ownerID: me, strategy: strategy, expiration: 30)
            .claims(records: records, partitionIDs: ids, template: template, now: now, random: &random)
    }

    @Test("balanced claims one partition per round; greedy claims its whole share at once")
    func strategies() {
        #expect(claims("a", .balanced, []).count == 1)
        #expect(claims("a", .greedy, []).count == 8, "alone, its share is everything")
        let b = (0..<4).map { record("\($0)", "b") }
        #expect(claims("a", .greedy, b).map(\.partitionID).sorted() == ["4", "5", "6", "7"])
        #expect(claims("a", .greedy, b).allSatisfy { $0.ownerID == "a" && $0.etag == nil }, "never-owned partitions have no ETag")
    }

    @Test("its own records are renewed every round, with the ETags they were read with")
    func renews() {
        let mine = [record("0", "a"), record("1", "a")]
        let others = (2..<8).map { record("\($0)", $0 % 2 == 0 ? "b" : "c") }
        let result = claims("a", .balanced, mine + others)
        #expect(Set(result.map(\.partitionID)).isSuperset(of: ["0", "1"]))
        #expect(result.first { $0.partitionID == "0" }?.etag == "e0")
    }

    @Test("at its share it only renews; above the share of others it steals one")
    func stealing() {
        // a: 4, b: 4 — balanced already.
        let even = (0..<8).map { record("\($0)", $0 < 4 ? "a" : "b") }
        #expect(claims("a", .balanced, even).count == 4)
        // b holds 7, a holds 1: max is 4, so a steals one of b's (with b's ETag).
        let skewed = [record("0", "a")] + (1..<8).map { record("\($0)", "b") }
        let result = claims("a", .balanced, skewed)
        #expect(result.count == 2)
        let stolen = result.first { $0.partitionID != "0" }
        #expect(stolen?.ownerID == "a" && stolen?.etag == "e\(stolen!.partitionID)")
    }

    @Test("expired and given-up records are free; an uneven split lets one owner hold one more")
    func freeRecords() {
        let records = [record("0", "b", age: 31), record("1", "", age: 0)] + (2..<8).map { record("\($0)", "b") }
        let result = claims("a", .greedy, records)
        #expect(Set(result.map(\.partitionID)).isSuperset(of: ["0", "1"]))
        // 3 owners, 8 partitions: max 3; c with 2 claims a third only when one is free or someone has more than 3.
        let split = (0..<3).map { record("\($0)", "a") } + (3..<6).map { record("\($0)", "b") } + (6..<8).map { record("\($0)", "c") }
        #expect(claims("c", .balanced, split).count == 2, "nobody above 3, nothing free")
        let expired = split.map { $0.partitionID == "0" ? record("0", "a", age: 40) : $0 }
        #expect(claims("c", .balanced, expired).map(\.partitionID).contains("0"))
    }
}

@Suite("Event processor options", .serialized, .timeLimit(.minutes(3)))
struct ProcessorOptionsTests {
    static func options(_ name: String, _ configure: (inout EventProcessor.Options) -> Void = { _ in }) -> EventProcessor.Options {
        var options = EventProcessor.Options(loadBalancingInterval: .milliseconds(200), ownershipExpiration: .seconds(3), identifier: name)
        configure(&options)
        return options
    }

    @Test("defaults are .NET's: 30 s expiry, 10 s interval, balanced, earliest, prefetch 300")
    func defaults() {
        let options = EventProcessor.Options()
        #expect(options.ownershipExpiration == .seconds(30) && options.loadBalancingInterval == .seconds(10))
        #expect(options.loadBalancingStrategy == .balanced && options.startingPosition == .earliest && options.prefetchCount == 300)
    }

    @Test("per-partition start positions apply without a checkpoint; the checkpoint wins when there is one")
    func startingPositions() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            for p in 0..<4 { try await producer.send((0..<5).map { EventData("s-\(p)-\($0)") }, options: .partition("\(p)")) }
            await producer.close()
            let store = InMemoryCheckpointStore()
            await store.updateCheckpoint(Checkpoint(fullyQualifiedNamespace: client.endpoint.checkpointNamespace, eventHubName: "eh1",
                                                        consumerGroup: "$Default", partitionID: "3", offset: nil, sequenceNumber: 1))
            let seen = NIOLockedValueBox<[String: [Int64]]>([:])
            let processor = EventProcessor(client: client, checkpointStore: store, options: Self.options("p") {
                $0.loadBalancingStrategy = .greedy
                $0.startingPosition = .latest
                $0.startingPositions = ["0": .earliest, "1": .sequenceNumber(2, inclusive: true), "3": .earliest]
            }) { event, _ in
                seen.withLockedValue { $0[event.partitionID, default: []].append(event.sequenceNumber) }
            }
            let run = Task { try await processor.run() }
            try await eventually(timeout: .seconds(60), "partitions 0, 1 and 3 read") {
                seen.withLockedValue { $0["0"]?.count == 5 && $0["1"]?.count == 3 && $0["3"]?.count == 3 }
            }
            try await Task.sleep(for: .milliseconds(300))
            let result = seen.withLockedValue { $0 }
            #expect(result["0"] == [0, 1, 2, 3, 4])
            #expect(result["1"] == [2, 3, 4])
            #expect(result["2"] == nil, "latest: nothing old")
            #expect(result["3"] == [2, 3, 4], "after the checkpoint, not from the earliest")
            processor.stop()
            try await run.value
        }
    }

    @Test("partition handlers: initialize before events, close with ownershipLost when another takes it, shutdown when stopping")
    func partitionHandlers() async throws {
        try await withEmulator { fixture, client in
            let store = InMemoryCheckpointStore()
            let log = NIOLockedValueBox<[String]>([])
            func processor(_ name: String, _ client: EventHubsClient) -> EventProcessor {
                EventProcessor(client: client, checkpointStore: store, options: Self.options(name) { $0.loadBalancingStrategy = .greedy },
                               partitionInitializing: { context in log.withLockedValue { $0.append("\(name) init \(context.partitionID)") } },
                               partitionClosing: { context, reason in
                                   log.withLockedValue { $0.append("\(name) close \(context.partitionID) \(reason == .shutdown ? "shutdown" : "lost")") }
                               }) { _, _ in }
            }
            let a = processor("A", client)
            let runA = Task { try await a.run() }
            try await eventually(timeout: .seconds(60), "A owns all") { a.ownedPartitionIDs.count == 4 }
            let other = try fixture.client()
            let b = processor("B", other)
            let runB = Task { try await b.run() }
            try await eventually(timeout: .seconds(60), "split") { a.ownedPartitionIDs.count == 2 && b.ownedPartitionIDs.count == 2 }
            try await eventually(timeout: .seconds(60), "A closed what B took") { log.withLockedValue { $0.filter { $0.hasPrefix("A close") }.count == 2 } }
            #expect(log.withLockedValue { $0.filter { $0.hasPrefix("A close") }.allSatisfy { $0.hasSuffix("lost") } })
            b.stop()
            try await runB.value
            #expect(log.withLockedValue { $0.filter { $0.hasPrefix("B close") } }.allSatisfy { $0.hasSuffix("shutdown") })
            #expect(log.withLockedValue { $0.filter { $0.hasPrefix("B close") }.count } == 2)
            try await eventually(timeout: .seconds(60), "A takes back what B gave up") { a.ownedPartitionIDs.count == 4 }
            a.stop()
            try await runA.value
            let entries = log.withLockedValue { $0 }
            for partition in 0..<4 {
                let mine = entries.filter { $0.hasPrefix("A") && $0.hasSuffix(" \(partition)") || $0.contains("A init \(partition)") || $0.contains("A close \(partition) ") }
                #expect(mine.first?.contains("init") == true, "\(partition): \(mine)")
            }
            await other.close()
        }
    }

    @Test("the batch handler gets up to maxBatchSize events, and empty batches every maxWaitTime without events")
    func batches() async throws {
        try await withEmulator(hubs: [.init(name: "eh1", partitionCount: 1)]) { fixture, client in
            let producer = client.makeProducer()
            try await producer.send((0..<25).map { EventData("b-\($0)") }, options: .partition("0"))
            let sizes = NIOLockedValueBox<[Int]>([])
            let processor = EventProcessor(client: client, checkpointStore: InMemoryCheckpointStore(), options: Self.options("batch") {
                $0.maxBatchSize = 10
                $0.maxWaitTime = .milliseconds(100)
            }, processBatch: { batch in
                sizes.withLockedValue { $0.append(batch.events.count) }
                try await batch.updateCheckpoint()
            })
            let run = Task { try await processor.run() }
            try await eventually(timeout: .seconds(60), "25 events and then empty batches") {
                sizes.withLockedValue { $0.reduce(0, +) == 25 && ($0.last ?? 1) == 0 }
            }
            #expect(sizes.withLockedValue { $0 }.allSatisfy { $0 <= 10 })
            try await producer.send(EventData("late"), options: .partition("0"))
            try await eventually(timeout: .seconds(60), "the late event arrives on its own") { sizes.withLockedValue { $0.reduce(0, +) } == 26 }
            processor.stop()
            try await run.value
            await producer.close()
        }
    }

    @Test("in a ServiceGroup, graceful shutdown lets the handler finish and checkpoint, then gives the claims up")
    func gracefulShutdown() async throws {
        try await withEmulator(hubs: [.init(name: "eh1", partitionCount: 1)]) { fixture, client in
            let store = InMemoryCheckpointStore()
            let entered = NIOLockedValueBox(false)
            let processor = EventProcessor(client: client, checkpointStore: store, options: Self.options("svc")) { event, context in
                entered.withLockedValue { $0 = true }
                try await Task.sleep(for: .milliseconds(500))  // shutdown arrives while this runs
                try await context.updateCheckpoint(event)
            }
            let group = ServiceGroup(services: [processor], logger: .init(label: "test"))
            let run = Task { try await group.run() }
            try await eventually(timeout: .seconds(60), "owns the partition") { processor.ownedPartitionIDs == ["0"] }
            try await client.makeProducer().send(EventData("one"), options: .partition("0"))
            try await eventually(timeout: .seconds(60), "handler running") { entered.withLockedValue { $0 } }
            await group.triggerGracefulShutdown()
            try await run.value
            let checkpoints = await store.listCheckpoints(fullyQualifiedNamespace: client.endpoint.checkpointNamespace,
                                                              eventHubName: "eh1", consumerGroup: "$Default")
            #expect(checkpoints.map(\.sequenceNumber) == [0], "the event in hand was finished and checkpointed")
            let ownership = await store.listOwnership(fullyQualifiedNamespace: client.endpoint.checkpointNamespace,
                                                          eventHubName: "eh1", consumerGroup: "$Default")
            #expect(ownership.map(\.ownerID) == [""], "given up")
        }
    }
}
