import AMQPCodec

/// How ``AMQPValueEncoder`` lays out a `Codable` type, and what ``AMQPValueDecoder`` expects.
public struct AMQPValueCodingOptions: Sendable, Hashable {
    /// What a keyed container (a struct's properties) becomes.
    public enum Structure: Sendable, Hashable {
        /// A `map` from each property's name to its value, in encoding order.
        case map
        /// A `list` of the values in declaration order (the order the synthesized `encode(to:)`
        /// writes them and `init(from:)` reads them), without the names: smaller, and the shape
        /// of the AMQP composite types (§1.4). A custom `init(from:)` must read the keys in the
        /// order `encode(to:)` writes them.
        case list
    }

    /// What `nil` becomes.
    public enum NilEncoding: Sendable, Hashable {
        /// `null`, in place.
        case null
        /// Nothing: the key is left out of a map, and trailing `null`s are left off a list
        /// (earlier ones stay, to keep the positions), as AMQP composites do (§1.4).
        case absent
    }

    /// How map keys are written.
    public enum KeyType: Sendable, Hashable {
        case string
        case symbol
    }

    public var structure: Structure
    public var nilEncoding: NilEncoding
    public var keyType: KeyType

    public init(structure: Structure = .map, nilEncoding: NilEncoding = .absent, keyType: KeyType = .string) {
        self.structure = structure
        self.nilEncoding = nilEncoding
        self.keyType = keyType
    }
}

/// A `Codable` type that travels as an AMQP described value, like the composite types the
/// specification defines: the encoder wraps its body (a map or list) in `descriptor`, and the
/// decoder requires that descriptor, by code or by symbol as ``DescriptorValue`` matches it.
public protocol AMQPDescribedCodable: Codable {
    /// The descriptor written before the body: a symbol (`"com.example:order:list"`) or a code
    /// (`0x0000_BEEF_0000_0001`, a domain ID in the upper half as §1.5 asks).
    static var amqpDescriptor: DescriptorValue { get }
}

/// Why ``AMQPValueDecoder`` or ``AMQPValueEncoder`` refused a value, and where: the coding path
/// is the property names and element indices from the top, e.g. `order.lines[2].quantity`.
public struct AMQPValueCodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The AMQP value has another type than the Swift one maps to (`found` is its type name).
        case typeMismatch(expected: String, found: String)
        /// A key the type needs is not in the map (or the list is too short).
        case missingKey(String)
        /// An integer does not fit the Swift type.
        case overflow(expected: String, value: String)
        /// A described value's descriptor is not the type's ``AMQPDescribedCodable/amqpDescriptor``.
        case wrongDescriptor(expected: DescriptorValue, found: AMQPValue)
        /// A value the encoder cannot write, such as a map key that is not a string.
        case invalidValue(String)
    }

    public var kind: Kind
    /// The property names and element indices from the top value to the one refused.
    public var codingPath: String

    public init(_ kind: Kind, codingPath: [any CodingKey]) {
        self.kind = kind
        self.codingPath = Self.render(codingPath)
    }

    static func render(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue, key.stringValue == "Index \(index)" || key.stringValue == String(index) {
                text += "[\(index)]"
            } else {
                if !text.isEmpty { text += "." }
                text += key.stringValue
            }
        }
        return text.isEmpty ? "(top)" : text
    }

    public var description: String {
        let what: String
        switch kind {
        case .typeMismatch(let expected, let found): what = "expected \(expected), found \(found)"
        case .missingKey(let key): what = "missing key \"\(key)\""
        case .overflow(let expected, let value): what = "\(value) does not fit \(expected)"
        case .wrongDescriptor(let expected, let found): what = "expected descriptor \(expected), found \(found)"
        case .invalidValue(let detail): what = detail
        }
        return "\(codingPath): \(what)"
    }
}

/// A coding key for a list index or a map entry that is not a property.
struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }
    init?(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }
    init?(intValue: Int) { self.init(intValue) }
}

extension AMQPValue {
    /// The type's name in the specification, for errors.
    var typeName: String {
        switch self {
        case .described: return "described value"
        default: return "\(type)"
        }
    }
}
