import AMQPCodec
import AMQPSpecModel
import AMQPTypes
import Foundation
import AMQPTestSupport
import Testing

/// Qpid Proton (its Python binding, `proton.Data`) as an independent codec: every described type
/// Swift encodes decodes in Proton to the same values, and every one Proton encodes decodes in
/// Swift to the same typed value. Fails, never skips, when Proton is missing
/// (`apt-get install -y python3-qpid-proton`).
@Suite(.serialized) struct ProtonInteropTests {
    static let samplesPerType = 12

    @Test func protonIsInstalled() throws {
        #expect(try ProtonOracle.encode([.uint(7)]) == [[0x52, 0x07]])
    }

    @Test func swiftEncodedValuesDecodeInProton() throws {
        var cases: [(name: String, bytes: [UInt8])] = []
        for spec in describedSpecTypes {
            let type = try #require(swiftType(of: spec))
            for i in 0..<Self.samplesPerType {
                var synthesizer = ValueSynthesizer(seed: UInt64(i) &* 7919 &+ spec.descriptor!.code)
                let typed = try decodeTyped(type, AMQPEncoder.encode(synthesizer.described(spec)))
                cases.append((spec.name, encodeTyped(typed, i % 2 == 0 ? .compact : .full)))
            }
        }
        let answers = try ProtonOracle.decode(cases.map(\.bytes))
        for (c, answer) in zip(cases, answers) {
            // What Swift itself reads from the same bytes, field by field.
            let expected = try AMQPDecoder.decode(AMQPValue.self, from: c.bytes)
            #expect((try? answer.get()) == expected, "\(c.name): \(HexEncoding.string(c.bytes)): \(answer)")
        }
        #expect(cases.count == describedSpecTypes.count * Self.samplesPerType)
    }

    @Test func protonEncodedValuesDecodeInSwift() throws {
        var cases: [(name: String, type: AnyDescribedType, value: AMQPValue)] = []
        for spec in describedSpecTypes {
            let type = try #require(swiftType(of: spec))
            for i in 0..<Self.samplesPerType {
                var synthesizer = ValueSynthesizer(seed: UInt64(i) &* 104_729 &+ spec.descriptor!.code)
                cases.append((spec.name, type, synthesizer.described(spec)))
            }
        }
        let answers = try ProtonOracle.encode(cases.map(\.value))
        for (c, protonBytes) in zip(cases, answers) {
            let answer = HexEncoding.string(protonBytes)
            do {
                let fromProton = try decodeTyped(c.type, protonBytes)
                let fromSwift = try decodeTyped(c.type, AMQPEncoder.encode(c.value))
                #expect(AnyHashable(fromProton) == AnyHashable(fromSwift), "\(c.name): \(answer)")
            } catch {
                Issue.record("\(c.name): Proton's encoding \(answer) does not decode: \(error)")
            }
        }
    }
}
