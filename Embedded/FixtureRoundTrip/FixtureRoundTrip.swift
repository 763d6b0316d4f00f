// An Embedded Swift program (wasm32-unknown-none-wasm, run under WASI) that proves the codec works
// there, not only that it compiles: it reads fixtures from standard input, decodes each and
// encodes it again, and checks the bytes.
//
// Input: records of one kind byte, a 4-byte little-endian length and that many bytes.
//   0  a value whose encoding is the smallest one: it must encode back to exactly these bytes
//   1  a value in a legal but larger encoding: it must decode, and its re-encoding must decode to
//      the same value and encode to the same bytes again
//   2  a message (header, annotations, properties, application properties, body sections): it
//      must decode eagerly (Message) and lazily (LazyMessage), both to the same message, and
//      encode back to exactly these bytes
// Output: one line per record and a summary; the exit status is the number of failed records
// (at most 125), 126 for input that is not well-formed records.
import AMQPCodec
import AMQPMessage
import AMQPTypes

enum RecordKind: UInt8 {
    case canonicalValue = 0
    case value = 1
    case message = 2
}

func readStandardInput() -> [UInt8] {
    var input: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBufferPointer { amqp_read_stdin($0.baseAddress, $0.count) }
        if count <= 0 { break }
        input.append(contentsOf: chunk[..<Int(count)])
    }
    return input
}

func hex(_ bytes: [UInt8]) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    var text = ""
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
    return text
}

/// Why a record failed, or nil if it passed.
func check(_ kind: RecordKind, _ bytes: [UInt8]) -> String? {
    do throws(AMQPDecodingError) {
        switch kind {
        case .canonicalValue:
            let value = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            let encoded = AMQPEncoder.encode(value)
            return encoded == bytes ? nil : "re-encoded as \(hex(encoded))"
        case .value:
            let value = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            let encoded = AMQPEncoder.encode(value)
            let again = try AMQPDecoder.decode(AMQPValue.self, from: encoded)
            if again != value { return "its re-encoding \(hex(encoded)) decodes to another value" }
            let encodedAgain = AMQPEncoder.encode(again)
            return encodedAgain == encoded ? nil : "encodes as \(hex(encoded)), then as \(hex(encodedAgain))"
        case .message:
            let message = try Message(decoding: bytes)
            let lazy = try LazyMessage(decoding: bytes)
            if try lazy.validate() != message { return "the lazy decoding differs from the eager one" }
            let encoded = message.encoded()
            return encoded == bytes ? nil : "re-encoded as \(hex(encoded))"
        }
    } catch {
        return "does not decode: \(error)"
    }
}

@_cdecl("amqp_embedded_main")
func amqpEmbeddedMain() -> Int32 {
    let input = readStandardInput()
    var position = 0
    var passed = 0
    var failed = 0
    while position < input.count {
        guard input.count - position >= 5, let kind = RecordKind(rawValue: input[position]) else {
            print("malformed record at offset \(position)")
            return 126
        }
        var length = 0
        for i in 0..<4 { length |= Int(input[position + 1 + i]) << (8 * i) }
        let start = position + 5
        guard length <= input.count - start else {
            print("record at offset \(position) is longer than the input")
            return 126
        }
        let bytes = Array(input[start..<(start + length)])
        position = start + length
        if let failure = check(kind, bytes) {
            print("FAIL \(hex(bytes)): \(failure)")
            failed += 1
        } else {
            passed += 1
        }
    }
    print("embedded round trip: \(passed) passed, \(failed) failed")
    return Int32(min(failed, 125))
}
