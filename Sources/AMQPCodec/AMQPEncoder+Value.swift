extension AMQPEncoder {
    /// Encodes any AMQP value with the smallest encoding of each part (compounds sized to fit,
    /// integers in their small forms, strings in `str8` when they fit).
    public mutating func encode(_ value: AMQPValue) {
        switch value {
        case .null: encodeNull()
        case .boolean(let v): encode(v)
        case .ubyte(let v): encode(v)
        case .ushort(let v): encode(v)
        case .uint(let v): encode(v)
        case .ulong(let v): encode(v)
        case .byte(let v): encode(v)
        case .short(let v): encode(v)
        case .int(let v): encode(v)
        case .long(let v): encode(v)
        case .float(let v): encode(v)
        case .double(let v): encode(v)
        case .decimal32(let v): encode(v)
        case .decimal64(let v): encode(v)
        case .decimal128(let v): encode(v)
        case .char(let v): encode(v)
        case .timestamp(let v): encode(v)
        case .uuid(let v): encode(v)
        case .binary(let v): encode(v)
        case .string(let v): encode(v)
        case .symbol(let v): encode(v)
        case .list(let items):
            encode(list: items)
        case .map(let map):
            encode(map)
        case .array(let array):
            encode(array)
        case .described(let descriptor, let described):
            writeByte(FormatCode.described.rawValue)
            encode(descriptor)
            encode(described)
        }
    }

    /// Encodes `items` as an AMQP list.
    public mutating func encode(list items: [AMQPValue]) {
        var marker = beginList()
        // Matched where they lie, as in `encode(_ map:)`.
        for i in items.indices {
            switch items[i] {
            case .null: encodeNull()
            case .boolean(let v): encode(v)
            case .uint(let v): encode(v)
            case .ulong(let v): encode(v)
            case .int(let v): encode(v)
            case .long(let v): encode(v)
            case .double(let v): encode(v)
            case .timestamp(let v): encode(v)
            case .uuid(let v): encode(v)
            case .binary(let v): encode(v)
            case .string(let v): encode(v)
            case .symbol(let v): encode(v)
            default: encode(items[i])
            }
        }
        marker.count = items.count
        endList(marker)
    }

    /// Writes a `map` (§1.6.23) with its pairs in order: `map8` when it fits, else `map32`.
    public mutating func encode(_ map: AMQPMap) {
        var marker = beginMap()
        // Each key and value is matched where it lies and only its payload copied: passing the
        // element itself to `encode(_:)` copied (and then destroyed) the whole AMQPValue, the
        // largest cost of encoding a map. Compounds, rare here, still go through `encode(_:)`.
        let entries = map.entries
        for i in entries.indices {
            switch entries[i].key {
            case .symbol(let v): encode(v)
            case .string(let v): encode(v)
            case .ulong(let v): encode(v)
            default: encode(entries[i].key)
            }
            switch entries[i].value {
            case .null: encodeNull()
            case .boolean(let v): encode(v)
            case .uint(let v): encode(v)
            case .ulong(let v): encode(v)
            case .int(let v): encode(v)
            case .long(let v): encode(v)
            case .double(let v): encode(v)
            case .timestamp(let v): encode(v)
            case .uuid(let v): encode(v)
            case .binary(let v): encode(v)
            case .string(let v): encode(v)
            case .symbol(let v): encode(v)
            default: encode(entries[i].value)
            }
        }
        marker.count = map.entries.count &* 2
        endMap(marker)
    }

    /// Writes an `array` (§1.6.24) with its descriptor, if any, and the smallest element
    /// constructor that fits every element.
    public mutating func encode(_ array: AMQPArray) {
        let code = Self.arrayElementFormatCode(array.elementType, array.elements)
        // One growth for the whole array instead of one per doubling.
        reserveCapacity(Self.minimumArraySize(code, array.elements))
        let start = beginArray(elementFormatCode: code, descriptor: array.descriptor)
        let firstElement = length
        let elements = array.elements
        switch code {
        case .sym8, .sym32:
            // Matching the payload where it lies copies only the symbol; passing the element to
            // `writeArrayElementPayload` copied the whole AMQPValue (and destroyed it) each time.
            let wide = code == .sym32
            for i in elements.indices {
                if case .symbol(let v) = elements[i] { v.withASCIIBytes { writeVariablePayload($0, wide: wide) } }
            }
        case .str8, .str32:
            let wide = code == .str32
            for i in elements.indices {
                if case .string(var v) = elements[i] { v.withUTF8 { writeVariablePayload(UnsafeRawBufferPointer($0), wide: wide) } }
            }
        default:
            elements.withUnsafeBufferPointer { elements in
                for i in elements.indices {
                    writeArrayElementPayload(elements[i], as: code)
                }
            }
        }
        if code == .list32 || code == .map32 || code == .array32 {
            narrowCompoundElements(from: firstElement, count: array.elements.count, constructorAt: firstElement &- 1)
        }
        endArray(start: start, count: array.elements.count)
    }

    /// The smallest constructor valid for every element. Compound elements start in their 32-bit
    /// form and are narrowed after writing (``narrowCompoundElements(from:count:constructorAt:)``).
    /// Zero-width encodings (`uint0`, `list0`, `true`) are never chosen for elements: they would
    /// force every element to the same value.
    static func arrayElementFormatCode(_ type: AMQPType, _ elements: [AMQPValue]) -> FormatCode {
        switch type {
        case .null: preconditionFailure("AMQPArray never holds nulls")
        case .boolean: return .boolean
        case .ubyte: return .ubyte
        case .ushort: return .ushort
        case .uint:
            let fits = elements.allSatisfy { if case .uint(let v) = $0 { return v <= 0xFF } else { return false } }
            return fits ? .smallUInt : .uint
        case .ulong:
            let fits = elements.allSatisfy { if case .ulong(let v) = $0 { return v <= 0xFF } else { return false } }
            return fits ? .smallULong : .ulong
        case .byte: return .byte
        case .short: return .short
        case .int:
            let fits = elements.allSatisfy { if case .int(let v) = $0 { return Int8(exactly: v) != nil } else { return false } }
            return fits ? .smallInt : .int
        case .long:
            let fits = elements.allSatisfy { if case .long(let v) = $0 { return Int8(exactly: v) != nil } else { return false } }
            return fits ? .smallLong : .long
        case .float: return .float
        case .double: return .double
        case .decimal32: return .decimal32
        case .decimal64: return .decimal64
        case .decimal128: return .decimal128
        case .char: return .char
        case .timestamp: return .timestamp
        case .uuid: return .uuid
        case .binary:
            let fits = elements.allSatisfy { if case .binary(let v) = $0 { return v.count <= 0xFF } else { return false } }
            return fits ? .vbin8 : .vbin32
        case .string:
            let fits = elements.allSatisfy { if case .string(let v) = $0 { return v.utf8.count <= 0xFF } else { return false } }
            return fits ? .str8 : .str32
        case .symbol:
            let fits = elements.allSatisfy { if case .symbol(let v) = $0 { return v.count <= 0xFF } else { return false } }
            return fits ? .sym8 : .sym32
        case .list: return .list32
        case .map: return .map32
        case .array: return .array32
        }
    }

    /// At least the bytes an array of `elements` written as `code` takes: exact for fixed-width
    /// and variable-width elements, a lower bound for compounds.
    static func minimumArraySize(_ code: FormatCode, _ elements: [AMQPValue]) -> Int {
        var size = 10 &+ elements.count
        switch code.layout {
        case .fixed(let width)?: size &+= elements.count &* width
        case .variable(let width)?:
            size &+= elements.count &* width
            elements.withUnsafeBufferPointer { elements in
                for i in elements.indices {
                    switch elements[i] {
                    case .binary(let v): size &+= v.count
                    case .string(let v): size &+= v.utf8.count
                    case .symbol(let v): size &+= v.count
                    default: break
                    }
                }
            }
        default: break
        }
        return size
    }

    /// Writes an element's payload (everything after its constructor) for constructor `code`,
    /// which ``arrayElementFormatCode(_:_:)`` chose for it.
    mutating func writeArrayElementPayload(_ value: AMQPValue, as code: FormatCode) {
        switch value {
        case .boolean(let v): writeByte(v ? 1 : 0)
        case .ubyte(let v): writeByte(v)
        case .ushort(let v): writeBigEndian(v)
        case .uint(let v):
            if code == .smallUInt { writeByte(UInt8(truncatingIfNeeded: v)) } else { writeBigEndian(v) }
        case .ulong(let v):
            if code == .smallULong { writeByte(UInt8(truncatingIfNeeded: v)) } else { writeBigEndian(v) }
        case .byte(let v): writeByte(UInt8(bitPattern: v))
        case .short(let v): writeBigEndian(v)
        case .int(let v):
            if code == .smallInt { writeByte(UInt8(bitPattern: Int8(truncatingIfNeeded: v))) } else { writeBigEndian(v) }
        case .long(let v):
            if code == .smallLong { writeByte(UInt8(bitPattern: Int8(truncatingIfNeeded: v))) } else { writeBigEndian(v) }
        case .float(let v): writeBigEndian(v.bitPattern)
        case .double(let v): writeBigEndian(v.bitPattern)
        case .decimal32(let v): writeBigEndian(v.bitPattern)
        case .decimal64(let v): writeBigEndian(v.bitPattern)
        case .decimal128(let v):
            writeBigEndian(v.high)
            writeBigEndian(v.low)
        case .char(let v): writeBigEndian(v.value)
        case .timestamp(let v): writeBigEndian(v.millisecondsSince1970)
        case .uuid(let v):
            writeBigEndian(v.high)
            writeBigEndian(v.low)
        case .binary(let v): v.bytes.withUnsafeBytes { writeVariablePayload($0, wide: code == .vbin32) }
        case .string(var v): v.withUTF8 { writeVariablePayload(UnsafeRawBufferPointer($0), wide: code == .str32) }
        case .symbol(let v): v.withASCIIBytes { writeVariablePayload($0, wide: code == .sym32) }
        case .list(let items):
            let start = length
            writeCompoundSizePlaceholder()
            for item in items { encode(item) }
            patchBigEndian(Self.size32(length &- start &- 4), at: start)
            patchBigEndian(Self.size32(items.count), at: start &+ 4)
        case .map(let map):
            let start = length
            writeCompoundSizePlaceholder()
            for entry in map.entries {
                encode(entry.key)
                encode(entry.value)
            }
            patchBigEndian(Self.size32(length &- start &- 4), at: start)
            patchBigEndian(Self.size32(map.entries.count &* 2), at: start &+ 4)
        case .array(let inner):
            let innerCode = Self.arrayElementFormatCode(inner.elementType, inner.elements)
            let start = length
            writeCompoundSizePlaceholder()
            if let descriptor = inner.descriptor {
                writeByte(FormatCode.described.rawValue)
                encode(descriptor)
            }
            writeByte(innerCode.rawValue)
            let firstElement = length
            for element in inner.elements {
                writeArrayElementPayload(element, as: innerCode)
            }
            if innerCode == .list32 || innerCode == .map32 || innerCode == .array32 {
                narrowCompoundElements(from: firstElement, count: inner.elements.count, constructorAt: firstElement &- 1)
            }
            patchBigEndian(Self.size32(length &- start &- 4), at: start)
            patchBigEndian(Self.size32(inner.elements.count), at: start &+ 4)
        case .null, .described:
            preconditionFailure("AMQPArray never holds \(value.type) elements")
        }
    }

    /// The size and count of a compound array element, patched when it ends.
    mutating func writeCompoundSizePlaceholder() {
        write(maximum: 8) { _ in 8 }
    }

    @inlinable
    mutating func writeVariablePayload(_ payload: UnsafeRawBufferPointer, wide: Bool) {
        let count = payload.count
        if wide {
            let size = Self.size32(count)
            write(maximum: 4 &+ count) { p in
                Self.store(size, at: p)
                Self.copy(payload, to: p + 4)
                return 4 &+ count
            }
        } else {
            write(maximum: 1 &+ count) { p in
                p.pointee = UInt8(truncatingIfNeeded: count)
                Self.copy(payload, to: p + 1)
                return 1 &+ count
            }
        }
    }

    /// Rewrites `count` compound elements written in their 32-bit form (size32, count32, body)
    /// into the 8-bit form when every one of them fits, and switches the array's constructor.
    /// One forward pass: each body moves down by the bytes saved before it.
    mutating func narrowCompoundElements(from first: Int, count: Int, constructorAt constructor: Int) {
        var position = first
        for _ in 0..<count {
            let size = readBigEndian32(at: position)
            let items = readBigEndian32(at: position &+ 4)
            // The 8-bit size counts a 1-byte count instead of a 4-byte one.
            guard size &- 3 <= 0xFF, items <= 0xFF else { return }
            position &+= 4 &+ Int(size)
        }
        let end = position
        var read = first
        var write = first
        withWrittenBytes { base in
            for _ in 0..<count {
                let size = Int(Self.readBigEndian32(base, at: read))
                let items = base[read &+ 7]
                let bodyLength = size &- 4
                base[write] = UInt8(truncatingIfNeeded: size &- 3)
                base[write &+ 1] = items
                UnsafeMutableRawPointer(base + (write &+ 2)).copyMemory(from: base + (read &+ 8), byteCount: bodyLength)
                write &+= 2 &+ bodyLength
                read &+= 4 &+ size
            }
            switch FormatCode(rawValue: base[constructor]) {
            case .list32: base[constructor] = FormatCode.list8.rawValue
            case .map32: base[constructor] = FormatCode.map8.rawValue
            default: base[constructor] = FormatCode.array8.rawValue
            }
        }
        removeWritten(write, end)
    }

    private mutating func readBigEndian32(at position: Int) -> UInt32 {
        withWrittenBytes { Self.readBigEndian32($0, at: position) }
    }

    private static func readBigEndian32(_ base: UnsafeMutablePointer<UInt8>, at position: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(base[position &+ i]) }
        return v
    }
}
