import AMQPCodable
import AMQPCodec
import Foundation

/// The Event Hubs message's five application properties as a user's own type.
struct EventProperties: Codable, Equatable, Sendable {
    var tenant: String
    var attempt: Int64
    var urgent: Bool
    var score: Double
    var observedAt: Date

    enum CodingKeys: String, CodingKey {
        case tenant, attempt, urgent, score
        case observedAt = "observed-at"
    }

    static let fixture = EventProperties(
        tenant: "contoso", attempt: 3, urgent: true, score: 0.75,
        observedAt: Date(timeIntervalSince1970: Double(Fixtures.epochMilliseconds + 123) / 1000))
}

/// `eh-properties-codable`: the properties through AMQPValueEncoder / AMQPValueDecoder, to and
/// from their encoding (the same bytes as the Event Hubs message's application-properties map).
struct CodableBridgeBenchmark: CodecBenchmark {
    let name = "eh-properties-codable"
    let value = EventProperties.fixture
    let bytes: [UInt8]

    init() {
        bytes = try! AMQPValueEncoder().encodedBytes(EventProperties.fixture)
    }

    func encode() -> Int { try! AMQPValueEncoder().encodedBytes(value).count }

    func decode() throws -> Int {
        try AMQPValueDecoder().decode(EventProperties.self, fromEncoded: bytes).attempt == 3 ? 1 : 0
    }

    func verify() throws -> Bool {
        try AMQPValueDecoder().decode(EventProperties.self, fromEncoded: bytes) == value
            && bytes == HandBuiltPropertiesBenchmark.encode(value)
    }
}

/// `eh-properties-by-hand`: the same properties as a user writes them without the bridge: an
/// AMQPValue map built field by field, and read back by key.
struct HandBuiltPropertiesBenchmark: CodecBenchmark {
    let name = "eh-properties-by-hand"
    let value = EventProperties.fixture
    let bytes = HandBuiltPropertiesBenchmark.encode(EventProperties.fixture)

    static func encode(_ p: EventProperties) -> [UInt8] {
        let milliseconds = Int64((p.observedAt.timeIntervalSince1970 * 1000).rounded())
        return AMQPEncoder.encode(AMQPValue.map([
            .string("tenant"): .string(p.tenant),
            .string("attempt"): .long(p.attempt),
            .string("urgent"): .boolean(p.urgent),
            .string("score"): .double(p.score),
            .string("observed-at"): .timestamp(Timestamp(millisecondsSince1970: milliseconds)),
        ]))
    }

    struct Malformed: Error {}

    static func decode(_ bytes: [UInt8]) throws -> EventProperties {
        guard case .map(let map) = try AMQPDecoder.decode(AMQPValue.self, from: bytes) else { throw Malformed() }
        var tenant: String?, attempt: Int64?, urgent: Bool?, score: Double?, observedAt: Date?
        for entry in map.entries {
            switch (entry.key, entry.value) {
            case (.string("tenant"), .string(let v)): tenant = v
            case (.string("attempt"), .long(let v)): attempt = v
            case (.string("urgent"), .boolean(let v)): urgent = v
            case (.string("score"), .double(let v)): score = v
            case (.string("observed-at"), .timestamp(let v)):
                observedAt = Date(timeIntervalSince1970: Double(v.millisecondsSince1970) / 1000)
            default: throw Malformed()
            }
        }
        guard let tenant, let attempt, let urgent, let score, let observedAt else { throw Malformed() }
        return EventProperties(tenant: tenant, attempt: attempt, urgent: urgent, score: score, observedAt: observedAt)
    }

    func encode() -> Int { Self.encode(value).count }

    func decode() throws -> Int { try Self.decode(bytes).attempt == 3 ? 1 : 0 }

    func verify() throws -> Bool { try Self.decode(bytes) == value }
}
