import AMQPCodec
import AMQPTypedJSON
import PropertyBased
import Testing

@Suite("Property-based round trips")
struct PropertyTests {
    @Test("decode(encode(v)) == v under both policies")
    func valuesRoundTrip() async {
        await propertyCheck(count: 2000, input: RandomValues().generator(depth: 4)) { value in
            for policy in [EncodingPolicy.compact, .full] {
                let bytes = AMQPEncoder.encode(value, policy: policy)
                #expect(throws: Never.self) {
                    let decoded = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
                    #expect(decoded == value)
                    #expect(decoded.hashValue == value.hashValue)
                }
            }
        }
    }

    @Test("encoding is canonical: encode(decode(encode(v))) == encode(v)")
    func encodingIsStable() async {
        await propertyCheck(count: 1000, input: RandomValues().generator(depth: 4)) { value in
            let once = AMQPEncoder.encode(value)
            let again = try AMQPEncoder.encode(AMQPDecoder.decode(AMQPValue.self, from: once))
            #expect(once == again)
        }
    }

    @Test("typed JSON round-trips every value exactly")
    func typedJSONRoundTrips() async {
        await propertyCheck(count: 1000, input: RandomValues().generator(depth: 4)) { value in
            let line = TypedJSON.string(for: value)
            #expect(!line.contains("\n"))
            #expect((try? TypedJSON.value(from: line)) == value, "\(line)")
        }
    }

    @Test("decoding arbitrary bytes never traps, and what decodes re-encodes to an equal value")
    func arbitraryBytes() async {
        let bytes = Gen<UInt8>.uint8().array(of: 0...64)
        await propertyCheck(count: 20000, input: bytes) { input in
            var decoder = AMQPDecoder(input)
            if let value = try? decoder.decodeValue() {
                let again = try? AMQPDecoder.decode(AMQPValue.self, from: AMQPEncoder.encode(value))
                #expect(again == value)
            }
        }
    }

    @Test("mutating one byte of a valid encoding decodes or fails cleanly")
    func mutatedEncodings() async {
        let input = zip(RandomValues().generator(depth: 3), Gen<Int>.int(in: 0...1000), Gen<UInt8>.uint8())
        await propertyCheck(count: 3000, input: input) { value, position, byte in
            var bytes = AMQPEncoder.encode(value)
            bytes[position % bytes.count] = byte
            var decoder = AMQPDecoder(bytes)
            _ = try? decoder.decodeValue()
            var skipper = AMQPDecoder(bytes)
            _ = try? skipper.skipValue()
        }
    }
}
