import AMQPCodec
import AMQPTestSupport
import Testing

/// Bytes that are not AMQP, each with the error kind and offset it must produce.
struct Malformed: CustomTestStringConvertible, Sendable {
    let name: String
    let hex: String
    let kind: AMQPDecodingError.Kind
    let offset: Int
    var testDescription: String { "\(name) [\(hex)]" }
    init(_ name: String, _ hex: String, _ kind: AMQPDecodingError.Kind, at offset: Int) {
        self.name = name
        self.hex = hex
        self.kind = kind
        self.offset = offset
    }
}

let malformed: [Malformed] = [
    Malformed("empty input", "", .truncated, at: 0),
    Malformed("undefined format code", "01", .invalidFormatCode, at: 0),
    Malformed("reserved format code 0xff", "ff", .invalidFormatCode, at: 0),
    Malformed("boolean byte 2 (§1.6.2: 0x00 false, 0x01 true)", "5602", .invalidValue, at: 1),
    Malformed("truncated uint", "700000", .truncated, at: 1),
    Malformed("truncated uuid", "98000102", .truncated, at: 1),
    Malformed("char beyond U+10FFFF", "7300110000", .invalidChar, at: 1),
    Malformed("char surrogate", "730000d800", .invalidChar, at: 1),
    Malformed("vbin8 longer than the input", "a005010203", .truncated, at: 1),
    Malformed("vbin32 with a 4 GiB length", "b0ffffffff00", .truncated, at: 1),
    Malformed("str8 invalid UTF-8", "a102c328", .invalidUTF8, at: 2),
    Malformed("str8 overlong encoding", "a102c0af", .invalidUTF8, at: 2),
    Malformed("str8 encoded surrogate", "a103eda080", .invalidUTF8, at: 2),
    Malformed("sym8 non-ASCII byte", "a30261c3", .invalidSymbol, at: 3),
    Malformed("str32 invalid UTF-8", "b100000002c328", .invalidUTF8, at: 5),
    Malformed("str8 cut inside a three-byte character", "a102e282", .invalidUTF8, at: 2),
    Malformed("invalid UTF-8 in a string inside a list", "c00501a102ff41", .invalidUTF8, at: 5),
    Malformed("invalid UTF-8 in a map key", "c10502a101c040", .invalidUTF8, at: 5),
    Malformed("invalid UTF-8 in the second element of an array of str8", "e00802a1026869" + "02c328", .invalidUTF8, at: 8),
    Malformed("sym32 non-ASCII byte", "b30000000261ff", .invalidSymbol, at: 6),
    Malformed("list8 size 0 cannot hold the count", "c000", .sizeMismatch, at: 1),
    Malformed("list8 count larger than its bytes", "c00205" + "40", .countMismatch, at: 2),
    Malformed("list8 items short of the size", "c0030140" + "40", .sizeMismatch, at: 4),
    Malformed("list8 item overruns the size", "c002017000000001", .sizeMismatch, at: 4),
    Malformed("list32 count 2^32-1", "d000000005ffffffff40", .countMismatch, at: 5),
    Malformed("list32 size beyond the input", "d0ffffff00000000", .truncated, at: 1),
    Malformed("map8 odd count", "c1030140" + "40", .countMismatch, at: 2),
    Malformed("map with a key but no value", "c1020240", .countMismatch, at: 2),
    Malformed("array of nulls (null constructor)", "e0020340", .invalidArray, at: 3),
    Malformed("array with undefined element constructor", "e0020101", .invalidFormatCode, at: 3),
    Malformed("array size cannot hold count and constructor", "e00100", .sizeMismatch, at: 1),
    Malformed("array count larger than its bytes", "e00305" + "5201", .countMismatch, at: 3),
    Malformed("array elements short of the size", "e00401" + "52" + "0102", .sizeMismatch, at: 5),
    Malformed("array with 2^32-1 zero-width elements", "f000000005ffffffff43", .limitExceeded, at: 9),
    Malformed("array element constructor described twice", "e00601" + "0053010053" + "02", .invalidArray, at: 6),
    Malformed("array of boolean with byte 2", "e0030156" + "02", .invalidValue, at: 4),
    Malformed("described value missing its value", "005310", .truncated, at: 3),
    Malformed("described value missing its descriptor", "00", .truncated, at: 1),
]

