/// A type that writes itself as one AMQP value.
public protocol AMQPEncodable {
    /// Appends the value, constructor included, to `encoder`.
    func encode(to encoder: inout AMQPEncoder)
}

/// A type that reads itself from one AMQP value, rejecting values of any other AMQP type.
public protocol AMQPDecodable {
    /// Reads one value, constructor included; throws ``AMQPDecodingError`` for any other type or
    /// bad bytes.
    init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError)
}

/// A type that both writes and reads itself as one AMQP value.
public typealias AMQPCodable = AMQPEncodable & AMQPDecodable

/// A type that can be the element type of an AMQP array: its elements share one constructor and
/// are written without one.
public protocol AMQPArrayElement: AMQPCodable {
    /// The smallest constructor that can encode every one of `elements`.
    static func arrayElementFormatCode(for elements: [Self]) -> FormatCode
    /// Writes the value without a constructor, as `code` (chosen by ``arrayElementFormatCode(for:)``) lays it out.
    func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder)
    /// Reads a value encoded as `code` from an array's body, or throws if `code` is not one of this type's.
    static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Self
}

extension AMQPDecoder {
    /// Decodes the next value as `T`.
    @inlinable
    public mutating func decode<T: AMQPDecodable>(_ type: T.Type) throws(AMQPDecodingError) -> T {
        try T(from: &self)
    }

    /// Decodes the next value as `T`, or consumes a `null` and returns `nil`.
    @inlinable
    public mutating func decodeIfPresent<T: AMQPDecodable>(_ type: T.Type) throws(AMQPDecodingError) -> T? {
        if decodeNull() { return nil }
        return try T(from: &self)
    }

    /// Decodes an AMQP array of `T`.
    @inlinable
    public mutating func decodeArray<T: AMQPArrayElement>(of type: T.Type) throws(AMQPDecodingError) -> [T] {
        let at = offset
        let code = try readFormatCode()
        let width: Int
        switch code {
        case .array8: width = 1
        case .array32: width = 4
        default: throw unexpected(code, expected: "array", at: at)
        }
        let scope = try beginArray(width: width, at: at)
        if scope.descriptor != nil {
            throw AMQPDecodingError(.unexpectedType, at: at, "expected an array of \(T.self), found an array of described values")
        }
        var values = [T]()
        values.reserveCapacity(scope.count)
        for _ in 0..<scope.count {
            values.append(try T.decodeArrayElement(as: scope.elementFormatCode, at: offset, from: &self))
        }
        try endArray(scope)
        return values
    }

    /// Decodes a value that the specification allows as "one or many" (`multiple="true"`, §1.4):
    /// a single `T` or an array of `T`.
    @inlinable
    public mutating func decodeMultiple<T: AMQPArrayElement>(of type: T.Type) throws(AMQPDecodingError) -> [T] {
        if let next = peekByte(), next == FormatCode.array8.rawValue || next == FormatCode.array32.rawValue {
            return try decodeArray(of: T.self)
        }
        return [try T(from: &self)]
    }
}

extension AMQPEncoder {
    /// Encodes a value of any ``AMQPEncodable`` type.
    @inlinable
    public mutating func encode<T: AMQPEncodable>(_ value: T) {
        value.encode(to: &self)
    }
}

// MARK: - Primitive conformances

extension AMQPValue: AMQPCodable {
    /// Writes the value with its own constructor, in the smallest encoding the policy allows.
    public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    /// Reads any one AMQP value, described values included.
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeValue() }
}

extension AMQPMap: AMQPCodable {
    /// Writes the map as `map8` when it fits, else `map32`, pairs in order.
    public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    /// Reads a `map` (§1.6.23), keeping its pairs in wire order; an odd count is a decoding error.
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        let scope = try decoder.beginMap()
        var entries = [Entry]()
        entries.reserveCapacity(scope.count / 2)
        for _ in 0..<(scope.count / 2) {
            let key = try decoder.decodeValue()
            entries.append(Entry(key: key, value: try decoder.decodeValue()))
        }
        try decoder.endCompound(scope)
        self.init(entries)
    }
}

extension AMQPArray: AMQPCodable {
    /// Writes the array with the smallest element constructor that fits every element.
    public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    /// Reads an `array` (§1.6.24), with or without a shared descriptor.
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeArray() }
}

