import AMQPCodec
import AMQPTypedJSON
import Testing

/// The exact JSON parser (RFC 8259) under typed JSON: it keeps numbers as their digits and
/// objects in their order, which Foundation's parser does not (a 64-bit integer becomes a
/// Double, keys a dictionary), and refuses what the RFC does not allow.
@Suite("JSON parser (RFC 8259)")
struct JSONParserTests {
    @Test("numbers keep their digits, so 64-bit integers and exponents survive exactly")
    func numbers() throws {
        let document = try JSON.parse("[18446744073709551615,-9223372036854775808,-0,0.1e-7,1E+400,3.0]")
        #expect(document == .array(["18446744073709551615", "-9223372036854775808", "-0", "0.1e-7", "1E+400", "3.0"].map { .number($0) }))
        #expect(document.serialized == "[18446744073709551615,-9223372036854775808,-0,0.1e-7,1E+400,3.0]")
        let ulong = try TypedJSON.value(from: #"{"t":"ulong","v":18446744073709551615}"#)
        #expect(ulong == .ulong(.max))
    }

    @Test("objects keep their order and their duplicate keys; lookup finds the first")
    func objectOrder() throws {
        let document = try JSON.parse(#"{"z":1,"a":2,"z":3}"#)
        guard case .object(let pairs) = document else { Issue.record("not an object"); return }
        #expect(pairs.map(\.key) == ["z", "a", "z"])
        #expect(document["z"] == .number("1"))
        #expect(document.serialized == #"{"z":1,"a":2,"z":3}"#)
    }

    @Test("escapes, surrogate pairs and UTF-8 decode to the characters and serialize back to JSON")
    func strings() throws {
        let document = try JSON.parse(#"["\u0041\n\t\"\\\/\b\f\r","\ud83d\ude00","é","\u00e9"]"#)
        #expect(document == .array([.string("A\n\t\"\\/\u{8}\u{C}\r"), .string("😀"), .string("é"), .string("é")]))
        #expect(try JSON.parse(document.serialized) == document)
    }

    @Test("what RFC 8259 does not allow is refused, with the offset of the fault", arguments: [
        ("[1,]", "unexpected character"), ("{\"a\":1,}", "expected a string key"), ("01", "unexpected content after the JSON value"),
        ("1.", "expected a digit after '.'"), ("1e", "expected an exponent"), ("-", "expected a digit"), ("[\"a\u{01}\"]", "control character in string"),
        (#"["\ud800"]"#, "lone surrogate in \\u escape"), (#"["\ud800\u0041"]"#, "invalid surrogate pair"), (#"["\x"]"#, "invalid escape"),
        (#"["\u12g4"]"#, "invalid hex digit in \\u escape"), ("[1 2]", "expected ',' or ']'"), ("{\"a\" 1}", "expected ':'"), ("nul", "expected 'null'"),
        ("", "unexpected end of input"), ("[", "unexpected end of input"), ("\"abc", "unterminated string"), ("NaN", "unexpected character"),
    ])
    func refusals(_ text: String, _ message: String) {
        do {
            let document = try JSON.parse(text)
            Issue.record("accepted \(text) as \(document)")
        } catch {
            #expect(error.message == message, "\(text)")
            #expect(error.offset >= 0 && error.offset <= text.utf8.count)
        }
    }

    @Test("nesting is bounded: maxDepth levels parse, one more is refused without deep recursion")
    func depth() throws {
        let deep = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
        _ = try JSON.parse(deep, maxDepth: 50)
        #expect(throws: JSONSyntaxError.self) { try JSON.parse("[" + deep + "]", maxDepth: 50) }
        #expect(throws: JSONSyntaxError.self) { try JSON.parse(String(repeating: "[", count: 100_000)) }
    }

    @Test("whitespace: the four the RFC allows, anywhere between tokens; no other")
    func whitespace() throws {
        #expect(try JSON.parse(" \t\r\n{ \"a\" : [ 1 , 2 ] } \n") == JSON.parse(#"{"a":[1,2]}"#))
        #expect(throws: JSONSyntaxError.self) { try JSON.parse("\u{A0}1") }
        #expect(throws: JSONSyntaxError.self) { try JSON.parse("1 2") }
    }
}
