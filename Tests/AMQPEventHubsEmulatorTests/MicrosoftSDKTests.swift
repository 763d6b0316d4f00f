import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import Testing

/// The emulator, proven with Microsoft's own Python SDK (azure-eventhub 5.15.1, unpatched).
@Suite("Emulator with Microsoft's azure-eventhub SDK", .serialized, .timeLimit(.minutes(5)))
struct MicrosoftSDKTests {
    func withEmulator(hubs: [EmulatorConfiguration.Hub] = [.init(name: "eh1", partitionCount: 4, consumerGroups: ["cg1"])],
                      _ body: (EventHubsEmulator, String) async throws -> Void) async throws {
        var configuration = EmulatorConfiguration(port: 0, hubs: hubs)
        configuration.healthPort = nil
        let emulator = try await EventHubsEmulator.start(configuration)
        do {
            try await body(emulator, emulator.connectionString(eventHub: hubs[0].name).text)
        } catch {
            try await emulator.stop()
            throw error
        }
        try await emulator.stop()
    }

    func events(_ json: [String: Any]) -> [[String: Any]] { json["events"] as? [[String: Any]] ?? [] }

    @Test("get_eventhub_properties, get_partition_ids, get_partition_properties")
    func management() async throws {
        try await withEmulator { emulator, cs in
            let props = try await EventHubsSDK.run(["props", cs])
            #expect(props["name"] as? String == "eh1")
            #expect(props["partition_ids"] as? [String] == ["0", "1", "2", "3"])
            let partition = (props["partitions"] as? [String: [String: Any]])?["0"]
            #expect(partition?["is_empty"] as? Bool == true)
            #expect(partition?["last_enqueued_offset"] as? String == "-1")
        }
    }

    @Test("send_batch with a partition key lands in one partition; every event received once, intact")
    func batchWithPartitionKey() async throws {
        try await withEmulator { emulator, cs in
            _ = try await EventHubsSDK.run(["send", cs, "--count", "50", "--prefix", "k", "--partition-key", "customer-7"])
            let counts = (0..<4).map { emulator.eventCount(hub: "eh1", partition: $0) }
            #expect(counts.reduce(0, +) == 50)
            #expect(counts.filter { $0 > 0 }.count == 1)
            let partition = counts.firstIndex { $0 > 0 }!
            let received = try await EventHubsSDK.run(["receive", cs, "--partition", "\(partition)", "--count", "50"])
            let list = events(received)
            #expect(list.count == 50)
            #expect(Set(list.compactMap { $0["body"] as? String }) == Set((0..<50).map { "k-\($0)" }))
            #expect(list.map { $0["sequence_number"] as? Int } == (0..<50).map { $0 })
            #expect(list.allSatisfy { $0["partition_key"] as? String == "customer-7" })
            let first = try #require(list.first)
            #expect((first["properties"] as? [String: Any])?["prefix"] as? String == "k")
            #expect((first["properties"] as? [String: Any])?["i"] as? Int == 0)
            #expect(first["content_type"] as? String == "text/plain")
            #expect(first["correlation_id"] as? String == "corr-0")
            #expect(first["message_id"] as? String == "k-id-0")
            #expect(first["offset"] as? String == "0")
        }
    }

    @Test("send_batch without a key spreads batches; to a partition id; send_event")
    func otherSends() async throws {
        try await withEmulator { emulator, cs in
            for _ in 0..<4 { _ = try await EventHubsSDK.run(["send", cs, "--count", "3"]) }
            #expect((0..<4).map { emulator.eventCount(hub: "eh1", partition: $0) } == [3, 3, 3, 3])
            _ = try await EventHubsSDK.run(["send", cs, "--count", "5", "--partition-id", "2", "--prefix", "p"])
            #expect(emulator.eventCount(hub: "eh1", partition: 2) == 8)
            _ = try await EventHubsSDK.run(["send", cs, "--count", "4", "--mode", "event", "--partition-id", "1", "--prefix", "single"])
            #expect(emulator.eventCount(hub: "eh1", partition: 1) == 7)
            let received = events(try await EventHubsSDK.run(["receive", cs, "--partition", "1", "--count", "7"]))
            #expect(received.suffix(4).compactMap { $0["body"] as? String } == ["single-0", "single-1", "single-2", "single-3"])
        }
    }

