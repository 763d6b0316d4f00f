/// A restricted type (§1.3 of the types specification) without a descriptor: a subset of the
/// values of another AMQP type, encoded exactly as that type. `sender-settle-mode` restricts
/// `ubyte` to 0, 1 and 2; `amqp-error` names some `symbol` values.
///
/// Generated enums conform through their raw value. Decoding reads a `RawValue` and keeps it only
/// if `init?(rawValue:)` accepts it: a closed set (a numeric or boolean restriction) turns an
/// unknown value into an ``AMQPDecodingError/Kind/invalidValue`` error, an open set (symbols,
/// whose `init(rawValue:)` never fails) keeps it.
public protocol AMQPRestrictedType: AMQPArrayElement, RawRepresentable where RawValue: AMQPArrayElement {}

extension AMQPRestrictedType {
    /// Writes the raw value, encoded exactly as the restricted type's source type.
    @inlinable
    public func encode(to encoder: inout AMQPEncoder) {
        rawValue.encode(to: &encoder)
    }

    /// Reads a raw value; throws `invalidValue` if it is not one of a closed set's choices.
    @inlinable
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        let at = decoder.offset
        self = try Self.restrictedValue(try RawValue(from: &decoder), at: at)
    }

    /// The raw type's smallest element constructor for these values.
    @inlinable
    public static func arrayElementFormatCode(for elements: [Self]) -> FormatCode {
        RawValue.arrayElementFormatCode(for: elements.map { $0.rawValue })
    }

    /// Writes the raw value as an array element of `code`.
    @inlinable
    public func encodeArrayElement(as code: FormatCode, to encoder: inout AMQPEncoder) {
        rawValue.encodeArrayElement(as: code, to: &encoder)
    }

    /// Reads a raw array element of `code`; throws `invalidValue` if a closed set does not accept it.
    @inlinable
    public static func decodeArrayElement(as code: FormatCode, at offset: Int, from decoder: inout AMQPDecoder) throws(AMQPDecodingError) -> Self {
        try restrictedValue(try RawValue.decodeArrayElement(as: code, at: offset, from: &decoder), at: offset)
    }

    @inlinable
    static func restrictedValue(_ rawValue: RawValue, at offset: Int) throws(AMQPDecodingError) -> Self {
        guard let value = Self(rawValue: rawValue) else {
            throw AMQPDecodingError(.invalidValue, at: offset, "\(rawValue) is not a value of \(Self.self)")
        }
        return value
    }
}
