import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import Testing

/// Our client and Microsoft's Python SDK (azure-eventhub 5.15.1, unpatched) through the
/// emulator, both ways.
@Suite("Interop with Microsoft's azure-eventhub SDK", .serialized, .timeLimit(.minutes(5)))
struct MicrosoftSDKInteropTests {
    func integer(_ value: AMQPValue?) -> Int64? {
        switch value {
        case .long(let v)?: return v
        case .int(let v)?: return Int64(v)
        case .short(let v)?: return Int64(v)
        case .byte(let v)?: return Int64(v)
        default: return nil
        }
    }

    @Test("events our producer sends (batch with a key, single events to a partition) are received by azure-eventhub intact")
    func oursToPython() async throws {
        try await withEmulator { fixture, client in
            let producer = client.makeProducer()
            let batch = (0..<12).map { i in
                EventData("ours-\(i)", contentType: "text/plain", properties: ["i": .long(Int64(i)), "origin": "swift", "even": .boolean(i % 2 == 0)])
            }
            var withIDs = batch
            for i in withIDs.indices {
                withIDs[i].correlationID = "corr-\(i)"
                withIDs[i].messageID = "ours-id-\(i)"
            }
            try await producer.send(withIDs, options: .partitionKey("sensor-3"))
            let counts = (0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }
            let partition = try #require(counts.firstIndex(of: 12))
            for i in 0..<3 { try await producer.send(EventData("single-\(i)", properties: ["n": .long(Int64(i))]), options: .partition("\(partition)")) }

            let cs = fixture.connectionString().text
            let result = try await EventHubsSDK.run(["receive", cs, "--partition", "\(partition)", "--count", "15"])
            let events = result["events"] as? [[String: Any]] ?? []
            #expect((result["errors"] as? [String] ?? []).isEmpty, "\(result["errors"] ?? "")")
            #expect(events.compactMap { $0["body"] as? String } == (0..<12).map { "ours-\($0)" } + (0..<3).map { "single-\($0)" })
            #expect(events.map { $0["sequence_number"] as? Int } == (0..<15).map { $0 })
            for (i, event) in events.prefix(12).enumerated() {
                #expect(event["partition_key"] as? String == "sensor-3")
                #expect(event["content_type"] as? String == "text/plain")
                #expect(event["correlation_id"] as? String == "corr-\(i)")
                #expect(event["message_id"] as? String == "ours-id-\(i)")
                let properties = event["properties"] as? [String: Any] ?? [:]
                #expect(properties["i"] as? Int == i)
                #expect(properties["origin"] as? String == "swift")
                #expect(properties["even"] as? Bool == (i % 2 == 0))
            }
            #expect((events.last?["properties"] as? [String: Any])?["n"] as? Int == 2)
            #expect(events.last?["partition_key"] is NSNull)
        }
    }

    @Test("events azure-eventhub sends (batch with a key, send_event to a partition) are received by our consumer intact")
    func pythonToOurs() async throws {
        try await withEmulator { fixture, client in
            let cs = fixture.connectionString().text
            _ = try await EventHubsSDK.run(["send", cs, "--count", "10", "--prefix", "py", "--partition-key", "device-9"])
            let counts = (0..<4).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }
            let partition = try #require(counts.firstIndex(of: 10))
            _ = try await EventHubsSDK.run(["send", cs, "--count", "2", "--mode", "event", "--partition-id", "\(partition)", "--prefix", "one"])

            let events = try await take(12, from: client.makePartitionReceiver(partitionID: "\(partition)", startingAt: .earliest))
            #expect(events.map(\.text) == (0..<10).map { "py-\($0)" } + ["one-0", "one-1"])
            #expect(events.map(\.sequenceNumber) == Array(0..<12))
            for (i, event) in events.prefix(10).enumerated() {
                #expect(event.partitionKey == "device-9")
                #expect(event.contentType == "text/plain")
                #expect(event.correlationID == "corr-\(i)")
                #expect(event.messageID == "py-id-\(i)")
                #expect(integer(event.properties["i"]) == Int64(i))
                #expect(event.properties["prefix"] == .string("py"))
                #expect(event.partitionID == "\(partition)")
            }
            #expect(events.last?.partitionKey == nil)
            #expect(events.last?.messageID == "one-id-1")

            // And the SDK's management view agrees with ours.
            let sdk = try await EventHubsSDK.run(["props", cs])
            let ours = try await client.partitionProperties(partitionID: "\(partition)")
            let theirs = (sdk["partitions"] as? [String: [String: Any]])?["\(partition)"]
            #expect(theirs?["last_enqueued_sequence_number"] as? Int == Int(ours.lastEnqueuedSequenceNumber))
            #expect(theirs?["last_enqueued_offset"] as? String == ours.lastEnqueuedOffset)
            let ids = try await client.partitionIDs()
            #expect(sdk["partition_ids"] as? [String] == ids)
        }
    }
}
