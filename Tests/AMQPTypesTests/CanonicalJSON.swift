import AMQPCodec

/// The canonical JSON form `scripts/proton_oracle.py` reads and writes: sorted keys, no spaces,
/// ASCII only with `\uXXXX` escapes, exactly as Python's `json.dumps(sort_keys=True,
/// separators=(",", ":"), ensure_ascii=True)` prints it.
enum CanonicalJSON {
    static func render(_ value: AMQPValue) -> String {
        func node(_ t: String, _ v: String? = nil) -> String {
            "{\"t\":\"\(t)\"" + (v.map { ",\"v\":\($0)" } ?? "") + "}"
        }
        func number<T: BinaryInteger>(_ t: String, _ n: T) -> String { node(t, quote(String(n))) }
        switch value {
        case .null: return node("null")
        case .boolean(let b): return node("boolean", b ? "true" : "false")
        case .ubyte(let n): return number("ubyte", n)
        case .ushort(let n): return number("ushort", n)
        case .uint(let n): return number("uint", n)
        case .ulong(let n): return number("ulong", n)
        case .byte(let n): return number("byte", n)
        case .short(let n): return number("short", n)
        case .int(let n): return number("int", n)
        case .long(let n): return number("long", n)
        case .timestamp(let t): return number("timestamp", t.millisecondsSince1970)
        case .uuid(let u): return node("uuid", quote(HexEncoding.string(u.bytes)))
        case .binary(let b): return node("binary", quote(b.hexString))
        case .string(let s): return node("string", quote(s))
        case .symbol(let s): return node("symbol", quote(s.stringValue))
        case .list(let items): return node("list", "[" + items.map(render).joined(separator: ",") + "]")
        case .map(let map):
            return node("map", "[" + map.entries.map { "[" + render($0.key) + "," + render($0.value) + "]" }.joined(separator: ",") + "]")
        case .array(let array):
            precondition(array.descriptor == nil, "described arrays are not used by these tests")
            return "{\"e\":\"\(array.elementType)\",\"t\":\"array\",\"v\":[" + array.elements.map(render).joined(separator: ",") + "]}"
        case .described(let descriptor, let inner):
            return "{\"d\":" + render(descriptor) + ",\"t\":\"described\",\"v\":" + render(inner) + "}"
        case .float, .double, .decimal32, .decimal64, .decimal128, .char:
            preconditionFailure("\(value.type) is not used by these tests")
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F, 0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let h = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            }
        }
        return out + "\""
    }
}
