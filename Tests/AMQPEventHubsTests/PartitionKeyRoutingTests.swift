import AMQPEventHubs
import AMQPEventHubsEmulator
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
}
