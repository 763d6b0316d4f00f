import AMQPCodec

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns an `Encodable` value into an ``AMQPValue``: a struct becomes a `map` from property names
/// (or a `list` in declaration order, ``AMQPValueCodingOptions/Structure/list``), an array a
/// `list`, and each scalar its exact AMQP type: `Int8`/`Int16`/`Int32`/`Int64`/`Int` →
/// `byte`/`short`/`int`/`long`/`long`, the unsigned ones → `ubyte`/`ushort`/`uint`/`ulong`/`ulong`,
/// `Float`/`Double` → `float`/`double`, `Data` and `[UInt8]` → `binary`, `Date` → `timestamp`
/// (to the nearest millisecond), `UUID` → `uuid`, and an ``AMQPValue`` (or `Symbol`,
/// `Binary`, `Timestamp`, `AMQPUUID`) as itself. An ``AMQPDescribedCodable`` type is written as a
/// described value.
public struct AMQPValueEncoder: Sendable {
    public var options: AMQPValueCodingOptions

    public init(options: AMQPValueCodingOptions = AMQPValueCodingOptions()) {
        self.options = options
    }

    /// The AMQP value of `value`. Throws ``AMQPValueCodingError`` for a value it cannot write, and
    /// whatever `value`'s own `encode(to:)` throws.
    public func encode<T: Encodable>(_ value: T) throws -> AMQPValue {
        let box = try EncodingBox.encoding(value, options: options, codingPath: [])
        return box.value(options) ?? .null
    }

    /// The AMQP encoding of `value` (its ``encode(_:)`` value, written by ``AMQPEncoder``).
    public func encodedBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
        AMQPEncoder.encode(try encode(value))
    }
}

/// What one `Encoder` call produced: filled in by the containers, turned into a value at the end.
final class EncodingBox {
    enum Content {
        case empty
        case single(AMQPValue)
        case keyed([(key: String, box: EncodingBox)])
        case unkeyed([EncodingBox])
        case described(DescriptorValue, EncodingBox)
    }

    var content: Content = .empty
    /// Set for `encodeNil()`, so that a map or list can leave it out.
    var isNil = false

    init() {}
    init(_ value: AMQPValue) { content = .single(value) }

    /// `value`'s box: the types with an AMQP form of their own directly, any other through its
    /// `encode(to:)`.
    static func encoding<T: Encodable>(_ value: T, options: AMQPValueCodingOptions, codingPath: [any CodingKey]) throws -> EncodingBox {
        if let direct = directValue(value) { return EncodingBox(direct) }
        let box = EncodingBox()
        let encoder = BoxEncoder(box: box, options: options, codingPath: codingPath)
        if let described = T.self as? any AMQPDescribedCodable.Type {
            let body = EncodingBox()
            try value.encode(to: BoxEncoder(box: body, options: options, codingPath: codingPath))
            box.content = .described(described.amqpDescriptor, body)
        } else {
            try value.encode(to: encoder)
        }
        return box
    }

    static func directValue<T: Encodable>(_ value: T) -> AMQPValue? {
        switch value {
        case let v as AMQPValue: return v
        case let v as Data: return .binary(Binary(v))
        case let v as [UInt8]: return .binary(Binary(v))
        case let v as Date: return .timestamp(Timestamp(date: v))
        case let v as UUID: return .uuid(AMQPUUID(uuid: v))
        case let v as Symbol: return .symbol(v)
        case let v as Binary: return .binary(v)
        case let v as Timestamp: return .timestamp(v)
        case let v as AMQPUUID: return .uuid(v)
        default: return nil
        }
    }

    /// The value, or nil when it is a `nil` that ``AMQPValueCodingOptions/NilEncoding/absent``
    /// leaves out of its container.
    func value(_ options: AMQPValueCodingOptions) -> AMQPValue? {
        if isNil { return options.nilEncoding == .absent ? nil : .null }
        switch content {
        case .empty:
            // A container was asked for but nothing written into it: an empty struct or array.
            return .null
        case .single(let value):
            return value
        case .keyed(let entries):
            switch options.structure {
            case .map:
                var map = AMQPMap()
                for entry in entries {
                    guard let value = entry.box.value(options) else { continue }
                    let key: AMQPValue = switch options.keyType {
                    case .string: .string(entry.key)
                    // Property names are ASCII in practice; one that is not stays a string.
                    case .symbol: Symbol(entry.key).map { .symbol($0) } ?? .string(entry.key)
                    }
                    map.entries.append(AMQPMap.Entry(key: key, value: value))
                }
                return .map(map)
            case .list:
                var count = entries.count
                if options.nilEncoding == .absent {
                    while count > 0, entries[count - 1].box.isNil { count -= 1 }
                }
                return .list(entries[..<count].map { $0.box.value(options) ?? .null })
            }
        case .unkeyed(let elements):
            return .list(elements.map { $0.value(options) ?? .null })
        case .described(let descriptor, let body):
            return .described(descriptor: descriptor.value, value: body.value(options) ?? .null)
        }
    }
}

