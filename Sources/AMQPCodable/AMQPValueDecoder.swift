import AMQPCodec

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads a `Decodable` value from an ``AMQPValue`` laid out as ``AMQPValueEncoder`` writes it,
/// strictly: each Swift type takes only its AMQP types (an integer any AMQP integer of its
/// signedness that fits, a `Date` only a `timestamp`, …), a key the type needs must be there, and
/// an ``AMQPDescribedCodable`` type needs its descriptor. Every refusal is an
/// ``AMQPValueCodingError`` naming the coding path.
public struct AMQPValueDecoder: Sendable {
    public var options: AMQPValueCodingOptions

    public init(options: AMQPValueCodingOptions = AMQPValueCodingOptions()) {
        self.options = options
    }

    public func decode<T: Decodable>(_ type: T.Type, from value: AMQPValue) throws -> T {
        try ValueDecoder.decoding(type, from: value, options: options, codingPath: [])
    }

    /// Decodes one AMQP value spanning all of `bytes` (``AMQPDecoder``), then `T` from it.
    public func decode<T: Decodable>(_ type: T.Type, fromEncoded bytes: [UInt8]) throws -> T {
        try decode(type, from: AMQPDecoder.decode(AMQPValue.self, from: bytes))
    }
}

/// Positions of a list-structured type's keys: the order they are first asked for, which for the
/// synthesized `init(from:)` is declaration order, as the encoder wrote them.
final class ListPositions {
    var keys: [String] = []
    func position(of key: String) -> Int {
        if let i = keys.firstIndex(of: key) { return i }
        keys.append(key)
        return keys.count - 1
    }
}

struct ValueDecoder: Decoder {
    let value: AMQPValue
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func decoding<T: Decodable>(_ type: T.Type, from value: AMQPValue, options: AMQPValueCodingOptions, codingPath: [any CodingKey]) throws -> T {
        func mismatch(_ expected: String) -> AMQPValueCodingError {
            AMQPValueCodingError(.typeMismatch(expected: expected, found: value.typeName), codingPath: codingPath)
        }
        if type == AMQPValue.self { return value as! T }
        if type == Data.self {
            guard case .binary(let b) = value else { throw mismatch("binary") }
            return Data(b.bytes) as! T
        }
        if type == [UInt8].self {
            guard case .binary(let b) = value else { throw mismatch("binary") }
            return Array(b.bytes) as! T
        }
        if type == Date.self {
            guard case .timestamp(let t) = value else { throw mismatch("timestamp") }
            return t.date as! T
        }
        if type == UUID.self {
            guard case .uuid(let u) = value else { throw mismatch("uuid") }
            return u.foundationUUID as! T
        }
        if type == Symbol.self {
            guard case .symbol(let s) = value else { throw mismatch("symbol") }
            return s as! T
        }
        if type == Binary.self {
            guard case .binary(let b) = value else { throw mismatch("binary") }
            return b as! T
        }
        if type == Timestamp.self {
            guard case .timestamp(let t) = value else { throw mismatch("timestamp") }
            return t as! T
        }
        if type == AMQPUUID.self {
            guard case .uuid(let u) = value else { throw mismatch("uuid") }
            return u as! T
        }
        if let described = type as? any AMQPDescribedCodable.Type {
            let expected = described.amqpDescriptor
            guard case .described(let descriptor, let body) = value else { throw mismatch("described value \(expected)") }
            guard descriptor == expected.value else {
                throw AMQPValueCodingError(.wrongDescriptor(expected: expected, found: descriptor), codingPath: codingPath)
            }
            return try T(from: ValueDecoder(value: body, options: options, codingPath: codingPath))
        }
        return try T(from: ValueDecoder(value: value, options: options, codingPath: codingPath))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch (options.structure, value) {
        case (.map, .map(let map)):
            var entries: [String: AMQPValue] = [:]
            for entry in map.entries {
                switch entry.key {
                case .string(let key): entries[key] = entry.value
                case .symbol(let key): entries[key.stringValue] = entry.value
                default:
                    throw AMQPValueCodingError(.typeMismatch(expected: "string or symbol key", found: entry.key.typeName), codingPath: codingPath)
                }
            }
            return KeyedDecodingContainer(KeyedValueContainer<Key>(storage: .map(entries), options: options, codingPath: codingPath))
        case (.list, .list(let values)):
            return KeyedDecodingContainer(KeyedValueContainer<Key>(storage: .list(values, ListPositions()), options: options, codingPath: codingPath))
        case (.map, _):
            throw AMQPValueCodingError(.typeMismatch(expected: "map", found: value.typeName), codingPath: codingPath)
        case (.list, _):
            throw AMQPValueCodingError(.typeMismatch(expected: "list", found: value.typeName), codingPath: codingPath)
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case .list(let values): return UnkeyedValueContainer(values: values, options: options, codingPath: codingPath)
        case .array(let array): return UnkeyedValueContainer(values: array.elements, options: options, codingPath: codingPath)
        default: throw AMQPValueCodingError(.typeMismatch(expected: "list", found: value.typeName), codingPath: codingPath)
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(value: value, options: options, codingPath: codingPath)
    }
}

/// Each scalar `Decodable` from the AMQP types it accepts.
enum ScalarDecoding {
    static func mismatch(_ expected: String, _ value: AMQPValue, _ path: [any CodingKey]) -> AMQPValueCodingError {
        AMQPValueCodingError(.typeMismatch(expected: expected, found: value.typeName), codingPath: path)
    }

