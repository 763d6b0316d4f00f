import AMQPCodec
import AMQPTypedJSON
import ArgumentParser

struct CodecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Encode and decode AMQP 1.0 values (hex ⇄ typed JSON).",
        subcommands: [Decode.self, Encode.self]
    )

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode hex into typed JSON, one line per value.",
            discussion: """
                Reads HEX, or one hex line per input from standard input. Each input may hold several \
                concatenated values; each value is printed as one typed-JSON line. Invalid input stops \
                with exit status 1 and a one-line error naming the line and byte offset.
                """
        )

        @Argument(help: "Hexadecimal bytes (spaces allowed between byte pairs). Reads standard input when absent.")
        var hex: String?

        @OptionGroup var log: LogOptions

        func run() throws {
            log.bootstrap()
            let out = StandardOutput()
            let inputs: AnyIterator<String> = hex.map { h in AnyIterator([h].makeIterator()) } ?? standardInputLines()
            for (index, line) in inputs.enumerated() {
                let where_ = hex == nil ? "line \(index + 1): " : ""
                let bytes: [UInt8]
                switch parseHex(line) {
                case .success(let b): bytes = b
                case .failure(let e):
                    out.flush()
                    printError("error: \(where_)\(e)")
                    throw ExitCode(1)
                }
                var decoder = AMQPDecoder(bytes)
                while !decoder.isAtEnd {
                    do {
                        out.line(TypedJSON.string(for: try decoder.decodeValue()))
                    } catch {
                        out.flush()
                        printError("error: \(where_)\(error)")
                        throw ExitCode(1)
                    }
                }
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode typed JSON into hex, one line per value.",
            discussion: """
                Reads JSON, or one typed-JSON value per line from standard input, and prints the \
                encoding of each as one hex line. Nodes look like {"t":"uint","v":7}, \
                {"t":"binary","hex":"dead"}, {"t":"map","v":[[k,v]]}, {"t":"array","elem":"symbol","v":[…]}, \
                {"t":"described","d":…,"v":…}.
                """
        )

        @Flag(name: .long, help: "Write every composite field and never list0 (for conservative peers), instead of the smallest encoding.")
        var full = false

        @Argument(help: "One typed-JSON value. Reads standard input when absent.")
        var json: String?

        @OptionGroup var log: LogOptions

        func run() throws {
            log.bootstrap()
            let out = StandardOutput()
            let policy: EncodingPolicy = full ? .full : .compact
            let inputs: AnyIterator<String> = json.map { j in AnyIterator([j].makeIterator()) } ?? standardInputLines()
            for (index, line) in inputs.enumerated() {
                if json == nil && line.allSatisfy(\.isWhitespace) { continue }
                do {
                    let value = try TypedJSON.value(from: line)
                    out.line(HexEncoding.string(AMQPEncoder.encode(value, policy: policy)))
                } catch {
                    out.flush()
                    printError("error: \(json == nil ? "line \(index + 1): " : "")\(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}

struct HexError: Error, CustomStringConvertible {
    var offset: Int
    var message: String
    var description: String { "\(message) at offset \(offset)" }
}

/// Hex digit pairs, optionally separated by whitespace; reports the offset of the first bad character.
func parseHex(_ text: String) -> Result<[UInt8], HexError> {
    var out = [UInt8]()
    out.reserveCapacity(text.utf8.count / 2)
    var pending: UInt8? = nil
    for (offset, c) in text.utf8.enumerated() {
        if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
            if pending != nil { return .failure(HexError(offset: offset, message: "whitespace inside a byte")) }
            continue
        }
        let v: UInt8
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
        default: return .failure(HexError(offset: offset, message: "invalid hex digit"))
        }
        if let p = pending {
            out.append(p << 4 | v)
            pending = nil
        } else {
            pending = v
        }
    }
    if pending != nil { return .failure(HexError(offset: text.utf8.count, message: "odd number of hex digits")) }
    return .success(out)
}
