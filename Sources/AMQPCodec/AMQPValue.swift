/// Any AMQP 1.0 value: a primitive, a compound (list, map, array) or a described value.
///
/// ## Equality and hashing
/// Two values are equal when they have the same AMQP type and the same content; the width of
/// their encoding does not matter (`uint` 0 is equal whether it came as `0x43`, `0x52 00` or
/// `0x70 00000000`), but the type does (`int` 1 is not `long` 1).
///
/// - Floating-point values compare by **bit pattern**, so a NaN equals the same NaN, `0.0` and
///   `-0.0` differ, and `Hashable` is lawful. A value that round-trips through the codec is always
///   equal to itself.
/// - Decimals are kept and compared as their exact bits; the codec never normalizes them.
/// - Maps are ordered sequences of pairs: two maps are equal when they hold equal pairs in the same
///   order, which is what "decode, then encode, gives the same bytes" needs.
/// - Arrays compare element type, descriptor and elements.
public enum AMQPValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case boolean(Bool)
    case ubyte(UInt8)
    case ushort(UInt16)
    case uint(UInt32)
    case ulong(UInt64)
    case byte(Int8)
    case short(Int16)
    case int(Int32)
    case long(Int64)
    case float(Float)
    case double(Double)
    case decimal32(Decimal32)
    case decimal64(Decimal64)
    case decimal128(Decimal128)
    case char(Unicode.Scalar)
    case timestamp(Timestamp)
    case uuid(AMQPUUID)
    case binary(Binary)
    case string(String)
    case symbol(Symbol)
    /// A `list` of values of any types (§1.6.22).
    case list([AMQPValue])
    case map(AMQPMap)
    indirect case array(AMQPArray)
    /// A value with a descriptor (§1.2): usually a `ulong` code or a `symbol` naming its type (§1.5).
    indirect case described(descriptor: AMQPValue, value: AMQPValue)

    /// The AMQP type of the value; for a described value, the type of the value it describes.
    public var type: AMQPType {
        switch self {
        case .null: return .null
        case .boolean: return .boolean
        case .ubyte: return .ubyte
        case .ushort: return .ushort
        case .uint: return .uint
        case .ulong: return .ulong
        case .byte: return .byte
        case .short: return .short
        case .int: return .int
        case .long: return .long
        case .float: return .float
        case .double: return .double
        case .decimal32: return .decimal32
        case .decimal64: return .decimal64
        case .decimal128: return .decimal128
        case .char: return .char
        case .timestamp: return .timestamp
        case .uuid: return .uuid
        case .binary: return .binary
        case .string: return .string
        case .symbol: return .symbol
        case .list: return .list
        case .map: return .map
        case .array: return .array
        case .described(_, let value): return value.type
        }
    }

    /// Same type and content, regardless of encoding width; floats by bit pattern, strings by UTF-8
    /// bytes.
    public static func == (lhs: AMQPValue, rhs: AMQPValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.boolean(let a), .boolean(let b)): return a == b
        case (.ubyte(let a), .ubyte(let b)): return a == b
        case (.ushort(let a), .ushort(let b)): return a == b
        case (.uint(let a), .uint(let b)): return a == b
        case (.ulong(let a), .ulong(let b)): return a == b
        case (.byte(let a), .byte(let b)): return a == b
        case (.short(let a), .short(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.long(let a), .long(let b)): return a == b
        case (.float(let a), .float(let b)): return a.bitPattern == b.bitPattern
        case (.double(let a), .double(let b)): return a.bitPattern == b.bitPattern
        case (.decimal32(let a), .decimal32(let b)): return a == b
        case (.decimal64(let a), .decimal64(let b)): return a == b
        case (.decimal128(let a), .decimal128(let b)): return a == b
        case (.char(let a), .char(let b)): return a == b
        case (.timestamp(let a), .timestamp(let b)): return a == b
        case (.uuid(let a), .uuid(let b)): return a == b
        case (.binary(let a), .binary(let b)): return a == b
        case (.string(let a), .string(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.symbol(let a), .symbol(let b)): return a == b
        case (.list(let a), .list(let b)): return a == b
        case (.map(let a), .map(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.described(let da, let va), .described(let db, let vb)): return da == db && va == vb
        default: return false
        }
    }

    /// Hashes consistently with `==`: type, then content (floats by bit pattern, strings by UTF-8
    /// bytes).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        switch self {
        case .null: break
        case .boolean(let v): hasher.combine(v)
        case .ubyte(let v): hasher.combine(v)
        case .ushort(let v): hasher.combine(v)
        case .uint(let v): hasher.combine(v)
        case .ulong(let v): hasher.combine(v)
        case .byte(let v): hasher.combine(v)
        case .short(let v): hasher.combine(v)
        case .int(let v): hasher.combine(v)
        case .long(let v): hasher.combine(v)
        case .float(let v): hasher.combine(v.bitPattern)
        case .double(let v): hasher.combine(v.bitPattern)
        case .decimal32(let v): hasher.combine(v)
        case .decimal64(let v): hasher.combine(v)
        case .decimal128(let v): hasher.combine(v)
        case .char(let v): hasher.combine(v)
        case .timestamp(let v): hasher.combine(v)
        case .uuid(let v): hasher.combine(v)
        case .binary(let v): hasher.combine(v)
        case .string(let v):
            // Hash the UTF-8 bytes, matching `==` (which compares bytes, not canonical equivalence).
            hasher.combine(v.utf8.count)
            for b in v.utf8 { hasher.combine(b) }
        case .symbol(let v): hasher.combine(v)
        case .list(let v): hasher.combine(v)
        case .map(let v): hasher.combine(v)
        case .array(let v): hasher.combine(v)
        case .described(let d, let v):
            hasher.combine(true)
            hasher.combine(d)
            hasher.combine(v)
        }
    }

    /// A compact, type-tagged rendering for logs and tests, e.g. `uint(5)`, `:symbol`, `"string"`,
    /// `descriptor→value`.
    public var description: String {
        switch self {
        case .null: return "null"
        case .boolean(let v): return "\(v)"
        case .ubyte(let v): return "ubyte(\(v))"
        case .ushort(let v): return "ushort(\(v))"
        case .uint(let v): return "uint(\(v))"
        case .ulong(let v): return "ulong(\(v))"
        case .byte(let v): return "byte(\(v))"
        case .short(let v): return "short(\(v))"
        case .int(let v): return "int(\(v))"
        case .long(let v): return "long(\(v))"
        case .float(let v): return "float(\(v))"
        case .double(let v): return "double(\(v))"
        case .decimal32(let v): return "\(v)"
        case .decimal64(let v): return "\(v)"
        case .decimal128(let v): return "\(v)"
        case .char(let v): return "char(\(v.escaped(asASCII: true)))"
        case .timestamp(let v): return "\(v)"
        case .uuid(let v): return "uuid(\(v))"
        case .binary(let v): return "binary(\(v.hexString))"
        case .string(let v): return "\"\(v)\""
        case .symbol(let v): return ":\(v)"
        case .list(let v): return "[" + v.map { $0.description }.joined(separator: ", ") + "]"
        case .map(let v): return v.description
        case .array(let v): return v.description
        case .described(let d, let v): return "\(d)→\(v)"
        }
    }
}

