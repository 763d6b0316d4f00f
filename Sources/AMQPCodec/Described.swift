/// The two names of a described type: its numeric code (domain ID and descriptor ID in one
/// `ulong`) and its symbolic name (§1.5).
public struct AMQPDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The numeric descriptor: domain ID in the high 32 bits, descriptor ID in the low 32.
    public let code: UInt64
    /// The symbolic descriptor, e.g. `amqp:open:list`.
    public let symbol: Symbol

    /// A descriptor with both names; they are not checked against each other.
    @inlinable
    public init(code: UInt64, symbol: Symbol) {
        self.code = code
        self.symbol = symbol
    }

    /// `domain:id` in hexadecimal, as the specification writes codes (`0x00000000:0x00000010`).
    public var codeDescription: String {
        func part(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: 8 - s.count) + s
        }
        return part(code >> 32) + ":" + part(code & 0xFFFF_FFFF)
    }

    /// The symbol and the code, e.g. `amqp:open:list (0x00000000:0x00000010)`.
    public var description: String { "\(symbol) (\(codeDescription))" }
}

/// The descriptor of a described value as it was read: numeric, symbolic, or (reserved, but
/// permitted by the grammar) any other value.
public enum DescriptorValue: Hashable, Sendable, CustomStringConvertible {
    /// A numeric descriptor (`ulong`): domain ID in the high 32 bits, descriptor ID in the low.
    case code(UInt64)
    /// A symbolic descriptor, e.g. `amqp:open:list`.
    case symbol(Symbol)
    /// A descriptor of any other type: reserved by §1.5, but the grammar allows it.
    case other(AMQPValue)

    /// Whether this descriptor names `descriptor`, by code or by symbol.
    @inlinable
    public func matches(_ descriptor: AMQPDescriptor) -> Bool {
        switch self {
        case .code(let c): return c == descriptor.code
        case .symbol(let s): return s == descriptor.symbol
        case .other: return false
        }
    }

    /// The descriptor as the AMQP value it was read as (`ulong`, `symbol`, or the other value).
    public var value: AMQPValue {
        switch self {
        case .code(let c): return .ulong(c)
        case .symbol(let s): return .symbol(s)
        case .other(let v): return v
        }
    }

    /// The code as `domain:id` in hex, the symbol as is, or the other value's description.
    public var description: String {
        switch self {
        case .code(let c): return AMQPDescriptor(code: c, symbol: "").codeDescription
        case .symbol(let s): return s.stringValue
        case .other(let v): return v.description
        }
    }
}

/// A type with a descriptor: every composite of the specification (performatives, sections,
/// delivery states, termini, …) and the restricted types that carry one.
///
/// Conforming types (the generated ones) implement the body; encoding writes the numeric
/// descriptor as a small ulong where it fits, decoding accepts the numeric or the symbolic form.
public protocol AMQPDescribedType: AMQPCodable {
    /// The type's code and symbolic name from the specification.
    static var descriptor: AMQPDescriptor { get }
    /// Reads the value that follows the descriptor.
    init(describedBodyFrom decoder: inout AMQPDecoder) throws(AMQPDecodingError)
    /// Writes the value that follows the descriptor.
    func encodeDescribedBody(to encoder: inout AMQPEncoder)
}

extension AMQPDescribedType {
    /// Writes `0x00`, the numeric descriptor (as a small ulong where it fits), then the body.
    @inlinable
    public func encode(to encoder: inout AMQPEncoder) {
        encoder.writeDescriptor(code: Self.descriptor.code)
        encodeDescribedBody(to: &encoder)
    }

    /// Reads the descriptor, by code or symbol, then the body; any other descriptor throws
    /// `unexpectedDescriptor`.
    @inlinable
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        try decoder.expectDescriptor(Self.descriptor)
        try decoder.enterDescribedBody()
        try self.init(describedBodyFrom: &decoder)
        decoder.leaveDescribedBody()
    }
}

extension AMQPDecoder {
    /// Reads the `0x00` of a described value and its descriptor.
    public mutating func readDescriptor() throws(AMQPDecodingError) -> DescriptorValue {
        // Every peer writes the descriptors of the specification's types as `0x00 0x53 nn`
        // (a small ulong): three bytes read at once, not a format code, a peek and a ulong.
        if end &- position >= 3 {
            let small: UInt64? = input.withUnsafeBufferPointer { buffer in
                let p = buffer.baseAddress.unsafelyUnwrapped + (position &- input.startIndex)
                return p[0] == FormatCode.described.rawValue && p[1] == FormatCode.smallULong.rawValue ? UInt64(p[2]) : nil
            }
            if let small {
                position &+= 3
                return .code(small)
            }
        }
        let at = offset
        let code = try readFormatCode()
        guard code == .described else {
            throw unexpected(code, expected: "a described value", at: at)
        }
        return try readDescriptorValue()
    }

    /// Reads a descriptor (after the `0x00`).
    public mutating func readDescriptorValue() throws(AMQPDecodingError) -> DescriptorValue {
        switch peekByte().map(FormatCode.init(rawValue:)) {
        case .ulong0?, .smallULong?, .ulong?:
            return .code(try decodeULong())
        case .sym8?, .sym32?:
            return .symbol(try decodeSymbol())
        default:
            try enterNested()
            let value = try decodeValue()
            leaveNested()
            return .other(value)
        }
    }

