import AMQPCodec
import AMQPSpecModel
import AMQPTypes
import PropertyBased
import Testing

typealias AnyDescribed = any (AMQPDescribedType & Hashable & Sendable)
typealias AnyDescribedType = any (AMQPDescribedType & Hashable & Sendable).Type

/// The generated Swift type of a spec type with a descriptor.
func swiftType(of type: SpecType) -> AnyDescribedType? {
    guard let descriptor = type.descriptor else { return nil }
    return AMQPDescribedTypes.type(for: .code(descriptor.code))
}

func decodeTyped(_ type: AnyDescribedType, _ bytes: [UInt8]) throws(AMQPDecodingError) -> AnyDescribed {
    var decoder = AMQPDecoder(bytes)
    let value = try type.init(from: &decoder)
    try decoder.expectEnd()
    return value
}

func encodeTyped(_ value: AnyDescribed, _ policy: EncodingPolicy) -> [UInt8] {
    var encoder = AMQPEncoder(policy: policy)
    value.encode(to: &encoder)
    return encoder.bytes
}

let policies: [String: EncodingPolicy] = ["compact": .compact, "full": .full]

/// Every generated described type round-trips: decode(encode(x)) == x under both encoding
/// policies, for values drawn from the spec model (every field, every provider, every choice).
@Suite struct RoundTripTests {
    @Test func everyDescribedTypeOfTheSpecHasAGeneratedType() {
        #expect(describedSpecTypes.count == AMQPDescribedTypes.all.count)
        for type in describedSpecTypes {
            #expect(swiftType(of: type) != nil, "\(type.name)")
        }
        #expect(describedSpecTypes.filter { $0.typeClass == .composite }.count == 34)
        #expect(describedSpecTypes.count == 45)
    }

    @Test(arguments: describedSpecTypes.map(\.name), ["compact", "full"])
    func roundTrip(typeName: String, policyName: String) async throws {
        let spec = try #require(specModel.type(named: typeName))
        let type = try #require(swiftType(of: spec))
        let policy = try #require(policies[policyName])
        await propertyCheck(count: 60, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            var synthesizer = ValueSynthesizer(seed: seed)
            let random = synthesizer.described(spec)
            do {
                let x = try decodeTyped(type, AMQPEncoder.encode(random))
                let bytes = encodeTyped(x, policy)
                let y = try decodeTyped(type, bytes)
                #expect(AnyHashable(x) == AnyHashable(y), "\(random)")
                #expect(encodeTyped(y, policy) == bytes)
            } catch {
                Issue.record("\(typeName) from \(random): \(error)")
            }
        }
    }
}
