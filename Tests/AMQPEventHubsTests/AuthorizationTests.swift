import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPMessage
import AMQPTestSupport
import AMQPTypes
import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import AMQPEventHubs

/// Signs short-lived SAS tokens for any audience and counts what it was asked for.
final class CountingTokenProvider: EventHubsTokenProvider {
    let keyName: String
    let key: String
    let lifetime: Int64
    /// When set, always hands out this first token again: a provider that never renews.
    let repeatsFirstToken: Bool
    /// What time it is for the tokens' expiry: the test's clock.
    let now: @Sendable () -> Date
    private let state = NIOLockedValueBox<(requests: [String], first: EventHubsAccessToken?)>(([], nil))

    init(keyName: String = EmulatorConfiguration.defaultKeyName, key: String = EmulatorConfiguration.defaultKey,
         lifetime: Int64, repeatsFirstToken: Bool = false, now: @escaping @Sendable () -> Date = { Date() }) {
        self.keyName = keyName
        self.key = key
        self.lifetime = lifetime
        self.repeatsFirstToken = repeatsFirstToken
        self.now = now
    }

    var requests: [String] { state.withLockedValue { $0.requests } }

    func token(forAudience audience: String) async throws -> EventHubsAccessToken {
        let expiry = Int64(now().timeIntervalSince1970) + lifetime
        let fresh = EventHubsAccessToken(
            token: SharedAccessSignature(audience: audience, keyName: keyName, key: key, expiry: expiry).token,
            type: .sharedAccessSignature, expiresOn: Date(timeIntervalSince1970: TimeInterval(expiry)))
        return state.withLockedValue { state in
            state.requests.append(audience)
            if repeatsFirstToken, let first = state.first { return first }
            state.first = state.first ?? fresh
            return fresh
        }
    }
}

/// Hands out a JWT-typed token (the emulator accepts them unverified when told to).
struct StaticJWTProvider: EventHubsTokenProvider {
    func token(forAudience audience: String) async throws -> EventHubsAccessToken {
        EventHubsAccessToken(token: "eyJhbGciOiJub25lIn0.e30.", type: .jsonWebToken, expiresOn: Date().addingTimeInterval(3600))
    }
}

@Suite("Authorization: CBS, SASL PLAIN, tokens", .serialized, .timeLimit(.minutes(3)))
struct AuthorizationTests {
    func client(_ fixture: EmulatorFixture, _ credential: EventHubsCredential, _ options: EventHubsClientOptions = .fastRetries) throws -> EventHubsClient {
        EventHubsClient(endpoint: try EventHubsEndpoint(fixture.connectionString()), credential: credential, options: options)
    }

    /// A client and an emulator that share a test clock: token lifetimes pass when the test
    /// advances it, in no real time.
    func onTestClock(_ fixtureClock: TestClock) async throws -> EmulatorFixture {
        try await EmulatorFixture.start(clock: { fixtureClock.millisecondsSince1970 })
    }

    /// Advances `clock` to the point where the hub's token is renewed, and waits (in real time)
    /// until the renewal is done.
    func renewOnce(_ client: EventHubsClient, _ clock: TestClock, by step: Duration) async throws {
        let audience = client.endpoint.hubAudience
        let before = try #require(await client.scope.authorizationExpiry(audience))
        clock.advance(by: step)
        try await eventually("the token for \(audience) is renewed") {
            (await client.scope.authorizationExpiry(audience) ?? .zero) > before
        }
    }

    @Test("short-lived tokens are renewed on a long-lived connection: links attached after the first token expired work")
    func renewal() async throws {
        let clock = TestClock()
        let fixture = try await onTestClock(clock)
        let provider = CountingTokenProvider(lifetime: 4, now: { clock.date })
        var options = EventHubsClientOptions.fastRetries
        options.clock = clock
        let client = try client(fixture, .tokenProvider(provider), options)
        let producer = client.makeProducer()
        try await producer.send(EventData("before"), options: .partition("0"))
        let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
        #expect(try await take(1, from: receiver).first?.text == "before")
        // A 4 s token (whole seconds) is renewed 2 s before it expires; twice, and the clock is
        // past the first tokens' expiry: new links need renewed tokens.
        try await renewOnce(client, clock, by: .seconds(3))
        try await renewOnce(client, clock, by: .seconds(2.5))
        #expect(clock.now.offset > .seconds(4))
        try await producer.send(EventData("after"), options: .partition("1"))
        let later = client.makePartitionReceiver(partitionID: "1", consumerGroup: "cg1", startingAt: .earliest)
        #expect(try await take(1, from: later).first?.text == "after")
        #expect(try await client.partitionProperties(partitionID: "1").lastEnqueuedSequenceNumber == 0)
        let hub = try EventHubsEndpoint(fixture.connectionString()).hubAudience
        #expect(provider.requests.filter { $0 == hub }.count >= 3, "\(provider.requests)")
        #expect(provider.requests.contains(hub + "/consumergroups/$default"))
        await client.close()
        try await fixture.stop()
    }

    @Test("without renewal the same short-lived token stops working (the renewal test can fail)")
    func expiryWithoutRenewal() async throws {
        let clock = TestClock()
        let fixture = try await onTestClock(clock)
        let provider = CountingTokenProvider(lifetime: 3, repeatsFirstToken: true, now: { clock.date })
        var options = EventHubsClientOptions.fastRetries
        options.clock = clock
        let client = try client(fixture, .tokenProvider(provider), options)
        let producer = client.makeProducer()
        try await producer.send(EventData("before"), options: .partition("0"))
        clock.advance(by: .seconds(5))
        let error = await eventHubsError { try await producer.send(EventData("after"), options: .partition("1")) }
        #expect(error?.kind == .authentication)
        await client.close()
        try await fixture.stop()
    }

