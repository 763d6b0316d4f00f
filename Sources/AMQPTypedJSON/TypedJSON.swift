import AMQPCodec

/// The typed-JSON form of AMQP values that `amqp codec` reads and prints, and that tests and
/// scripts (including the Qpid Proton oracle) exchange with us.
///
/// Every node is an object with a type tag `t`: `{"t":"uint","v":7}`, `{"t":"binary","hex":"dead"}`,
/// `{"t":"map","v":[[k,v],…]}`, `{"t":"array","elem":"symbol","v":[…]}`,
/// `{"t":"described","d":…,"v":…}`. The mapping is exact: integers keep all 64 bits, floats read
/// back to the same bits (`{"t":"double","bits":"…"}` carries any NaN), maps keep their order.
public enum TypedJSON {
    /// A typed-JSON node that does not describe an AMQP value.
    public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
        /// Where the problem is, as a path of keys and indices from the root (`$.v[2].hex`).
        public var path: String
        /// What is wrong with the node.
        public var message: String
        /// For syntax errors, the byte offset in the line.
        public var offset: Int?

        /// Also for formats built on typed JSON (whole messages, `AMQPMessageJSON`).
        public init(path: String, message: String, offset: Int? = nil) {
            self.path = path
            self.message = message
            self.offset = offset
        }
        /// The message with the byte offset for syntax errors, or with the path otherwise.
        public var description: String {
            if let offset { return "\(message) at offset \(offset)" }
            return "\(message) at \(path)"
        }
    }

    // MARK: Printing

    /// The one-line typed JSON of `value`. With `floatsAsBits`, every float and double is printed
    /// as `{"t":"double","bits":"…"}`, which peers without shortest-digit float printing read exactly.
    public static func string(for value: AMQPValue, floatsAsBits: Bool = false) -> String {
        json(for: value, floatsAsBits: floatsAsBits).serialized
    }

    /// The typed-JSON tree of `value`, the form ``string(for:floatsAsBits:)`` serializes.
    public static func json(for value: AMQPValue, floatsAsBits: Bool = false) -> JSON {
        func json(for value: AMQPValue) -> JSON { TypedJSON.json(for: value, floatsAsBits: floatsAsBits) }
        func node(_ t: String, _ rest: [(key: String, value: JSON)]) -> JSON {
            .object([(key: "t", value: .string(t))] + rest)
        }
        func number<T: BinaryInteger>(_ t: String, _ v: T) -> JSON { node(t, [("v", .number(String(v)))]) }
        switch value {
        case .null: return node("null", [])
        case .boolean(let v): return node("bool", [("v", .bool(v))])
        case .ubyte(let v): return number("ubyte", v)
        case .ushort(let v): return number("ushort", v)
        case .uint(let v): return number("uint", v)
        case .ulong(let v): return number("ulong", v)
        case .byte(let v): return number("byte", v)
        case .short(let v): return number("short", v)
        case .int(let v): return number("int", v)
        case .long(let v): return number("long", v)
        case .float(let v):
            if floatsAsBits || (v.isNaN && v.bitPattern != Float.nan.bitPattern) {
                return node("float", [("bits", .string(hexDigits(UInt64(v.bitPattern), width: 8)))])
            }
            return node("float", [("v", floatingJSON(v))])
        case .double(let v):
            if floatsAsBits || (v.isNaN && v.bitPattern != Double.nan.bitPattern) {
                return node("double", [("bits", .string(hexDigits(v.bitPattern, width: 16)))])
            }
            return node("double", [("v", floatingJSON(v))])
        case .decimal32(let v): return number("decimal32", v.bitPattern)
        case .decimal64(let v): return number("decimal64", v.bitPattern)
        case .decimal128(let v):
            return node("decimal128", [("hex", .string(hexDigits(v.high, width: 16) + hexDigits(v.low, width: 16)))])
        case .char(let v): return node("char", [("v", .string(String(Character(v))))])
        case .timestamp(let v): return number("timestamp", v.millisecondsSince1970)
        case .uuid(let v): return node("uuid", [("v", .string(v.uuidString))])
        case .binary(let v): return node("binary", [("hex", .string(v.hexString))])
        case .string(let v): return node("string", [("v", .string(v))])
        case .symbol(let v): return node("symbol", [("v", .string(v.stringValue))])
        case .list(let items): return node("list", [("v", .array(items.map(json(for:))))])
        case .map(let map):
            return node("map", [("v", .array(map.entries.map { .array([json(for: $0.key), json(for: $0.value)]) }))])
        case .array(let array):
            var rest: [(key: String, value: JSON)] = [("elem", .string(typeName(array.elementType)))]
            if let d = array.descriptor { rest.append(("descriptor", json(for: d))) }
            rest.append(("v", .array(array.elements.map(json(for:)))))
            return node("array", rest)
        case .described(let d, let v):
            return node("described", [("d", json(for: d)), ("v", json(for: v))])
        }
    }

    static func floatingJSON<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: F) -> JSON {
        if v.isNaN { return .string("nan") }
        if v.isInfinite { return .string(v < 0 ? "-inf" : "inf") }
        // Swift prints the shortest digits that read back to the same value; "-0.0" keeps its sign.
        return .number(v.description)
    }

    static func hexDigits(_ v: UInt64, width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// The type tag for each AMQP type; the same as the specification's names except `bool`.
    public static func typeName(_ type: AMQPType) -> String {
        type == .boolean ? "bool" : type.rawValue
    }

    static func type(named name: String) -> AMQPType? {
        name == "bool" ? .boolean : (name == "boolean" ? nil : AMQPType(rawValue: name))
    }

    // MARK: Reading

    /// Parses one line of typed JSON into a value.
    public static func value(from text: String) throws(FormatError) -> AMQPValue {
        let document: JSON
        do {
            document = try JSON.parse(text)
        } catch {
            throw FormatError(path: "$", message: "invalid JSON: \(error.message)", offset: error.offset)
        }
        return try value(from: document, path: "$")
    }

    /// Reads a typed-JSON tree; `path` names `node` in errors. Throws ``FormatError`` for unknown
    /// tags, missing, unexpected or duplicate keys, and values out of their type's range.
    public static func value(from node: JSON, path: String = "$") throws(FormatError) -> AMQPValue {
        func fail(_ message: String, _ at: String = path) -> FormatError { FormatError(path: at, message: message) }
        guard case .object(let pairs) = node else { throw fail("expected an object with a type tag \"t\"") }
        var seen = Set<String>()
        for pair in pairs where !seen.insert(pair.key).inserted {
            throw fail("duplicate key \"\(pair.key)\"")
        }
        guard case .string(let t)? = node["t"] else { throw fail("missing string \"t\"") }
        guard t == "described" || type(named: t) != nil else { throw fail("unknown type \"\(t)\"", path + ".t") }
        let allowed: Set<String>
        switch t {
        case "null": allowed = ["t"]
        case "binary", "decimal128": allowed = ["t", "hex"]
        case "float", "double": allowed = ["t", "v", "bits"]
        case "array": allowed = ["t", "elem", "descriptor", "v"]
        case "described": allowed = ["t", "d", "v"]
        default: allowed = ["t", "v"]
        }
        for pair in pairs where !allowed.contains(pair.key) {
            throw fail("unexpected key \"\(pair.key)\" for type \(t)")
        }
        func field(_ key: String) throws(FormatError) -> JSON {
            guard let v = node[key] else { throw fail("missing \"\(key)\" for type \(t)") }
            return v
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws(FormatError) -> T {
            guard case .number(let text) = try field("v") else { throw fail("\"v\" must be an integer", path + ".v") }
            guard let v = T(text, radix: 10) else { throw fail("\(text) is not a \(t)", path + ".v") }
            return v
        }
        func text(_ key: String) throws(FormatError) -> String {
            guard case .string(let s) = try field(key) else { throw fail("\"\(key)\" must be a string", path + "." + key) }
            return s
        }
        func hexBytes(_ key: String) throws(FormatError) -> [UInt8] {
            let s = try text(key)
            guard !s.utf8.contains(where: { $0 == UInt8(ascii: " ") }), let bytes = HexEncoding.bytes(s) else {
                throw fail("\"\(key)\" must be hexadecimal digits in pairs", path + "." + key)
            }
            return bytes
        }
        func items(_ key: String) throws(FormatError) -> [JSON] {
            guard case .array(let a) = try field(key) else { throw fail("\"\(key)\" must be a JSON array", path + "." + key) }
            return a
        }

        switch t {
        case "null": return .null
        case "bool":
            guard case .bool(let b) = try field("v") else { throw fail("\"v\" must be true or false", path + ".v") }
            return .boolean(b)
        case "ubyte": return .ubyte(try integer(UInt8.self))
        case "ushort": return .ushort(try integer(UInt16.self))
        case "uint": return .uint(try integer(UInt32.self))
        case "ulong": return .ulong(try integer(UInt64.self))
        case "byte": return .byte(try integer(Int8.self))
        case "short": return .short(try integer(Int16.self))
        case "int": return .int(try integer(Int32.self))
        case "long": return .long(try integer(Int64.self))
        case "timestamp": return .timestamp(Timestamp(millisecondsSince1970: try integer(Int64.self)))
        case "decimal32": return .decimal32(Decimal32(bitPattern: try integer(UInt32.self)))
        case "decimal64": return .decimal64(Decimal64(bitPattern: try integer(UInt64.self)))
        case "decimal128":
            let b = try hexBytes("hex")
            guard b.count == 16 else { throw fail("decimal128 needs 32 hex digits", path + ".hex") }
            let high = b[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = b[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return .decimal128(Decimal128(high: high, low: low))
        case "float":
            if node["bits"] != nil {
                guard node["v"] == nil else { throw fail("give either \"v\" or \"bits\"") }
                let s = try text("bits")
                guard s.utf8.count == 8, let bits = UInt32(s, radix: 16) else { throw fail("\"bits\" must be 8 hex digits", path + ".bits") }
                return .float(Float(bitPattern: bits))
            }
            return .float(try floating(try field("v"), Float.self, path + ".v"))
        case "double":
            if node["bits"] != nil {
                guard node["v"] == nil else { throw fail("give either \"v\" or \"bits\"") }
                let s = try text("bits")
                guard s.utf8.count == 16, let bits = UInt64(s, radix: 16) else { throw fail("\"bits\" must be 16 hex digits", path + ".bits") }
                return .double(Double(bitPattern: bits))
            }
            return .double(try floating(try field("v"), Double.self, path + ".v"))
        case "char":
            let s = try text("v")
            let scalars = s.unicodeScalars
            guard scalars.count == 1, let scalar = scalars.first else { throw fail("char must be exactly one Unicode scalar", path + ".v") }
            return .char(scalar)
        case "uuid":
            guard let u = AMQPUUID(uuidString: try text("v")) else { throw fail("not a UUID in 8-4-4-4-12 form", path + ".v") }
            return .uuid(u)
        case "binary": return .binary(Binary(try hexBytes("hex")))
        case "string": return .string(try text("v"))
        case "symbol":
            guard let s = Symbol(try text("v")) else { throw fail("a symbol must be ASCII", path + ".v") }
            return .symbol(s)
        case "list":
            var out = [AMQPValue]()
            for (i, item) in try items("v").enumerated() {
                out.append(try value(from: item, path: "\(path).v[\(i)]"))
            }
            return .list(out)
        case "map":
            var map = AMQPMap()
            for (i, item) in try items("v").enumerated() {
                guard case .array(let pair) = item, pair.count == 2 else {
                    throw fail("map entries must be [key, value] pairs", "\(path).v[\(i)]")
                }
                map.append(key: try value(from: pair[0], path: "\(path).v[\(i)][0]"), value: try value(from: pair[1], path: "\(path).v[\(i)][1]"))
            }
            return .map(map)
        case "array":
            let elemName = try text("elem")
            guard let elem = self.type(named: elemName), elem != .null else {
                throw fail("\"\(elemName)\" is not an array element type", path + ".elem")
            }
            var descriptor: AMQPValue? = nil
            if let d = node["descriptor"] {
                descriptor = try value(from: d, path: path + ".descriptor")
            }
            var elements = [AMQPValue]()
            for (i, item) in try items("v").enumerated() {
                let at = "\(path).v[\(i)]"
                let element = try value(from: item, path: at)
                guard case .object = item, item["t"] == .string(elemName) else {
                    throw fail("array element must have \"t\":\"\(elemName)\"", at)
                }
                elements.append(element)
            }
            do {
                return .array(try AMQPArray(elementType: elem, descriptor: descriptor, elements: elements))
            } catch {
                throw fail(error.detail)
            }
        case "described":
            let d = try value(from: try field("d"), path: path + ".d")
            return .described(descriptor: d, value: try value(from: try field("v"), path: path + ".v"))
        default:
            throw fail("unknown type \"\(t)\"", path + ".t")
        }
    }

    static func floating<F: BinaryFloatingPoint & LosslessStringConvertible>(_ node: JSON, _: F.Type, _ path: String) throws(FormatError) -> F {
        switch node {
        case .string("nan"): return F.nan
        case .string("inf"): return F.infinity
        case .string("-inf"): return -F.infinity
        case .number(let text):
            guard let v = F(text), v.isFinite else { throw FormatError(path: path, message: "\(text) is out of range") }
            return v
        default:
            throw FormatError(path: path, message: "expected a number, \"nan\", \"inf\" or \"-inf\"")
        }
    }
}