extension Timestamp {
    /// `date` in milliseconds since 1970, to the nearest (AMQP's `timestamp` has no finer unit).
    /// Nearest, not down: a date of whole milliseconds is often a hair below them as a `Double`
    /// (`1_700_000_000_123 / 1000 * 1000` is not always exact), and must come back unchanged.
    init(date: Date) {
        self.init(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    var date: Date { Date(timeIntervalSince1970: Double(millisecondsSince1970) / 1000) }
}

extension AMQPUUID {
    init(uuid: UUID) {
        let u = uuid.uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        self.init(bytes: bytes)!
    }

    var foundationUUID: UUID {
        let b = bytes
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

struct BoxEncoder: Encoder {
    let box: EncodingBox
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = box.content {} else { box.content = .keyed([]) }
        return KeyedEncodingContainer(KeyedBoxContainer<Key>(box: box, options: options, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unkeyed = box.content {} else { box.content = .unkeyed([]) }
        return UnkeyedBoxContainer(box: box, options: options, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleBoxContainer(box: box, options: options, codingPath: codingPath)
    }
}

/// The AMQP value of each scalar `Encodable` the containers take.
enum Scalars {
    static func value(_ v: Bool) -> AMQPValue { .boolean(v) }
    static func value(_ v: String) -> AMQPValue { .string(v) }
    static func value(_ v: Double) -> AMQPValue { .double(v) }
    static func value(_ v: Float) -> AMQPValue { .float(v) }
    static func value(_ v: Int) -> AMQPValue { .long(Int64(v)) }
    static func value(_ v: Int8) -> AMQPValue { .byte(v) }
    static func value(_ v: Int16) -> AMQPValue { .short(v) }
    static func value(_ v: Int32) -> AMQPValue { .int(v) }
    static func value(_ v: Int64) -> AMQPValue { .long(v) }
    static func value(_ v: UInt) -> AMQPValue { .ulong(UInt64(v)) }
    static func value(_ v: UInt8) -> AMQPValue { .ubyte(v) }
    static func value(_ v: UInt16) -> AMQPValue { .ushort(v) }
    static func value(_ v: UInt32) -> AMQPValue { .uint(v) }
    static func value(_ v: UInt64) -> AMQPValue { .ulong(v) }
}

struct KeyedBoxContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: EncodingBox
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]

    private func append(_ key: Key, _ child: EncodingBox) {
        guard case .keyed(var entries) = box.content else { return }
        box.content = .empty
        if let i = entries.firstIndex(where: { $0.key == key.stringValue }) {
            entries[i].box = child
        } else {
            entries.append((key.stringValue, child))
        }
        box.content = .keyed(entries)
    }

    mutating func encodeNil(forKey key: Key) throws {
        let child = EncodingBox(.null)
        child.isNil = true
        append(key, child)
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: String, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Float, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { append(key, EncodingBox(Scalars.value(value))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        append(key, try EncodingBox.encoding(value, options: options, codingPath: codingPath + [key]))
    }

    // The synthesized encode(to:) leaves a nil optional out with encodeIfPresent; here it is an
    // explicit nil, so that a list keeps every property's position and `.null` can be written.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingBox()
        child.content = .keyed([])
        append(key, child)
        return KeyedEncodingContainer(KeyedBoxContainer<NestedKey>(box: child, options: options, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = EncodingBox()
        child.content = .unkeyed([])
        append(key, child)
        return UnkeyedBoxContainer(box: child, options: options, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = EncodingBox()
        append(key, child)
        return BoxEncoder(box: child, options: options, codingPath: codingPath + [key])
    }
}

struct UnkeyedBoxContainer: UnkeyedEncodingContainer {
    let box: EncodingBox
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]
    var count: Int {
        if case .unkeyed(let elements) = box.content { return elements.count }
        return 0
    }

    private func append(_ child: EncodingBox) {
        guard case .unkeyed(var elements) = box.content else { return }
        box.content = .empty
        elements.append(child)
        box.content = .unkeyed(elements)
    }

    // In a list every element keeps its place: a nil element is a null whatever the options.
    mutating func encodeNil() throws { append(EncodingBox(.null)) }
    mutating func encode(_ value: Bool) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: String) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Double) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Float) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int8) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int16) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int32) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: Int64) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt8) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt16) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt32) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode(_ value: UInt64) throws { append(EncodingBox(Scalars.value(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try EncodingBox.encoding(value, options: options, codingPath: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingBox()
        child.content = .keyed([])
        let path = codingPath + [IndexKey(count)]
        append(child)
        return KeyedEncodingContainer(KeyedBoxContainer<NestedKey>(box: child, options: options, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = EncodingBox()
        child.content = .unkeyed([])
        let path = codingPath + [IndexKey(count)]
        append(child)
        return UnkeyedBoxContainer(box: child, options: options, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let child = EncodingBox()
        let path = codingPath + [IndexKey(count)]
        append(child)
        return BoxEncoder(box: child, options: options, codingPath: path)
    }
}

struct SingleBoxContainer: SingleValueEncodingContainer {
    let box: EncodingBox
    let options: AMQPValueCodingOptions
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws {
        box.content = .single(.null)
        box.isNil = true
    }
    mutating func encode(_ value: Bool) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: String) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Double) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Float) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Int) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Int8) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Int16) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Int32) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: Int64) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: UInt) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: UInt8) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: UInt16) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: UInt32) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode(_ value: UInt64) throws { box.content = .single(Scalars.value(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let child = try EncodingBox.encoding(value, options: options, codingPath: codingPath)
        box.content = child.content
        box.isNil = child.isNil
    }
}
