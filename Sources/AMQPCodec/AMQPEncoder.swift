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

    /// A policy between ``compact`` and ``full``; most callers want one of those two.
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
/// The array is kept longer than what is written: the bytes after ``count`` are room for the
/// next writes (initialized, their values unspecified). Each write then stores through one pointer into that room, instead of
/// appending element by element (which checks capacity and uniqueness per byte). ``takeBytes()``
/// trims the room and hands the array over without copying.
///
/// A value larger than AMQP's 32-bit sizes (4 GiB) cannot be encoded; the encoder stops with a
/// precondition failure rather than write a wrong size.
public struct AMQPEncoder: Sendable {
    /// `length` bytes written, then room.
    @usableFromInline var storage: [UInt8]
    @usableFromInline var length: Int
    /// How compact the output is.
    public var policy: EncodingPolicy

    /// Creates an encoder with room for `capacity` bytes before it needs to grow.
    @inlinable
    public init(policy: EncodingPolicy = .compact, capacity: Int = 256) {
        // Capacity without initialized room: room is made (and zeroed) as writes need it, and
        // large payloads are appended without zeroing first (see `appendLarge`).
        self.storage = []
        self.storage.reserveCapacity(capacity)
        self.length = 0
        self.policy = policy
    }

    /// Creates an encoder that appends to `buffer` (keeping its contents and capacity).
    @inlinable
    public init(appendingTo buffer: [UInt8], policy: EncodingPolicy = .compact) {
        self.storage = buffer
        self.length = buffer.count
        self.policy = policy
    }

    /// Encodes one value with `policy` and returns its bytes.
    @inlinable
    public static func encode<T: AMQPEncodable>(_ value: T, policy: EncodingPolicy = .compact) -> [UInt8] {
        var encoder = AMQPEncoder(policy: policy)
        value.encode(to: &encoder)
        return encoder.takeBytes()
    }

    /// The number of bytes written so far.
    @inlinable
    public var count: Int { length }

    /// The bytes written so far. Reading copies them when room follows them (use ``count`` for
    /// the length and ``takeBytes()`` for the result); changing them in place does not copy.
    public var bytes: [UInt8] {
        get { length == storage.count ? storage : Array(storage[..<length]) }
        set {
            storage = newValue
            length = newValue.count
        }
        _modify {
            trimRoom()
            defer { length = storage.count }
            yield &storage
        }
    }

    /// Returns the bytes written and leaves the encoder empty; the array is handed over, not copied.
    @inlinable
    public mutating func takeBytes() -> [UInt8] {
        trimRoom()
        let result = storage
        storage = []
        length = 0
        return result
    }

    /// Makes sure `count` more bytes fit without growing (at least).
    @inlinable
    public mutating func reserveCapacity(_ count: Int) {
        if storage.count &- length < count { makeRoom(count) }
    }

    /// Forgets the written bytes after the first `count` (a frame rewritten, a field dropped).
    @inlinable
    public mutating func truncate(to count: Int) {
        precondition(count >= 0 && count <= length, "truncating beyond the written bytes")
        length = count
    }

    /// Forgets every written byte, keeping the storage for the next writes.
    @inlinable
    public mutating func removeAll() {
        length = 0
    }

