extension AMQPDescribedType {
    /// This value as the two parts of a described value, as an archetype enum keeps a type it has
    /// no case for in its `unknown` case: a vendor's outcome, generated against AMQPTypes, in
    /// AMQPTypes' `DeliveryState`. Encoding the parts writes this value as `.compact` does.
    public var describedParts: (descriptor: DescriptorValue, value: AMQPValue) {
        var encoder = AMQPEncoder()
        encodeDescribedBody(to: &encoder)
        // Our own encoder's output, read back without the limits meant for a peer's bytes.
        let unbounded = AMQPDecoder.Limits(maxDepth: .max, maxValueSize: .max, maxZeroWidthArrayCount: .max)
        do {
            return (.code(Self.descriptor.code), try AMQPDecoder.decode(AMQPValue.self, from: encoder.takeBytes(), limits: unbounded))
        } catch {
            preconditionFailure("the encoder wrote a described body that does not decode")
        }
    }

    /// Reads this type from the parts an archetype enum's `unknown` case holds; `nil` when
    /// `descriptor` names another type, and an error when it names this one but `value` is not one.
    public init?(descriptor: DescriptorValue, value: AMQPValue) throws(AMQPDecodingError) {
        guard descriptor.matches(Self.descriptor) else { return nil }
        let bytes = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(Self.descriptor.code), value: value))
        self = try AMQPDecoder.decode(Self.self, from: bytes)
    }
}
