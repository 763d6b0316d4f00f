import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Foundation
import Testing

@testable import AMQPEventHubsEmulator
@testable import AMQPTransport

/// CBS tokens end the links they authorized when they expire, and SAS keys carry rights.
@Suite("Emulator tokens and key rights", .timeLimit(.minutes(2)))
struct TokenRightsTests {
    static let config = Data("""
        {"UserConfig": {"NamespaceConfig": [{"Type": "EventHub", "Name": "emulatorns1",
          "Entities": [{"Name": "eh1", "PartitionCount": 1, "ConsumerGroups": []}],
          "SharedAccessKeys": [
            {"Name": "SendOnly", "Key": "send-key", "Rights": ["Send"]},
            {"Name": "ListenOnly", "Key": "listen-key", "Rights": ["Listen"]},
            {"Name": "Admin", "Key": "admin-key", "Rights": ["Manage"]}]}]}}
        """.utf8)

    func start(clock: TestClock? = nil) async throws -> EventHubsEmulator {
        var configuration = EmulatorConfiguration(port: 0)
        try configuration.load(microsoftConfig: Self.config)
        if let clock { return try await EventHubsEmulator.start(configuration, clock: clock.read) }
        return try await EventHubsEmulator.start(configuration)
    }

    func plain(_ emulator: EventHubsEmulator, _ name: String, _ key: String) -> AMQPConnectionOptions {
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: emulator.port, authentication: .plain(username: name, password: key))
        options.allowsCleartextCredentials = true
        return options
    }

    func putToken(on connection: AMQPConnection, keyName: String, key: String, expiry: Int64, clock: TestClock) async throws -> Int32? {
        let cbs = try await AMQPRequestResponseLink.attach(on: try await connection.session(), node: "$cbs")
        let token = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: keyName, key: key, expiry: expiry)
        let reply = try await cbs.request(Message(
            applicationProperties: ApplicationProperties([
                .string("operation"): .string("put-token"), .string("type"): .string(EventHubsNames.sasTokenType),
                .string("name"): .string("sb://localhost/eh1"),
                .string("expiration"): .timestamp(Timestamp(millisecondsSince1970: expiry * 1000)),
            ]),
            body: .value(AMQPValueSection(.string(token.token)))))
        if case .int(let code)? = reply.applicationProperties?.value[.string("status-code")] { return code }
        return nil
    }

    func expectUnauthorized(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("\(what): allowed")
        } catch let error as AMQPClientError {
            #expect(error.condition == .amqp(.unauthorizedAccess), "\(what): \(error)")
        } catch {
            Issue.record("\(what): \(error)")
        }
    }

    @Test("a token that expires unrenewed detaches the sender and the receiver it authorized with unauthorized-access")
    func expiryDetaches() async throws {
        let clock = TestClock()
        let emulator = try await start(clock: clock)
        let connection = try await AMQPConnection.connect(anonymousOptions(emulator))
        let expiry = clock.read() / 1000 + 60
        #expect(try await putToken(on: connection, keyName: "Admin", key: "admin-key", expiry: expiry, clock: clock) == 202)
        let sender = try await connection.openSender(to: "eh1")
        #expect(try await sender.send(event("before")) == .accepted)
        let receiver = try await connection.openReceiver(from: "eh1/ConsumerGroups/$default/Partitions/0", options: consumerOptions("eh1/ConsumerGroups/$default/Partitions/0"))
        #expect(bodyText(try #require(try await receiver.receive()).message) == "before")

        clock.advance(seconds: 61)
        // The receiver has nothing to do: the emulator's own check ends it (within a second).
        await expectUnauthorized("receiving after expiry") {
            _ = try await receiver.receive(timeout: .seconds(10))
        }
        await expectUnauthorized("sending after expiry") {
            _ = try await sender.send(event("after"))
        }
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 1)
        try? await connection.close()
        try await emulator.stop()
    }

    @Test("a renewed token keeps the links")
    func renewalKeeps() async throws {
        let clock = TestClock()
        let emulator = try await start(clock: clock)
        let connection = try await AMQPConnection.connect(anonymousOptions(emulator))
        #expect(try await putToken(on: connection, keyName: "Admin", key: "admin-key", expiry: clock.read() / 1000 + 60, clock: clock) == 202)
        let sender = try await connection.openSender(to: "eh1")
        #expect(try await sender.send(event("one")) == .accepted)
        clock.advance(seconds: 50)
        #expect(try await putToken(on: connection, keyName: "Admin", key: "admin-key", expiry: clock.read() / 1000 + 60, clock: clock) == 202)
        clock.advance(seconds: 20)
        #expect(try await sender.send(event("two")) == .accepted)
        try await connection.close()
        try await emulator.stop()
    }

    @Test("a Send-only key cannot receive and a Listen-only key cannot send, by SASL PLAIN or by CBS token")
    func rights() async throws {
        let clock = TestClock()
        let emulator = try await start(clock: clock)
        let partition = "eh1/ConsumerGroups/$default/Partitions/0"

        let sendOnly = try await AMQPConnection.connect(plain(emulator, "SendOnly", "send-key"))
        #expect(try await sendOnly.openSender(to: "eh1").send(event("sent")) == .accepted)
        await expectUnauthorized("Send-only receiving") { _ = try await sendOnly.openReceiver(from: partition, options: consumerOptions(partition)) }
        try? await sendOnly.close()

        let listenOnly = try await AMQPConnection.connect(plain(emulator, "ListenOnly", "listen-key"))
        await expectUnauthorized("Listen-only sending") { _ = try await listenOnly.openSender(to: "eh1") }
        let receiver = try await listenOnly.openReceiver(from: partition, options: consumerOptions(partition))
        #expect(bodyText(try #require(try await receiver.receive()).message) == "sent")
        try? await listenOnly.close()

        let byToken = try await AMQPConnection.connect(anonymousOptions(emulator))
        #expect(try await putToken(on: byToken, keyName: "SendOnly", key: "send-key", expiry: clock.read() / 1000 + 3600, clock: clock) == 202)
        await expectUnauthorized("Send-only token receiving") { _ = try await byToken.openReceiver(from: partition, options: consumerOptions(partition)) }
        #expect(try await byToken.openSender(to: "eh1").send(event("by token")) == .accepted)
        try? await byToken.close()
        try await emulator.stop()
    }

    @Test("CBS replies the client gives no credit for are capped per connection: the reply link is detached with resource-limit-exceeded")
    func replyCap() async throws {
        var configuration = EmulatorConfiguration(port: 0)
        configuration.maxQueuedReplies = 10
        let emulator = try await EventHubsEmulator.start(configuration)
        let connection = try await AMQPConnection.connect(anonymousOptions(emulator))
        // One credit ever: the first reply arrives, the rest wait.
        let replies = try await connection.openReceiver(from: "$cbs", options: AMQPReceiver.Options(
            credit: .prefetch(1), target: Target(address: .string("cbs-replies")), totalCredit: 1))
        let requests = try await connection.openSender(to: "$cbs")
        for i in 0..<30 {
            let request = Message(
                properties: Properties(messageID: .string("r\(i)"), replyTo: .string("cbs-replies")),
                applicationProperties: ApplicationProperties([
                    .string("operation"): .string("put-token"), .string("type"): .string(EventHubsNames.sasTokenType),
                    .string("name"): .string("sb://localhost/eh1"),
                ]),
                body: .value(AMQPValueSection(.string("not a token"))))
            #expect(try await requests.send(request) == .accepted)
        }
        #expect(try await replies.receive(timeout: .seconds(10)) != nil)
        do {
            _ = try await replies.receive(timeout: .seconds(10))
            Issue.record("the reply link stayed attached with every reply waiting")
        } catch let error as AMQPClientError {
            #expect(error.condition == .amqp(.resourceLimitExceeded), "\(error)")
        }
        try? await connection.close()
        try await emulator.stop()
    }

    @Test("Config.json rights: unknown or empty rights are refused with where they are")
    func badRights() throws {
        var configuration = EmulatorConfiguration()
        for rights in [#"["Sned"]"#, "[]"] {
            let json = Data("""
                {"UserConfig": {"NamespaceConfig": [{"Entities": [{"Name": "eh1", "PartitionCount": 1}],
                  "SharedAccessKeys": [{"Name": "k", "Key": "v", "Rights": \(rights)}]}]}}
                """.utf8)
            #expect(throws: EmulatorConfiguration.Invalid.self) { try configuration.load(microsoftConfig: json) }
        }
    }
}
