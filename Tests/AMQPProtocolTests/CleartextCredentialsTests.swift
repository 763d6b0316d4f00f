import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// A mechanism of the caller's that sends a one-time secret: its own declaration decides, not
/// its name.
struct OneTimeCodeMechanism: SASLClientMechanism {
    var name: Symbol { "PLAIN" }
    var sendsCleartextSecret: Bool { false }
    mutating func initialResponse() throws(SASLError) -> [UInt8]? { Array("\0u\0one-time".utf8) }
}

@Suite("Cleartext credentials: the one rule (§5.3, RFC 4616 §4)")
struct CleartextCredentialsTests {
    @Test("the rule: secrets only over TLS, on loopback when allowed there, anywhere when allowed")
    func rule() {
        let plain = PlainMechanism(username: "u", password: "p")
        let table: [(CleartextCredentials, TransportSecurity, Bool)] = [
            (.refused, .encrypted, true), (.refused, .loopback, false), (.refused, .none, false),
            (.allowedOnLoopback, .encrypted, true), (.allowedOnLoopback, .loopback, true), (.allowedOnLoopback, .none, false),
            (.allowed, .encrypted, true), (.allowed, .loopback, true), (.allowed, .none, true),
        ]
        for (policy, transport, expected) in table {
            #expect(policy.permits(plain, over: transport) == expected, "\(policy) over \(transport)")
            // Mechanisms without a reusable secret run anywhere.
            #expect(policy.permits(AnonymousMechanism(), over: transport))
            #expect(policy.permits(ExternalMechanism(), over: transport))
        }
        #expect(PlainMechanism(username: "u", password: "p").sendsCleartextSecret)
        #expect(!AnonymousMechanism().sendsCleartextSecret && !ExternalMechanism().sendsCleartextSecret)
    }

    /// A client with `mechanism` against a server that accepts PLAIN, through the engine.
    static func run(_ mechanism: any SASLClientMechanism, transport: TransportSecurity, policy: CleartextCredentials) -> EnginePair {
        var client = ConnectionConfiguration(role: .client, containerID: "c", sasl: .client([mechanism]), transportSecurity: transport)
        client.cleartextCredentials = policy
        var pair = EnginePair(
            client: client,
            server: ConnectionConfiguration(role: .server, containerID: "s", sasl: .server([PlainServerMechanism { _, _ in true }], required: true)))
        pair.start()
        return pair
    }

    static func refused(_ pair: EnginePair) -> Bool {
        if case .failed(.sasl(let error))? = pair.clientEvents.last { return error.kind == .plaintextRefused }
        return false
    }

    @Test("the engine applies it before sasl-init: what the transport says, and nothing else, decides")
    func engine() {
        let plain = PlainMechanism(username: "u", password: "p")
        #expect(Self.run(plain, transport: .encrypted, policy: .refused).client.isOpen)
        #expect(Self.run(plain, transport: .loopback, policy: .allowedOnLoopback).client.isOpen)
        #expect(Self.refused(Self.run(plain, transport: .loopback, policy: .refused)))
        #expect(Self.refused(Self.run(plain, transport: .none, policy: .allowedOnLoopback)))
        #expect(Self.run(plain, transport: .none, policy: .allowed).client.isOpen)
        // A refusal sends nothing of the password.
        let refused = Self.run(plain, transport: .none, policy: .refused)
        #expect(!String(decoding: refused.clientToServer, as: UTF8.self).contains("\0u\0p"))
        // Decided by the mechanism's declaration, not by its name.
        #expect(Self.run(OneTimeCodeMechanism(), transport: .none, policy: .refused).client.isOpen)
    }

    @Test("the Boolean opt-in of the configuration is the policy's `allowed`")
    func booleanOptIn() {
        var configuration = ConnectionConfiguration(role: .client, containerID: "c", allowsCleartextCredentials: true)
        #expect(configuration.cleartextCredentials == .allowed && configuration.transportSecurity == .none)
        configuration.allowsCleartextCredentials = false
        #expect(configuration.cleartextCredentials == .refused)
        configuration.cleartextCredentials = .allowedOnLoopback
        #expect(!configuration.allowsCleartextCredentials)
    }
}
