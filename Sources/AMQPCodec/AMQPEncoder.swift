/// How much the encoder compacts its output.
///
/// ``compact`` (the default) writes the smallest encoding of every value, as the specification
/// recommends. ``full`` writes what the most conservative peers can read: some AMQP stacks
/// (Microsoft's Python `pyamqp` among them) index composite fields by position and cannot read
/// `list0`, so under ``full`` every composite carries all its fields and no list is written as
/// `list0`. Both policies write booleans as `0x41`/`0x42` (the smallest form, and the one
/// RabbitMQ 3.10 requires in `attach`) and descriptors as small ulongs where they fit.
public struct EncodingPolicy: Hashable, Sendable {
    /// Whether composites keep their trailing null fields and fields equal to their default.
    public var writesEveryField: Bool
    /// Whether an empty list may be written as `list0` (`0x45`).
    public var allowsEmptyListEncoding: Bool

    @inlinable
    public init(writesEveryField: Bool, allowsEmptyListEncoding: Bool) {
        self.writesEveryField = writesEveryField
        self.allowsEmptyListEncoding = allowsEmptyListEncoding
    }

    /// The smallest encoding of every value (the specification's recommendation).
    public static let compact = EncodingPolicy(writesEveryField: false, allowsEmptyListEncoding: true)
    /// Every composite field written, no `list0`: readable by every peer we know of.
    public static let full = EncodingPolicy(writesEveryField: true, allowsEmptyListEncoding: false)
}

