import AMQPCodable
import AMQPCodec
import AMQPTestSupport
import Foundation
import PropertyBased
import Testing

struct Reading: Codable, Equatable {
    var sensor: String
    var count: Int32
    var total: UInt64
    var offset: Int
    var small: Int8
    var port: UInt16
    var ratio: Double
    var level: Float
    var ok: Bool
    var payload: Data
    var raw: [UInt8]
    var at: Date
    var id: UUID
    var note: String?
    var tags: [String]
}

struct Order: AMQPDescribedCodable, Equatable {
    static let amqpDescriptor = DescriptorValue.symbol("com.example:order:list")
    var number: UInt32
    var lines: [Line]
}

struct Line: Codable, Equatable {
    var sku: String
    var quantity: Int16
}

struct Coded: AMQPDescribedCodable, Equatable {
    static let amqpDescriptor = DescriptorValue.code(0x0000_BEEF_0000_0001)
    var a: String?
    var b: Int32?
    var c: Int32?
}

let reading = Reading(
    sensor: "t-1", count: -7, total: .max, offset: -1, small: -128, port: 5672, ratio: 0.5, level: 1.25, ok: true,
    payload: Data([1, 2]), raw: [3], at: Date(timeIntervalSince1970: 1_700_000_000.123), id: UUID(uuidString: "1b4e28ba-2fa1-11d2-883f-0016d3cca427")!,
    note: nil, tags: ["a", "b"])

@Suite("Codable ↔ AMQP values")
struct AMQPCodableTests {
    @Test("each Swift type has its exact AMQP type; nil is left out of a map by default")
    func exactTypes() throws {
        let value = try AMQPValueEncoder().encode(reading)
        guard case .map(let map) = value else { Issue.record("not a map: \(value)"); return }
        let entries = Dictionary(uniqueKeysWithValues: map.entries.map { ($0.key, $0.value) })
        #expect(entries[.string("sensor")] == .string("t-1"))
        #expect(entries[.string("count")] == .int(-7))
        #expect(entries[.string("total")] == .ulong(.max))
        #expect(entries[.string("offset")] == .long(-1))
        #expect(entries[.string("small")] == .byte(-128))
        #expect(entries[.string("port")] == .ushort(5672))
        #expect(entries[.string("ratio")] == .double(0.5))
        #expect(entries[.string("level")] == .float(1.25))
        #expect(entries[.string("ok")] == .boolean(true))
        #expect(entries[.string("payload")] == .binary(Binary([1, 2])))
        #expect(entries[.string("raw")] == .binary(Binary([3])))
        #expect(entries[.string("at")] == .timestamp(Timestamp(millisecondsSince1970: 1_700_000_000_123)))
        #expect(entries[.string("id")] == .uuid(AMQPUUID(high: 0x1b4e_28ba_2fa1_11d2, low: 0x883f_0016_d3cc_a427)))
        #expect(entries[.string("note")] == nil)
        #expect(entries[.string("tags")] == .list([.string("a"), .string("b")]))
        // Declaration order is kept in the map.
        #expect(map.entries.first?.key == .string("sensor"))
        #expect(try AMQPValueDecoder().decode(Reading.self, from: value) == reading)
    }

    @Test("nil as null, symbol keys, and a list in declaration order")
    func options() throws {
        let nulls = AMQPValueCodingOptions(nilEncoding: .null, keyType: .symbol)
        let value = try AMQPValueEncoder(options: nulls).encode(Line(sku: "x", quantity: 2))
        #expect(value == .map([.symbol("sku"): .string("x"), .symbol("quantity"): .short(2)]))
        let withNull = try AMQPValueEncoder(options: nulls).encode(reading)
        guard case .map(let map) = withNull else { Issue.record("not a map"); return }
        #expect(map.entries.contains { $0.key == .symbol("note") && $0.value == .null })
        #expect(try AMQPValueDecoder(options: nulls).decode(Reading.self, from: withNull) == reading)

        let list = AMQPValueCodingOptions(structure: .list)
        #expect(try AMQPValueEncoder(options: list).encode(Line(sku: "x", quantity: 2)) == .list([.string("x"), .short(2)]))
        let listed = try AMQPValueEncoder(options: list).encode(reading)
        guard case .list(let items) = listed else { Issue.record("not a list"); return }
        // note (nil) keeps its place as null: tags follow it.
        #expect(items.count == 15)
        #expect(items[13] == .null)
        #expect(try AMQPValueDecoder(options: list).decode(Reading.self, from: listed) == reading)
    }