@Suite("Malformed input gives a typed error")
struct MalformedInputTests {
    @Test(arguments: malformed)
    func rejects(_ input: Malformed) {
        let bytes = HexEncoding.bytes(input.hex)!
        do {
            let value = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            Issue.record("decoded \(value)")
        } catch {
            #expect(error.kind == input.kind, "\(error)")
            #expect(error.offset == input.offset, "\(error)")
            #expect(error.condition == "amqp:decode-error")
        }
    }

    @Test("every fixture truncated at every byte fails with a typed error")
    func truncations() {
        for fixture in fixtures {
            let bytes = fixture.bytes
            for length in 0..<bytes.count {
                #expect(throws: AMQPDecodingError.self, "\(fixture.name) cut to \(length)") {
                    try AMQPDecoder.decode(AMQPValue.self, from: Array(bytes[..<length]))
                }
            }
        }
    }

    @Test("trailing bytes after a value are reported")
    func trailingBytes() {
        #expect(throws: AMQPDecodingError(.trailingBytes, at: 1, "1 bytes after the value")) {
            try AMQPDecoder.decode(AMQPValue.self, from: [0x40, 0x40])
        }
    }

    /// Every size and count field, at every depth of every fixture, set to 0, to one more than
    /// the bytes left after it, and to the largest its width holds: each mutation fails with a
    /// typed error inside the input, or (where the value is still legal, such as a zero-width
    /// array's count) decodes to a value that round-trips.
    @Test("size and count fields at every depth set to 0, one past the bytes left and the maximum")
    func sizeAndCountFields() {
        var mutations = 0
        var failures = 0
        let elapsed = ContinuousClock().measure {
            for fixture in fixtures {
                let bytes = fixture.bytes
                for field in EncodingFields.sizeAndCountFields(in: bytes) {
                    for replacement in EncodingFields.hostileValues(for: field, in: bytes) {
                        let mutated = EncodingFields.setting(field, to: replacement, in: bytes)
                        guard mutated != bytes else { continue }
                        mutations += 1
                        do throws(AMQPDecodingError) {
                            let value = try AMQPDecoder.decode(AMQPValue.self, from: mutated)
                            let again = try? AMQPDecoder.decode(AMQPValue.self, from: AMQPEncoder.encode(value))
                            #expect(again == value, "\(fixture.name): \(field) = \(replacement) decoded but does not round-trip")
                        } catch {
                            failures += 1
                            #expect(error.offset <= mutated.count, "\(fixture.name): \(field) = \(replacement): \(error)")
                        }
                    }
                }
            }
        }
        #expect(mutations > 250)
        #expect(failures > mutations * 9 / 10)
        #expect(elapsed < .seconds(5))
    }
}

@Suite("Decoder limits")
struct LimitTests {
    @Test("a million nested lists stop at the depth limit, quickly")
    func deepNesting() {
        // list8 headers nested: each level `c0 <size> 01`, innermost `45`. Sizes saturate at 255,
        // which is wrong for the outer levels, but the depth limit must trip first.
        let depth = 1_000_000
        var bytes = [UInt8]()
        bytes.reserveCapacity(depth * 3 + 1)
        for _ in 0..<depth { bytes.append(contentsOf: [0xC0, 0xFF, 0x01]) }
        bytes.append(0x45)
        do {
            _ = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            Issue.record("decoded a million levels")
        } catch {
            #expect(error.kind == .depthExceeded || error.kind == .truncated || error.kind == .sizeMismatch)
        }
        // With honest sizes the depth limit is what fails.
        var honest: [UInt8] = [0x45]
        for _ in 0..<150 { honest = [0xD0] + be32(UInt32(honest.count + 4)) + be32(1) + honest }
        #expect(throws: AMQPDecodingError.self) { try AMQPDecoder.decode(AMQPValue.self, from: honest) }
        do {
            _ = try AMQPDecoder.decode(AMQPValue.self, from: honest)
        } catch {
            #expect(error.kind == .depthExceeded)
        }
        var relaxed = AMQPDecoder.Limits()
        relaxed.maxDepth = 200
        #expect(throws: Never.self) { try AMQPDecoder.decode(AMQPValue.self, from: honest, limits: relaxed) }
    }