/// Writes AMQP 1.0 encodings into one growing byte array.
///
/// Compounds are written with 32-bit placeholders that are patched when they end; a compound
/// whose body fits 8-bit sizes is then shifted into its 8-bit form. The shift moves at most 255
/// bytes, so the encoder stays linear in its output and never needs a temporary buffer per field.
///
/// A value larger than AMQP's 32-bit sizes (4 GiB) cannot be encoded; the encoder stops with a
/// precondition failure rather than write a wrong size.
public struct AMQPEncoder: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]
    /// How compact the output is.
    public var policy: EncodingPolicy

    /// Creates an encoder with an empty buffer of at least `capacity` bytes.
    @inlinable
    public init(policy: EncodingPolicy = .compact, capacity: Int = 256) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
        self.policy = policy
    }

    /// Creates an encoder that appends to `buffer` (keeping its contents and capacity).
    @inlinable
    public init(appendingTo buffer: [UInt8], policy: EncodingPolicy = .compact) {
        self.bytes = buffer
        self.policy = policy
    }

    /// Encodes one value with `policy` and returns its bytes.
    @inlinable
    public static func encode<T: AMQPEncodable>(_ value: T, policy: EncodingPolicy = .compact) -> [UInt8] {
        var encoder = AMQPEncoder(policy: policy)
        value.encode(to: &encoder)
        return encoder.bytes
    }

    // MARK: Raw bytes

    @inlinable
    public mutating func writeByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    @inlinable
    public mutating func writeFormatCode(_ code: FormatCode) {
        bytes.append(code.rawValue)
    }

    @inlinable
    public mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func writeBytes<Bytes: Sequence>(_ source: Bytes) where Bytes.Element == UInt8 {
        bytes.append(contentsOf: source)
    }

    @inlinable
    mutating func patchBigEndian(_ value: UInt32, at position: Int) {
        bytes[position] = UInt8(truncatingIfNeeded: value >> 24)
        bytes[position &+ 1] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[position &+ 2] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[position &+ 3] = UInt8(truncatingIfNeeded: value)
    }

    // MARK: Primitives

    @inlinable
    public mutating func encodeNull() {
        bytes.append(FormatCode.null.rawValue)
    }

    @inlinable
    public mutating func encode(_ value: Bool) {
        bytes.append(value ? FormatCode.booleanTrue.rawValue : FormatCode.booleanFalse.rawValue)
    }

    @inlinable
    public mutating func encode(_ value: UInt8) {
        bytes.append(FormatCode.ubyte.rawValue)
        bytes.append(value)
    }

    @inlinable
    public mutating func encode(_ value: UInt16) {
        bytes.append(FormatCode.ushort.rawValue)
        writeBigEndian(value)
    }

    @inlinable
    public mutating func encode(_ value: UInt32) {
        if value == 0 {
            bytes.append(FormatCode.uint0.rawValue)
        } else if value <= 0xFF {
            bytes.append(FormatCode.smallUInt.rawValue)
            bytes.append(UInt8(truncatingIfNeeded: value))
        } else {
            bytes.append(FormatCode.uint.rawValue)
            writeBigEndian(value)
        }
    }

    @inlinable
    public mutating func encode(_ value: UInt64) {
        if value == 0 {
            bytes.append(FormatCode.ulong0.rawValue)
        } else if value <= 0xFF {
            bytes.append(FormatCode.smallULong.rawValue)
            bytes.append(UInt8(truncatingIfNeeded: value))
        } else {
            bytes.append(FormatCode.ulong.rawValue)
            writeBigEndian(value)
        }
    }

    @inlinable
    public mutating func encode(_ value: Int8) {
        bytes.append(FormatCode.byte.rawValue)
        bytes.append(UInt8(bitPattern: value))
    }

    @inlinable
    public mutating func encode(_ value: Int16) {
        bytes.append(FormatCode.short.rawValue)
        writeBigEndian(value)
    }

    @inlinable
    public mutating func encode(_ value: Int32) {
        if let small = Int8(exactly: value) {
            bytes.append(FormatCode.smallInt.rawValue)
            bytes.append(UInt8(bitPattern: small))
        } else {
            bytes.append(FormatCode.int.rawValue)
            writeBigEndian(value)
        }
    }

    @inlinable
    public mutating func encode(_ value: Int64) {
        if let small = Int8(exactly: value) {
            bytes.append(FormatCode.smallLong.rawValue)
            bytes.append(UInt8(bitPattern: small))
        } else {
            bytes.append(FormatCode.long.rawValue)
            writeBigEndian(value)
        }
    }

    @inlinable
    public mutating func encode(_ value: Float) {
        bytes.append(FormatCode.float.rawValue)
        writeBigEndian(value.bitPattern)
    }

    @inlinable
    public mutating func encode(_ value: Double) {
        bytes.append(FormatCode.double.rawValue)
        writeBigEndian(value.bitPattern)
    }

    @inlinable
    public mutating func encode(_ value: Decimal32) {
        bytes.append(FormatCode.decimal32.rawValue)
        writeBigEndian(value.bitPattern)
    }

    @inlinable
    public mutating func encode(_ value: Decimal64) {
        bytes.append(FormatCode.decimal64.rawValue)
        writeBigEndian(value.bitPattern)
    }

    @inlinable
    public mutating func encode(_ value: Decimal128) {
        bytes.append(FormatCode.decimal128.rawValue)
        writeBigEndian(value.high)
        writeBigEndian(value.low)
    }

    @inlinable
    public mutating func encode(_ value: Unicode.Scalar) {
        bytes.append(FormatCode.char.rawValue)
        writeBigEndian(value.value)
    }

    @inlinable
    public mutating func encode(_ value: Timestamp) {
        bytes.append(FormatCode.timestamp.rawValue)
        writeBigEndian(value.millisecondsSince1970)
    }

    @inlinable
    public mutating func encode(_ value: AMQPUUID) {
        bytes.append(FormatCode.uuid.rawValue)
        writeBigEndian(value.high)
        writeBigEndian(value.low)
    }

    @inlinable
    public mutating func encode(_ value: Binary) {
        writeVariable(value.bytes, short: .vbin8, long: .vbin32)
    }

    /// Encodes raw octets as an AMQP `binary`.
    @inlinable
    public mutating func encodeBinary<Bytes: Collection>(_ value: Bytes) where Bytes.Element == UInt8 {
        writeVariable(value, short: .vbin8, long: .vbin32)
    }

    @inlinable
    public mutating func encode(_ value: String) {
        writeVariable(value.utf8, short: .str8, long: .str32)
    }

    @inlinable
    public mutating func encode(_ value: Symbol) {
        switch value.storage {
        case .literal(let s):
            writeVariable(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount), short: .sym8, long: .sym32)
        case .bytes(let b):
            writeVariable(b, short: .sym8, long: .sym32)
        }
    }

    @inlinable
    mutating func writeVariable<Bytes: Collection>(_ payload: Bytes, short: FormatCode, long: FormatCode) where Bytes.Element == UInt8 {
        let count = payload.count
        if count <= 0xFF {
            bytes.append(short.rawValue)
            bytes.append(UInt8(truncatingIfNeeded: count))
        } else {
            bytes.append(long.rawValue)
            writeBigEndian(Self.size32(count))
        }
        bytes.append(contentsOf: payload)
    }

    @inlinable
    static func size32(_ count: Int) -> UInt32 {
        guard let size = UInt32(exactly: count) else {
            preconditionFailure("AMQP sizes are 32-bit: cannot encode \(count) bytes in one value")
        }
        return size
    }

    // MARK: Compounds

    /// Where a list or map started, and how many items it holds so far.
    public struct CompoundMarker: Sendable {
        @usableFromInline let start: Int
        @usableFromInline let isMap: Bool
        /// The number of items written (for a map, keys and values each count).
        public var count: Int

        @inlinable
        init(start: Int, isMap: Bool) {
            self.start = start
            self.isMap = isMap
            self.count = 0
        }
    }

    /// Starts a list; write its items, counting them in the marker, then call ``endList(_:)``.
    @inlinable
    public mutating func beginList() -> CompoundMarker {
        let marker = CompoundMarker(start: bytes.count, isMap: false)
        writeCompound32Placeholder(.list32)
        return marker
    }

    /// Starts a map; write keys and values alternately, counting each, then call ``endMap(_:)``.
    @inlinable
    public mutating func beginMap() -> CompoundMarker {
        let marker = CompoundMarker(start: bytes.count, isMap: true)
        writeCompound32Placeholder(.map32)
        return marker
    }

    @inlinable
    mutating func writeCompound32Placeholder(_ code: FormatCode) {
        bytes.append(code.rawValue)
        // size and count, patched by `endCompound`
        bytes.append(contentsOf: repeatElement(0, count: 8))
    }

    @inlinable
    public mutating func endList(_ marker: CompoundMarker) {
        endCompound(marker)
    }

    @inlinable
    public mutating func endMap(_ marker: CompoundMarker) {
        precondition(marker.count % 2 == 0, "a map needs a value for every key")
        endCompound(marker)
    }

    @inlinable
    mutating func endCompound(_ marker: CompoundMarker) {
        let start = marker.start
        let bodyLength = bytes.count &- (start &+ 9)
        if !marker.isMap && marker.count == 0 && policy.allowsEmptyListEncoding {
            bytes.removeSubrange((start &+ 1)..<(start &+ 9))
            bytes[start] = FormatCode.list0.rawValue
        } else if bodyLength &+ 1 <= 0xFF && marker.count <= 0xFF {
            bytes[start] = marker.isMap ? FormatCode.map8.rawValue : FormatCode.list8.rawValue
            bytes[start &+ 1] = UInt8(truncatingIfNeeded: bodyLength &+ 1)
            bytes[start &+ 2] = UInt8(truncatingIfNeeded: marker.count)
            bytes.removeSubrange((start &+ 3)..<(start &+ 9))
        } else {
            patchBigEndian(Self.size32(bodyLength &+ 4), at: start &+ 1)
            patchBigEndian(Self.size32(marker.count), at: start &+ 5)
        }
    }

    // MARK: Described values and composites

    /// Writes the descriptor of a described value: `0x00` and the numeric code.
    @inlinable
    public mutating func writeDescriptor(code: UInt64) {
        bytes.append(FormatCode.described.rawValue)
        encode(code)
    }

    /// Writes a symbolic descriptor: `0x00` and the symbol.
    @inlinable
    public mutating func writeDescriptor(symbol: Symbol) {
        bytes.append(FormatCode.described.rawValue)
        encode(symbol)
    }

    /// A composite being written: a list whose trailing null fields may be dropped.
    public struct CompositeMarker: Sendable {
        @usableFromInline var list: CompoundMarker
        @usableFromInline var endOfLastPresentField: Int
        @usableFromInline var countThroughLastPresentField: Int

        @inlinable
        init(list: CompoundMarker, endOfLastPresentField: Int, countThroughLastPresentField: Int) {
            self.list = list
            self.endOfLastPresentField = endOfLastPresentField
            self.countThroughLastPresentField = countThroughLastPresentField
        }
    }

    /// Starts the list of a composite's fields (after its descriptor). Write each field with
    /// ``encodeField(_:_:)`` in specification order, then call ``endComposite(_:)``.
    @inlinable
    public mutating func beginComposite() -> CompositeMarker {
        let list = beginList()
        return CompositeMarker(list: list, endOfLastPresentField: bytes.count, countThroughLastPresentField: 0)
    }

    /// Writes a field that has a value.
    @inlinable
    public mutating func encodeField<T: AMQPEncodable>(_ value: T, _ composite: inout CompositeMarker) {
        value.encode(to: &self)
        composite.list.count &+= 1
        composite.endOfLastPresentField = bytes.count
        composite.countThroughLastPresentField = composite.list.count
    }

    /// Writes a field that may be absent (null).
    @inlinable
    public mutating func encodeField<T: AMQPEncodable>(_ value: T?, _ composite: inout CompositeMarker) {
        if let value {
            encodeField(value, &composite)
        } else {
            encodeNullField(&composite)
        }
    }

    /// Writes a field with a default: under ``EncodingPolicy/compact`` a value equal to the default
    /// is written as null (which means the default, §1.4) and so may be dropped.
    @inlinable
    public mutating func encodeField<T: AMQPEncodable & Equatable>(_ value: T, default defaultValue: T, _ composite: inout CompositeMarker) {
        if !policy.writesEveryField && value == defaultValue {
            encodeNullField(&composite)
        } else {
            encodeField(value, &composite)
        }
    }

    /// Writes a `multiple="true"` field (§1.4): `nil` as null; one value, under
    /// ``EncodingPolicy/compact``, as that value alone (the smallest form the specification allows);
    /// otherwise an array.
    @inlinable
    public mutating func encodeField<T: AMQPArrayElement>(multiple values: [T]?, _ composite: inout CompositeMarker) {
        guard let values else {
            encodeNullField(&composite)
            return
        }
        if values.count == 1 && !policy.writesEveryField {
            values[0].encode(to: &self)
        } else {
            encodeArray(values)
        }
        composite.list.count &+= 1
        composite.endOfLastPresentField = bytes.count
        composite.countThroughLastPresentField = composite.list.count
    }

    @inlinable
    public mutating func encodeNullField(_ composite: inout CompositeMarker) {
        bytes.append(FormatCode.null.rawValue)
        composite.list.count &+= 1
    }

    @inlinable
    public mutating func endComposite(_ composite: CompositeMarker) {
        var list = composite.list
        if !policy.writesEveryField {
            bytes.removeSubrange(composite.endOfLastPresentField..<bytes.count)
            list.count = composite.countThroughLastPresentField
        }
        endCompound(list)
    }

    // MARK: Arrays

    /// Encodes a Swift array as an AMQP array of `T`, with the smallest element constructor that
    /// fits every element.
    @inlinable
    public mutating func encodeArray<T: AMQPArrayElement>(_ values: [T]) {
        let code = T.arrayElementFormatCode(for: values)
        let start = beginArray(elementFormatCode: code)
        for value in values {
            value.encodeArrayElement(as: code, to: &self)
        }
        endArray(start: start, count: values.count)
    }

    /// Writes an array header with 32-bit placeholders and the element constructor; returns the
    /// position of the header for ``endArray(start:count:)``.
    @inlinable
    mutating func beginArray(elementFormatCode: FormatCode, descriptor: AMQPValue? = nil) -> Int {
        let start = bytes.count
        writeCompound32Placeholder(.array32)
        if let descriptor {
            bytes.append(FormatCode.described.rawValue)
            encode(descriptor)
        }
        bytes.append(elementFormatCode.rawValue)
        return start
    }

    @inlinable
    mutating func endArray(start: Int, count: Int) {
        let bodyLength = bytes.count &- (start &+ 9)
        if bodyLength &+ 1 <= 0xFF && count <= 0xFF {
            bytes[start] = FormatCode.array8.rawValue
            bytes[start &+ 1] = UInt8(truncatingIfNeeded: bodyLength &+ 1)
            bytes[start &+ 2] = UInt8(truncatingIfNeeded: count)
            bytes.removeSubrange((start &+ 3)..<(start &+ 9))
        } else {
            patchBigEndian(Self.size32(bodyLength &+ 4), at: start &+ 1)
            patchBigEndian(Self.size32(count), at: start &+ 5)
        }
    }
}
