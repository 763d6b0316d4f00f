import AMQPCodec
import AMQPProtocol
import AMQPTypedJSON
import AMQPSpecModel
import AMQPTypes
import ArgumentParser
import Foundation

/// `amqp inspect`: prints the frames of one direction of an AMQP byte stream, like Proton's
/// `PN_TRACE_FRM`.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the frames of a captured AMQP byte stream (one direction).",
        discussion: """
            Reads FILE (or --hex) holding protocol headers, SASL and AMQP frames, and prints each \
            frame: its channel, the performative as the specification names it with named fields, \
            and the message sections of transfers (once a multi-frame delivery is complete). \
            --json prints one JSON object per header or frame, values in typed JSON.
            """
    )

    @Argument(help: "A file holding the bytes. Reads standard input when neither FILE nor --hex is given.")
    var file: String?

    @Option(name: .long, help: "The bytes as hexadecimal instead of a file.")
    var hex: String?

    @Flag(name: .long, help: "One JSON object per line.")
    var json = false

    @Option(name: .customLong("types"), help: "A spec XML file whose described types to name too, as the core's are (repeatable): a vendor's extension.")
    var typeFiles: [String] = []

    @OptionGroup var log: LogOptions

    func run() throws {
        log.bootstrap()
        let bytes: [UInt8]
        if let hex {
            guard let parsed = HexEncoding.bytes(hex) else {
                printError("error: --hex is not hexadecimal")
                throw ExitCode(1)
            }
            bytes = parsed
        } else if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("error: cannot read \(file)")
                throw ExitCode(1)
            }
            bytes = [UInt8](data)
        } else {
            bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        }
        var files: [(fileName: String, bytes: [UInt8])] = []
        for path in typeFiles {
            guard let data = FileManager.default.contents(atPath: path) else {
                printError("error: cannot read \(path)")
                throw ExitCode(1)
            }
            files.append((URL(fileURLWithPath: path).lastPathComponent, [UInt8](data)))
        }
        let names: DescribedTypeNames
        do {
            names = try DescribedTypeNames(specFiles: files)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let out = StandardOutput()
        var inspector = FrameInspector(json: json, names: names)
        do {
            try inspector.inspect(bytes) { out.line($0) }
        } catch {
            out.flush()
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Turns a byte stream into one printable line per header or frame.
/// The AMQP names printed for described values: the core's (`AMQPDescribedTypes`), then those of
/// spec files given with `--types`. Those files are only parsed, not resolved: naming a value
/// needs its descriptor and field names, not the types its fields refer to (a vendor's file may
/// use the core's `error` without the core's XML beside it).
struct DescribedTypeNames: Sendable {
    private var names: [DescriptorValue: (type: String, fields: [String])] = [:]

    /// The core's names only.
    static let core = DescribedTypeNames()

    private init() {}

    /// The core's names, and those of every described type of `specFiles`. A file that does not
    /// parse, or a descriptor the core or an earlier file already names, is a ``SpecError``.
    init(specFiles: [(fileName: String, bytes: [UInt8])]) throws(SpecError) {
        for file in specFiles {
            let document = try SpecParser.parse(file.bytes, fileName: file.fileName)
            for type in document.sections.flatMap(\.types) {
                guard let descriptor = type.descriptor else { continue }
                let keys: [DescriptorValue] = [.code(descriptor.code)] + (Symbol(descriptor.name).map { [.symbol($0)] } ?? [])
                if let other = keys.compactMap({ key in AMQPDescribedTypes.specNames(for: key)?.type ?? names[key]?.type }).first {
                    throw SpecError(.duplicateDescriptor, file: file.fileName, line: descriptor.location.line, name: type.name,
                                    "descriptor \(descriptor.name) (\(descriptor.codeText)) of '\(type.name)' already names '\(other)'")
                }
                for key in keys { names[key] = (type.name, type.fields.map(\.name)) }
            }
        }
    }

    func names(for descriptor: DescriptorValue) -> (type: String, fields: [String])? {
        AMQPDescribedTypes.specNames(for: descriptor) ?? names[descriptor]
    }
}

struct FrameInspector {
    let json: Bool
    let names: DescribedTypeNames
    /// Payloads of multi-frame deliveries, by channel and handle, until their last frame.
    var partial: [String: [UInt8]] = [:]

    init(json: Bool, names: DescribedTypeNames = .core) {
        self.json = json
        self.names = names
    }

    mutating func inspect(_ bytes: [UInt8], emit: (String) -> Void) throws {
        var decoder = FrameDecoder()
        decoder.append(bytes)
        while true {
            let offset = decoder.streamOffset
            guard let event = try decoder.next() else { break }
            switch event {
            case .protocolHeader(let header):
                emit(json ? JSON.object([("offset", .number(String(offset))), ("header", .string(header.description))]).serialized
                          : "\(header)")
            case .frame(let frame):
                emit(try describe(frame, offset: offset))
                // A client's AMQP header follows its last SASL frame with nothing in between to
                // announce it; the server's follows its sasl-outcome.
                if frame.type == .sasl, decoder.nextBytesAreProtocolHeader == true {
                    decoder.expectProtocolHeader()
                }
            }
        }
        if decoder.bufferedCount > 0 {
            throw InspectError(message: "\(decoder.bufferedCount) bytes at the end do not form a whole frame")
        }
    }

    struct InspectError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    mutating func describe(_ frame: Frame, offset: Int) throws -> String {
        let kind = frame.type == .sasl ? "sasl" : "amqp"
        if frame.isEmpty {
            return json ? JSON.object([("offset", .number(String(offset))), ("type", .string(kind)), ("channel", .number(String(frame.channel))), ("heartbeat", .bool(true))]).serialized
                        : "@\(frame.channel) (heartbeat)"
        }
        var decoder = AMQPDecoder(frame.body)
        let performative = try decoder.decodeValue()
        let payload = Array(frame.body.dropFirst(decoder.offset))
        var sections: [AMQPValue]? = nil
        var payloadNote: String? = nil
        if !payload.isEmpty {
            // Sections are printed when the delivery's last frame arrives.
            let key = "\(frame.channel)/\(field(0, of: performative).map { "\($0)" } ?? "?")"
            var whole = partial.removeValue(forKey: key) ?? []
            whole += payload
            if case .boolean(true)? = field(5, of: performative) {
                partial[key] = whole
                payloadNote = "\(payload.count) bytes, more to come"
            } else {
                var sectionDecoder = AMQPDecoder(whole)
                var decoded: [AMQPValue] = []
                do {
                    while !sectionDecoder.isAtEnd { decoded.append(try sectionDecoder.decodeValue()) }
                    sections = decoded
                } catch {
                    payloadNote = "\(whole.count) bytes that are not message sections: \(error)"
                }
            }
        }
        if json {
            var pairs: [(key: String, value: JSON)] = [
                ("offset", .number(String(offset))), ("type", .string(kind)), ("channel", .number(String(frame.channel))),
            ]
            pairs += describedJSON(performative, nameKey: "performative")
            if let sections {
                pairs.append(("sections", .array(sections.map { .object(describedJSON($0, nameKey: "section")) })))
            }
            if let payloadNote { pairs.append(("payload", .string(payloadNote))) }
            return JSON.object(pairs).serialized
        }
        var line = "@\(frame.channel) " + Self.format(performative, names: names)
        if let sections { line += " " + sections.map { Self.format($0, names: names) }.joined(separator: " ") }
        if let payloadNote { line += " (payload: \(payloadNote))" }
        return line
    }

    func field(_ index: Int, of value: AMQPValue) -> AMQPValue? {
        guard case .described(_, .list(let fields)) = value, index < fields.count else { return nil }
        return fields[index]
    }

    /// `name` and named fields for a described value the specification knows; the typed value
    /// otherwise.
    func describedJSON(_ value: AMQPValue, nameKey: String) -> [(key: String, value: JSON)] {
        if case .described(let descriptor, let body) = value, let d = Self.descriptorValue(descriptor),
           let names = self.names.names(for: d) {
            if case .list(let fields) = body {
                var named: [(key: String, value: JSON)] = []
                for (i, f) in fields.enumerated() where f != .null {
                    named.append((i < names.fields.count ? names.fields[i] : "field-\(i)", TypedJSON.json(for: f)))
                }
                return [(nameKey, .string(names.type)), ("fields", .object(named))]
            }
            return [(nameKey, .string(names.type)), ("value", TypedJSON.json(for: body))]
        }
        return [("value", TypedJSON.json(for: value))]
    }

    static func descriptorValue(_ value: AMQPValue) -> DescriptorValue? {
        switch value {
        case .ulong(let c): return .code(c)
        case .symbol(let s): return .symbol(s)
        default: return nil
        }
    }

    /// A compact, readable form: `open(container-id="a", max-frame-size=65536)`, strings
    /// quoted, symbols as `:name`, binary as `b"…"`, described values the specification knows by
    /// name with their fields named.
    static func format(_ value: AMQPValue, names table: DescribedTypeNames = .core) -> String {
        func format(_ value: AMQPValue) -> String { Self.format(value, names: table) }
        switch value {
        case .described(let descriptor, let body):
            if let d = descriptorValue(descriptor), let names = table.names(for: d) {
                if case .list(let fields) = body {
                    let shown = fields.enumerated().compactMap { i, f -> String? in
                        f == .null ? nil : "\(i < names.fields.count ? names.fields[i] : "field-\(i)")=\(format(f))"
                    }
                    return "\(names.type)(\(shown.joined(separator: ", ")))"
                }
                return "\(names.type)(\(format(body)))"
            }
            return "\(format(descriptor))(\(format(body)))"
        case .string(let s): return "\"\(s.replacingOccurrences(of: "\"", with: "\\\""))\""
        case .symbol(let s): return ":\(s)"
        case .binary(let b):
            let text = b.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? String(decoding: b, as: UTF8.self) : nil
            return text.map { "b\"\($0)\"" } ?? "0x\(b.hexString)"
        case .list(let items): return "[" + items.map(format).joined(separator: ", ") + "]"
        case .map(let map): return "{" + map.entries.map { "\(format($0.key))=\(format($0.value))" }.joined(separator: ", ") + "}"
        case .array(let a):
            let d = a.descriptor.map { "\(format($0)) " } ?? ""
            return "\(d)@\(a.elementType)[" + a.elements.map(format).joined(separator: ", ") + "]"
        case .boolean(let b): return b ? "true" : "false"
        case .uint(let v): return "\(v)"
        case .ulong(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .long(let v): return "\(v)"
        case .ubyte(let v): return "\(v)"
        case .ushort(let v): return "\(v)"
        case .timestamp(let t): return "\(t.millisecondsSince1970)ms"
        case .uuid(let u): return u.uuidString
        case .null: return "null"
        default: return value.description
        }
    }
}
