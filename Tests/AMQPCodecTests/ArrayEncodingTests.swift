import AMQPCodec
import Testing

/// Arrays whose element type has a small and a wide constructor (§1.6.24: one constructor for
/// every element) are written in one pass, in the small form until an element does not fit.
@Suite("Arrays: the small element form only when every element fits")
struct ArrayEncodingTests {
    static let long = String(repeating: "x", count: 300)

    static let cases: [(name: String, array: AMQPArray, wide: FormatCode)] = [
        ("symbols, the last too long", try! AMQPArray(elementType: .symbol, elements: [.symbol("a"), .symbol("b"), .symbol(Symbol(long)!)]), .sym32),
        ("strings, the first too long, described", try! AMQPArray(elementType: .string, descriptor: .ulong(7), elements: [.string(long), .string("b")]), .str32),
        ("binaries, the middle one too long", try! AMQPArray(elementType: .binary, elements: [.binary(Binary([1])), .binary(Binary([UInt8](repeating: 2, count: 256))), .binary(Binary([]))]), .vbin32),
        ("ulongs, one over 255", try! AMQPArray(elementType: .ulong, elements: [.ulong(1), .ulong(256)]), .ulong),
        ("longs, one below -128", try! AMQPArray(elementType: .long, elements: [.long(-128), .long(-129)]), .long),
        ("ints, one over 127", try! AMQPArray(elementType: .int, elements: [.int(127), .int(128)]), .int),
    ]

    @Test("an element that needs the wide form sends every element there; bytes written before stay", arguments: 0..<cases.count)
    func wideWhenOneDoesNotFit(_ index: Int) throws {
        let (_, array, wide) = Self.cases[index]
        var encoder = AMQPEncoder()
        encoder.encode("before" as String)
        let prefix = encoder.bytes.count
        encoder.encode(AMQPValue.array(array))
        encoder.encode(UInt32(9))
        let bytes = encoder.bytes
        var decoder = AMQPDecoder(bytes)
        #expect(try decoder.decode(String.self) == "before")
        #expect(try decoder.decodeValue() == .array(array))
        #expect(try decoder.decode(UInt32.self) == 9)
        #expect(decoder.isAtEnd)
        // The element constructor follows size and count (and the descriptor, if any).
        let descriptorLength = array.descriptor.map { AMQPEncoder.encode($0).count + 1 } ?? 0
        let constructorOffset = prefix + (bytes[prefix] == 0xE0 ? 3 : 9) + descriptorLength
        #expect(bytes[constructorOffset] == wide.rawValue)
    }

    @Test("every element small: the small form, byte for byte what a two-pass encoder wrote")
    func smallWhenAllFit() throws {
        let array = try AMQPArray(elementType: .symbol, elements: (0..<1000).map { .symbol(Symbol("s\($0)")!) })
        let bytes = AMQPEncoder.encode(AMQPValue.array(array))
        #expect(bytes[0] == 0xF0)  // array32: 1000 elements do not fit a one-byte count
        #expect(bytes[9] == FormatCode.sym8.rawValue)
        #expect(try AMQPDecoder.decode(AMQPValue.self, from: bytes) == .array(array))
    }
}