    @Test("receive from an offset, a sequence number and an enqueued time, inclusive and not")
    func startingPositions() async throws {
        try await withEmulator { emulator, cs in
            _ = try await EventHubsSDK.run(["send", cs, "--count", "10", "--partition-id", "0", "--prefix", "s"])
            let all = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--count", "10"]))
            #expect(all.count == 10)
            let third = all[3]
            let offset = try #require(third["offset"] as? String)
            let byOffset = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--start", "offset:\(offset)", "--count", "6"]))
            #expect(byOffset.first?["body"] as? String == "s-4")
            let byOffsetInclusive = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--start", "offset:\(offset)", "--inclusive", "--count", "7"]))
            #expect(byOffsetInclusive.first?["body"] as? String == "s-3")
            let bySequence = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--start", "sequence:5", "--count", "4"]))
            #expect(bySequence.first?["sequence_number"] as? Int == 6)
            let bySequenceInclusive = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--start", "sequence:5", "--inclusive", "--count", "5"]))
            #expect(bySequenceInclusive.first?["sequence_number"] as? Int == 5)
            // All ten share an enqueued time or two; "after the first's time" skips at least it.
            let time = try #require(all[0]["enqueued_time"] as? Int)
            let byTime = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--start", "time:\(time - 1)", "--count", "10"]))
            #expect(byTime.count == 10)
            let byTimeInclusive = events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--start", "time:\(time)", "--inclusive", "--count", "10"]))
            #expect(byTimeInclusive.first?["body"] as? String == "s-0")
        }
    }

    @Test("@latest receives only what is sent after it attaches")
    func latest() async throws {
        try await withEmulator { emulator, cs in
            _ = try await EventHubsSDK.run(["send", cs, "--count", "3", "--partition-id", "3", "--prefix", "old"])
            async let receiving = EventHubsSDK.run(["receive", cs, "--partition", "3", "--start", "@latest", "--count", "2", "--timeout", "30"])
            try await Task.sleep(for: .seconds(4))
            _ = try await EventHubsSDK.run(["send", cs, "--count", "2", "--partition-id", "3", "--prefix", "new"])
            let received = events(try await receiving)
            #expect(received.compactMap { $0["body"] as? String } == ["new-0", "new-1"])
        }
    }

    @Test("track_last_enqueued_event_properties reports the partition's last event")
    func runtimeMetrics() async throws {
        try await withEmulator { emulator, cs in
            _ = try await EventHubsSDK.run(["send", cs, "--count", "5", "--partition-id", "1"])
            let received = events(try await EventHubsSDK.run(["receive", cs, "--partition", "1", "--count", "5", "--track"]))
            let last = received.last?["last_enqueued"] as? [String: Any]
            #expect(last?["sequence_number"] as? Int == 4)
            #expect(last?["offset"] as? String == received.last?["offset"] as? String)
        }
    }

    @Test("a higher owner level displaces the current receiver")
    func ownerLevel() async throws {
        try await withEmulator { emulator, cs in
            _ = try await EventHubsSDK.run(["send", cs, "--count", "3", "--partition-id", "2"])
            let result = try await EventHubsSDK.run(["displace", cs, "--partition", "2"])
            let errors = result["first_errors"] as? [String] ?? []
            #expect(!errors.isEmpty)
            #expect(errors.contains { $0.contains("stolen") || $0.contains("owner level") })
            #expect((result["second_events"] as? Int ?? 0) >= 3)
        }
    }

    @Test("a consumer group from the configuration works; an unknown one is not found")
    func consumerGroups() async throws {
        try await withEmulator { emulator, cs in
            _ = try await EventHubsSDK.run(["send", cs, "--count", "2", "--partition-id", "0"])
            #expect(events(try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--group", "cg1", "--count", "2"])).count == 2)
            let missing = try await EventHubsSDK.run(["receive", cs, "--partition", "0", "--group", "nope", "--count", "1", "--timeout", "20", "--retry-total", "0"])
            #expect(events(missing).isEmpty)
            let errors = missing["errors"] as? [String] ?? []
            #expect(errors.contains { $0.contains("not-found") || $0.contains("no consumer group") }, "\(errors)")
        }
    }

    @Test("a wrong key fails with the SDK's authentication error")
    func wrongKey() async throws {
        try await withEmulator { emulator, cs in
            let bad = cs.replacingOccurrences(of: "SharedAccessKey=SAS_KEY_VALUE", with: "SharedAccessKey=WRONG")
            let result = try await EventHubsSDK.run(["check-auth", bad])
            #expect(result["error"] as? String == "AuthenticationError")
            #expect(try await EventHubsSDK.run(["check-auth", cs])["error"] is NSNull)
        }
    }
}