    /// Calls `body` with the bytes written so far.
    // Always inlined, as the rethrowing version was: the encoder's per-element loops rely on the
    // body being folded into them.
    @inlinable @inline(__always)
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let length = self.length
        return try storage.withUnsafeBufferPointer { (octets) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(octets)[..<length]))
        }
    }

    @inlinable
    mutating func trimRoom() {
        if storage.count != length { storage.removeSubrange(length...) }
    }

    /// Grows the room to at least `needed` bytes.
    @usableFromInline
    mutating func makeRoom(_ needed: Int) {
        // Within the capacity already allocated, zero it in steps of at most 4 KiB beyond what is
        // asked (a large reservation is mostly filled by `appendLarge`, which needs no room);
        // beyond it, grow geometrically so that writes stay amortized O(1).
        let wanted = length &+ needed
        let target = wanted <= storage.capacity
            ? Swift.min(storage.capacity, wanted &+ 4096)
            : Swift.max(wanted, storage.count &* 2, 64)
        storage.reserveCapacity(target)
        var missing = target &- storage.count
        // Zeros copied from a zero page: appending `repeatElement(0, count:)` goes through the
        // element-by-element sequence path (40 instructions a byte here, a tenth of encoding a
        // 1 MiB message), a copy is one `memcpy`.
        Self.zeroPage.withUnsafeBufferPointer { zeros in
            while missing > 0 {
                let step = Swift.min(missing, zeros.count)
                storage.append(contentsOf: UnsafeBufferPointer(rebasing: zeros[..<step]))
                missing &-= step
            }
        }
    }

    /// 4 KiB of zeros, the source of `makeRoom`'s room.
    @usableFromInline
    static let zeroPage = [UInt8](repeating: 0, count: 4096)

    // MARK: Raw bytes

    /// Writes at most `maximum` bytes through a pointer to the next free byte; `body` returns how
    /// many it wrote. The one primitive every write goes through.
    @inlinable @inline(__always)
    mutating func write(maximum: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        if storage.count &- length < maximum { makeRoom(maximum) }
        let at = length
        let written = storage.withUnsafeMutableBufferPointer { body($0.baseAddress.unsafelyUnwrapped + at) }
        length = at &+ written
    }

    /// Calls `body` with the written bytes, to patch sizes in place.
    @inlinable @inline(__always)
    mutating func withWrittenBytes<R>(_ body: (UnsafeMutablePointer<UInt8>) -> R) -> R {
        storage.withUnsafeMutableBufferPointer { body($0.baseAddress.unsafelyUnwrapped) }
    }

    @inlinable @inline(__always)
    static func store<T: FixedWidthInteger>(_ value: T, at pointer: UnsafeMutablePointer<UInt8>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value.bigEndian, as: T.self)
    }

    @inlinable @inline(__always)
    static func copy(_ source: UnsafeRawBufferPointer, to pointer: UnsafeMutablePointer<UInt8>) {
        if let base = source.baseAddress, source.count > 0 {
            UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: source.count)
        }
    }

    /// Appends one raw byte, with no format code.
    @inlinable
    public mutating func writeByte(_ byte: UInt8) {
        write(maximum: 1) { p in
            p.pointee = byte
            return 1
        }
    }

    /// Appends a constructor byte; the caller writes the data that must follow it.
    @inlinable
    public mutating func writeFormatCode(_ code: FormatCode) {
        writeByte(code.rawValue)
    }

    /// Appends `value` raw, big-endian, in its full width, with no format code.
    @inlinable
    public mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        write(maximum: MemoryLayout<T>.size) { p in
            Self.store(value, at: p)
            return MemoryLayout<T>.size
        }
    }

    /// A format code and a fixed-width value in one write.
    @inlinable @inline(__always)
    mutating func write<T: FixedWidthInteger>(_ code: FormatCode, bigEndian value: T) {
        write(maximum: 1 &+ MemoryLayout<T>.size) { p in
            p.pointee = code.rawValue
            Self.store(value, at: p + 1)
            return 1 &+ MemoryLayout<T>.size
        }
    }

    /// A format code and a one-byte value in one write.
    @inlinable @inline(__always)
    mutating func write(_ code: FormatCode, byte: UInt8) {
        write(maximum: 2) { p in
            p.pointee = code.rawValue
            p[1] = byte
            return 2
        }
    }

    /// Appends raw bytes, with no format code or length.
    @inlinable
    public mutating func writeBytes<Bytes: Sequence>(_ source: Bytes) where Bytes.Element == UInt8 {
        let done: Void? = source.withContiguousStorageIfAvailable { buffer in
            writeRawBytes(UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            for byte in source { writeByte(byte) }
        }
    }

    /// Payloads at least this large are appended to the array directly rather than copied into
    /// room, which would have to be zeroed first: one pass over their bytes instead of two.
    @usableFromInline
    static var largePayload: Int { 4096 }

    /// Appends `source` after the written bytes, dropping the room.
    @usableFromInline
    mutating func appendLarge(_ source: UnsafeRawBufferPointer) {
        trimRoom()
        storage.append(contentsOf: source.assumingMemoryBound(to: UInt8.self))
        length = storage.count
    }

    @inlinable
    mutating func writeRawBytes(_ source: UnsafeRawBufferPointer) {
        if source.count >= Self.largePayload { return appendLarge(source) }
        write(maximum: source.count) { p in
            Self.copy(source, to: p)
            return source.count
        }
    }

    /// Overwrites four written bytes at `position` with `value`, big-endian: a size that is only
    /// known once what it measures has been written.
    @inlinable
    public mutating func patchBigEndian(_ value: UInt32, at position: Int) {
        precondition(position >= 0 && position &+ 4 <= length, "patch outside the written bytes")
        withWrittenBytes { Self.store(value, at: $0 + position) }
    }

    /// Removes the written bytes in `start..<end`, moving what follows down.
    @inlinable
    mutating func removeWritten(_ start: Int, _ end: Int) {
        let tail = length &- end
        if tail > 0 {
            withWrittenBytes { base in
                UnsafeMutableRawPointer(base + start).copyMemory(from: base + end, byteCount: tail)
            }
        }
        length &-= end &- start
    }

    // MARK: Primitives

    /// Writes `null` (§1.6.1, `0x40`).
    @inlinable
    public mutating func encodeNull() {
        writeByte(FormatCode.null.rawValue)
    }

    /// Writes a `boolean` (§1.6.2) as `0x41` (true) or `0x42` (false), never the `0x56` form.
    @inlinable
    public mutating func encode(_ value: Bool) {
        writeByte(value ? FormatCode.booleanTrue.rawValue : FormatCode.booleanFalse.rawValue)
    }

    /// Writes a `ubyte` (§1.6.3, `0x50`).
    @inlinable
    public mutating func encode(_ value: UInt8) {
        write(.ubyte, byte: value)
    }

    /// Writes a `ushort` (§1.6.4, `0x60`).
    @inlinable
    public mutating func encode(_ value: UInt16) {
        write(.ushort, bigEndian: value)
    }

    /// Writes a `uint` (§1.6.5) in its smallest form: `uint0` `0x43`, `smalluint` `0x52` up to 255,
    /// else `0x70`.
    @inlinable
    public mutating func encode(_ value: UInt32) {
        if value == 0 {
            writeByte(FormatCode.uint0.rawValue)
        } else if value <= 0xFF {
            write(.smallUInt, byte: UInt8(truncatingIfNeeded: value))
        } else {
            write(.uint, bigEndian: value)
        }
    }

    /// Writes a `ulong` (§1.6.6) in its smallest form: `ulong0` `0x44`, `smallulong` `0x53` up to
    /// 255, else `0x80`.
    @inlinable
    public mutating func encode(_ value: UInt64) {
        if value == 0 {
            writeByte(FormatCode.ulong0.rawValue)
        } else if value <= 0xFF {
            write(.smallULong, byte: UInt8(truncatingIfNeeded: value))
        } else {
            write(.ulong, bigEndian: value)
        }
    }

    /// Writes a `byte` (§1.6.7, `0x51`).
    @inlinable
    public mutating func encode(_ value: Int8) {
        write(.byte, byte: UInt8(bitPattern: value))
    }

    /// Writes a `short` (§1.6.8, `0x61`).
    @inlinable
    public mutating func encode(_ value: Int16) {
        write(.short, bigEndian: value)
    }

    /// Writes an `int` (§1.6.9): `smallint` `0x54` for -128...127, else `0x71`.
    @inlinable
    public mutating func encode(_ value: Int32) {
        if let small = Int8(exactly: value) {
            write(.smallInt, byte: UInt8(bitPattern: small))
        } else {
            write(.int, bigEndian: value)
        }
    }

    /// Writes a `long` (§1.6.10): `smalllong` `0x55` for -128...127, else `0x81`.
    @inlinable
    public mutating func encode(_ value: Int64) {
        if let small = Int8(exactly: value) {
            write(.smallLong, byte: UInt8(bitPattern: small))
        } else {
            write(.long, bigEndian: value)
        }
    }

    /// Writes a `float` (§1.6.11, `0x72`) from its exact bits, NaN payloads included.
    @inlinable
    public mutating func encode(_ value: Float) {
        write(.float, bigEndian: value.bitPattern)
    }

    /// Writes a `double` (§1.6.12, `0x82`) from its exact bits, NaN payloads included.
    @inlinable
    public mutating func encode(_ value: Double) {
        write(.double, bigEndian: value.bitPattern)
    }

    /// Writes a `decimal32` (§1.6.13, `0x74`) from its bits.
    @inlinable
    public mutating func encode(_ value: Decimal32) {
        write(.decimal32, bigEndian: value.bitPattern)
    }

    /// Writes a `decimal64` (§1.6.14, `0x84`) from its bits.
    @inlinable
    public mutating func encode(_ value: Decimal64) {
        write(.decimal64, bigEndian: value.bitPattern)
    }

    /// Writes a `decimal128` (§1.6.15, `0x94`) from its bits.
    @inlinable
    public mutating func encode(_ value: Decimal128) {
        write(maximum: 17) { p in
            p.pointee = FormatCode.decimal128.rawValue
            Self.store(value.high, at: p + 1)
            Self.store(value.low, at: p + 9)
            return 17
        }
    }

    /// Writes a `char` (§1.6.16, `0x73`) as UTF-32BE.
    @inlinable
    public mutating func encode(_ value: Unicode.Scalar) {
        write(.char, bigEndian: value.value)
    }

    /// Writes a `timestamp` (§1.6.17, `0x83`).
    @inlinable
    public mutating func encode(_ value: Timestamp) {
        write(.timestamp, bigEndian: value.millisecondsSince1970)
    }

    /// Writes a `uuid` (§1.6.18, `0x98`).
    @inlinable
    public mutating func encode(_ value: AMQPUUID) {
        write(maximum: 17) { p in
            p.pointee = FormatCode.uuid.rawValue
            Self.store(value.high, at: p + 1)
            Self.store(value.low, at: p + 9)
            return 17
        }
    }

    /// Writes a `binary` (§1.6.19): `vbin8` `0xA0` up to 255 bytes, else `vbin32` `0xB0`.
    @inlinable
    public mutating func encode(_ value: Binary) {
        value.bytes.withUnsafeBytes { writeVariable($0, short: .vbin8, long: .vbin32) }
    }

    /// Encodes raw octets as an AMQP `binary`.
    @inlinable
    public mutating func encodeBinary<Bytes: Collection>(_ value: Bytes) where Bytes.Element == UInt8 {
        let done: Void? = value.withContiguousStorageIfAvailable { writeVariable(UnsafeRawBufferPointer($0), short: .vbin8, long: .vbin32) }
        if done == nil {
            Array(value).withUnsafeBytes { writeVariable($0, short: .vbin8, long: .vbin32) }
        }
    }

    /// Writes a `string` (§1.6.20) as UTF-8: `str8-utf8` `0xA1` up to 255 bytes, else `str32-utf8`
    /// `0xB1`.
    @inlinable
    public mutating func encode(_ value: String) {
        var value = value
        value.withUTF8 { writeVariable(UnsafeRawBufferPointer($0), short: .str8, long: .str32) }
    }

    /// Writes a `symbol` (§1.6.21): `sym8` `0xA3` up to 255 bytes, else `sym32` `0xB3`.
    @inlinable
    public mutating func encode(_ value: Symbol) {
        value.withASCIIBytes { writeVariable($0, short: .sym8, long: .sym32) }
    }

    /// A `binary`, `string` or `symbol`: the short form when the payload fits 8-bit sizes.
    @inlinable
    mutating func writeVariable(_ payload: UnsafeRawBufferPointer, short: FormatCode, long: FormatCode) {
        let count = payload.count
        if count <= 0xFF {
            write(maximum: 2 &+ count) { p in
                p.pointee = short.rawValue
                p[1] = UInt8(truncatingIfNeeded: count)
                Self.copy(payload, to: p + 2)
                return 2 &+ count
            }
        } else if count >= Self.largePayload {
            write(long, bigEndian: Self.size32(count))
            appendLarge(payload)
        } else {
            let size = Self.size32(count)
            write(maximum: 5 &+ count) { p in
                p.pointee = long.rawValue
                Self.store(size, at: p + 1)
                Self.copy(payload, to: p + 5)
                return 5 &+ count
            }
        }
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
        let marker = CompoundMarker(start: length, isMap: false)
        writeCompound32Placeholder(.list32)
        return marker
    }

    /// Starts a map; write keys and values alternately, counting each, then call ``endMap(_:)``.
    @inlinable
    public mutating func beginMap() -> CompoundMarker {
        let marker = CompoundMarker(start: length, isMap: true)
        writeCompound32Placeholder(.map32)
        return marker
    }

    @inlinable
    mutating func writeCompound32Placeholder(_ code: FormatCode) {
        // size and count follow, patched by `endCompound`
        write(maximum: 9) { p in
            p.pointee = code.rawValue
            return 9
        }
    }

    /// Ends a list from ``beginList()``: empty as `list0` if the policy allows, else `list8` when
    /// it fits, else `list32`.
    @inlinable
    public mutating func endList(_ marker: CompoundMarker) {
        endCompound(marker)
    }

    /// Ends a map from ``beginMap()`` as `map8` when it fits, else `map32`; traps if a key has no
    /// value.
    @inlinable
    public mutating func endMap(_ marker: CompoundMarker) {
        precondition(marker.count % 2 == 0, "a map needs a value for every key")
        endCompound(marker)
    }

    @inlinable
    mutating func endCompound(_ marker: CompoundMarker) {
        let start = marker.start
        let bodyLength = length &- (start &+ 9)
        if !marker.isMap && marker.count == 0 && policy.allowsEmptyListEncoding {
            withWrittenBytes { $0[start] = FormatCode.list0.rawValue }
            removeWritten(start &+ 1, start &+ 9)
        } else if bodyLength &+ 1 <= 0xFF && marker.count <= 0xFF {
            let code = marker.isMap ? FormatCode.map8.rawValue : FormatCode.list8.rawValue
            withWrittenBytes { p in
                p[start] = code
                p[start &+ 1] = UInt8(truncatingIfNeeded: bodyLength &+ 1)
                p[start &+ 2] = UInt8(truncatingIfNeeded: marker.count)
            }
            removeWritten(start &+ 3, start &+ 9)
        } else {
            let size = Self.size32(bodyLength &+ 4)
            let count = Self.size32(marker.count)
            withWrittenBytes { p in
                Self.store(size, at: p + (start &+ 1))
                Self.store(count, at: p + (start &+ 5))
            }
        }
    }

    // MARK: Described values and composites

    /// Writes the descriptor of a described value: `0x00` and the numeric code.
    @inlinable
    public mutating func writeDescriptor(code: UInt64) {
        if code <= 0xFF {
            write(maximum: 3) { p in
                p.pointee = FormatCode.described.rawValue
                p[1] = FormatCode.smallULong.rawValue
                p[2] = UInt8(truncatingIfNeeded: code)
                return 3
            }
        } else {
            writeByte(FormatCode.described.rawValue)
            encode(code)
        }
    }

    /// Writes a symbolic descriptor: `0x00` and the symbol.
    @inlinable
    public mutating func writeDescriptor(symbol: Symbol) {
        writeByte(FormatCode.described.rawValue)
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
    /// ``encodeField(_:_:)-(T,_)`` in specification order, then call ``endComposite(_:)``.
    @inlinable
    public mutating func beginComposite() -> CompositeMarker {
        let list = beginList()
        return CompositeMarker(list: list, endOfLastPresentField: length, countThroughLastPresentField: 0)
    }

    /// Writes a field that has a value.
    @inlinable
    public mutating func encodeField<T: AMQPEncodable>(_ value: T, _ composite: inout CompositeMarker) {
        value.encode(to: &self)
        composite.list.count &+= 1
        composite.endOfLastPresentField = length
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
        composite.endOfLastPresentField = length
        composite.countThroughLastPresentField = composite.list.count
    }

    /// Writes an absent field as null; under ``EncodingPolicy/compact`` trailing nulls are later
    /// dropped.
    @inlinable
    public mutating func encodeNullField(_ composite: inout CompositeMarker) {
        writeByte(FormatCode.null.rawValue)
        composite.list.count &+= 1
    }

    /// Ends a composite from ``beginComposite()``, dropping trailing null fields unless the policy
    /// writes every field.
    @inlinable
    public mutating func endComposite(_ composite: CompositeMarker) {
        var list = composite.list
        if !policy.writesEveryField {
            removeWritten(composite.endOfLastPresentField, length)
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
        let start = length
        writeCompound32Placeholder(.array32)
        if let descriptor {
            writeByte(FormatCode.described.rawValue)
            encode(descriptor)
        }
        writeByte(elementFormatCode.rawValue)
        return start
    }

    @inlinable
    mutating func endArray(start: Int, count: Int) {
        let bodyLength = length &- (start &+ 9)
        if bodyLength &+ 1 <= 0xFF && count <= 0xFF {
            withWrittenBytes { p in
                p[start] = FormatCode.array8.rawValue
                p[start &+ 1] = UInt8(truncatingIfNeeded: bodyLength &+ 1)
                p[start &+ 2] = UInt8(truncatingIfNeeded: count)
            }
            removeWritten(start &+ 3, start &+ 9)
        } else {
            let size = Self.size32(bodyLength &+ 4)
            let count = Self.size32(count)
            withWrittenBytes { p in
                Self.store(size, at: p + (start &+ 1))
                Self.store(count, at: p + (start &+ 5))
            }
        }
    }
}
