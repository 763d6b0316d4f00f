/// The one-byte format codes of AMQP 1.0 primitive encodings (§1.6, "Primitive Type Definitions").
///
/// A format code names both a type and the width of its encoding: `uint` alone has three
/// (``uint``, ``smallUInt``, ``uint0``). Described values start with ``described`` (`0x00`).
public struct FormatCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The byte as it appears on the wire.
    public let rawValue: UInt8

    /// Wraps any byte, whether or not the specification defines it as a constructor.
    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `0x00`: a described value follows — descriptor, then the value (§1.2).
    public static let described = FormatCode(rawValue: 0x00)
    /// `0x40`: `null`, no data (§1.6.1).
    public static let null = FormatCode(rawValue: 0x40)
    /// `0x56`: `boolean` as one byte, `0x00` false and `0x01` true (§1.6.2).
    public static let boolean = FormatCode(rawValue: 0x56)
    /// `0x41`: `boolean` true, no data (§1.6.2).
    public static let booleanTrue = FormatCode(rawValue: 0x41)
    /// `0x42`: `boolean` false, no data (§1.6.2).
    public static let booleanFalse = FormatCode(rawValue: 0x42)
    /// `0x50`: `ubyte`, one byte (§1.6.3).
    public static let ubyte = FormatCode(rawValue: 0x50)
    /// `0x60`: `ushort`, two bytes big-endian (§1.6.4).
    public static let ushort = FormatCode(rawValue: 0x60)
    /// `0x70`: `uint`, four bytes big-endian (§1.6.5).
    public static let uint = FormatCode(rawValue: 0x70)
    /// `0x52`: `uint` in 0...255 as one byte (`smalluint`, §1.6.5).
    public static let smallUInt = FormatCode(rawValue: 0x52)
    /// `0x43`: `uint` zero, no data (§1.6.5).
    public static let uint0 = FormatCode(rawValue: 0x43)
    /// `0x80`: `ulong`, eight bytes big-endian (§1.6.6).
    public static let ulong = FormatCode(rawValue: 0x80)
    /// `0x53`: `ulong` in 0...255 as one byte (`smallulong`, §1.6.6); the usual descriptor encoding.
    public static let smallULong = FormatCode(rawValue: 0x53)
    /// `0x44`: `ulong` zero, no data (§1.6.6).
    public static let ulong0 = FormatCode(rawValue: 0x44)
    /// `0x51`: `byte`, one byte two's complement (§1.6.7).
    public static let byte = FormatCode(rawValue: 0x51)
    /// `0x61`: `short`, two bytes big-endian two's complement (§1.6.8).
    public static let short = FormatCode(rawValue: 0x61)
    /// `0x71`: `int`, four bytes big-endian two's complement (§1.6.9).
    public static let int = FormatCode(rawValue: 0x71)
    /// `0x54`: `int` in -128...127 as one byte (`smallint`, §1.6.9).
    public static let smallInt = FormatCode(rawValue: 0x54)
    /// `0x81`: `long`, eight bytes big-endian two's complement (§1.6.10).
    public static let long = FormatCode(rawValue: 0x81)
    /// `0x55`: `long` in -128...127 as one byte (`smalllong`, §1.6.10).
    public static let smallLong = FormatCode(rawValue: 0x55)
    /// `0x72`: `float`, IEEE 754 binary32, four bytes big-endian (§1.6.11).
    public static let float = FormatCode(rawValue: 0x72)
    /// `0x82`: `double`, IEEE 754 binary64, eight bytes big-endian (§1.6.12).
    public static let double = FormatCode(rawValue: 0x82)
    /// `0x74`: `decimal32`, IEEE 754 decimal32 (BID), four bytes (§1.6.13).
    public static let decimal32 = FormatCode(rawValue: 0x74)
    /// `0x84`: `decimal64`, IEEE 754 decimal64 (BID), eight bytes (§1.6.14).
    public static let decimal64 = FormatCode(rawValue: 0x84)
    /// `0x94`: `decimal128`, IEEE 754 decimal128 (BID), sixteen bytes (§1.6.15).
    public static let decimal128 = FormatCode(rawValue: 0x94)
    /// `0x73`: `char`, one Unicode scalar as four bytes UTF-32BE (§1.6.16).
    public static let char = FormatCode(rawValue: 0x73)
    /// `0x83`: `timestamp`, eight bytes: signed milliseconds since the Unix epoch (§1.6.17).
    public static let timestamp = FormatCode(rawValue: 0x83)
    /// `0x98`: `uuid`, sixteen bytes (§1.6.18).
    public static let uuid = FormatCode(rawValue: 0x98)
    /// `0xA0`: `binary` with a one-byte length, up to 255 bytes (§1.6.19).
    public static let vbin8 = FormatCode(rawValue: 0xA0)
    /// `0xB0`: `binary` with a four-byte length (§1.6.19).
    public static let vbin32 = FormatCode(rawValue: 0xB0)
    /// `0xA1`: `string` as UTF-8 with a one-byte length, up to 255 bytes (§1.6.20).
    public static let str8 = FormatCode(rawValue: 0xA1)
    /// `0xB1`: `string` as UTF-8 with a four-byte length (§1.6.20).
    public static let str32 = FormatCode(rawValue: 0xB1)
    /// `0xA3`: `symbol` as ASCII with a one-byte length, up to 255 bytes (§1.6.21).
    public static let sym8 = FormatCode(rawValue: 0xA3)
    /// `0xB3`: `symbol` as ASCII with a four-byte length (§1.6.21).
    public static let sym32 = FormatCode(rawValue: 0xB3)
    /// `0x45`: the empty `list`, no data (§1.6.22).
    public static let list0 = FormatCode(rawValue: 0x45)
    /// `0xC0`: `list` with one-byte size and count (§1.6.22).
    public static let list8 = FormatCode(rawValue: 0xC0)
    /// `0xD0`: `list` with four-byte size and count (§1.6.22).
    public static let list32 = FormatCode(rawValue: 0xD0)
    /// `0xC1`: `map` with one-byte size and count; the count is keys plus values (§1.6.23).
    public static let map8 = FormatCode(rawValue: 0xC1)
    /// `0xD1`: `map` with four-byte size and count; the count is keys plus values (§1.6.23).
    public static let map32 = FormatCode(rawValue: 0xD1)
    /// `0xE0`: `array` with one-byte size and count, then one element constructor (§1.6.24).
    public static let array8 = FormatCode(rawValue: 0xE0)
    /// `0xF0`: `array` with four-byte size and count, then one element constructor (§1.6.24).
    public static let array32 = FormatCode(rawValue: 0xF0)

    /// The AMQP type this format code encodes, or `nil` for ``described`` and for codes the
    /// specification does not define.
    @inlinable
    public var type: AMQPType? {
        switch rawValue {
        case 0x40: return .null
        case 0x56, 0x41, 0x42: return .boolean
        case 0x50: return .ubyte
        case 0x60: return .ushort
        case 0x70, 0x52, 0x43: return .uint
        case 0x80, 0x53, 0x44: return .ulong
        case 0x51: return .byte
        case 0x61: return .short
        case 0x71, 0x54: return .int
        case 0x81, 0x55: return .long
        case 0x72: return .float
        case 0x82: return .double
        case 0x74: return .decimal32
        case 0x84: return .decimal64
        case 0x94: return .decimal128
        case 0x73: return .char
        case 0x83: return .timestamp
        case 0x98: return .uuid
        case 0xA0, 0xB0: return .binary
        case 0xA1, 0xB1: return .string
        case 0xA3, 0xB3: return .symbol
        case 0x45, 0xC0, 0xD0: return .list
        case 0xC1, 0xD1: return .map
        case 0xE0, 0xF0: return .array
        default: return nil
        }
    }

    /// How the bytes after the format code are laid out (§1.2, "Type Encodings").
    @usableFromInline
    enum Layout {
        /// A fixed number of bytes follows (0 to 16).
        case fixed(Int)
        /// A length of `sizeWidth` bytes follows, then that many bytes.
        case variable(sizeWidth: Int)
        /// A size of `sizeWidth` bytes, a count of `sizeWidth` bytes, then `size - sizeWidth` bytes.
        case compound(sizeWidth: Int)
        /// Like ``compound(sizeWidth:)``, with an element constructor after the count.
        case array(sizeWidth: Int)
    }

    /// Whether the specification defines this byte as a constructor (`0x00` or a primitive
    /// format code): one bit per byte value, so the decoder's check costs a shift and a test.
    @inlinable
    var isDefined: Bool {
        let bits: UInt64
        switch rawValue >> 6 {
        // 0x00; 0x00-0x3F
        case 0: bits = 0x0000_0000_0000_0001
        // 0x40-0x45, 0x50-0x56, 0x60-0x61, 0x70-0x74
        case 1: bits = 0x001F_0003_007F_003F
        // 0x80-0x84, 0x94, 0x98, 0xA0, 0xA1, 0xA3, 0xB0, 0xB1, 0xB3
        case 2: bits = 0x000B_000B_0110_001F
        // 0xC0, 0xC1, 0xD0, 0xD1, 0xE0, 0xF0
        default: bits = 0x0001_0001_0003_0003
        }
        return bits >> (rawValue & 63) & 1 == 1
    }

    @inlinable
    var layout: Layout? {
        switch rawValue {
        case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45: return .fixed(0)
        case 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56: return .fixed(1)
        case 0x60, 0x61: return .fixed(2)
        case 0x70, 0x71, 0x72, 0x73, 0x74: return .fixed(4)
        case 0x80, 0x81, 0x82, 0x83, 0x84: return .fixed(8)
        case 0x94, 0x98: return .fixed(16)
        case 0xA0, 0xA1, 0xA3: return .variable(sizeWidth: 1)
        case 0xB0, 0xB1, 0xB3: return .variable(sizeWidth: 4)
        case 0xC0, 0xC1: return .compound(sizeWidth: 1)
        case 0xD0, 0xD1: return .compound(sizeWidth: 4)
        case 0xE0: return .array(sizeWidth: 1)
        case 0xF0: return .array(sizeWidth: 4)
        default: return nil
        }
    }

    /// The byte as two lowercase hex digits with a `0x` prefix, e.g. `0xa1`.
    public var description: String {
        let hex = String(rawValue, radix: 16, uppercase: false)
        return "0x" + (hex.count == 1 ? "0" + hex : hex)
    }
}

/// The primitive types of AMQP 1.0 (§1.6), independent of how wide their encoding is.
public enum AMQPType: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case null
    case boolean
    case ubyte
    case ushort
    case uint
    case ulong
    case byte
    case short
    case int
    case long
    case float
    case double
    case decimal32
    case decimal64
    case decimal128
    case char
    case timestamp
    case uuid
    case binary
    case string
    case symbol
    case list
    case map
    case array

    /// The name the specification gives this type (`"boolean"`, `"ulong"`, …).
    public var description: String { rawValue }
}