    static func bool(_ value: AMQPValue, _ path: [any CodingKey]) throws -> Bool {
        guard case .boolean(let v) = value else { throw mismatch("boolean", value, path) }
        return v
    }

    static func string(_ value: AMQPValue, _ path: [any CodingKey]) throws -> String {
        guard case .string(let v) = value else { throw mismatch("string", value, path) }
        return v
    }

    static func double(_ value: AMQPValue, _ path: [any CodingKey]) throws -> Double {
        guard case .double(let v) = value else { throw mismatch("double", value, path) }
        return v
    }

    static func float(_ value: AMQPValue, _ path: [any CodingKey]) throws -> Float {
        guard case .float(let v) = value else { throw mismatch("float", value, path) }
        return v
    }

    /// Any AMQP integer of `I`'s signedness whose value `I` holds; `name` is the AMQP type `I` encodes as.
    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ name: String, _ value: AMQPValue, _ path: [any CodingKey]) throws -> I {
        let result: I?
        switch value {
        case .byte(let v) where I.isSigned: result = I(exactly: v)
        case .short(let v) where I.isSigned: result = I(exactly: v)
        case .int(let v) where I.isSigned: result = I(exactly: v)
        case .long(let v) where I.isSigned: result = I(exactly: v)
        case .ubyte(let v) where !I.isSigned: result = I(exactly: v)
        case .ushort(let v) where !I.isSigned: result = I(exactly: v)
        case .uint(let v) where !I.isSigned: result = I(exactly: v)
        case .ulong(let v) where !I.isSigned: result = I(exactly: v)
        default: throw mismatch(name, value, path)
        }
        guard let result else {
            throw AMQPValueCodingError(.overflow(expected: "\(name) (\(I.self))", value: "\(value)"), codingPath: path)
        }
        return result
    }
}