    @Test("a million nested described values stop at the depth limit")
    func deepDescriptors() {
        let bytes = [UInt8](repeating: 0x00, count: 1_000_000) + [0x40]
        do {
            _ = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            Issue.record("decoded")
        } catch {
            #expect(error.kind == .depthExceeded)
        }
    }

    /// A million levels of each kind of nesting, with sizes that are all honest (32-bit, each
    /// level exactly holding the next), so that only the depth limit can stop it: fast, near the
    /// start of the input, before anything is allocated for the levels below.
    @Test("a million levels of lists, maps, arrays and described values stop at the depth limit, fast",
          arguments: ["list32", "map32", "array32 of arrays", "described values"])
    func millionLevels(_ kind: String) {
        let levels = 1_000_000
        let bytes = Self.nested(kind, levels: levels)
        var error: AMQPDecodingError?
        let elapsed = ContinuousClock().measure {
            do throws(AMQPDecodingError) {
                _ = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            } catch let e {
                error = e
            }
        }
        #expect(error?.kind == .depthExceeded, "\(String(describing: error))")
        #expect((error?.offset ?? .max) < 110 * 10, "the limit trips in the first levels")
        #expect(elapsed < .seconds(1))
        // The same input, skipped: the same limit.
        var skipper = AMQPDecoder(bytes)
        #expect(throws: AMQPDecodingError.self) { try skipper.skipValue() }
    }

    /// `levels` nested values of `kind`, each the only item of the one around it, innermost
    /// `null` (or an empty array).
    static func nested(_ kind: String, levels: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        switch kind {
        case "list32", "map32":
            // Level k (from the outside) is `d0|d1 size count [key]`, then level k+1.
            let isMap = kind == "map32"
            let unit = isMap ? 10 : 9
            bytes.reserveCapacity(unit * levels + 1)
            for k in 0..<levels {
                let inner = unit * (levels - k - 1) + 1
                bytes += [isMap ? 0xD1 : 0xD0] + be32(UInt32(4 + (isMap ? 1 : 0) + inner)) + be32(isMap ? 2 : 1)
                if isMap { bytes.append(0x40) }
            }
            bytes.append(0x40)
        case "array32 of arrays":
            // `f0 size 1 f0`, then each element `size 1 f0`, the innermost `5 0 43` (no elements).
            bytes.reserveCapacity(9 * levels + 9)
            bytes += [0xF0] + be32(UInt32(5 + 9 * (levels - 1) + 9)) + be32(1) + [0xF0]
            for k in 1..<levels {
                bytes += be32(UInt32(5 + 9 * (levels - 1 - k) + 9)) + be32(1) + [0xF0]
            }
            bytes += be32(5) + be32(0) + [0x43]
        default:
            // `00 53 01` described values, each the value of the one around it.
            bytes.reserveCapacity(3 * levels + 1)
            for _ in 0..<levels { bytes += [0x00, 0x53, 0x01] }
            bytes.append(0x40)
        }
        return bytes
    }

    @Test("a described array constructor nesting itself stops at the depth limit")
    func describedConstructorNesting() {
        // array8 whose constructor is 00 (00 (00 … descriptor … )))
        let body: [UInt8] = [0x01] + [UInt8](repeating: 0x00, count: 250) + [0x40, 0x52, 0x01]
        let bytes: [UInt8] = [0xE0, UInt8(body.count)] + body
        do {
            _ = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
            Issue.record("decoded")
        } catch {
            #expect(error.kind == .depthExceeded)
        }
    }

