import AMQPCodec
import Testing

/// One value and its exact encoding. `canonical` is true when the encoder must produce exactly
/// these bytes (the smallest encoding); other fixtures are legal encodings the decoder must accept.
struct Fixture: CustomTestStringConvertible, Sendable {
    let name: String
    let hex: String
    let value: AMQPValue
    let canonical: Bool

    init(_ name: String, _ hex: String, _ value: AMQPValue, canonical: Bool = true) {
        self.name = name
        self.hex = hex
        self.value = value
        self.canonical = canonical
    }

    var bytes: [UInt8] { HexEncoding.bytes(hex)! }
    var testDescription: String { "\(name) [\(hex)]" }
}

func arr(_ type: AMQPType, _ elements: [AMQPValue], descriptor: AMQPValue? = nil) -> AMQPValue {
    .array(try! AMQPArray(elementType: type, descriptor: descriptor, elements: elements))
}

/// Every encoding of §1.6, in both directions.
let fixtures: [Fixture] = [
    // §1.6.1 null
    Fixture("null", "40", .null),
    // §1.6.2 boolean: 0x41/0x42 are the smallest; 0x56 carries a byte that must be 0 or 1.
    Fixture("true", "41", .boolean(true)),
    Fixture("false", "42", .boolean(false)),
    Fixture("boolean 0x56 true", "5601", .boolean(true), canonical: false),
    Fixture("boolean 0x56 false", "5600", .boolean(false), canonical: false),
    // §1.6.3–1.6.6 unsigned integers
    Fixture("ubyte", "50ff", .ubyte(255)),
    Fixture("ushort", "60abcd", .ushort(0xABCD)),
    Fixture("uint0", "43", .uint(0)),
    Fixture("smalluint", "52ff", .uint(255)),
    Fixture("uint", "7000000100", .uint(256)),
    Fixture("uint max", "70ffffffff", .uint(.max)),
    Fixture("uint as smalluint 0", "5200", .uint(0), canonical: false),
    Fixture("uint as uint 7", "7000000007", .uint(7), canonical: false),
    Fixture("ulong0", "44", .ulong(0)),
    Fixture("smallulong", "5310", .ulong(0x10)),
    Fixture("ulong", "800000000000000100", .ulong(256)),
    Fixture("ulong max", "80ffffffffffffffff", .ulong(.max)),
    Fixture("ulong as ulong 1", "800000000000000001", .ulong(1), canonical: false),
    // §1.6.7–1.6.10 signed integers
    Fixture("byte", "5180", .byte(-128)),
    Fixture("short", "61ff00", .short(-256)),
    Fixture("smallint", "54ff", .int(-1)),
    Fixture("smallint 127", "547f", .int(127)),
    Fixture("int", "71ffffff7f", .int(-129)),
    Fixture("int 128", "7100000080", .int(128)),
    Fixture("int min", "7180000000", .int(.min)),
    Fixture("smalllong", "5580", .long(-128)),
    Fixture("long", "81ffffffffffffff7f", .long(-129)),
    Fixture("long max", "817fffffffffffffff", .long(.max)),
    Fixture("long as long 0", "810000000000000000", .long(0), canonical: false),
    // §1.6.11–1.6.12 floating point, IEEE 754 big-endian
    Fixture("float", "723fc00000", .float(1.5)),
    Fixture("float -0", "7280000000", .float(-0.0)),
    Fixture("float nan", "727fc00000", .float(.nan)),
    Fixture("double", "823ff8000000000000", .double(1.5)),
    Fixture("double inf", "827ff0000000000000", .double(.infinity)),
    Fixture("double nan payload", "827ff8000000000001", .double(Double(bitPattern: 0x7FF8_0000_0000_0001))),
    // §1.6.13–1.6.15 decimals, kept as bits
    Fixture("decimal32", "7422300001", .decimal32(Decimal32(bitPattern: 0x2230_0001))),
    Fixture("decimal64", "842238000000000001", .decimal64(Decimal64(bitPattern: 0x2238_0000_0000_0001))),
    Fixture("decimal128", "94220800000000000000000000000000ff", .decimal128(Decimal128(high: 0x2208_0000_0000_0000, low: 0xFF))),
    // §1.6.16 char, UTF-32BE
    Fixture("char", "7300000041", .char("A")),
    Fixture("char astral", "730001f600", .char("\u{1F600}")),
    // §1.6.17 timestamp, signed milliseconds
    Fixture("timestamp", "830000018c3a5b2c00", .timestamp(Timestamp(millisecondsSince1970: 0x18C_3A5B_2C00))),
    Fixture("timestamp negative", "83ffffffffffffffff", .timestamp(Timestamp(millisecondsSince1970: -1))),
    // §1.6.18 uuid
    Fixture("uuid", "981b4e28ba2fa111d2883f0016d3cca427", .uuid(AMQPUUID(uuidString: "1b4e28ba-2fa1-11d2-883f-0016d3cca427")!)),
    // §1.6.19–1.6.21 variable width
    Fixture("vbin8", "a003010203", .binary([1, 2, 3])),
    Fixture("vbin8 empty", "a000", .binary([])),
    Fixture("vbin32", "b000000003010203", .binary([1, 2, 3]), canonical: false),
    Fixture("str8", "a1026869", .string("hi")),
    Fixture("str8 utf8", "a103e282ac", .string("€")),
    Fixture("str32", "b1000000026869", .string("hi"), canonical: false),
    Fixture("sym8", "a303666f6f", .symbol("foo")),
    Fixture("sym32", "b300000003666f6f", .symbol("foo"), canonical: false),
    // §1.6.22 list
    Fixture("list0", "45", .list([])),
    Fixture("list8", "c0040243a100", .list([.uint(0), .string("")])),
    Fixture("list8 empty", "c00100", .list([]), canonical: false),
    Fixture("list32", "d000000007000000024352ff", .list([.uint(0), .uint(255)]), canonical: false),
    Fixture("list32 empty", "d00000000400000000", .list([]), canonical: false),
    Fixture("nested list", "c0050245c00100", .list([.list([]), .list([])]), canonical: false),
    Fixture("nested list canonical", "c003024545", .list([.list([]), .list([])])),
    // §1.6.23 map
    Fixture("map8 empty", "c10100", .map([:])),
    Fixture("map8", "c10702a30161a10162", .map([.symbol("a"): .string("b")])),
    Fixture("map32", "d1000000080000000243a10162", .map([.uint(0): .string("b")]), canonical: false),
    Fixture("map compound key", "c1050245c10100", .map([.list([]): .map([:])])),
    Fixture("map keeps order", "c10d04a30162a30161a30161a30162", .map([.symbol("b"): .symbol("a"), .symbol("a"): .symbol("b")])),
    // §1.6.24 array
    Fixture("array8 smalluint", "e00402520102", arr(.uint, [.uint(1), .uint(2)])),
    Fixture("array8 uint", "e00a0270000001000000000a", arr(.uint, [.uint(256), .uint(10)])),
    Fixture("array32 uint0", "f0000000050000000343", arr(.uint, [.uint(0), .uint(0), .uint(0)]), canonical: false),
    Fixture("array8 boolean", "e00402560100", arr(.boolean, [.boolean(true), .boolean(false)])),
    Fixture("array8 true zero-width", "e0020341", arr(.boolean, [.boolean(true), .boolean(true), .boolean(true)]), canonical: false),
    Fixture("array8 sym8", "e00a02a303666f6f03626172", arr(.symbol, [.symbol("foo"), .symbol("bar")])),
    Fixture("array8 empty", "e00200a3", arr(.symbol, [])),
    Fixture("array of described", "e00d0200a3037a617aa103666f6f00", arr(.string, [.string("foo"), .string("")], descriptor: .symbol("zaz"))),
    Fixture("array of lists", "e00a02c0020143" + "0402435400", arr(.list, [.list([.uint(0)]), .list([.uint(0), .int(0)])])),
    Fixture("array of maps", "e00602c101000100", arr(.map, [.map([:]), .map([:])])),
    Fixture("array of arrays", "e00a02e0" + "0402520102" + "020052", arr(.array, [arr(.uint, [.uint(1), .uint(2)]), arr(.uint, [])])),
    Fixture("array32 of list32", "f0" + "00000010" + "00000001" + "d0" + "00000007" + "00000002" + "43" + "52ff",
            arr(.list, [.list([.uint(0), .uint(255)])]), canonical: false),
    Fixture("array of uuid", "e01201" + "98" + "00000000000000000000000000000001", arr(.uuid, [.uuid(AMQPUUID(high: 0, low: 1))])),
    // §1.5 described values
    Fixture("described ulong descriptor", "005310c0040243a100", .described(descriptor: .ulong(0x10), value: .list([.uint(0), .string("")]))),
    Fixture("described symbol descriptor", "00a303666f6f40", .described(descriptor: .symbol("foo"), value: .null)),
    Fixture("described described", "00005301530241", .described(descriptor: .described(descriptor: .ulong(1), value: .ulong(2)), value: .boolean(true))),
    Fixture("described full ulong", "00800000000000000010" + "45", .described(descriptor: .ulong(0x10), value: .list([])), canonical: false),
]

@Suite("Exact-bytes fixtures (§1.6)")
struct FixtureTests {
    @Test(arguments: fixtures)
    func decodes(_ fixture: Fixture) throws {
        let decoded = try AMQPDecoder.decode(AMQPValue.self, from: fixture.bytes)
        #expect(decoded == fixture.value)
    }

    @Test(arguments: fixtures.filter(\.canonical))
    func encodesSmallest(_ fixture: Fixture) {
        let encoded = AMQPEncoder.encode(fixture.value)
        #expect(HexEncoding.string(encoded) == fixture.hex)
    }

    @Test(arguments: fixtures)
    func roundTrips(_ fixture: Fixture) throws {
        let once = try AMQPDecoder.decode(AMQPValue.self, from: fixture.bytes)
        for policy in [EncodingPolicy.compact, .full] {
            let again = try AMQPDecoder.decode(AMQPValue.self, from: AMQPEncoder.encode(once, policy: policy))
            #expect(again == once)
        }
    }
}
