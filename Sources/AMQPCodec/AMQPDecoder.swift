/// Reads AMQP 1.0 encodings from a byte array, strictly and within limits.
///
/// The decoder is a cursor over the caller's bytes. `binary` values and symbols are slices of those
/// bytes (no copy); strings are validated as UTF-8 in place and copied once into a `String`.
///
/// Every length and count is checked the moment it is read: against the bytes that remain in the
/// enclosing compound (so nothing is allocated for a size the input cannot back) and against
/// ``Limits``. A compound's items must fill exactly its declared size and count. Any failure is an
/// ``AMQPDecodingError`` carrying the byte offset; no input traps, hangs, or allocates out of
/// proportion to its length.
public struct AMQPDecoder: Sendable {
    /// Bounds on what one input may make the decoder do. The defaults are safe for bytes from an
    /// untrusted peer.
    public struct Limits: Hashable, Sendable {
        /// How deeply compounds and described values may nest.
        public var maxDepth: Int
        /// The largest `binary`, `string`, `symbol` or compound, in bytes.
        public var maxValueSize: Int
        /// The most elements of zero-width encodings (`uint0`, `list0`, `true`, …) that the arrays
        /// of one input may declare together. Such elements take no bytes, so their count is not
        /// backed by the input and must be bounded separately; the bound is on the total, not per
        /// array, so that arrays repeated or nested in one input cannot multiply it.
        public var maxZeroWidthArrayCount: Int

        /// Defaults: 100 levels of nesting, 256 MiB per value, 1024 zero-width array elements per
        /// input.
        @inlinable
        public init(maxDepth: Int = 100, maxValueSize: Int = 256 << 20, maxZeroWidthArrayCount: Int = 1024) {
            self.maxDepth = maxDepth
            self.maxValueSize = maxValueSize
            self.maxZeroWidthArrayCount = maxZeroWidthArrayCount
        }

        /// The default limits, safe for untrusted input.
        public static let `default` = Limits()
    }

    @usableFromInline let input: ArraySlice<UInt8>
    /// The absolute index (in `input`'s indices) of the next byte to read.
    @usableFromInline var position: Int
    /// The absolute index at which the innermost open compound (or the input) ends.
    @usableFromInline var end: Int
    @usableFromInline var depth: Int
    /// Zero-width array elements declared so far, against ``Limits/maxZeroWidthArrayCount``.
    @usableFromInline var zeroWidthElements: Int
    /// The bounds this decoder enforces.
    public let limits: Limits

    /// Creates a decoder over `bytes`; values it returns may share `bytes`' storage.
    @inlinable
    public init(_ bytes: ArraySlice<UInt8>, limits: Limits = .default) {
        self.input = bytes
        self.position = bytes.startIndex
        self.end = bytes.endIndex
        self.depth = 0
        self.zeroWidthElements = 0
        self.limits = limits
    }

    /// Creates a decoder over all of `bytes`; values it returns may share their storage.
    @inlinable
    public init(_ bytes: [UInt8], limits: Limits = .default) {
        self.init(bytes[...], limits: limits)
    }

    /// Decodes exactly one value of type `T` that must span all of `bytes`.
    @inlinable
    public static func decode<T: AMQPDecodable>(_ type: T.Type, from bytes: [UInt8], limits: Limits = .default) throws(AMQPDecodingError) -> T {
        var decoder = AMQPDecoder(bytes, limits: limits)
        let value = try T(from: &decoder)
        try decoder.expectEnd()
        return value
    }

    /// The offset of the next byte from the start of the input.
    @inlinable
    public var offset: Int { position &- input.startIndex }

    /// Whether every byte (of the input, or of the compound being read) has been consumed.
    @inlinable
    public var isAtEnd: Bool { position >= end }

    /// How many bytes remain (in the input, or in the compound being read).
    @inlinable
    public var remainingCount: Int { end &- position }

    /// Throws ``AMQPDecodingError/Kind/trailingBytes`` unless every byte has been consumed.
    @inlinable
    public func expectEnd() throws(AMQPDecodingError) {
        if position < end {
            throw AMQPDecodingError(.trailingBytes, at: offset, "\(end &- position) bytes after the value")
        }
    }