    @Test("the emulator's clock decides expiry: a token the emulator sees as expired is refused")
    func emulatorClock() async throws {
        let skew = NIOLockedValueBox<Int64>(0)
        let fixture = try await EmulatorFixture.start(clock: { Int64(Date().timeIntervalSince1970 * 1000) + skew.withLockedValue { $0 } })
        var options = EventHubsClientOptions.fastRetries
        options.tokenLifetime = .seconds(600)
        let client = try fixture.client(options: options)
        try await client.makeProducer().send(EventData("now"))
        // Two hours later (for the emulator), a fresh 10-minute token is already expired.
        skew.withLockedValue { $0 = 2 * 3600 * 1000 }
        let other = try fixture.client(options: options)
        let error = await eventHubsError { try await other.makeProducer().send(EventData("later")) }
        #expect(error?.kind == .authentication)
        await client.close()
        await other.close()
        try await fixture.stop()
    }

    @Test("a wrong key fails with an authentication error that does not show the key")
    func wrongKey() async throws {
        let fixture = try await EmulatorFixture.start()
        for authorization in [EventHubsClientOptions.Authorization.claimsBasedSecurity, .saslPlain] {
            var options = EventHubsClientOptions.fastRetries
            options.authorization = authorization
            let client = try client(fixture, .sharedAccessKey(name: EmulatorConfiguration.defaultKeyName, key: "WRONG-SECRET"), options)
            let error = await eventHubsError { try await client.makeProducer().send(EventData("x")) }
            // CBS answers 401; SASL PLAIN is refused before AMQP opens. Neither is retried.
            #expect(error?.kind == .authentication)
            #expect(error?.isTransient == false)
            #expect(error.map { !"\($0)".contains("WRONG-SECRET") } == true)
            await client.close()
        }
        try await fixture.stop()
    }

    @Test("a pre-signed SAS from a connection string authorizes until its se=")
    func presigned() async throws {
        let fixture = try await EmulatorFixture.start()
        let expiry = Int64(Date().timeIntervalSince1970) + 3600
        let token = SharedAccessSignature(audience: "sb://localhost:\(fixture.port)/eh1", keyName: EmulatorConfiguration.defaultKeyName,
                                          key: EmulatorConfiguration.defaultKey, expiry: expiry).token
        let cs = "Endpoint=sb://localhost:\(fixture.port)/;SharedAccessSignature=\(token);EntityPath=eh1;UseDevelopmentEmulator=true"
        let client = try EventHubsClient(connectionString: cs, options: .fastRetries)
        try await client.makeProducer().send(EventData("signed elsewhere"), options: .partition("3"))
        #expect(try await take(1, from: client.makePartitionReceiver(partitionID: "3", startingAt: .earliest)).first?.text == "signed elsewhere")
        #expect(try await client.eventHubProperties().name == "eh1")
        await client.close()

        let expired = SharedAccessSignature(audience: "sb://localhost:\(fixture.port)/eh1", keyName: EmulatorConfiguration.defaultKeyName,
                                            key: EmulatorConfiguration.defaultKey, expiry: Int64(Date().timeIntervalSince1970) - 10).token
        let old = try EventHubsClient(connectionString: cs.replacingOccurrences(of: token, with: expired), options: .fastRetries)
        #expect(await eventHubsError { try await old.makeProducer().send(EventData("x")) }?.kind == .authentication)
        await old.close()
        try await fixture.stop()
    }

    @Test("a token provider's jwt tokens go to $cbs with type jwt")
    func jwt() async throws {
        let fixture = try await EmulatorFixture.start(configure: { $0.acceptsJWT = true })
        let client = try client(fixture, .tokenProvider(StaticJWTProvider()))
        try await client.makeProducer().send(EventData("aad"), options: .partition("0"))
        #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 1)
        await client.close()
        try await fixture.stop()

        let strict = try await EmulatorFixture.start()
        let refused = try self.client(strict, .tokenProvider(StaticJWTProvider()))
        #expect(await eventHubsError { try await refused.makeProducer().send(EventData("aad")) }?.kind == .authentication)
        await refused.close()
        try await strict.stop()
    }

    @Test("the seed's scenario: SASL PLAIN with key name and key, send to the hub with a group-id, receive from $default partition 0")
    func seedScenario() async throws {
        let fixture = try await EmulatorFixture.start(hubs: [.init(name: "eh1", partitionCount: 1)])
        var options = EventHubsClientOptions.fastRetries
        options.authorization = .saslPlain
        let client = try EventHubsClient(connectionString: fixture.connectionString().text, options: options)
        var event = EventData(message: Message(properties: Properties(groupID: "seed-group"),
                                               body: .data([DataSection(Binary(Array("hello from swift".utf8)))])))
        event.properties = ["source": "seed"]
        try await client.makeProducer().send(event)
        let receiver = client.makePartitionReceiver(partitionID: "0", consumerGroup: "$default", startingAt: .earliest)
        let got = try #require(try await take(1, from: receiver).first)
        #expect(got.text == "hello from swift")
        #expect(got.message.properties?.groupID == "seed-group")
        #expect(got.properties["source"] == "seed")
        await client.close()
        try await fixture.stop()
    }
}
