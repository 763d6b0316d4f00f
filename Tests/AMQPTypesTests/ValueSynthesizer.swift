import AMQPCodec
import AMQPSpecModel
import Foundation

/// The package's root folder, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The model of the committed types: Debian's OASIS files and `spec/`.
let specModel: SpecModel = {
    var files: [(fileName: String, bytes: [UInt8])] = []
    for name in ["types", "transport", "messaging", "security", "transactions"] {
        let path = "/usr/share/amqp/specs/1-0/\(name).bare.xml"
        guard let data = FileManager.default.contents(atPath: path) else {
            fatalError("\(path) is missing: apt-get install -y amqp-specs")
        }
        files.append(("\(name).bare.xml", [UInt8](data)))
    }
    let extensions = packageRoot.appendingPathComponent("spec")
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: extensions.path)) ?? []).filter { $0.hasSuffix(".xml") }.sorted()
    for name in names {
        files.append((name, [UInt8](FileManager.default.contents(atPath: extensions.appendingPathComponent(name).path) ?? Data())))
    }
    do {
        return try SpecModel.load(files)
    } catch {
        fatalError("\(error)")
    }
}()

/// Every described type of the model (composites and described restricted types), in file order.
let describedSpecTypes = specModel.types.filter { $0.descriptor != nil }

/// A small, fast, seedable generator (SplitMix64), so one `UInt64` from the property checker
/// stands for a whole random value.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random AMQP values of any spec type, driven by the spec model: every field of every composite
/// gets a value of its type (or null when optional), `requires` fields get a random provider (or
/// a value no provider knows), choices pick a named value. No hand-written generator per type.
struct ValueSynthesizer {
    let model: SpecModel
    var rng: SplitMix64
    var depth = 0

    init(model: SpecModel = specModel, seed: UInt64) {
        self.model = model
        self.rng = SplitMix64(state: seed)
    }

    mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
    mutating func count(_ max: UInt64) -> Int { Int(rng.next() % (max + 1)) }

    /// A described value of `type` (a composite or a described restricted type), its descriptor
    /// numeric or symbolic at random.
    mutating func described(_ type: SpecType) -> AMQPValue {
        guard let descriptor = type.descriptor else { preconditionFailure("\(type.name) has no descriptor") }
        let d: AMQPValue = chance(80) ? .ulong(descriptor.code) : .symbol(Symbol(descriptor.name)!)
        if type.typeClass == .composite {
            return .described(descriptor: d, value: .list(fields(of: type)))
        }
        return .described(descriptor: d, value: value(ofType: type.source ?? "*"))
    }

    mutating func fields(of type: SpecType) -> [AMQPValue] {
        var items: [AMQPValue] = []
        for field in type.fields {
            if !field.mandatory && chance(35) {
                items.append(.null)
            } else {
                items.append(value(of: field))
            }
        }
        // Peers may leave out trailing fields; keep every mandatory one.
        let lastMandatory = type.fields.lastIndex(where: \.mandatory).map { $0 + 1 } ?? 0
        if chance(40) {
            items.removeSubrange((lastMandatory + count(UInt64(items.count - lastMandatory)))...)
        }
        return items
    }

    mutating func value(of field: SpecField) -> AMQPValue {
        if field.multiple {
            if chance(40) { return single(field) }
            let elements = (0..<count(3)).map { _ in single(field) }
            let elementType = elements.first?.type ?? arrayElementType(of: field)
            return .array(try! AMQPArray(elementType: elementType, elements: elements))
        }
        return single(field)
    }

    private func arrayElementType(of field: SpecField) -> AMQPType {
        var probe = self
        return probe.single(field).type
    }

    mutating func single(_ field: SpecField) -> AMQPValue {
        if field.requires.count == 1 {
            let providers = model.providers(of: field.requires[0])
            if !providers.isEmpty {
                if chance(12) { return unknownValue(providers) }
                return value(ofType: pick(providers).name)
            }
        }
        return value(ofType: field.type)
    }

    /// A value no provider of an archetype names, of the kind the archetype keeps.
    mutating func unknownValue(_ providers: [SpecType]) -> AMQPValue {
        if providers.allSatisfy({ $0.descriptor != nil }) {
            return .described(descriptor: .ulong(0x0000_9999_0000_0000 | rng.next() % 0xFFFF), value: .list([.string("x")]))
        }
        if providers.allSatisfy({ model.root(of: $0.name) == .primitive("symbol") }) {
            return .symbol(Symbol("x-unknown:\(rng.next() % 1000)")!)
        }
        return .int(Int32(truncatingIfNeeded: rng.next()))
    }