    // MARK: Bytes

    /// Running out of bytes inside a compound means an item overran the compound's declared size;
    /// at the top level, the input really ended.
    @inlinable
    func truncated(_ what: @autoclosure () -> String) -> AMQPDecodingError {
        if end < input.endIndex {
            return AMQPDecodingError(.sizeMismatch, at: offset, "\(what()) overruns its compound's declared size")
        }
        return AMQPDecodingError(.truncated, at: offset, "input ends inside \(what())")
    }

    /// Reads one raw byte; throws `truncated` (or `sizeMismatch` inside a compound) at the end.
    @inlinable @inline(__always)
    public mutating func readByte() throws(AMQPDecodingError) -> UInt8 {
        guard position < end else { throw truncated("a value") }
        let b = input[position]
        position &+= 1
        return b
    }

    /// The next raw byte without consuming it, or `nil` at the end of the input or compound.
    @inlinable
    public func peekByte() -> UInt8? {
        position < end ? input[position] : nil
    }

    /// Reads a raw big-endian unsigned integer of `T`'s width; throws if fewer bytes remain.
    @inlinable @inline(__always)
    public mutating func readBigEndian<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) throws(AMQPDecodingError) -> T {
        let width = MemoryLayout<T>.size
        guard end &- position >= width else { throw truncated("a \(width)-byte field") }
        let at = position &- input.startIndex
        let v = input.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) }
        position &+= width
        return T(bigEndian: v)
    }

    /// Reads `count` bytes as a slice of the input, without copying.
    @inlinable @inline(__always)
    public mutating func readSlice(count: Int) throws(AMQPDecodingError) -> ArraySlice<UInt8> {
        guard count >= 0, end &- position >= count else { throw truncated("\(count) bytes") }
        let slice = input[position..<(position &+ count)]
        position &+= count
        return slice
    }

    /// Reads a length of `width` bytes (1 or 4) and checks it against what remains and the limits.
    @inlinable
    mutating func readLength(width: Int, of what: StaticString) throws(AMQPDecodingError) -> Int {
        let at = offset
        let raw: UInt32 = width == 1 ? UInt32(try readByte()) : try readBigEndian(UInt32.self)
        guard let length = Int(exactly: raw) else {
            throw AMQPDecodingError(.limitExceeded, at: at, "\(what) size \(raw) does not fit this platform")
        }
        guard length <= end &- position else {
            let what = "\(what) of \(length) bytes (\(end &- position) remain)"
            if end < input.endIndex {
                throw AMQPDecodingError(.sizeMismatch, at: at, "\(what) overruns its compound's declared size")
            }
            throw AMQPDecodingError(.truncated, at: at, "input ends inside \(what)")
        }
        guard length <= limits.maxValueSize else {
            throw AMQPDecodingError(.limitExceeded, at: at, "\(what) size \(length) exceeds the limit of \(limits.maxValueSize)")
        }
        return length
    }

    // MARK: Constructors

    /// Reads a format code, rejecting bytes the specification does not define as one.
    @inlinable @inline(__always)
    public mutating func readFormatCode() throws(AMQPDecodingError) -> FormatCode {
        let at = offset
        let code = FormatCode(rawValue: try readByte())
        guard code.isDefined else {
            throw AMQPDecodingError(.invalidFormatCode, at: at, "\(code) is not an AMQP format code")
        }
        return code
    }

    /// If the next value is `null` (`0x40`), consumes it and returns `true`.
    @inlinable
    public mutating func decodeNull() -> Bool {
        if position < end && input[position] == FormatCode.null.rawValue {
            position &+= 1
            return true
        }
        return false
    }

    @inlinable
    mutating func enterNested() throws(AMQPDecodingError) {
        depth &+= 1
        if depth > limits.maxDepth {
            throw AMQPDecodingError(.depthExceeded, at: offset, "more than \(limits.maxDepth) nested compounds or descriptors")
        }
    }

    @inlinable
    mutating func leaveNested() {
        depth &-= 1
    }

    @inlinable
    func unexpected(_ code: FormatCode, expected: StaticString, at: Int) -> AMQPDecodingError {
        let found = code == .described ? "a described value" : (code.type.map { "\($0) (\(code))" } ?? "\(code)")
        return AMQPDecodingError(.unexpectedType, at: at, "expected \(expected), found \(found)")
    }

    // MARK: Typed primitives

    /// Reads a `boolean` (§1.6.2): `true` `0x41`, `false` `0x42`, or `0x56` with a byte that must
    /// be 0 or 1.
    @inlinable
    public mutating func decodeBool() throws(AMQPDecodingError) -> Bool {
        let at = offset
        let code = try readFormatCode()
        return try decodeBoolPayload(code, at: at)
    }

    @inlinable
    mutating func decodeBoolPayload(_ code: FormatCode, at: Int) throws(AMQPDecodingError) -> Bool {
        switch code {
        case .booleanTrue: return true
        case .booleanFalse: return false
        case .boolean:
            let b = try readByte()
            guard b <= 1 else {
                throw AMQPDecodingError(.invalidValue, at: offset &- 1, "boolean byte must be 0x00 or 0x01, found \(FormatCode(rawValue: b))")
            }
            return b == 1
        default: throw unexpected(code, expected: "boolean", at: at)
        }
    }

    /// Reads a `ubyte` (§1.6.3, `0x50`); any other constructor, `null` included, throws
    /// `unexpectedType`.
    @inlinable
    public mutating func decodeUByte() throws(AMQPDecodingError) -> UInt8 {
        let at = offset
        let code = try readFormatCode()
        guard code == .ubyte else { throw unexpected(code, expected: "ubyte", at: at) }
        return try readByte()
    }

    /// Reads a `ushort` (§1.6.4, `0x60`).
    @inlinable
    public mutating func decodeUShort() throws(AMQPDecodingError) -> UInt16 {
        let at = offset
        let code = try readFormatCode()
        guard code == .ushort else { throw unexpected(code, expected: "ushort", at: at) }
        return try readBigEndian(UInt16.self)
    }

    /// Reads a `uint` (§1.6.5) in any of its encodings: `uint0` `0x43`, `smalluint` `0x52`, `uint`
    /// `0x70`.
    @inlinable
    public mutating func decodeUInt() throws(AMQPDecodingError) -> UInt32 {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .uint0: return 0
        case .smallUInt: return UInt32(try readByte())
        case .uint: return try readBigEndian(UInt32.self)
        default: throw unexpected(code, expected: "uint", at: at)
        }
    }

    /// Reads a `ulong` (§1.6.6) in any of its encodings: `ulong0` `0x44`, `smallulong` `0x53`,
    /// `ulong` `0x80`.
    @inlinable
    public mutating func decodeULong() throws(AMQPDecodingError) -> UInt64 {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .ulong0: return 0
        case .smallULong: return UInt64(try readByte())
        case .ulong: return try readBigEndian(UInt64.self)
        default: throw unexpected(code, expected: "ulong", at: at)
        }
    }

    /// Reads a `byte` (§1.6.7, `0x51`).
    @inlinable
    public mutating func decodeByte() throws(AMQPDecodingError) -> Int8 {
        let at = offset
        let code = try readFormatCode()
        guard code == .byte else { throw unexpected(code, expected: "byte", at: at) }
        return Int8(bitPattern: try readByte())
    }

    /// Reads a `short` (§1.6.8, `0x61`).
    @inlinable
    public mutating func decodeShort() throws(AMQPDecodingError) -> Int16 {
        let at = offset
        let code = try readFormatCode()
        guard code == .short else { throw unexpected(code, expected: "short", at: at) }
        return Int16(bitPattern: try readBigEndian(UInt16.self))
    }

    /// Reads an `int` (§1.6.9): `smallint` `0x54` or `int` `0x71`.
    @inlinable
    public mutating func decodeInt() throws(AMQPDecodingError) -> Int32 {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .smallInt: return Int32(Int8(bitPattern: try readByte()))
        case .int: return Int32(bitPattern: try readBigEndian(UInt32.self))
        default: throw unexpected(code, expected: "int", at: at)
        }
    }

    /// Reads a `long` (§1.6.10): `smalllong` `0x55` or `long` `0x81`.
    @inlinable
    public mutating func decodeLong() throws(AMQPDecodingError) -> Int64 {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .smallLong: return Int64(Int8(bitPattern: try readByte()))
        case .long: return Int64(bitPattern: try readBigEndian(UInt64.self))
        default: throw unexpected(code, expected: "long", at: at)
        }
    }

    /// Reads a `float` (§1.6.11, `0x72`), IEEE 754 binary32; NaN payloads are kept.
    @inlinable
    public mutating func decodeFloat() throws(AMQPDecodingError) -> Float {
        let at = offset
        let code = try readFormatCode()
        guard code == .float else { throw unexpected(code, expected: "float", at: at) }
        return Float(bitPattern: try readBigEndian(UInt32.self))
    }

    /// Reads a `double` (§1.6.12, `0x82`), IEEE 754 binary64; NaN payloads are kept.
    @inlinable
    public mutating func decodeDouble() throws(AMQPDecodingError) -> Double {
        let at = offset
        let code = try readFormatCode()
        guard code == .double else { throw unexpected(code, expected: "double", at: at) }
        return Double(bitPattern: try readBigEndian(UInt64.self))
    }

    /// Reads a `timestamp` (§1.6.17, `0x83`): signed milliseconds since the Unix epoch.
    @inlinable
    public mutating func decodeTimestamp() throws(AMQPDecodingError) -> Timestamp {
        let at = offset
        let code = try readFormatCode()
        guard code == .timestamp else { throw unexpected(code, expected: "timestamp", at: at) }
        return Timestamp(millisecondsSince1970: Int64(bitPattern: try readBigEndian(UInt64.self)))
    }

    /// Reads a `uuid` (§1.6.18, `0x98`).
    @inlinable
    public mutating func decodeUUID() throws(AMQPDecodingError) -> AMQPUUID {
        let at = offset
        let code = try readFormatCode()
        guard code == .uuid else { throw unexpected(code, expected: "uuid", at: at) }
        let high = try readBigEndian(UInt64.self)
        return AMQPUUID(high: high, low: try readBigEndian(UInt64.self))
    }

    /// Reads a `char` (§1.6.16, `0x73`); throws `invalidChar` for a surrogate or a value above
    /// U+10FFFF.
    @inlinable
    public mutating func decodeChar() throws(AMQPDecodingError) -> Unicode.Scalar {
        let at = offset
        let code = try readFormatCode()
        guard code == .char else { throw unexpected(code, expected: "char", at: at) }
        return try readCharPayload()
    }

    @inlinable
    mutating func readCharPayload() throws(AMQPDecodingError) -> Unicode.Scalar {
        let at = offset
        let raw = try readBigEndian(UInt32.self)
        guard let scalar = Unicode.Scalar(raw) else {
            throw AMQPDecodingError(.invalidChar, at: at, "0x\(String(raw, radix: 16)) is not a Unicode scalar value")
        }
        return scalar
    }

    /// Reads a `binary` (§1.6.19): `vbin8` `0xA0` or `vbin32` `0xB0`, as a slice of the input.
    @inlinable
    public mutating func decodeBinary() throws(AMQPDecodingError) -> Binary {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .vbin8: return Binary(try readSlice(count: try readLength(width: 1, of: "binary")))
        case .vbin32: return Binary(try readSlice(count: try readLength(width: 4, of: "binary")))
        default: throw unexpected(code, expected: "binary", at: at)
        }
    }

    /// Reads a `string` (§1.6.20): `str8-utf8` `0xA1` or `str32-utf8` `0xB1`; throws `invalidUTF8`
    /// if not UTF-8.
    @inlinable
    public mutating func decodeString() throws(AMQPDecodingError) -> String {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .str8: return try readStringPayload(width: 1)
        case .str32: return try readStringPayload(width: 4)
        default: throw unexpected(code, expected: "string", at: at)
        }
    }

    /// Reads a `string` and returns its UTF-8 bytes (validated) as a slice of the input, without
    /// building a `String`.
    @inlinable
    public mutating func decodeStringBytes() throws(AMQPDecodingError) -> ArraySlice<UInt8> {
        let at = offset
        let code = try readFormatCode()
        let width: Int
        switch code {
        case .str8: width = 1
        case .str32: width = 4
        default: throw unexpected(code, expected: "string", at: at)
        }
        let start = offset
        let bytes = try readSlice(count: try readLength(width: width, of: "string"))
        guard Self.makeString(bytes) != nil else {
            throw AMQPDecodingError(.invalidUTF8, at: start, "string is not valid UTF-8")
        }
        return bytes
    }

    @inlinable
    mutating func readStringPayload(width: Int) throws(AMQPDecodingError) -> String {
        let length = try readLength(width: width, of: "string")
        let start = offset
        let bytes = try readSlice(count: length)
        guard let string = Self.makeString(bytes) else {
            throw AMQPDecodingError(.invalidUTF8, at: start, "string is not valid UTF-8")
        }
        return string
    }

    /// A string from UTF-8 bytes, or `nil` if they are not valid UTF-8. ASCII (nearly every string
    /// AMQP carries) takes a fast path: `String(decoding:)` over a buffer pointer is specialized,
    /// while the generic `String(validating:)` looks up type metadata at run time on every call.
    @inlinable
    static func makeString(_ bytes: ArraySlice<UInt8>) -> String? {
        bytes.withUnsafeBufferPointer { buffer -> String? in
            if isASCII(UnsafeRawBufferPointer(buffer)) {
                return String(unsafeUninitializedCapacity: buffer.count) { target in
                    _ = target.initialize(fromContentsOf: buffer)
                    return buffer.count
                }
            }
            return String(validating: buffer, as: UTF8.self)
        }
    }

    @inlinable
    static func isASCII(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = raw.count
        var any: UInt64 = 0
        while i &+ 8 <= n {
            any |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i &+= 8
        }
        while i < n {
            any |= UInt64(raw[i])
            i &+= 1
        }
        return any & 0x8080_8080_8080_8080 == 0
    }

    /// Reads a `symbol` (§1.6.21): `sym8` `0xA3` or `sym32` `0xB3`; throws `invalidSymbol` for a
    /// non-ASCII byte.
    @inlinable
    public mutating func decodeSymbol() throws(AMQPDecodingError) -> Symbol {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .sym8: return try readSymbolPayload(width: 1)
        case .sym32: return try readSymbolPayload(width: 4)
        default: throw unexpected(code, expected: "symbol", at: at)
        }
    }

    @inlinable
    mutating func readSymbolPayload(width: Int) throws(AMQPDecodingError) -> Symbol {
        let length = try readLength(width: width, of: "symbol")
        let start = offset
        let bytes = try readSlice(count: length)
        if let bad = firstNonASCII(bytes) {
            throw AMQPDecodingError(.invalidSymbol, at: start &+ bad, "symbol byte \(FormatCode(rawValue: bytes[bytes.startIndex &+ bad])) is not ASCII")
        }
        return Symbol(validatedASCII: bytes)
    }

    @inlinable
    func firstNonASCII(_ bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBytes { raw -> Int? in
            var i = 0
            let n = raw.count
            while i &+ 8 <= n {
                if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
                i &+= 8
            }
            while i < n {
                if raw[i] >= 0x80 { return i }
                i &+= 1
            }
            return nil
        }
    }

    /// Reads a `decimal32` (§1.6.13, `0x74`) as its bits, uninterpreted.
    @inlinable
    public mutating func decodeDecimal32() throws(AMQPDecodingError) -> Decimal32 {
        let at = offset
        let code = try readFormatCode()
        guard code == .decimal32 else { throw unexpected(code, expected: "decimal32", at: at) }
        return Decimal32(bitPattern: try readBigEndian(UInt32.self))
    }

    /// Reads a `decimal64` (§1.6.14, `0x84`) as its bits, uninterpreted.
    @inlinable
    public mutating func decodeDecimal64() throws(AMQPDecodingError) -> Decimal64 {
        let at = offset
        let code = try readFormatCode()
        guard code == .decimal64 else { throw unexpected(code, expected: "decimal64", at: at) }
        return Decimal64(bitPattern: try readBigEndian(UInt64.self))
    }

    /// Reads a `decimal128` (§1.6.15, `0x94`) as its bits, uninterpreted.
    @inlinable
    public mutating func decodeDecimal128() throws(AMQPDecodingError) -> Decimal128 {
        let at = offset
        let code = try readFormatCode()
        guard code == .decimal128 else { throw unexpected(code, expected: "decimal128", at: at) }
        let high = try readBigEndian(UInt64.self)
        return Decimal128(high: high, low: try readBigEndian(UInt64.self))
    }

    // MARK: Compounds

    /// An open list or map: call ``AMQPDecoder/endCompound(_:)`` after reading `count` items.
    public struct CompoundScope: Sendable {
        /// The number of items (for a map, keys and values each count).
        public let count: Int
        @usableFromInline let compoundEnd: Int
        @usableFromInline let outerEnd: Int
        @usableFromInline let startOffset: Int

        @inlinable
        init(count: Int, compoundEnd: Int, outerEnd: Int, startOffset: Int) {
            self.count = count
            self.compoundEnd = compoundEnd
            self.outerEnd = outerEnd
            self.startOffset = startOffset
        }
    }

    /// Reads a list header (`list0`, `list8`, `list32`) and enters the list.
    @inlinable
    public mutating func beginList() throws(AMQPDecodingError) -> CompoundScope {
        let at = offset
        let code = try readFormatCode()
        return try beginCompound(code, at: at, isMap: false)
    }

    /// Reads a map header (`map8`, `map32`) and enters the map.
    @inlinable
    public mutating func beginMap() throws(AMQPDecodingError) -> CompoundScope {
        let at = offset
        let code = try readFormatCode()
        return try beginCompound(code, at: at, isMap: true)
    }

    @inlinable
    mutating func beginCompound(_ code: FormatCode, at: Int, isMap: Bool) throws(AMQPDecodingError) -> CompoundScope {
        let width: Int
        switch code {
        case .list0 where !isMap:
            try enterNested()
            return CompoundScope(count: 0, compoundEnd: position, outerEnd: end, startOffset: at)
        case .list8 where !isMap, .map8 where isMap: width = 1
        case .list32 where !isMap, .map32 where isMap: width = 4
        default: throw unexpected(code, expected: isMap ? "map" : "list", at: at)
        }
        let size = try readLength(width: width, of: isMap ? "map" : "list")
        guard size >= width else {
            throw AMQPDecodingError(.sizeMismatch, at: at &+ 1, "size \(size) cannot hold the \(width)-byte count")
        }
        let compoundEnd = position &+ size
        let countAt = offset
        let count = Int(width == 1 ? UInt32(try readByte()) : try readBigEndian(UInt32.self))
        // Every item takes at least one byte (its constructor).
        guard count <= size &- width else {
            throw AMQPDecodingError(.countMismatch, at: countAt, "count \(count) exceeds the \(size &- width) bytes of items")
        }
        if isMap && count % 2 != 0 {
            throw AMQPDecodingError(.countMismatch, at: countAt, "map count \(count) is odd")
        }
        try enterNested()
        let scope = CompoundScope(count: count, compoundEnd: compoundEnd, outerEnd: end, startOffset: at)
        end = compoundEnd
        return scope
    }

    /// Leaves a list or map, checking that its items filled exactly its declared size.
    @inlinable
    public mutating func endCompound(_ scope: CompoundScope) throws(AMQPDecodingError) {
        if position != scope.compoundEnd {
            throw AMQPDecodingError(.sizeMismatch, at: offset, "compound at offset \(scope.startOffset) has \(scope.compoundEnd &- position) bytes after its \(scope.count) items")
        }
        end = scope.outerEnd
        leaveNested()
    }
}
