import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import Testing

@Suite("Partition keys land where the service puts them", .serialized, .timeLimit(.minutes(2)))
struct PartitionKeyRoutingTests {
    /// Keys whose hash codes the .NET SDK's own tests assert (PartitionResolverTests.cs), with
    /// the partition `abs(code % 32)` worked out by hand, not by our resolver.
    static let expected: [(key: String, code: Int16, partition: Int)] = [
        ("7", -15263, 31), ("131", 30562, 2), ("FWfAT", -22341, 5),
        ("$0cb", 26269, 29), ("!c*_!I@1^c", 15372, 12), ("p4*!jioeO/z-!-;w:dh", -3104, 0),
    ]

    @Test("the emulator stores each key in the partition Azure would; the client-side resolver agrees")
    func emulatorMatchesService() async throws {
        try await withEmulator(hubs: [.init(name: "eh1", partitionCount: 32)]) { fixture, client in
            let producer = client.makeProducer()
            for (index, entry) in Self.expected.enumerated() {
                // Different counts per key, so a key landing in another key's partition shows.
                try await producer.send((0...index).map { EventData("\(entry.key)-\($0)") }, options: .partitionKey(entry.key))
            }
            for (index, entry) in Self.expected.enumerated() {
                #expect(fixture.emulator.eventCount(hub: "eh1", partition: entry.partition) == index + 1, "\(entry.key)")
                #expect(PartitionResolver.partitionIndex(forKey: entry.key, partitionCount: 32) == entry.partition)
            }
            let total = (0..<32).map { fixture.emulator.eventCount(hub: "eh1", partition: $0) }.reduce(0, +)
            #expect(total == (1...Self.expected.count).reduce(0, +))
            await producer.close()
        }
    }

    /// Found here: the hash codes agree, but for a negative code Python's `%` floors where C#'s
    /// truncates, so azure-eventhub's buffered producer sends such keys to another partition than
    /// the .NET, Java and JavaScript SDKs (whose tests pin the truncating rule, see
    /// PartitionResolverTests) and the service. We follow the service.
    @Test("azure-eventhub's own resolver: the same hash codes for ASCII keys of every length 0–40; its partition differs only for negative codes")
    func pythonSDKAgrees() async throws {
        let base = "Four score and seven years ago our fathers brought"
        let keys = (0...40).map { String(base.prefix($0)) } + ["7", "131", "FWfAT", "device-17", "TheBestParitionEver"]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: keys), as: UTF8.self)
        let result = try await EventHubsSDK.run(["partition-hash", json, "--partitions", "32"])
        let codes = try #require(result["codes"] as? [Int])
        let partitions = try #require(result["partitions"] as? [Int])
        #expect(codes == keys.map { Int(PartitionResolver.hashCode(forKey: $0)) })
        for (index, key) in keys.enumerated() {
            let code = Int(PartitionResolver.hashCode(forKey: key))
            let ours = PartitionResolver.partitionIndex(forKey: key, partitionCount: 32)
            if code >= 0 || code % 32 == 0 {
                #expect(partitions[index] == ours, "\(key)")
            } else {
                #expect(partitions[index] == ((code % 32) + 32) % 32, "\(key): Python floors the remainder")
                #expect(ours == abs(code % 32), "\(key): the service truncates it")
            }
        }
        #expect(keys.contains { PartitionResolver.hashCode(forKey: $0) < 0 } && keys.contains { PartitionResolver.hashCode(forKey: $0) > 0 })
    }
}