    mutating func value(ofType name: String) -> AMQPValue {
        if name == "*" { return anyValue() }
        guard let type = model.type(named: name), type.typeClass != .primitive else {
            return primitive(name)
        }
        if type.descriptor != nil { return described(type) }
        if !type.choices.isEmpty, case .primitive(let root) = model.root(of: name) {
            return literal(pick(type.choices).value, root)
        }
        return value(ofType: type.source ?? "*")
    }

    func literal(_ text: String, _ root: String) -> AMQPValue {
        switch SpecValue(parsing: text, as: root) {
        case .boolean(let b)?: return .boolean(b)
        case .symbol(let s)?: return .symbol(Symbol(s)!)
        case .string(let s)?: return .string(s)
        case .unsigned(let u)?:
            switch root {
            case "ubyte": return .ubyte(UInt8(u))
            case "ushort": return .ushort(UInt16(u))
            case "uint": return .uint(UInt32(u))
            default: return .ulong(u)
            }
        case .signed(let s)?:
            switch root {
            case "byte": return .byte(Int8(s))
            case "short": return .short(Int16(s))
            case "int": return .int(Int32(s))
            default: return .long(s)
            }
        case nil: preconditionFailure("\(text) is not a \(root)")
        }
    }

    mutating func primitive(_ name: String) -> AMQPValue {
        switch name {
        case "boolean": return .boolean(chance(50))
        case "ubyte": return .ubyte(UInt8(truncatingIfNeeded: rng.next()))
        case "ushort": return .ushort(UInt16(truncatingIfNeeded: rng.next()))
        case "uint": return .uint(chance(30) ? UInt32(rng.next() % 300) : UInt32(truncatingIfNeeded: rng.next()))
        case "ulong": return .ulong(chance(30) ? rng.next() % 300 : rng.next())
        case "byte": return .byte(Int8(truncatingIfNeeded: rng.next()))
        case "short": return .short(Int16(truncatingIfNeeded: rng.next()))
        case "int": return .int(Int32(truncatingIfNeeded: rng.next()))
        case "long": return .long(Int64(bitPattern: rng.next()))
        case "timestamp": return .timestamp(Timestamp(millisecondsSince1970: Int64(bitPattern: rng.next()) >> 20))
        case "uuid": return .uuid(AMQPUUID.random(using: &rng))
        case "binary": return .binary(Binary((0..<count(chance(5) ? 300 : 12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        case "string": return .string(string())
        case "symbol": return .symbol(Symbol(asciiBytes: (0..<count(10)).map { _ in UInt8(0x21 + rng.next() % 94) })!)
        case "map":
            var map = AMQPMap()
            for _ in 0..<count(depth > 1 ? 0 : 3) {
                let key: AMQPValue = chance(50) ? .symbol(Symbol("k\(rng.next() % 50)")!) : .string(string())
                map.append(key: key, value: anyValue())
            }
            return .map(map)
        case "list":
            return .list((0..<count(depth > 1 ? 0 : 3)).map { _ in anyValue() })
        default:
            return anyValue()
        }
    }

    mutating func string() -> String {
        let alphabet: [Unicode.Scalar] = ["a", "Z", " ", "\"", "\\", "\n", "é", "€", "😀", "0", "-", "\u{1}"]
        var s = String.UnicodeScalarView()
        for _ in 0..<count(chance(5) ? 300 : 10) { s.append(pick(alphabet)) }
        return String(s)
    }

    /// A value of the kinds `*` fields carry in practice (no floats or decimals: Proton's Python
    /// binding has no exact form for some of them, and they add nothing to these tests).
    mutating func anyValue() -> AMQPValue {
        depth += 1
        defer { depth -= 1 }
        let kinds = depth > 2
            ? ["null", "boolean", "uint", "long", "string", "symbol", "binary"]
            : ["null", "boolean", "ubyte", "ushort", "uint", "ulong", "byte", "short", "int", "long", "timestamp", "uuid", "binary", "string", "symbol", "map", "list", "array"]
        let kind = pick(kinds)
        switch kind {
        case "null": return .null
        case "array":
            let elementKind = pick(["uint", "symbol", "string", "long", "boolean"])
            let elements = (0..<count(3)).map { _ in primitive(elementKind) }
            return .array(try! AMQPArray(elementType: elements.first?.type ?? .uint, elements: elements))
        default:
            return primitive(kind)
        }
    }
}
