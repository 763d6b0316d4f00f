/// The 8-byte protocol header that opens each protocol layer of an AMQP connection (§2.2):
/// `"AMQP"`, a protocol id, and the version major, minor and revision.
public struct ProtocolHeader: Hashable, Sendable, CustomStringConvertible {
    /// Which layer the header announces.
    public enum ProtocolID: UInt8, Hashable, Sendable {
        /// The AMQP connection itself (`AMQP 0 1 0 0`).
        case amqp = 0
        /// The TLS layer, when negotiated in-band (`AMQP 2 1 0 0`, §5.2).
        case tls = 2
        /// The SASL layer (`AMQP 3 1 0 0`, §5.3).
        case sasl = 3
    }

    /// Which layer the header announces.
    public var id: ProtocolID
    /// The major version; 1 for AMQP 1.0.
    public var major: UInt8
    /// The minor version; 0 for AMQP 1.0.
    public var minor: UInt8
    /// The revision; 0 for AMQP 1.0.
    public var revision: UInt8

    /// A header for layer `id`, version 1.0.0 unless given.
    @inlinable
    public init(_ id: ProtocolID, major: UInt8 = 1, minor: UInt8 = 0, revision: UInt8 = 0) {
        self.id = id
        self.major = major
        self.minor = minor
        self.revision = revision
    }

    /// `AMQP 0 1 0 0`: the AMQP layer, version 1.0.0 (§2.2).
    public static let amqp = ProtocolHeader(.amqp)
    /// `AMQP 3 1 0 0`: the SASL layer, version 1.0.0 (§5.3).
    public static let sasl = ProtocolHeader(.sasl)
    /// `AMQP 2 1 0 0`: the TLS layer, version 1.0.0 (§5.2).
    public static let tls = ProtocolHeader(.tls)

    /// The eight bytes on the wire.
    public var bytes: [UInt8] {
        [0x41, 0x4D, 0x51, 0x50, id.rawValue, major, minor, revision]
    }

    /// Whether this is version 1.0.0, the only one this implementation speaks.
    public var isVersion1_0_0: Bool { major == 1 && minor == 0 && revision == 0 }

    /// Parses eight bytes. Returns `nil` when they do not start with `"AMQP"` or name an unknown
    /// protocol id: the peer does not speak AMQP 1.0 at all (it may be AMQP 0-9-1, whose header is
    /// `AMQP 0 0 9 1`, which parses here as id 0 with version 0.9.1).
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        guard bytes.count == 8 else { return nil }
        let b = Array(bytes)
        guard b[0] == 0x41, b[1] == 0x4D, b[2] == 0x51, b[3] == 0x50, let id = ProtocolID(rawValue: b[4]) else { return nil }
        self.init(id, major: b[5], minor: b[6], revision: b[7])
    }

    /// The layer and version, e.g. `SASL 3-1.0.0`.
    public var description: String {
        let name: String
        switch id {
        case .amqp: name = "AMQP"
        case .tls: name = "TLS"
        case .sasl: name = "SASL"
        }
        return "\(name) \(id.rawValue)-\(major).\(minor).\(revision)"
    }
}
