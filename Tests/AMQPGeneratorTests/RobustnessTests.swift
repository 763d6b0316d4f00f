import AMQPGenerator
import AMQPSpecModel
import Foundation
import PropertyBased
import Testing

/// The spec front end takes any bytes: the result is a model or a `SpecError`, never a crash
/// (the same entry point a fuzzer will drive).
@Suite struct RobustnessTests {
    static let transport: [UInt8] = {
        let url = coreSpecDirectory.appendingPathComponent("transport.bare.xml")
        return FileManager.default.contents(atPath: url.path).map { [UInt8]($0) } ?? Array("<amqp name=\"t\"/>".utf8)
    }()

    /// Loads and, when that succeeds, generates: neither may trap.
    func survive(_ bytes: [UInt8]) {
        do {
            let model = try SpecModel.load([("input.xml", bytes)])
            _ = try? AMQPSwiftGenerator.generate(model)
        } catch {
            #expect(error.file == "input.xml")
        }
    }

    @Test func arbitraryBytes() async {
        await propertyCheck(count: 300, input: Gen<UInt8>.value(in: 0...255).array(of: 0...200)) { bytes in
            survive(bytes)
        }
    }

    @Test func mutatedSpecFile() async {
        let input = zip(Gen<Int>.int(in: 0...(Self.transport.count - 1)), Gen<UInt8>.value(in: 0...255), Gen<Int>.int(in: 0...2))
        await propertyCheck(count: 300, input: input) { position, byte, mode in
            var bytes = Self.transport
            switch mode {
            case 0: bytes[position] = byte
            case 1: bytes.removeSubrange(position...)
            default: bytes.insert(byte, at: position)
            }
            survive(bytes)
        }
    }

    @Test func deepNestingIsRejectedNotRecursedInto() {
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        survive(Array(("<amqp name=\"x\">" + deep + "</amqp>").utf8))
    }
}