struct KeyedValueContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    enum Storage {
        case map([String: AMQPValue])
        case list([AMQPValue], ListPositions)
    }

    let storage: Storage
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]

    var allKeys: [Key] {
        switch storage {
        case .map(let entries): return entries.keys.compactMap { Key(stringValue: $0) }
        case .list(_, let positions): return positions.keys.compactMap { Key(stringValue: $0) }
        }
    }

    func contains(_ key: Key) -> Bool { lookUp(key) != nil }

    private func lookUp(_ key: Key) -> AMQPValue? {
        switch storage {
        case .map(let entries): return entries[key.stringValue]
        case .list(let values, let positions):
            let position = positions.position(of: key.stringValue)
            return position < values.count ? values[position] : nil
        }
    }

    private func value(_ key: Key) throws -> AMQPValue {
        guard let value = lookUp(key) else {
            throw AMQPValueCodingError(.missingKey(key.stringValue), codingPath: codingPath)
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try ScalarDecoding.bool(value(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try ScalarDecoding.string(value(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try ScalarDecoding.double(value(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try ScalarDecoding.float(value(key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try ScalarDecoding.integer(type, "long", value(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try ScalarDecoding.integer(type, "byte", value(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try ScalarDecoding.integer(type, "short", value(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try ScalarDecoding.integer(type, "int", value(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try ScalarDecoding.integer(type, "long", value(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try ScalarDecoding.integer(type, "ulong", value(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try ScalarDecoding.integer(type, "ubyte", value(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try ScalarDecoding.integer(type, "ushort", value(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try ScalarDecoding.integer(type, "uint", value(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try ScalarDecoding.integer(type, "ulong", value(key), codingPath + [key]) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try ValueDecoder.decoding(type, from: value(key), options: options, codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: value(key), options: options, codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: value(key), options: options, codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { try superDecoder(forKey: Key(stringValue: "super")!) }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: try value(key), options: options, codingPath: codingPath + [key])
    }
}

struct UnkeyedValueContainer: UnkeyedDecodingContainer {
    let values: [AMQPValue]
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]
    var currentIndex = 0

    init(values: [AMQPValue], options: AMQPValueCodingOptions, codingPath: [any CodingKey]) {
        self.values = values
        self.options = options
        self.codingPath = codingPath
    }

    var count: Int? { values.count }
    var isAtEnd: Bool { currentIndex >= values.count }

    private mutating func next() throws -> (AMQPValue, [any CodingKey]) {
        let path = codingPath + [IndexKey(currentIndex)]
        guard !isAtEnd else {
            throw AMQPValueCodingError(.missingKey("Index \(currentIndex)"), codingPath: path)
        }
        defer { currentIndex += 1 }
        return (values[currentIndex], path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if values[currentIndex] == .null {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (v, p) = try next(); return try ScalarDecoding.bool(v, p) }
    mutating func decode(_ type: String.Type) throws -> String { let (v, p) = try next(); return try ScalarDecoding.string(v, p) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (v, p) = try next(); return try ScalarDecoding.double(v, p) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (v, p) = try next(); return try ScalarDecoding.float(v, p) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (v, p) = try next(); return try ScalarDecoding.integer(type, "long", v, p) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "byte", v, p) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "short", v, p) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "int", v, p) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "long", v, p) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (v, p) = try next(); return try ScalarDecoding.integer(type, "ulong", v, p) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "ubyte", v, p) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "ushort", v, p) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "uint", v, p) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (v, p) = try next(); return try ScalarDecoding.integer(type, "ulong", v, p) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (v, p) = try next()
        return try ValueDecoder.decoding(type, from: v, options: options, codingPath: p)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (v, p) = try next()
        return try ValueDecoder(value: v, options: options, codingPath: p).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (v, p) = try next()
        return try ValueDecoder(value: v, options: options, codingPath: p).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (v, p) = try next()
        return ValueDecoder(value: v, options: options, codingPath: p)
    }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let value: AMQPValue
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try ScalarDecoding.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try ScalarDecoding.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try ScalarDecoding.double(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try ScalarDecoding.float(value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try ScalarDecoding.integer(type, "long", value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try ScalarDecoding.integer(type, "byte", value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try ScalarDecoding.integer(type, "short", value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try ScalarDecoding.integer(type, "int", value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try ScalarDecoding.integer(type, "long", value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try ScalarDecoding.integer(type, "ulong", value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try ScalarDecoding.integer(type, "ubyte", value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try ScalarDecoding.integer(type, "ushort", value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try ScalarDecoding.integer(type, "uint", value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try ScalarDecoding.integer(type, "ulong", value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ValueDecoder.decoding(type, from: value, options: options, codingPath: codingPath)
    }
}