    @Test("a value larger than maxValueSize is refused before reading it")
    func valueSize() {
        var limits = AMQPDecoder.Limits()
        limits.maxValueSize = 4
        let bytes: [UInt8] = [0xA0, 0x05, 1, 2, 3, 4, 5]
        #expect(throws: AMQPDecodingError.self) { try AMQPDecoder.decode(AMQPValue.self, from: bytes, limits: limits) }
        do { _ = try AMQPDecoder.decode(AMQPValue.self, from: bytes, limits: limits) } catch { #expect(error.kind == .limitExceeded) }
        #expect(throws: Never.self) { try AMQPDecoder.decode(AMQPValue.self, from: [0xA0, 0x04, 1, 2, 3, 4], limits: limits) }
    }

    @Test("zero-width array elements are bounded by maxZeroWidthArrayCount")
    func zeroWidthArrays() throws {
        let exactlyLimit: [UInt8] = [0xF0] + be32(5) + be32(1024) + [0x43]
        let decoded = try AMQPDecoder.decode(AMQPValue.self, from: exactlyLimit)
        guard case .array(let a) = decoded else { Issue.record("not an array"); return }
        #expect(a.elements.count == 1024)
        #expect(a.elements.allSatisfy { $0 == .uint(0) })
        let over: [UInt8] = [0xF0] + be32(5) + be32(1025) + [0x43]
        #expect(throws: AMQPDecodingError.self) { try AMQPDecoder.decode(AMQPValue.self, from: over) }
    }

    /// Found by fuzz-value: five 4-byte arrays of 252 `false` elements each decoded into 1,260
    /// values, and an array of such arrays multiplies them (255 × 1,024 values from ~800 bytes).
    @Test("zero-width elements are bounded per input, not per array: repeated and nested arrays")
    func zeroWidthElementsPerInput() throws {
        // Repeated in one decoder (a message's sections share one): 4 × 252 fit, the fifth does not.
        let repeated = [UInt8](repeating: 0, count: 5).flatMap { _ in [0xE0, 0x02, 0xFC, 0x42] as [UInt8] }
        var decoder = AMQPDecoder(repeated)
        for _ in 0..<4 { _ = try decoder.decodeValue() }
        do {
            let value = try decoder.decodeValue()
            Issue.record("decoded \(value.description.prefix(80))")
        } catch {
            #expect(error.kind == .limitExceeded && error.offset == 19, "\(error)")
        }
        // Nested: an array of 255 arrays of 5 uint0 elements each passes a per-array limit, but
        // its 1,275 elements exceed the total.
        let inner: [UInt8] = [0x02, 0x05, 0x43]
        let nested: [UInt8] = [0xF0] + be32(UInt32(4 + 1 + 255 * inner.count)) + be32(255) + [0xE0] + (0..<255).flatMap { _ in inner }
        do {
            let value = try AMQPDecoder.decode(AMQPValue.self, from: nested)
            Issue.record("decoded \(value.description.prefix(80))")
        } catch {
            #expect(error.kind == .limitExceeded, "\(error)")
        }
        // Exactly the limit over several arrays still decodes.
        let split: [UInt8] = [0xC0, 0x0F, 0x02] + [0xF0] + be32(5) + be32(1000) + [0x43] + [0xE0, 0x02, 24, 0x45]
        #expect(throws: Never.self) { try AMQPDecoder.decode(AMQPValue.self, from: split) }
        let over = split.prefix(split.count - 2) + [25, 0x45]
        #expect(throws: AMQPDecodingError.self) { try AMQPDecoder.decode(AMQPValue.self, from: Array(over)) }
    }

    @Test("memory stays proportional: a 6-byte array cannot declare more elements than bytes")
    func proportionalCounts() {
        for code: UInt8 in [0x50, 0x70, 0x80, 0x98, 0xA1, 0xC0, 0xD0, 0xE0] {
            let bytes: [UInt8] = [0xF0] + be32(5) + be32(0xFFFF_FFFF) + [code]
            do {
                _ = try AMQPDecoder.decode(AMQPValue.self, from: bytes)
                Issue.record("decoded \(code)")
            } catch {
                #expect(error.kind == .countMismatch, "\(error)")
            }
        }
    }
}

func be32(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}