extension Bool: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeBool() }
    @inlinable public static func arrayElementFormatCode(for elements: [Bool]) -> FormatCode { .boolean }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeByte(self ? 1 : 0) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Bool {
        try decoder.decodeBoolPayload(code, at: offset)
    }
}

extension UInt8: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeUByte() }
    @inlinable public static func arrayElementFormatCode(for elements: [UInt8]) -> FormatCode { .ubyte }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeByte(self) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> UInt8 {
        guard code == .ubyte else { throw decoder.unexpected(code, expected: "ubyte", at: offset) }
        return try decoder.readByte()
    }
}

extension UInt16: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeUShort() }
    @inlinable public static func arrayElementFormatCode(for elements: [UInt16]) -> FormatCode { .ushort }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeBigEndian(self) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> UInt16 {
        guard code == .ushort else { throw decoder.unexpected(code, expected: "ushort", at: offset) }
        return try decoder.readBigEndian(UInt16.self)
    }
}

extension UInt32: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeUInt() }
    @inlinable public static func arrayElementFormatCode(for elements: [UInt32]) -> FormatCode {
        elements.allSatisfy { $0 <= 0xFF } ? .smallUInt : .uint
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        if code == .smallUInt { encoder.writeByte(UInt8(truncatingIfNeeded: self)) } else { encoder.writeBigEndian(self) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> UInt32 {
        switch code {
        case .uint0: return 0
        case .smallUInt: return UInt32(try decoder.readByte())
        case .uint: return try decoder.readBigEndian(UInt32.self)
        default: throw decoder.unexpected(code, expected: "uint", at: offset)
        }
    }
}

extension UInt64: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeULong() }
    @inlinable public static func arrayElementFormatCode(for elements: [UInt64]) -> FormatCode {
        elements.allSatisfy { $0 <= 0xFF } ? .smallULong : .ulong
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        if code == .smallULong { encoder.writeByte(UInt8(truncatingIfNeeded: self)) } else { encoder.writeBigEndian(self) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> UInt64 {
        switch code {
        case .ulong0: return 0
        case .smallULong: return UInt64(try decoder.readByte())
        case .ulong: return try decoder.readBigEndian(UInt64.self)
        default: throw decoder.unexpected(code, expected: "ulong", at: offset)
        }
    }
}

extension Int8: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeByte() }
    @inlinable public static func arrayElementFormatCode(for elements: [Int8]) -> FormatCode { .byte }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeByte(UInt8(bitPattern: self)) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Int8 {
        guard code == .byte else { throw decoder.unexpected(code, expected: "byte", at: offset) }
        return Int8(bitPattern: try decoder.readByte())
    }
}

extension Int16: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeShort() }
    @inlinable public static func arrayElementFormatCode(for elements: [Int16]) -> FormatCode { .short }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeBigEndian(self) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Int16 {
        guard code == .short else { throw decoder.unexpected(code, expected: "short", at: offset) }
        return Int16(bitPattern: try decoder.readBigEndian(UInt16.self))
    }
}

extension Int32: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeInt() }
    @inlinable public static func arrayElementFormatCode(for elements: [Int32]) -> FormatCode {
        elements.allSatisfy { Int8(exactly: $0) != nil } ? .smallInt : .int
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        if code == .smallInt { encoder.writeByte(UInt8(bitPattern: Int8(truncatingIfNeeded: self))) } else { encoder.writeBigEndian(self) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Int32 {
        switch code {
        case .smallInt: return Int32(Int8(bitPattern: try decoder.readByte()))
        case .int: return Int32(bitPattern: try decoder.readBigEndian(UInt32.self))
        default: throw decoder.unexpected(code, expected: "int", at: offset)
        }
    }
}

extension Int64: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeLong() }
    @inlinable public static func arrayElementFormatCode(for elements: [Int64]) -> FormatCode {
        elements.allSatisfy { Int8(exactly: $0) != nil } ? .smallLong : .long
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        if code == .smallLong { encoder.writeByte(UInt8(bitPattern: Int8(truncatingIfNeeded: self))) } else { encoder.writeBigEndian(self) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Int64 {
        switch code {
        case .smallLong: return Int64(Int8(bitPattern: try decoder.readByte()))
        case .long: return Int64(bitPattern: try decoder.readBigEndian(UInt64.self))
        default: throw decoder.unexpected(code, expected: "long", at: offset)
        }
    }
}

extension Float: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeFloat() }
    @inlinable public static func arrayElementFormatCode(for elements: [Float]) -> FormatCode { .float }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeBigEndian(bitPattern) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Float {
        guard code == .float else { throw decoder.unexpected(code, expected: "float", at: offset) }
        return Float(bitPattern: try decoder.readBigEndian(UInt32.self))
    }
}

