import AMQPCodec
import AMQPTestSupport
import Foundation
import Testing

@Suite("Qpid Proton corpora (../shared/corpora)")
struct CorpusTests {
    /// Proton's interoperability vectors: concatenated values of every kind. Each must decode and
    /// re-encode to an equal value under both policies.
    @Test func interopVectorsDecodeAndRoundTrip() throws {
        let files = try TestPaths.files(in: TestPaths.corpus("proton-interop-vectors"))
        #expect(files.count == 9)
        var values = 0
        for file in files {
            let bytes = try TestPaths.bytes(file)
            var decoder = AMQPDecoder(bytes)
            while !decoder.isAtEnd {
                let value = try decoder.decodeValue()
                values += 1
                for policy in [EncodingPolicy.compact, .full] {
                    let again = try AMQPDecoder.decode(AMQPValue.self, from: AMQPEncoder.encode(value, policy: policy))
                    #expect(again == value, "\(file.lastPathComponent)")
                }
            }
        }
        #expect(values >= 30)
    }

    /// The vectors were written by Proton's `Data.encode`, which always uses 32-bit compounds:
    /// re-encoding them under our compact policy must never be larger.
    @Test func compactNeverLargerThanProton() throws {
        for file in try TestPaths.files(in: TestPaths.corpus("proton-interop-vectors")) {
            let bytes = try TestPaths.bytes(file)
            var decoder = AMQPDecoder(bytes)
            var ours = 0
            while !decoder.isAtEnd { ours += AMQPEncoder.encode(try decoder.decodeValue()).count }
            #expect(ours <= bytes.count, "\(file.lastPathComponent)")
        }
    }

    /// Proton's message-decode fuzz corpus and the inputs that once crashed Proton: every file
    /// decodes (as a sequence of values) or fails with a typed error; nothing traps.
    @Test(arguments: ["proton-fuzz-message-decode/corpus", "proton-fuzz-message-decode/crash",
                      "proton-fuzz-connection-driver/corpus", "proton-fuzz-connection-driver/crash"])
    func fuzzCorpusDecodesOrFailsCleanly(_ folder: String) throws {
        let files = try TestPaths.files(in: TestPaths.corpus(folder))
        #expect(!files.isEmpty)
        var decodedValues = 0
        var failures = 0
        for file in files {
            let bytes = try TestPaths.bytes(file)
            var decoder = AMQPDecoder(bytes)
            do {
                while !decoder.isAtEnd {
                    let value = try decoder.decodeValue()
                    decodedValues += 1
                    let again = try AMQPDecoder.decode(AMQPValue.self, from: AMQPEncoder.encode(value))
                    #expect(again == value, "\(file.lastPathComponent)")
                }
            } catch {
                failures += 1
                #expect(error.offset <= bytes.count)
            }
        }
        #expect(decodedValues + failures > 0)
    }
}
