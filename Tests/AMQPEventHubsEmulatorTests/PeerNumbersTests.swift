import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

@testable import AMQPEventHubsEmulator

/// Numbers a client chooses, at the ends of their range: the emulator answers, it never traps.
@Suite("Emulator with extreme numbers from a client", .timeLimit(.minutes(2)))
struct PeerNumbersTests {
    @Test("a correctly signed put-token with se at Int64.max or Int64.min is answered, not trapped on")
    func extremeTokenExpiry() async throws {
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)]))
        let connection = try await AMQPConnection.connect(anonymousOptions(emulator))
        let cbs = try await AMQPRequestResponseLink.attach(on: try await connection.session(), node: "$cbs")
        func putToken(expiry: Int64, expiration: Int64?) async throws -> Int32? {
            let token = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: EmulatorConfiguration.defaultKeyName,
                                              key: EmulatorConfiguration.defaultKey, expiry: expiry)
            var properties: AMQPMap = [.string("operation"): .string("put-token"), .string("type"): .string(EventHubsNames.sasTokenType),
                                       .string("name"): .string("sb://localhost/eh1")]
            if let expiration { properties[.string("expiration")] = .timestamp(Timestamp(millisecondsSince1970: expiration)) }
            let reply = try await cbs.request(Message(applicationProperties: ApplicationProperties(properties),
                                                      body: .value(AMQPValueSection(.string(token.token)))))
            if case .int(let code)? = reply.applicationProperties?.value[.string("status-code")] { return code }
            return nil
        }
        #expect(try await putToken(expiry: Int64.min, expiration: nil) == 401)
        #expect(try await putToken(expiry: -1, expiration: Int64.min) == 401)
        #expect(try await putToken(expiry: Int64.max, expiration: Int64.max) == 202)
        #expect(try await putToken(expiry: Int64.max, expiration: nil) == 202)
        let sender = try await connection.openSender(to: "eh1")
        #expect(try await sender.send(event("after extreme tokens")) == .accepted)
        try? await connection.close()
        try await emulator.stop()
    }

    @Test("filters at the ends of Int64 (and past them) are answered: nothing after the largest sequence number, everything after the smallest")
    func extremeFilters() async throws {
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)]))
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1/Partitions/0")
        #expect(try await sender.send(event("one")) == .accepted)
        let address = "eh1/ConsumerGroups/$Default/Partitions/0"
        func received(_ position: EventPosition) async throws -> Int {
            let receiver = try await connection.openReceiver(from: address, options: consumerOptions(address, position))
            var count = 0
            while try await receiver.receive(timeout: .milliseconds(300)) != nil { count += 1 }
            try? await receiver.close()
            return count
        }
        #expect(try await received(.sequenceNumber(Int64.max)) == 0)
        #expect(try await received(.sequenceNumber(Int64.max, inclusive: true)) == 0)
        #expect(try await received(.sequenceNumber(Int64.min)) == 1)
        #expect(try await received(.enqueuedTime(Int64.max)) == 0)
        #expect(try await received(.enqueuedTime(Int64.min, inclusive: true)) == 1)
        #expect(try await received(.offset(String(Int64.max))) == 0)
        #expect(try await received(.offset(String(Int64.min))) == 1)
        #expect(try await received(.offset("99999999999999999999999999")) == 0)
        #expect(try await sender.send(event("still serving")) == .accepted)
        try? await connection.close()
        try await emulator.stop()
    }
}
