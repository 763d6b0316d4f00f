import AMQPMessage
import AMQPProtocol
import AMQPTestSupport
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import AMQPTransport

@Suite("Failed logins throttle their address, and only theirs")
struct LoginThrottleRuleTests {
    let second: UInt64 = 1_000_000_000
    var policy: LoginThrottle.Policy { .init(maxFailures: 3, window: .seconds(60), lockout: .seconds(300), maxTrackedAddresses: 100) }

    @Test("the third failure within the window locks the address out for the lockout, not another address")
    func locksOutOneAddress() {
        var throttle = LoginThrottle(policy: policy)
        do { let locked = throttle.loginFailed("10.0.0.1", now: 0); #expect(!locked) }
        do { let locked = throttle.loginFailed("10.0.0.1", now: 10 * second); #expect(!locked) }
        #expect(!throttle.isLockedOut("10.0.0.1", now: 11 * second))
        do { let locked = throttle.loginFailed("10.0.0.1", now: 20 * second); #expect(locked) }
        #expect(throttle.isLockedOut("10.0.0.1", now: 21 * second))
        #expect(!throttle.isLockedOut("10.0.0.2", now: 21 * second))
        #expect(throttle.isLockedOut("10.0.0.1", now: 319 * second))
        #expect(!throttle.isLockedOut("10.0.0.1", now: 320 * second))
        // After the lockout the count starts afresh.
        do { let locked = throttle.loginFailed("10.0.0.1", now: 321 * second); #expect(!locked) }
        #expect(!throttle.isLockedOut("10.0.0.1", now: 322 * second))
    }

    @Test("failures further apart than the window never add up")
    func windowSlides() {
        var throttle = LoginThrottle(policy: policy)
        for minute in 0..<10 { let locked = throttle.loginFailed("10.0.0.1", now: UInt64(minute) * 31 * second); #expect(!locked) }
        #expect(!throttle.isLockedOut("10.0.0.1", now: 400 * second))
    }

    @Test("many addresses keep the table bounded, and do not free an address that is locked out")
    func boundedTable() {
        var throttle = LoginThrottle(policy: policy)
        for _ in 0..<3 { throttle.loginFailed("10.0.0.1", now: second) }
        #expect(throttle.isLockedOut("10.0.0.1", now: 2 * second))
        for index in 0..<1000 { throttle.loginFailed("192.168.\(index / 256).\(index % 256)", now: 3 * second) }
        #expect(throttle.records.count <= 100)
        #expect(throttle.isLockedOut("10.0.0.1", now: 4 * second))
    }
}

@Suite("The listener refuses an address after repeated failed logins", .timeLimit(.minutes(2)))
struct LoginThrottleListenerTests {
    @Test("three wrong passwords refuse the address, even with the right one, until the lockout ends")
    func listenerThrottles() async throws {
        let clock = NIOLockedValueBox<UInt64>(1_000_000_000)
        var configuration = AMQPListener.Configuration(saslMechanisms: [PlainServerMechanism { $0 == "user" && $1 == "right" }], saslRequired: true)
        configuration.loginThrottle = .init(maxFailures: 3, window: .seconds(60), lockout: .seconds(300))
        configuration.loginThrottleClock = { clock.withLockedValue { $0 } }
        let broker = try await AMQPInMemoryBroker.start(configuration)
        func options(_ password: String) -> AMQPConnectionOptions {
            var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port, authentication: .plain(username: "user", password: password))
            options.cleartextCredentials = .allowed
            return options
        }
        // A success does not reset the count (a guesser with one good key would use it to).
        try await AMQPConnection.connect(options("right")).close()
        for _ in 0..<3 {
            await #expect(throws: (any Error).self) { try await AMQPConnection.connect(options("wrong")).close() }
        }
        // Locked out: closed at accept, before SASL, whatever the password.
        let refused = try TCPTestSocket(port: broker.port)
        try refused.write(Array("AMQP".utf8) + [3, 1, 0, 0])
        let (bytes, closed) = refused.readUntilClosed(timeout: .seconds(10))
        #expect(closed && bytes.isEmpty, "a locked-out address got a SASL layer")
        await #expect(throws: (any Error).self) { try await AMQPConnection.connect(options("right")).close() }
        // The lockout ends on the throttle's clock.
        clock.withLockedValue { $0 += 301_000_000_000 }
        try await AMQPConnection.connect(options("right")).close()
        try await broker.stop()
    }
}
