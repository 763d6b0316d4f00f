/// What keeps a connection's bytes from being read on their way to the peer, as far as a
/// secret sent in them is concerned.
///
/// The transport states what it has below the engine; the engine raises it to ``encrypted``
/// once an in-band TLS handshake (§5.2.1) is done.
public enum TransportSecurity: Sendable, Hashable, CustomStringConvertible {
    /// Nothing: plain TCP, or a WebSocket over plain HTTP, to another machine.
    case none
    /// Nothing, but the peer is on this machine (a loopback address): the bytes never reach a
    /// network.
    case loopback
    /// TLS: from the first byte (`amqps`), a WebSocket inside TLS (`wss`), or in-band TLS after
    /// its handshake.
    case encrypted

    /// `no TLS`, `no TLS, loopback`, `TLS`.
    public var description: String {
        switch self {
        case .none: return "no TLS"
        case .loopback: return "no TLS, loopback"
        case .encrypted: return "TLS"
        }
    }
}

/// When a SASL mechanism that sends a reusable secret as it is (PLAIN's password, see
/// ``SASLClientMechanism/sendsCleartextSecret``) may run over a transport that is not encrypted.
///
/// This is the one rule for credentials in the clear: the connection engine applies it before
/// it answers `sasl-mechanisms`, and everything that wants to know in advance (the `amqp`
/// command line, the Event Hubs client) asks ``permits(_:over:)``.
public enum CleartextCredentials: Sendable, Hashable {
    /// Never: such mechanisms need TLS. The default.
    case refused
    /// Also to a peer on a loopback address, where the secret cannot leave the machine
    /// (development emulators).
    case allowedOnLoopback
    /// Anywhere: anyone on the path can read the secret. For test brokers only.
    case allowed

    /// Whether `mechanism` may run over `transport`: always when it sends no cleartext secret
    /// or the transport is encrypted; otherwise only as far as this policy allows.
    public func permits(_ mechanism: some SASLClientMechanism, over transport: TransportSecurity) -> Bool {
        guard mechanism.sendsCleartextSecret else { return true }
        switch transport {
        case .encrypted: return true
        case .loopback: return self != .refused
        case .none: return self == .allowed
        }
    }
}
