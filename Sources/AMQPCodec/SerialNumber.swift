/// A 32-bit sequence number compared with RFC 1982 serial number arithmetic, as AMQP requires for
/// `sequence-no`, `transfer-number` and `delivery-number` (§2.8.9 of the transport specification).
///
/// Serial numbers wrap: `SerialNumber(UInt32.max) + 1 == SerialNumber(0)`, and
/// `SerialNumber(UInt32.max) < SerialNumber(0)`. Two numbers exactly 2³¹ apart are not ordered
/// either way (RFC 1982 §3.2 leaves the comparison undefined); `<` returns `false` both ways.
public struct SerialNumber: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible,
    ExpressibleByIntegerLiteral, AMQPArrayElement
{
    /// The number as sent on the wire (a `uint`).
    public var rawValue: UInt32

    /// Wraps a wire value.
    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Wraps a wire value.
    @inlinable
    public init(_ value: UInt32) { self.rawValue = value }

    /// A serial number from a literal.
    @inlinable
    public init(integerLiteral value: UInt32) { self.rawValue = value }

    /// RFC 1982 §3.2: `a < b` when `b` is ahead of `a` by less than 2³¹.
    @inlinable
    public static func < (lhs: SerialNumber, rhs: SerialNumber) -> Bool {
        let distance = rhs.rawValue &- lhs.rawValue
        return distance != 0 && distance < 0x8000_0000
    }

    /// RFC 1982 §3.1 addition; `n` must be below 2³¹ to keep the order meaningful.
    @inlinable
    public static func + (lhs: SerialNumber, rhs: UInt32) -> SerialNumber {
        SerialNumber(lhs.rawValue &+ rhs)
    }

    /// RFC 1982 §3.1 addition in place, wrapping; `rhs` must be below 2³¹ to keep the order meaningful.
    @inlinable
    public static func += (lhs: inout SerialNumber, rhs: UInt32) {
        lhs.rawValue &+= rhs
    }

    /// How far `other` is ahead of `self`, wrapping (the unsigned difference).
    @inlinable
    public func distance(to other: SerialNumber) -> UInt32 {
        other.rawValue &- rawValue
    }

    /// The wire value in decimal.
    public var description: String { String(rawValue) }

    /// Writes a `uint` in its smallest form.
    @inlinable public func encode(to encoder: inout AMQPEncoder) { encoder.encode(rawValue) }
    /// Reads a `uint` in any of its encodings.
    @inlinable public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) { self.rawValue = try decoder.decodeUInt() }
    /// The `uint` element constructor: `smalluint` if every value is at most 255, else `uint`.
    @inlinable public static func arrayElementFormatCode(for elements: [SerialNumber]) -> FormatCode {
        UInt32.arrayElementFormatCode(for: elements.map { $0.rawValue })
    }
    /// Writes the `uint` payload of an array element of `code`.
    @inlinable public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        rawValue.encodeArrayElement(as: code, to: &encoder)
    }
    /// Reads the `uint` payload of an array element of `code`.
    @inlinable public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> SerialNumber {
        SerialNumber(try UInt32.decodeArrayElement(as: code, at: offset, from: &decoder))
    }
}
