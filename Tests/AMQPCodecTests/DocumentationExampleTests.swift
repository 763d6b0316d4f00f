import AMQPCodec
import Testing

/// The codec's code in the README and the AMQPCodec articles, region for region
/// (AMQPDocumentationTests checks that each block equals its region here).
@Suite("Documentation examples: codec")
struct CodecDocumentationExampleTests {
    @Test("encode a value in both policies and decode it back")
    func roundTrip() throws {
        // snippet: codec round trip
        let value: AMQPValue = .map([.symbol("x-opt-offset"): .string("42"), .symbol("n"): .long(7)])
        let bytes = AMQPEncoder.encode(value)                       // smallest encoding
        let full = AMQPEncoder.encode(value, policy: .full)          // every composite field, no list0
        let back = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
        // snippet end
        #expect(back == value)
        #expect(try AMQPDecoder.decode(AMQPValue.self, from: full) == value)
        // map8 (0xc1): size, count, then the pairs; long 7 as smalllong (0x55).
        #expect(bytes.first == 0xc1)
    }

    @Test("untrusted input beyond the limits is an error naming its offset")
    func untrustedInput() {
        let printed = PrintedText()
        func print(_ text: String) { printed.text += text }
        // Twenty lists, each the one item of the next (list8: size, count, item): deeper than
        // the limits below allow.
        var untrusted: [UInt8] = [0x45]
        for _ in 0..<20 { untrusted = [0xc0, UInt8(untrusted.count + 1), 0x01] + untrusted }

        // snippet: decoding untrusted input
        let limits = AMQPDecoder.Limits(maxDepth: 16, maxValueSize: 64 << 10)
        do {
            _ = try AMQPDecoder.decode(AMQPValue.self, from: untrusted, limits: limits)
        } catch {
            print("rejected at byte \(error.offset): \(error.kind)")  // error is an AMQPDecodingError
        }
        // snippet end

        #expect(printed.text.hasPrefix("rejected at byte "), "\(printed.text)")
        #expect(printed.text.contains("\(AMQPDecodingError.Kind.depthExceeded)"), "\(printed.text)")
    }
}

/// What a documentation example printed, where a test shadows `print` to check it.
final class PrintedText {
    var text = ""
}
