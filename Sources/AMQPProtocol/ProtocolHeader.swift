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

    public var id: ProtocolID
    public var major: UInt8
    public var minor: UInt8
    public var revision: UInt8

    @inlinable
    public init(_ id: ProtocolID, major: UInt8 = 1, minor: UInt8 = 0, revision: UInt8 = 0) {
        self.id = id
        self.major = major
        self.minor = minor
        self.revision = revision
    }

    public static let amqp = ProtocolHeader(.amqp)
    public static let sasl = ProtocolHeader(.sasl)
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
