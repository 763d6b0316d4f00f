import AMQPCodec
@testable import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPMessage
import AMQPTypes
import Foundation
import Testing

@Suite("Producer", .serialized, .timeLimit(.minutes(3)))
struct ProducerTests {
    @Test("one event with body, content type, ids and properties arrives intact")
    func singleEvent() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            let event = EventData(body: [0, 1, 2, 255], contentType: "application/octet-stream", correlationID: "corr-1", messageID: "msg-1",
                                  properties: ["tenant": "contoso", "attempt": .long(3), "urgent": true])
            try await producer.send(event, options: .partition("2"))
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 2) == 1)
            let received = try await take(1, from: client.makePartitionReceiver(partitionID: "2", startingAt: .earliest))
            let got = try #require(received.first)
            #expect(got.body == [0, 1, 2, 255])
            #expect(got.contentType == "application/octet-stream")
            #expect(got.correlationID == "corr-1")
            #expect(got.messageID == "msg-1")
            #expect(got.properties == ["tenant": "contoso", "attempt": .long(3), "urgent": true])
            #expect(got.partitionID == "2")
            #expect(got.sequenceNumber == 0)
            #expect(got.offset == "0")
            #expect(abs(got.enqueuedTime.timeIntervalSinceNow) < 60)
            #expect(got.eventData == event)
            await producer.close()
        }
    }

    @Test("a list of events goes as one batch envelope; a key keeps them in one partition, in order")
    func batchWithKey() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            let events = (0..<20).map { EventData("k-\($0)") }
            try await producer.send(events, options: .partitionKey("customer-7"))
            let counts = (0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }
            #expect(counts.reduce(0, +) == 20)
            let partition = try #require(counts.firstIndex(of: 20))
            let received = try await take(20, from: client.makePartitionReceiver(partitionID: "\(partition)", startingAt: .earliest))
            #expect(received.map(\.text) == (0..<20).map { "k-\($0)" })
            #expect(received.allSatisfy { $0.partitionKey == "customer-7" })
            #expect(received.map(\.sequenceNumber) == Array(0..<20))
        }
    }

    @Test("without a target the service spreads sends over the partitions")
    func serviceChosen() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            for i in 0..<8 { try await producer.send(EventData("e-\(i)")) }
            #expect((0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) } == [2, 2, 2, 2])
        }
    }

    @Test("tryAdd fills a batch to the link's max-message-size and says when it is full")
    func batchFull() async throws {
        try await withEmulator(configure: { $0.maxMessageSize = 4096 }) { fixture, client in
            let producer = client.makeProducer()
            var batch = try await producer.makeBatch(options: .partition("1"))
            #expect(batch.maximumSizeInBytes == 4096)
            let event = EventData(body: [UInt8](repeating: 7, count: 300))
            var added = 0
            while batch.tryAdd(event) { added += 1 }
            #expect(added > 5 && added < 14)
            #expect(batch.count == added)
            #expect(batch.sizeInBytes <= 4096)
            try await producer.send(batch)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 1) == added)

            // A smaller limit of our own; an event too large for any batch.
            var small = try await producer.makeBatch(maximumSizeInBytes: 400)
            let first = small.tryAdd(event)
            let second = small.tryAdd(event)
            #expect(first && !second)
            var empty = try await producer.makeBatch()
            let huge = empty.tryAdd(EventData(body: [UInt8](repeating: 1, count: 5000)))
            #expect(!huge)
            #expect(empty.count == 0)
        }
    }

    @Test("an event over max-message-size fails with messageTooLarge, without retrying")
    func tooLarge() async throws {
        try await withEmulator(configure: { $0.maxMessageSize = 2048 }) { fixture, client in
            let producer = client.makeProducer()
            let single = await eventHubsError { try await producer.send(EventData(body: [UInt8](repeating: 1, count: 4000))) }
            #expect(single?.kind == .messageTooLarge)
            #expect(single?.isTransient == false)
            let many = await eventHubsError { try await producer.send((0..<10).map { _ in EventData(body: [UInt8](repeating: 1, count: 500)) }) }
            #expect(many?.kind == .messageTooLarge)
        }
    }

    @Test("a partition id and a key together, or a bad id, are refused before anything is sent")
    func badOptions() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            await #expect(throws: EventHubsError.self) { try await producer.send(EventData("x"), options: .init(partitionID: "0", partitionKey: "k")) }
            await #expect(throws: EventHubsError.self) { try await producer.send(EventData("x"), options: .partition("a/b")) }
            let error = await eventHubsError { try await producer.send(EventData("x"), options: .partition("9")) }
            #expect(error?.kind == .notFound)
            #expect(error?.condition == "amqp:not-found")
        }
    }

    @Test("many sends in flight on one link from concurrent tasks")
    func concurrentSends() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<500 {
                    group.addTask { try await producer.send(EventData("c-\(i)"), options: .partition("3")) }
                }
                try await group.waitForAll()
            }
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 3) == 500)
            let received = try await take(500, from: client.makePartitionReceiver(partitionID: "3", startingAt: .earliest))
            #expect(Set(received.map(\.text)) == Set((0..<500).map { "c-\($0)" }))
        }
    }

    @Test("enqueue: many in flight from one task, stored in the order enqueued")
    func enqueueInOrder() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            var pending: [PendingSend] = []
            for i in 0..<300 { pending.append(try await producer.enqueue(EventData("q-\(i)"), options: .partition("1"))) }
            for send in pending { try await send.accepted() }
            let received = try await take(300, from: client.makePartitionReceiver(partitionID: "1", startingAt: .earliest))
            #expect(received.map(\.text) == (0..<300).map { "q-\($0)" })
        }
    }

    @Test("enqueue: a busy answer to an enqueued event is retried by accepted()")
    func enqueueRetries() async throws {
        let rejections = Counter()
        try await withEmulator(configure: { configuration in
            configuration.publishFault = { _ in
                rejections.increment() <= 2 ? AMQPError(condition: .unknown("com.microsoft:server-busy"), description: "busy") : nil
            }
        }) { fixture, client in
            let producer = client.makeProducer()
            let pending = try await producer.enqueue(EventData("eventually"), options: .partition("0"))
            try await pending.accepted()
            #expect(rejections.value == 3)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 1)
        }
    }

    @Test("com.microsoft:server-busy is retried with backoff until the service accepts")
    func retriesServerBusy() async throws {
        let rejections = Counter()
        let failFirst = 2
        try await withEmulator(configure: { configuration in
            configuration.publishFault = { _ in
                rejections.increment() <= failFirst
                    ? AMQPError(condition: .unknown("com.microsoft:server-busy"), description: "busy, try later") : nil
            }
        }) { fixture, client in
            let producer = client.makeProducer()
            try await producer.send(EventData("persistent"), options: .partition("0"))
            #expect(rejections.value == failFirst + 1)
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 1)
        }
    }

    @Test("when the service stays busy, the typed error comes after the retries")
    func busyForever() async throws {
        let attempts = Counter()
        var options = EventHubsClientOptions.fastRetries
        options.retry.maxRetries = 2
        try await withEmulator(configure: { configuration in
            configuration.publishFault = { _ in
                attempts.increment()
                return AMQPError(condition: .unknown("com.microsoft:server-busy"), description: "busy")
            }
        }, options: options) { fixture, client in
            let producer = client.makeProducer()
            let error = await eventHubsError { try await producer.send(EventData("never")) }
            #expect(error?.kind == .serviceBusy)
            #expect(error?.condition == "com.microsoft:server-busy")
            #expect(error?.isTransient == true)
            #expect(attempts.value == 3)
            #expect((0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }.reduce(0, +) == 0)
        }
    }

    @Test("a condition that no retry fixes fails at once")
    func permanentFailure() async throws {
        let attempts = Counter()
        try await withEmulator(configure: { configuration in
            configuration.publishFault = { _ in
                attempts.increment()
                return AMQPError(condition: .unknown("com.microsoft:argument-error"), description: "bad event")
            }
        }) { fixture, client in
            let error = await eventHubsError { try await client.makeProducer().send(EventData("x")) }
            #expect(error?.kind == .invalidArgument)
            #expect(error?.isTransient == false)
            #expect(attempts.value == 1)
        }
    }

    @Test("a hub that does not exist is notFound")
    func unknownHub() async throws {
        let fixture = try await EmulatorFixture.start()
        var cs = fixture.connectionString()
        cs.eventHubName = "nope"
        let client = try EventHubsClient(connectionString: cs, options: .fastRetries)
        let error = await eventHubsError { try await client.makeProducer().send(EventData("x")) }
        #expect(error?.kind == .notFound)
        await client.close()
        try await fixture.stop()
    }

    @Test("a batch's tracked size is exactly the envelope's encoded size")
    func batchSizeIsExact() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            for key in [nil, "k"] as [String?] {
                var batch = try await producer.makeBatch(options: SendEventOptions(partitionKey: key))
                for size in [0, 10, 200, 250, 256, 1000, 70_000] {
                    let added = batch.tryAdd(EventData(body: [UInt8](repeating: 3, count: size), properties: ["n": .long(Int64(size))]))
                    #expect(added)
                }
                #expect(batch.sizeInBytes == batch.envelope.count)
            }
        }
    }
}