    @Test("a described type: descriptor by symbol or code, trailing nils left off its list (§1.4)")
    func described() throws {
        let order = Order(number: 9, lines: [Line(sku: "a", quantity: 1)])
        let value = try AMQPValueEncoder().encode(order)
        #expect(value == .described(
            descriptor: .symbol("com.example:order:list"),
            value: .map([.string("number"): .uint(9), .string("lines"): .list([.map([.string("sku"): .string("a"), .string("quantity"): .short(1)])])])))
        #expect(try AMQPValueDecoder().decode(Order.self, from: value) == order)

        let list = AMQPValueCodingOptions(structure: .list)
        let coded = try AMQPValueEncoder(options: list).encode(Coded(a: nil, b: 3, c: nil))
        #expect(coded == .described(descriptor: .ulong(0x0000_BEEF_0000_0001), value: .list([.null, .int(3)])))
        #expect(try AMQPValueDecoder(options: list).decode(Coded.self, from: coded) == Coded(a: nil, b: 3, c: nil))
        #expect(try AMQPValueDecoder(options: list).decode(Coded.self, from: .described(descriptor: .ulong(0x0000_BEEF_0000_0001), value: .list([]))) == Coded())
    }

    @Test("wrong type, missing key, overflow and wrong descriptor name the coding path")
    func strictDecoding() throws {
        let good = try AMQPValueEncoder().encode(Order(number: 9, lines: [Line(sku: "a", quantity: 1), Line(sku: "b", quantity: 2)]))
        guard case .described(let descriptor, .map(var body)) = good else { Issue.record("shape"); return }

        func failure(_ value: AMQPValue) -> AMQPValueCodingError? {
            do {
                _ = try AMQPValueDecoder().decode(Order.self, from: value)
                return nil
            } catch let error as AMQPValueCodingError {
                return error
            } catch {
                Issue.record("untyped error \(error)")
                return nil
            }
        }

        // lines[1].quantity as an int 40000: an AMQP integer of the right sign that a short cannot hold.
        var lines = body.entries[1]
        lines.value = .list([.map([.string("sku"): .string("a"), .string("quantity"): .short(1)]),
                             .map([.string("sku"): .string("b"), .string("quantity"): .int(40000)])])
        body.entries[1] = lines
        let overflow = failure(.described(descriptor: descriptor, value: .map(body)))
        #expect(overflow?.kind == .overflow(expected: "short (Int16)", value: "int(40000)"))
        #expect(overflow?.codingPath == "lines[1].quantity")

        let wrongType = failure(.described(descriptor: descriptor, value: .map([.string("number"): .long(9), .string("lines"): .list([])])))
        #expect(wrongType?.kind == .typeMismatch(expected: "uint", found: "long"))
        #expect(wrongType?.codingPath == "number")

        let missing = failure(.described(descriptor: descriptor, value: .map([.string("number"): .uint(9)])))
        #expect(missing?.kind == .missingKey("lines"))
        #expect(missing?.codingPath == "(top)")

        let other = failure(.described(descriptor: .symbol("com.example:other"), value: .map([:])))
        #expect(other?.kind == .wrongDescriptor(expected: Order.amqpDescriptor, found: .symbol("com.example:other")))

        let undescribed = failure(.map([.string("number"): .uint(9), .string("lines"): .list([])]))
        #expect(undescribed?.kind == .typeMismatch(expected: "described value \(Order.amqpDescriptor)", found: "map"))

        // A signed Swift integer never takes an unsigned AMQP one, nor a Date a long.
        #expect(throws: AMQPValueCodingError.self) { try AMQPValueDecoder().decode(Int32.self, from: .uint(1)) }
        #expect(throws: AMQPValueCodingError.self) { try AMQPValueDecoder().decode(Date.self, from: .long(1)) }
        // Widening within a sign is lossless and accepted.
        #expect(try AMQPValueDecoder().decode(Int64.self, from: .byte(-3)) == -3)
    }

    static let readings = zip(
        zip(Gen<Int32>.int32(), Gen<UInt64>.uint64(), Gen<Int>.int(), Gen<Int8>.int8(), Gen<UInt16>.uint16()),
        zip(Gen<Double>.double(in: -1e9...1e9), Gen<Int64>.int64(in: -8_640_000_000_000...8_640_000_000_000),
            Gen<UInt8>.uint8().array(of: 0...40), Gen<Bool>.bool(), Gen<Character>.character(in: "a"..."z").string(of: 0...12))
    ).map { integers, rest in
        let (count, total, offset, small, port) = integers
        let (ratio, milliseconds, bytes, present, text) = rest
        return Reading(
            sensor: text, count: count, total: total, offset: offset, small: small, port: port, ratio: ratio,
            level: Float(small), ok: present, payload: Data(bytes), raw: bytes,
            at: Date(timeIntervalSince1970: Double(milliseconds) / 1000),
            id: UUID(uuid: (UInt8(truncatingIfNeeded: count), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, UInt8(bitPattern: small))),
            note: present ? text : nil, tags: bytes.prefix(3).map { String($0) })
    }

    @Test("decode(encode(x)) == x, through the bytes, in every layout")
    func propertyRoundTrip() async {
        let layouts = [
            AMQPValueCodingOptions(),
            AMQPValueCodingOptions(nilEncoding: .null, keyType: .symbol),
            AMQPValueCodingOptions(structure: .list),
            AMQPValueCodingOptions(structure: .list, nilEncoding: .null),
        ]
        await propertyCheck(count: 300, input: Self.readings) { reading in
            for options in layouts {
                let bytes = try AMQPValueEncoder(options: options).encodedBytes(reading)
                let decoded = try AMQPValueDecoder(options: options).decode(Reading.self, fromEncoded: bytes)
                // Whole milliseconds come back exactly, though not every one is exact as a Double.
                #expect(decoded == reading)
            }
        }
    }

    @Test("Proton decodes what the bridge encodes into the same structure")
    func protonOracle() throws {
        let values = try [
            AMQPValueEncoder().encode(reading),
            AMQPValueEncoder(options: AMQPValueCodingOptions(structure: .list, nilEncoding: .null)).encode(reading),
            AMQPValueEncoder().encode(Order(number: 9, lines: [Line(sku: "a", quantity: 1)])),
            AMQPValueEncoder(options: AMQPValueCodingOptions(structure: .list)).encode(Coded(a: "x", b: nil, c: 5)),
        ]
        let results = try ProtonOracle.decode(values.map { AMQPEncoder.encode($0) })
        for (value, result) in zip(values, results) {
            #expect(try result.get() == value)
        }
    }
}