// Deliberately not `ExpressibleByNilLiteral`: with it, `nil` in an `AMQPValue?` context can
// silently become `.null` instead of `.none`.
extension AMQPValue: ExpressibleByBooleanLiteral, ExpressibleByStringLiteral {
    /// `true` and `false` as ``boolean(_:)``.
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    /// A string literal as ``string(_:)``, not ``symbol(_:)``.
    public init(stringLiteral value: String) { self = .string(value) }
}

/// An AMQP `map`: an ordered sequence of key–value pairs whose keys may be any AMQP value (§1.6.23).
///
/// The order of pairs is kept exactly as decoded or inserted. Lookups by key scan the pairs, which
/// is fast for the small maps AMQP carries (annotations, properties); the first pair with a key wins.
public struct AMQPMap: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One key–value pair of an ``AMQPMap``.
    public struct Entry: Sendable, Hashable {
        /// The key; any AMQP value, though AMQP's own maps mostly use symbols.
        public var key: AMQPValue
        /// The value paired with ``key``.
        public var value: AMQPValue
        /// A pair of `key` and `value`.
        @inlinable
        public init(key: AMQPValue, value: AMQPValue) {
            self.key = key
            self.value = value
        }
    }

    /// The pairs in wire order; duplicate keys are kept as they came.
    public var entries: [Entry]

    /// An empty map.
    @inlinable
    public init() { self.entries = [] }

    /// A map of `entries` in the given order, duplicates kept.
    @inlinable
    public init(_ entries: [Entry]) { self.entries = entries }

    /// A map of the literal's pairs in source order.
    public init(dictionaryLiteral elements: (AMQPValue, AMQPValue)...) {
        self.entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    /// The index of the first pair (0).
    @inlinable public var startIndex: Int { entries.startIndex }
    /// The number of pairs.
    @inlinable public var endIndex: Int { entries.endIndex }
    /// The pair at `position`, in wire order.
    @inlinable public subscript(position: Int) -> Entry { entries[position] }

    /// The value of the first pair whose key is `key`; setting replaces it in place, or appends a
    /// pair; setting `nil` removes every pair with that key.
    public subscript(key: AMQPValue) -> AMQPValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let newValue {
                if let i = entries.firstIndex(where: { $0.key == key }) {
                    entries[i].value = newValue
                } else {
                    entries.append(Entry(key: key, value: newValue))
                }
            } else {
                entries.removeAll(where: { $0.key == key })
            }
        }
    }

    /// The value for a symbol key, the common case for annotations and `fields`.
    public subscript(symbol key: Symbol) -> AMQPValue? {
        get { self[.symbol(key)] }
        set { self[.symbol(key)] = newValue }
    }

    /// Appends a pair without looking for an existing pair with the same key.
    @inlinable
    public mutating func append(key: AMQPValue, value: AMQPValue) {
        entries.append(Entry(key: key, value: value))
    }

    /// The pairs as `{key: value, …}` in order.
    public var description: String {
        "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
    }
}

