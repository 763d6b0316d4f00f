import AMQPCodec
import AMQPTypedJSON
import Foundation
import AMQPTestSupport
import Testing

@Suite("Qpid Proton as an independent oracle")
struct ProtonOracleTests {
    static let valueCount = 400

    static let values: [AMQPValue] = {
        var rng = SplitMix64(seed: 0x414D_5150)
        let generator = RandomValues(canonicalNaNsOnly: true)
        return (0..<valueCount).map { _ in generator.value(using: &rng, depth: 3) }
    }()

    @Test("values encoded by Swift decode in Proton to the same values")
    func swiftToProton() throws {
        for policy in [EncodingPolicy.compact, .full] {
            let hexLines = Self.values.map { HexEncoding.string(AMQPEncoder.encode($0, policy: policy)) }
            let results = try ProtonOracle.run("decode", hexLines)
            try #require(results.count == Self.values.count)
            for (value, line) in zip(Self.values, results) {
                #expect(!line.hasPrefix("{\"error\""), "Proton rejected \(TypedJSON.string(for: value)): \(line)")
                if line.hasPrefix("{\"error\"") { continue }
                #expect(try TypedJSON.value(from: line) == value, "\(line)")
            }
        }
    }

    @Test("values encoded by Proton decode in Swift to the same values")
    func protonToSwift() throws {
        let results = try ProtonOracle.run("encode", Self.values.map { TypedJSON.string(for: $0, floatsAsBits: true) })
        try #require(results.count == Self.values.count)
        for (value, line) in zip(Self.values, results) {
            let encoded = try #require(HexEncoding.bytes(line))
            let decoded = try AMQPDecoder.decode(AMQPValue.self, from: encoded)
            #expect(decoded == value, "\(line)")
            // Proton writes 32-bit compounds; ours are never larger.
            #expect(AMQPEncoder.encode(decoded).count <= encoded.count)
        }
    }

    @Test("Proton's interop vectors mean the same to both decoders")
    func interopVectorsAgree() throws {
        let files = try TestPaths.files(in: TestPaths.corpus("proton-interop-vectors"))
        let hexLines = try files.map { HexEncoding.string(try TestPaths.bytes($0)) }
        let protonValues = try ProtonOracle.run("decode", hexLines).map { try TypedJSON.value(from: $0) }
        var swiftValues = [AMQPValue]()
        for file in files {
            var decoder = AMQPDecoder(try TestPaths.bytes(file))
            while !decoder.isAtEnd { swiftValues.append(try decoder.decodeValue()) }
        }
        #expect(swiftValues == protonValues)
    }
}
