import AMQPCodec
import PropertyBased

/// Random AMQP values of every type, nested up to `depth`: described values (with ulong, symbol and
/// other descriptors), arrays of every element type including described values, arrays of arrays,
/// and maps with compound keys.
struct RandomValues {
    /// Exclude NaNs whose payload a peer may not preserve (Python floats, C float conversions).
    var canonicalNaNsOnly = false

    func value<G: RandomNumberGenerator>(using rng: inout G, depth: Int) -> AMQPValue {
        let compound = depth > 0 ? 5 : 0
        switch Int.random(in: 0..<(21 + compound), using: &rng) {
        case 0: return .null
        case 1: return .boolean(Bool.random(using: &rng))
        case 2...19: return primitive(of: primitiveTypes[Int.random(in: 0..<primitiveTypes.count, using: &rng)], using: &rng)
        case 20: return primitive(of: .string, using: &rng)
        case 21: return .list((0..<Int.random(in: 0...4, using: &rng)).map { _ in value(using: &rng, depth: depth - 1) })
        case 22:
            var map = AMQPMap()
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                map.append(key: value(using: &rng, depth: depth - 1), value: value(using: &rng, depth: depth - 1))
            }
            return .map(map)
        case 23: return .array(array(using: &rng, depth: depth - 1))
        case 24: return .described(descriptor: descriptor(using: &rng, depth: depth - 1), value: value(using: &rng, depth: depth - 1))
        default: return .list([])
        }
    }

    let primitiveTypes: [AMQPType] = [
        .boolean, .ubyte, .ushort, .uint, .ulong, .byte, .short, .int, .long, .float, .double,
        .decimal32, .decimal64, .decimal128, .char, .timestamp, .uuid, .binary, .string, .symbol,
    ]

    func descriptor<G: RandomNumberGenerator>(using rng: inout G, depth: Int) -> AMQPValue {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return .ulong(UInt64.random(in: 0...0x80, using: &rng))
        case 1: return .ulong(UInt64.random(in: 0...UInt64.max, using: &rng))
        case 2: return primitive(of: .symbol, using: &rng)
        default: return depth > 0 ? value(using: &rng, depth: 0) : .ulong(0x70)
        }
    }

    func integer<T: FixedWidthInteger, G: RandomNumberGenerator>(_: T.Type, using rng: inout G) -> T {
        // Favor the boundaries where encodings change width.
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return [T.min, T.max, 0, 1][Int.random(in: 0..<4, using: &rng)]
        case 1: return T(truncatingIfNeeded: Int.random(in: -130...260, using: &rng))
        default: return T.random(in: T.min...T.max, using: &rng)
        }
    }

    func bytes<G: RandomNumberGenerator>(using rng: inout G) -> [UInt8] {
        let count = Int.random(in: 0..<20, using: &rng) == 0 ? Int.random(in: 250...300, using: &rng) : Int.random(in: 0...12, using: &rng)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    func text<G: RandomNumberGenerator>(using rng: inout G, asciiOnly: Bool) -> String {
        let count = Int.random(in: 0..<20, using: &rng) == 0 ? Int.random(in: 250...300, using: &rng) : Int.random(in: 0...10, using: &rng)
        var s = String.UnicodeScalarView()
        for _ in 0..<count {
            if asciiOnly {
                s.append(Unicode.Scalar(UInt8.random(in: 0...127, using: &rng)))
            } else {
                s.append(scalar(using: &rng))
            }
        }
        return String(s)
    }

    func scalar<G: RandomNumberGenerator>(using rng: inout G) -> Unicode.Scalar {
        while true {
            let range: ClosedRange<UInt32> = [0...0x7F, 0x80...0x7FF, 0x800...0xFFFF, 0x10000...0x10FFFF][Int.random(in: 0..<4, using: &rng)]
            if let s = Unicode.Scalar(UInt32.random(in: range, using: &rng)) { return s }
        }
    }

    func float<G: RandomNumberGenerator>(using rng: inout G) -> Float {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return [0.0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude][Int.random(in: 0..<7, using: &rng)]
        case 1 where !canonicalNaNsOnly: return Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
        default:
            let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            return f.isNaN ? 1.5 : f
        }
    }

    func double<G: RandomNumberGenerator>(using rng: inout G) -> Double {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return [0.0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude][Int.random(in: 0..<7, using: &rng)]
        case 1 where !canonicalNaNsOnly: return Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))
        default:
            let d = Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))
            return d.isNaN ? -2.25 : d
        }
    }

    func primitive<G: RandomNumberGenerator>(of type: AMQPType, using rng: inout G) -> AMQPValue {
        switch type {
        case .null: return .null
        case .boolean: return .boolean(Bool.random(using: &rng))
        case .ubyte: return .ubyte(integer(UInt8.self, using: &rng))
        case .ushort: return .ushort(integer(UInt16.self, using: &rng))
        case .uint: return .uint(integer(UInt32.self, using: &rng))
        case .ulong: return .ulong(integer(UInt64.self, using: &rng))
        case .byte: return .byte(integer(Int8.self, using: &rng))
        case .short: return .short(integer(Int16.self, using: &rng))
        case .int: return .int(integer(Int32.self, using: &rng))
        case .long: return .long(integer(Int64.self, using: &rng))
        case .float: return .float(float(using: &rng))
        case .double: return .double(double(using: &rng))
        case .decimal32: return .decimal32(Decimal32(bitPattern: integer(UInt32.self, using: &rng)))
        case .decimal64: return .decimal64(Decimal64(bitPattern: integer(UInt64.self, using: &rng)))
        case .decimal128: return .decimal128(Decimal128(high: integer(UInt64.self, using: &rng), low: integer(UInt64.self, using: &rng)))
        case .char: return .char(scalar(using: &rng))
        case .timestamp: return .timestamp(Timestamp(millisecondsSince1970: integer(Int64.self, using: &rng)))
        case .uuid: return .uuid(AMQPUUID(high: integer(UInt64.self, using: &rng), low: integer(UInt64.self, using: &rng)))
        case .binary: return .binary(Binary(bytes(using: &rng)))
        case .string: return .string(text(using: &rng, asciiOnly: false))
        case .symbol: return .symbol(Symbol(text(using: &rng, asciiOnly: true))!)
        case .list, .map, .array: preconditionFailure("not a primitive")
        }
    }

    func array<G: RandomNumberGenerator>(using rng: inout G, depth: Int) -> AMQPArray {
        let count = Int.random(in: 0...5, using: &rng)
        let descriptor: AMQPValue? = Int.random(in: 0..<4, using: &rng) == 0 ? self.descriptor(using: &rng, depth: 0) : nil
        let kinds = depth > 0 ? 3 : 0
        let pick = Int.random(in: 0..<(primitiveTypes.count + kinds), using: &rng)
        let elementType: AMQPType
        var elements: [AMQPValue] = []
        if pick < primitiveTypes.count {
            elementType = primitiveTypes[pick]
            elements = (0..<count).map { _ in primitive(of: elementType, using: &rng) }
        } else {
            switch pick - primitiveTypes.count {
            case 0:
                elementType = .list
                elements = (0..<count).map { _ in .list((0..<Int.random(in: 0...3, using: &rng)).map { _ in value(using: &rng, depth: depth - 1) }) }
            case 1:
                elementType = .map
                elements = (0..<count).map { _ in
                    var m = AMQPMap()
                    for _ in 0..<Int.random(in: 0...2, using: &rng) {
                        m.append(key: value(using: &rng, depth: depth - 1), value: value(using: &rng, depth: depth - 1))
                    }
                    return .map(m)
                }
            default:
                elementType = .array
                elements = (0..<count).map { _ in .array(array(using: &rng, depth: depth - 1)) }
            }
        }
        return try! AMQPArray(elementType: elementType, descriptor: descriptor, elements: elements)
    }

    /// A property-test generator of values nested up to `depth` (no shrinking: values are trees).
    func generator(depth: Int) -> Generator<AMQPValue, Shrink.None<AMQPValue>> {
        let copy = self
        return Generator { rng in copy.value(using: &rng, depth: depth) }
    }
}

/// A small deterministic generator (SplitMix64) for tests that need the same values every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