    /// Counts the described value whose descriptor was just read as one level of nesting, as
    /// ``decodeValue()`` does, so a typed decoder accepts exactly the depths the untyped one does.
    ///
    /// Call it after ``readDescriptor()`` and before the body; call ``leaveDescribedBody()`` after
    /// the body. Throws `depthExceeded` past ``AMQPDecoder/Limits/maxDepth``.
    @inlinable
    public mutating func enterDescribedBody() throws(AMQPDecodingError) {
        try enterNested()
    }

    /// Ends the level ``enterDescribedBody()`` counted.
    @inlinable
    public mutating func leaveDescribedBody() {
        leaveNested()
    }

    /// Reads the `0x00` and descriptor of a described value that must be `descriptor`.
    @inlinable
    public mutating func expectDescriptor(_ descriptor: AMQPDescriptor) throws(AMQPDecodingError) {
        let at = offset
        let found = try readDescriptor()
        guard found.matches(descriptor) else {
            throw AMQPDecodingError(.unexpectedDescriptor, at: at, "expected \(descriptor), found \(found)")
        }
    }

    // MARK: Composites

    /// The fields of a composite being read, in order.
    public struct CompositeFields: Sendable {
        /// The composite's name as the specification spells it, for error messages.
        public let typeName: StaticString
        @usableFromInline let scope: CompoundScope
        @usableFromInline var index: Int

        @inlinable
        init(typeName: StaticString, scope: CompoundScope, index: Int) {
            self.typeName = typeName
            self.scope = scope
            self.index = index
        }

        /// The number of fields present in the encoding (fields after it are absent).
        @inlinable public var count: Int { scope.count }
    }

    /// Enters a composite's list of fields (`list0`, `list8` or `list32`, §1.3).
    @inlinable
    public mutating func beginComposite(_ typeName: StaticString) throws(AMQPDecodingError) -> CompositeFields {
        let at = offset
        let code = try readFormatCode()
        let scope: CompoundScope
        switch code {
        case .list0, .list8, .list32:
            scope = try beginCompound(code, at: at, isMap: false)
        default:
            throw AMQPDecodingError(.unexpectedType, at: at, "\(typeName) must be a list, found \(code.type.map { "\($0)" } ?? "\(code)")")
        }
        return CompositeFields(typeName: typeName, scope: scope, index: 0)
    }

    /// Reads the next field: `nil` when it is null or absent (past the end of the list).
    @inlinable
    public mutating func decodeField<T: AMQPDecodable>(_ type: T.Type, _ fields: inout CompositeFields, _ name: StaticString) throws(AMQPDecodingError) -> T? {
        guard fields.index < fields.scope.count else { return nil }
        fields.index &+= 1
        if decodeNull() { return nil }
        let at = offset
        do {
            return try T(from: &self)
        } catch {
            throw fieldError(error, fields, name, at: at)
        }
    }

    /// Reads the next field, which is mandatory: null or absent is an error naming the field.
    @inlinable
    public mutating func decodeMandatoryField<T: AMQPDecodable>(_ type: T.Type, _ fields: inout CompositeFields, _ name: StaticString) throws(AMQPDecodingError) -> T {
        let at = offset
        guard let value = try decodeField(T.self, &fields, name) else {
            throw AMQPDecodingError(.missingMandatoryField, at: at, "\(fields.typeName).\(name) is mandatory")
        }
        return value
    }

    /// Reads a `multiple="true"` field: a single value or an array, `nil` when null or absent.
    @inlinable
    public mutating func decodeMultipleField<T: AMQPArrayElement>(_ type: T.Type, _ fields: inout CompositeFields, _ name: StaticString) throws(AMQPDecodingError) -> [T]? {
        guard fields.index < fields.scope.count else { return nil }
        fields.index &+= 1
        if decodeNull() { return nil }
        let at = offset
        do {
            return try decodeMultiple(of: T.self)
        } catch {
            throw fieldError(error, fields, name, at: at)
        }
    }

    /// Reads a `multiple="true"` field that is also mandatory: null or absent is an error naming the field.
    @inlinable
    public mutating func decodeMandatoryMultipleField<T: AMQPArrayElement>(_ type: T.Type, _ fields: inout CompositeFields, _ name: StaticString) throws(AMQPDecodingError) -> [T] {
        let at = offset
        guard let values = try decodeMultipleField(T.self, &fields, name) else {
            throw AMQPDecodingError(.missingMandatoryField, at: at, "\(fields.typeName).\(name) is mandatory")
        }
        return values
    }

    /// Skips fields this version does not know (later versions of a type may add fields) and
    /// leaves the composite, checking that its fields filled exactly its size.
    @inlinable
    public mutating func endComposite(_ fields: CompositeFields) throws(AMQPDecodingError) {
        var index = fields.index
        while index < fields.scope.count {
            try skipValue()
            index &+= 1
        }
        try endCompound(fields.scope)
    }

    @usableFromInline
    func fieldError(_ error: AMQPDecodingError, _ fields: CompositeFields, _ name: StaticString, at: Int) -> AMQPDecodingError {
        var wrapped = AMQPDecodingError(.invalidField, at: at, "\(fields.typeName).\(name)")
        wrapped.underlying = AMQPDecodingError.Box(error)
        return wrapped
    }
}