/// An AMQP `array`: a sequence of values of one type, encoded with a single shared constructor
/// (§1.6.24).
///
/// The elements are the values *without* their descriptor: an array of described values keeps
/// the one shared descriptor in ``descriptor``. Every element has type ``elementType``; the
/// initializer checks it, so an `AMQPArray` always encodes.
///
/// The specification reserves descriptors other than `ulong` and `symbol` (§1.5) but its grammar
/// allows any value, and Proton's interoperability vectors use an `int` descriptor, so any value
/// is accepted here and by the decoder.
public struct AMQPArray: Sendable, Hashable, CustomStringConvertible {
    /// The type every element has (never `null`); for a described array, the type of the values
    /// described.
    public let elementType: AMQPType
    /// The descriptor shared by every element, or `nil` for an array of plain values.
    public let descriptor: AMQPValue?
    /// The elements, each without the shared descriptor.
    public let elements: [AMQPValue]

    /// Creates an array, or throws ``AMQPEncodingError`` when an element is not of `elementType`
    /// (or is itself described), or `elementType` is `null`.
    public init(elementType: AMQPType, descriptor: AMQPValue? = nil, elements: [AMQPValue]) throws(AMQPEncodingError) {
        guard elementType != .null else {
            throw AMQPEncodingError(.invalidArray, "an array cannot hold nulls")
        }
        for element in elements {
            if case .described = element {
                throw AMQPEncodingError(.invalidArray, "array elements share one descriptor; pass it as `descriptor`")
            }
            guard element.type == elementType else {
                throw AMQPEncodingError(.invalidArray, "array of \(elementType) holds a \(element.type)")
            }
        }
        self.elementType = elementType
        self.descriptor = descriptor
        self.elements = elements
    }

    /// Used by the decoder, which has already checked every element.
    @usableFromInline
    init(unchecked elementType: AMQPType, descriptor: AMQPValue?, elements: [AMQPValue]) {
        self.elementType = elementType
        self.descriptor = descriptor
        self.elements = elements
    }

    /// The element type and elements, e.g. `uint[uint(1), uint(2)]`, prefixed by `descriptor→` if
    /// described.
    public var description: String {
        let d = descriptor.map { "\($0)→" } ?? ""
        return "\(d)\(elementType)[" + elements.map { $0.description }.joined(separator: ", ") + "]"
    }
}