extension Double: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeDouble() }
    @inlinable public static func arrayElementFormatCode(for elements: [Double]) -> FormatCode { .double }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeBigEndian(bitPattern) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Double {
        guard code == .double else { throw decoder.unexpected(code, expected: "double", at: offset) }
        return Double(bitPattern: try decoder.readBigEndian(UInt64.self))
    }
}

extension Decimal32: AMQPCodable {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeDecimal32() }
}

extension Decimal64: AMQPCodable {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeDecimal64() }
}

extension Decimal128: AMQPCodable {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeDecimal128() }
}

extension Unicode.Scalar: AMQPCodable {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeChar() }
}

extension Timestamp: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeTimestamp() }
    @inlinable public static func arrayElementFormatCode(for elements: [Timestamp]) -> FormatCode { .timestamp }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) { encoder.writeBigEndian(millisecondsSince1970) }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Timestamp {
        guard code == .timestamp else { throw decoder.unexpected(code, expected: "timestamp", at: offset) }
        return Timestamp(millisecondsSince1970: Int64(bitPattern: try decoder.readBigEndian(UInt64.self)))
    }
}

extension AMQPUUID: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeUUID() }
    @inlinable public static func arrayElementFormatCode(for elements: [AMQPUUID]) -> FormatCode { .uuid }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        encoder.writeBigEndian(high)
        encoder.writeBigEndian(low)
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> AMQPUUID {
        guard code == .uuid else { throw decoder.unexpected(code, expected: "uuid", at: offset) }
        let high = try decoder.readBigEndian(UInt64.self)
        return AMQPUUID(high: high, low: try decoder.readBigEndian(UInt64.self))
    }
}

extension Binary: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeBinary() }
    @inlinable public static func arrayElementFormatCode(for elements: [Binary]) -> FormatCode {
        elements.allSatisfy { $0.count <= 0xFF } ? .vbin8 : .vbin32
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        bytes.withUnsafeBytes { encoder.writeVariablePayload($0, wide: code == .vbin32) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Binary {
        switch code {
        case .vbin8: return Binary(try decoder.readSlice(count: try decoder.readLength(width: 1, of: "binary")))
        case .vbin32: return Binary(try decoder.readSlice(count: try decoder.readLength(width: 4, of: "binary")))
        default: throw decoder.unexpected(code, expected: "binary", at: offset)
        }
    }
}

extension String: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeString() }
    @inlinable public static func arrayElementFormatCode(for elements: [String]) -> FormatCode {
        elements.allSatisfy { $0.utf8.count <= 0xFF } ? .str8 : .str32
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        var string = self
        string.withUTF8 { encoder.writeVariablePayload(UnsafeRawBufferPointer($0), wide: code == .str32) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> String {
        switch code {
        case .str8: return try decoder.readStringPayload(width: 1)
        case .str32: return try decoder.readStringPayload(width: 4)
        default: throw decoder.unexpected(code, expected: "string", at: offset)
        }
    }
}

extension Symbol: AMQPArrayElement {
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(self) }
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self = try decoder.decodeSymbol() }
    @inlinable public static func arrayElementFormatCode(for elements: [Symbol]) -> FormatCode {
        elements.allSatisfy { $0.count <= 0xFF } ? .sym8 : .sym32
    }
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        withASCIIBytes { encoder.writeVariablePayload($0, wide: code == .sym32) }
    }
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Symbol {
        switch code {
        case .sym8: return try decoder.readSymbolPayload(width: 1)
        case .sym32: return try decoder.readSymbolPayload(width: 4)
        default: throw decoder.unexpected(code, expected: "symbol", at: offset)
        }
    }
}
