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

/// Turns a byte stream into one printable line per header or frame: the text form is the one
/// the live frame trace prints (``FrameDescription``), with `--types` names too; `--json` gives
/// the same content as typed JSON.
struct FrameInspector {
    let json: Bool
    let names: DescribedTypeNames
    private var describer = FrameStreamDescriber(payloads: .sections, revealsSASLResponses: true)

    init(json: Bool, names: DescribedTypeNames = .core) {
        self.json = json
        self.names = names
    }

    mutating func inspect(_ bytes: [UInt8], emit: (String) -> Void) throws {
        describer.append(bytes)
        while let description = try describer.next() {
            emit(json ? json(description) : description.formatted(naming: names.names(for:)))
        }
        if describer.bufferedCount > 0 {
            throw InspectError(message: "\(describer.bufferedCount) bytes at the end do not form a whole frame")
        }
    }

    struct InspectError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    func json(_ description: FrameDescription) -> String {
        var pairs: [(key: String, value: JSON)] = [("offset", .number(String(description.streamOffset)))]
        switch description.content {
        case .protocolHeader(let header):
            pairs.append(("header", .string(header.description)))
        case .heartbeat(let type, let channel):
            pairs += [("type", .string(type == .sasl ? "sasl" : "amqp")), ("channel", .number(String(channel))), ("heartbeat", .bool(true))]
        case .frame(let type, let channel, let performative, let payload):
            pairs += [("type", .string(type == .sasl ? "sasl" : "amqp")), ("channel", .number(String(channel)))]
            pairs += describedJSON(performative, nameKey: "performative")
            switch payload {
            case nil: break
            case .sections(let sections)?:
                pairs.append(("sections", .array(sections.map { .object(describedJSON($0, nameKey: "section")) })))
            case .partial(let count)?: pairs.append(("payload", .string("\(count) bytes, more to come")))
            case .length(let count)?: pairs.append(("payload", .string("\(count) bytes")))
            case .undecodable(let count, let error)?:
                pairs.append(("payload", .string("\(count) bytes that are not message sections: \(error)")))
            }
        }
        return JSON.object(pairs).serialized
    }

    /// `name` and named fields for a described value the specification knows; the typed value
    /// otherwise.
    func describedJSON(_ value: AMQPValue, nameKey: String) -> [(key: String, value: JSON)] {
        if case .described(let descriptor, let body) = value, let d = FrameStreamDescriber.descriptorValue(descriptor),
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
}
