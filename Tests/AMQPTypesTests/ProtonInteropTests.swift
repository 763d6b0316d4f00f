import AMQPCodec
import AMQPSpecModel
import AMQPTypes
import Foundation
import Testing

/// Qpid Proton (its Python binding, `proton.Data`) as an independent codec: every described type
/// Swift encodes decodes in Proton to the same values, and every one Proton encodes decodes in
/// Swift to the same typed value. Fails, never skips, when Proton is missing
/// (`apt-get install -y python3-qpid-proton`).
@Suite(.serialized) struct ProtonInteropTests {
    static let samplesPerType = 12

    /// Runs `scripts/proton_oracle.py` on `requests` and returns one answer per request.
    func proton(_ requests: [String]) throws -> [String] {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("proton-requests-\(UUID().uuidString).txt")
        try requests.joined(separator: "\n").appending("\n").write(to: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [packageRoot.appendingPathComponent("scripts/proton_oracle.py").path, input.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ProtonFailed(message: "proton_oracle.py exited \(process.terminationStatus) (is python3-qpid-proton installed?): \(errorText)")
        }
        let answers = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        guard answers.count == requests.count else {
            throw ProtonFailed(message: "expected \(requests.count) answers, got \(answers.count): \(errorText)")
        }
        return answers
    }

    struct ProtonFailed: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    @Test func protonIsInstalled() throws {
        #expect(try proton(["encode {\"t\":\"uint\",\"v\":\"7\"}"]) == ["5207"])
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
        let answers = try proton(cases.map { "decode " + HexEncoding.string($0.bytes) })
        for (c, answer) in zip(cases, answers) {
            // What Swift itself reads from the same bytes, field by field.
            let expected = CanonicalJSON.render(try AMQPDecoder.decode(AMQPValue.self, from: c.bytes))
            #expect(answer == expected, "\(c.name): \(HexEncoding.string(c.bytes))")
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
        let answers = try proton(cases.map { "encode " + CanonicalJSON.render($0.value) })
        for (c, answer) in zip(cases, answers) {
            guard let protonBytes = HexEncoding.bytes(answer) else {
                Issue.record("\(c.name): Proton could not encode \(c.value): \(answer)")
                continue
            }
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
