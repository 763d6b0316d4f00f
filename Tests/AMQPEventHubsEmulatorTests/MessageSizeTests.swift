import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

@testable import AMQPEventHubsEmulator

/// Events just under max-message-size, which the service's annotations push over it.
@Suite("Emulator at max-message-size", .timeLimit(.minutes(2)))
struct MessageSizeTests {
    @Test("an event that grows past max-message-size with the service's annotations is refused at publish; every accepted one is delivered, runtime metrics included")
    func nearTheLimit() async throws {
        let limit = 4096
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)])
        configuration.maxMessageSize = UInt64(limit)
        let emulator = try await EventHubsEmulator.start(configuration)
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1/Partitions/0")
        // What an event costs beyond its body text, with the body long enough for the 4-byte length form.
        let base = event(String(repeating: "x", count: 1000)).encoded(policy: .full).count - 1000
        var accepted: [String] = []
        var refused = 0
        for under in [1, 10, 50, 100, 150, 200, 250, 300, 600, 1000] {
            let tag = "under-\(under)-"
            let text = tag + String(repeating: "x", count: limit - under - base - tag.utf8.count)
            #expect(event(text).encoded(policy: .full).count == limit - under)
            switch try await sender.send(event(text)) {
            case .accepted:
                accepted.append(tag)
            case .rejected(let error?):
                #expect(error.condition == .link(.messageSizeExceeded), "\(error)")
                refused += 1
            case let other:
                Issue.record("\(tag): \(other)")
            }
        }
        #expect(refused >= 1, "the event 1 byte under the limit grows past it")
        #expect(accepted.count >= 1, "an event well under the limit is accepted")

        let address = "eh1/ConsumerGroups/$Default/Partitions/0"
        for metrics in [false, true] {
            var options = consumerOptions(address, metrics: metrics)
            options.maxMessageSize = UInt64(limit)
            let receiver = try await connection.openReceiver(from: address, options: options)
            var received: [String] = []
            while let delivery = try await receiver.receive(timeout: .seconds(1)) {
                received.append(String((bodyText(delivery.message) ?? "").prefix { $0 != "x" }))
            }
            #expect(received == accepted, "metrics \(metrics): every accepted event arrives, none skipped")
            try? await receiver.close()
        }
        print("max-message-size \(limit): \(accepted.count) accepted and delivered, \(refused) refused at publish (runtime-metrics room \(EmulatorConnection.runtimeMetricsReserve) bytes)")
        try? await connection.close()
        try await emulator.stop()
    }

    @Test("an event larger than the consumer's own max-message-size ends its link with message-size-exceeded; the next event is not delivered in its place")
    func largerThanTheConsumerTakes() async throws {
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)]))
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1/Partitions/0")
        for text in ["before", String(repeating: "x", count: 3000), "after"] {
            #expect(try await sender.send(event(text)) == .accepted)
        }
        let address = "eh1/ConsumerGroups/$Default/Partitions/0"
        var options = consumerOptions(address)
        options.maxMessageSize = 2000
        let receiver = try await connection.openReceiver(from: address, options: options)
        let first = try #require(try await receiver.receive(timeout: .seconds(20)))
        #expect(bodyText(first.message) == "before")
        do {
            let next = try await receiver.receive(timeout: .seconds(20))
            Issue.record("the link went on: \(next.map { bodyText($0.message) ?? "?" } ?? "nothing within 20 s")")
        } catch let error as AMQPClientError {
            #expect(error.condition == .link(.messageSizeExceeded), "\(error)")
            #expect(error.amqpError?.description?.contains("event 1 ") == true, "\(error)")
        }
        try? await connection.close()
        try await emulator.stop()
    }
}
