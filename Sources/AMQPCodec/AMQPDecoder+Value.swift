extension AMQPDecoder {
    /// Decodes the next value, whatever its type.
    public mutating func decodeValue() throws(AMQPDecodingError) -> AMQPValue {
        let at = offset
        let code = try readFormatCode()
        if code == .described {
            try enterNested()
            let descriptor = try decodeValue()
            let value = try decodeValue()
            leaveNested()
            return .described(descriptor: descriptor, value: value)
        }
        return try decodePayload(code, at: at)
    }

    /// Decodes the bytes after a (non-described) constructor: a whole value, or an array element.
    mutating func decodePayload(_ code: FormatCode, at: Int) throws(AMQPDecodingError) -> AMQPValue {
        switch code.rawValue {
        case 0x40: return .null
        case 0x41: return .boolean(true)
        case 0x42: return .boolean(false)
        case 0x56: return .boolean(try decodeBoolPayload(code, at: at))
        case 0x50: return .ubyte(try readByte())
        case 0x60: return .ushort(try readBigEndian(UInt16.self))
        case 0x43: return .uint(0)
        case 0x52: return .uint(UInt32(try readByte()))
        case 0x70: return .uint(try readBigEndian(UInt32.self))
        case 0x44: return .ulong(0)
        case 0x53: return .ulong(UInt64(try readByte()))
        case 0x80: return .ulong(try readBigEndian(UInt64.self))
        case 0x51: return .byte(Int8(bitPattern: try readByte()))
        case 0x61: return .short(Int16(bitPattern: try readBigEndian(UInt16.self)))
        case 0x54: return .int(Int32(Int8(bitPattern: try readByte())))
        case 0x71: return .int(Int32(bitPattern: try readBigEndian(UInt32.self)))
        case 0x55: return .long(Int64(Int8(bitPattern: try readByte())))
        case 0x81: return .long(Int64(bitPattern: try readBigEndian(UInt64.self)))
        case 0x72: return .float(Float(bitPattern: try readBigEndian(UInt32.self)))
        case 0x82: return .double(Double(bitPattern: try readBigEndian(UInt64.self)))
        case 0x74: return .decimal32(Decimal32(bitPattern: try readBigEndian(UInt32.self)))
        case 0x84: return .decimal64(Decimal64(bitPattern: try readBigEndian(UInt64.self)))
        case 0x94:
            let high = try readBigEndian(UInt64.self)
            return .decimal128(Decimal128(high: high, low: try readBigEndian(UInt64.self)))
        case 0x73: return .char(try readCharPayload())
        case 0x83: return .timestamp(Timestamp(millisecondsSince1970: Int64(bitPattern: try readBigEndian(UInt64.self))))
        case 0x98:
            let high = try readBigEndian(UInt64.self)
            return .uuid(AMQPUUID(high: high, low: try readBigEndian(UInt64.self)))
        case 0xA0: return .binary(Binary(try readSlice(count: try readLength(width: 1, of: "binary"))))
        case 0xB0: return .binary(Binary(try readSlice(count: try readLength(width: 4, of: "binary"))))
        case 0xA1: return .string(try readStringPayload(width: 1))
        case 0xB1: return .string(try readStringPayload(width: 4))
        case 0xA3: return .symbol(try readSymbolPayload(width: 1))
        case 0xB3: return .symbol(try readSymbolPayload(width: 4))
        case 0x45, 0xC0, 0xD0:
            let scope = try beginCompound(code, at: at, isMap: false)
            var items = [AMQPValue]()
            items.reserveCapacity(scope.count)
            for _ in 0..<scope.count {
                items.append(try decodeValue())
            }
            try endCompound(scope)
            return .list(items)
        case 0xC1, 0xD1:
            let scope = try beginCompound(code, at: at, isMap: true)
            var entries = [AMQPMap.Entry]()
            entries.reserveCapacity(scope.count / 2)
            for _ in 0..<(scope.count / 2) {
                let key = try decodeValue()
                entries.append(AMQPMap.Entry(key: key, value: try decodeValue()))
            }
            try endCompound(scope)
            return .map(AMQPMap(entries))
        case 0xE0: return .array(try decodeArrayPayload(width: 1, at: at))
        case 0xF0: return .array(try decodeArrayPayload(width: 4, at: at))
        default:
            throw AMQPDecodingError(.invalidFormatCode, at: at, "\(code) is not an AMQP format code")
        }
    }

    /// Decodes the next value, which must be a list (`list0`, `list8`, `list32`), as its items.
    public mutating func decodeList() throws(AMQPDecodingError) -> [AMQPValue] {
        let scope = try beginList()
        var items = [AMQPValue]()
        items.reserveCapacity(scope.count)
        for _ in 0..<scope.count {
            items.append(try decodeValue())
        }
        try endCompound(scope)
        return items
    }

    /// Decodes the next value, which must be an array.
    public mutating func decodeArray() throws(AMQPDecodingError) -> AMQPArray {
        let at = offset
        let code = try readFormatCode()
        switch code {
        case .array8: return try decodeArrayPayload(width: 1, at: at)
        case .array32: return try decodeArrayPayload(width: 4, at: at)
        default: throw unexpected(code, expected: "array", at: at)
        }
    }

    /// An open array: its element constructor, and how many elements follow.
    @usableFromInline
    struct ArrayScope {
        @usableFromInline let elementFormatCode: FormatCode
        @usableFromInline let descriptor: AMQPValue?
        @usableFromInline let count: Int
        @usableFromInline let compoundEnd: Int
        @usableFromInline let outerEnd: Int
        @usableFromInline let startOffset: Int
    }

    /// Reads an array's size, count and element constructor, and checks that the count can be
    /// backed by the bytes that follow before anything is allocated for it.
    @usableFromInline
    mutating func beginArray(width: Int, at: Int) throws(AMQPDecodingError) -> ArrayScope {
        let size = try readLength(width: width, of: "array")
        // The size covers the count and at least a one-byte element constructor.
        guard size >= width &+ 1 else {
            throw AMQPDecodingError(.sizeMismatch, at: at &+ 1, "array size \(size) cannot hold its count and constructor")
        }
        let compoundEnd = position &+ size
        let count = Int(width == 1 ? UInt32(try readByte()) : try readBigEndian(UInt32.self))
        try enterNested()
        let outerEnd = end
        end = compoundEnd
        let constructorAt = offset
        var code = try readFormatCode()
        var descriptor: AMQPValue? = nil
        if code == .described {
            try enterNested()
            descriptor = try decodeValue()
            leaveNested()
            let innerAt = offset
            code = try readFormatCode()
            if code == .described {
                throw AMQPDecodingError(.invalidArray, at: innerAt, "array element constructor is described twice; one descriptor per array is supported")
            }
        }
        guard code != .null, let layout = code.layout else {
            throw AMQPDecodingError(.invalidArray, at: constructorAt, "\(code) cannot be an array element constructor")
        }
        let minimumWidth: Int
        switch layout {
        case .fixed(let w): minimumWidth = w
        case .variable(let w): minimumWidth = w
        case .compound(let w): minimumWidth = 2 &* w
        case .array(let w): minimumWidth = 2 &* w &+ 1
        }
        let remaining = end &- position
        if minimumWidth == 0 {
            guard count <= limits.maxZeroWidthArrayCount &- zeroWidthElements else {
                let before = zeroWidthElements == 0 ? "" : " (\(zeroWidthElements) declared before it)"
                throw AMQPDecodingError(.limitExceeded, at: constructorAt, "array of \(count) zero-width \(code) elements exceeds the limit of \(limits.maxZeroWidthArrayCount) for one input\(before)")
            }
            zeroWidthElements &+= count
        } else {
            let (needed, overflow) = count.multipliedReportingOverflow(by: minimumWidth)
            guard !overflow, needed <= remaining else {
                throw AMQPDecodingError(.countMismatch, at: constructorAt, "array declares \(count) elements of at least \(minimumWidth) bytes, \(remaining) bytes remain")
            }
        }
        return ArrayScope(elementFormatCode: code, descriptor: descriptor, count: count, compoundEnd: compoundEnd, outerEnd: outerEnd, startOffset: at)
    }

    @usableFromInline
    mutating func endArray(_ scope: ArrayScope) throws(AMQPDecodingError) {
        if position != scope.compoundEnd {
            throw AMQPDecodingError(.sizeMismatch, at: offset, "array at offset \(scope.startOffset) has \(scope.compoundEnd &- position) bytes after its \(scope.count) elements")
        }
        end = scope.outerEnd
        leaveNested()
    }

    mutating func decodeArrayPayload(width: Int, at: Int) throws(AMQPDecodingError) -> AMQPArray {
        let scope = try beginArray(width: width, at: at)
        let code = scope.elementFormatCode
        var elements = [AMQPValue]()
        elements.reserveCapacity(scope.count)
        for _ in 0..<scope.count {
            elements.append(try decodePayload(code, at: offset))
        }
        try endArray(scope)
        // `beginArray` rejected codes without a type, so `code.type` is set.
        return AMQPArray(unchecked: code.type ?? .null, descriptor: scope.descriptor, elements: elements)
    }

    /// Skips the next value, checking its structure (sizes, counts, constructors) but not the
    /// contents of its strings and symbols.
    public mutating func skipValue() throws(AMQPDecodingError) {
        let at = offset
        let code = try readFormatCode()
        try skipPayload(code, at: at)
    }

    /// Skips the next value by its constructor and declared size alone: the items of a list,
    /// map or array are not looked at (``skipValue()`` checks them). For a reader that finds
    /// where values lie now and decodes them, strictly, when they are asked for (a lazily
    /// decoded message); a described value's descriptor and value are skipped the same way.
    public mutating func skipValueBySize() throws(AMQPDecodingError) {
        let at = offset
        let code = try readFormatCode()
        if code == .described {
            try enterNested()
            try skipValueBySize()
            try skipValueBySize()
            leaveNested()
            return
        }
        guard let layout = code.layout else {
            throw AMQPDecodingError(.invalidFormatCode, at: at, "\(code) is not an AMQP format code")
        }
        let length: Int
        switch layout {
        case .fixed(let width):
            guard end &- position >= width else { throw truncated("\(width) bytes") }
            length = width
        case .variable(let width):
            length = try readLength(width: width, of: "value")
        case .compound(let width), .array(let width):
            length = try readLength(width: width, of: "compound")
            guard length >= width else {
                throw AMQPDecodingError(.sizeMismatch, at: at &+ 1, "size \(length) cannot hold the \(width)-byte count")
            }
        }
        position &+= length
    }

    /// Reads the next value, a map key, and says whether it is the symbol `key`: a symbol is
    /// compared byte by byte where it lies (checked as ``decodeSymbol()`` checks it, no `Symbol`
    /// made), any other value is decoded (``decodeValue()``) and is not `key`. For looking one
    /// key up in a map without decoding the others.
    public mutating func decodeKey(matching key: Symbol) throws(AMQPDecodingError) -> Bool {
        guard let first = peekByte(), first == FormatCode.sym8.rawValue || first == FormatCode.sym32.rawValue else {
            _ = try decodeValue()
            return false
        }
        position &+= 1
        let length = try readLength(width: first == FormatCode.sym8.rawValue ? 1 : 4, of: "symbol")
        let start = offset
        let bytes = try readSlice(count: length)
        let equal = key.withASCIIBytes { wanted in
            bytes.withUnsafeBytes { found in
                guard wanted.count == found.count else { return false }
                for i in 0..<found.count where wanted[i] != found[i] { return false }
                return true
            }
        }
        // Equal to a symbol, so ASCII; anything else is checked as a symbol is.
        if !equal, let bad = firstNonASCII(bytes) {
            throw AMQPDecodingError(.invalidSymbol, at: start &+ bad, "symbol byte \(FormatCode(rawValue: bytes[bytes.startIndex &+ bad])) is not ASCII")
        }
        return equal
    }

    /// Creates a decoder over `bytes` that reads only `range` (absolute indices of `bytes`), as
    /// if the rest were not there; offsets in errors still count from `bytes`' start. For
    /// decoding, later, a value whose place an earlier pass found.
    @inlinable
    public init(_ bytes: ArraySlice<UInt8>, range: Range<Int>, limits: Limits = .default) {
        precondition(range.lowerBound >= bytes.startIndex && range.upperBound <= bytes.endIndex, "range outside the bytes")
        self.init(bytes, limits: limits)
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    /// The rest of the input (or of the compound being read), as a slice without copying; the
    /// decoder is then at its end.
    @inlinable
    public mutating func readRemainingBytes() -> ArraySlice<UInt8> {
        let slice = input[position..<end]
        position = end
        return slice
    }

    /// The absolute index of the next byte in the input's indices (``offset`` counts from the
    /// input's start instead).
    @inlinable
    public var index: Int { position }

    mutating func skipPayload(_ code: FormatCode, at: Int) throws(AMQPDecodingError) {
        if code == .described {
            try enterNested()
            try skipValue()
            try skipValue()
            leaveNested()
            return
        }
        guard let layout = code.layout else {
            throw AMQPDecodingError(.invalidFormatCode, at: at, "\(code) is not an AMQP format code")
        }
        switch layout {
        case .fixed:
            // Fixed-width values are cheap to decode, and decoding checks booleans and chars.
            _ = try decodePayload(code, at: at)
        case .variable(let w):
            _ = try readSlice(count: try readLength(width: w, of: "value"))
        case .compound:
            let isMap = code == .map8 || code == .map32
            let scope = try beginCompound(code, at: at, isMap: isMap)
            for _ in 0..<scope.count { try skipValue() }
            try endCompound(scope)
        case .array(let w):
            let scope = try beginArray(width: w, at: at)
            for _ in 0..<scope.count { try skipPayload(scope.elementFormatCode, at: offset) }
            try endArray(scope)
        }
    }
}
