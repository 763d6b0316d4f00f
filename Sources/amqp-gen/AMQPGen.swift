import AMQPGenerator
import AMQPSpecModel
import ArgumentParser
import Foundation

/// Generates Swift types from AMQP 1.0 XML type definitions.
@main
struct AMQPGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp-gen",
        abstract: "Generate Swift types from the AMQP 1.0 XML type definitions.",
        discussion: """
            Reads the OASIS spec files (types, transport, messaging, security, transactions) from \
            --spec-dir and extension files in the same schema from --extensions, and writes one Swift \
            file per spec section into --output. Files are written only when their bytes change; \
            generated files that are no longer produced are removed.
            """)

    static let defaultSpecDirectory = "/usr/share/amqp/specs/1-0"

    @Option(name: .customLong("spec-dir"), help: "Folder of the OASIS spec files (default: \(defaultSpecDirectory), unless --spec-file is given).")
    var specDirectory: String?

    @Option(name: .customLong("extensions"), help: "Folder of extension spec files (every *.xml in it, and \(annotationsFileName) for the doc comments' section numbers and units).")
    var extensionsDirectory: String?

    @Option(name: .customLong("spec-file"), help: "A spec file to read, after the folders (repeatable).")
    var specFiles: [String] = []

    @Option(name: .customLong("output"), help: "Folder the Swift files are written to.")
    var outputDirectory: String

    @Option(name: .customLong("against"), help: """
        The index of a module to generate against (Generated/AMQPTypes.index.xml of swift-amqp): the spec files may use \
        its types (error, fields, role, delivery-state, …), and the output imports that module instead of declaring them again.
        """)
    var againstIndex: String?

    @Option(name: .customLong("module-name"), help: "The Swift module the output is compiled into: names the registry enum (<module>DescribedTypes) when generating --against an index, and the module an --index-output describes.")
    var moduleName: String?

    @Option(name: .customLong("index-output"), help: "Also write the index of the generated module here (needs --module-name), for spec files generated --against it.")
    var indexOutput: String?

    @Option(help: "section: one file per spec section; document: one file per spec file (for build-tool plugins, whose outputs are named in advance).")
    var layout: Layout = .section

    @Flag(name: .customLong("write-all"), help: "Write every file even when its bytes are unchanged (build-tool plugins: outputs must be newer than inputs).")
    var writeAll = false

    @Flag(help: "Write nothing; exit 1 with a summary of the differences if --output is not what would be generated.")
    var check = false

    enum Layout: String, ExpressibleByArgument {
        case section, document
    }

    /// The table of section numbers and units beside the extension files (``SpecAnnotations``).
    static let annotationsFileName = "annotations.tsv"

    /// The OASIS files in the order the specification presents them; other files follow by name.
    static let coreOrder = ["types", "transport", "messaging", "security", "transactions"]

    func run() throws {
        var paths: [String] = []
        if let directory = specDirectory ?? (specFiles.isEmpty && againstIndex == nil ? Self.defaultSpecDirectory : nil) {
            paths += try Self.xmlFiles(in: directory, ordered: true)
        }
        if let extensionsDirectory {
            paths += try Self.xmlFiles(in: extensionsDirectory, ordered: false)
        }
        paths += specFiles
        if indexOutput != nil && moduleName == nil {
            throw ValidationError("--index-output needs --module-name (the module the index describes)")
        }
        // The index comes first: a user's file that redefines one of its names or descriptors is
        // the one reported.
        if let againstIndex { paths.insert(againstIndex, at: 0) }
        var files: [(fileName: String, bytes: [UInt8])] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read \(path)")
            }
            files.append((URL(fileURLWithPath: path).lastPathComponent, [UInt8](data)))
        }
        var annotationsFile: (fileName: String, bytes: [UInt8])?
        if let extensionsDirectory {
            let path = (extensionsDirectory as NSString).appendingPathComponent(Self.annotationsFileName)
            if let data = FileManager.default.contents(atPath: path) {
                annotationsFile = (Self.annotationsFileName, [UInt8](data))
            }
        }
        var generated: [GeneratedFile]
        var index: GeneratedFile?
        do {
            let model = try SpecModel.load(files)
            var annotations = SpecAnnotations()
            if let annotationsFile {
                annotations = try SpecAnnotations.parse(annotationsFile.bytes, fileName: annotationsFile.fileName)
                try annotations.validate(against: model)
            }
            generated = try AMQPSwiftGenerator.generate(
                model, options: GeneratorOptions(layout: layout == .section ? .filePerSection : .filePerDocument, annotations: annotations, moduleName: moduleName))
            if indexOutput != nil, let moduleName {
                index = AMQPSwiftGenerator.index(of: model, module: moduleName)
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        let output = URL(fileURLWithPath: outputDirectory)
        if check {
            var problems = try Self.compare(generated, with: output)
            if let index, let indexOutput {
                let committed = FileManager.default.contents(atPath: indexOutput).map { String(decoding: $0, as: UTF8.self) }
                if committed == nil {
                    problems.append("  missing: \(indexOutput)")
                } else if committed != index.contents {
                    problems.append("  stale: \(indexOutput)")
                }
            }
            if problems.isEmpty {
                print("amqp-gen: \(output.path) is up to date (\(generated.count) files)")
            } else {
                print("amqp-gen: \(output.path) is stale; run amqp-gen (or `swift package --allow-writing-to-package-directory generate-amqp-types`) and commit the result:")
                for problem in problems { print(problem) }
                throw ExitCode(1)
            }
        } else {
            try Self.write(generated, to: output, always: writeAll)
            if let index, let indexOutput {
                let bytes = Data(index.contents.utf8)
                if writeAll || FileManager.default.contents(atPath: indexOutput) != bytes {
                    try bytes.write(to: URL(fileURLWithPath: indexOutput), options: .atomic)
                }
            }
        }
    }

    static func xmlFiles(in directory: String, ordered: Bool) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".xml") }
        func stem(_ name: String) -> String {
            String(name.prefix { $0 != "." })
        }
        let kept = names.filter { !ordered || stem($0) != "index" }
        return kept.sorted { a, b in
            let ia = ordered ? coreOrder.firstIndex(of: stem(a)) ?? coreOrder.count : 0
            let ib = ordered ? coreOrder.firstIndex(of: stem(b)) ?? coreOrder.count : 0
            return ia != ib ? ia < ib : a < b
        }.map { (directory as NSString).appendingPathComponent($0) }
    }

    /// Generated files found in `directory` that the generator no longer produces.
    static func staleGeneratedFiles(in directory: URL, keeping names: Set<String>) -> [URL] {
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return existing.sorted().filter { $0.hasSuffix(".swift") && !names.contains($0) }.map { directory.appendingPathComponent($0) }.filter { url in
            guard let data = FileManager.default.contents(atPath: url.path) else { return false }
            return String(decoding: data.prefix(200), as: UTF8.self).hasPrefix(AMQPSwiftGenerator.headerPrefix)
        }
    }

    static func write(_ files: [GeneratedFile], to directory: URL, always: Bool) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written = 0
        for file in files {
            let url = directory.appendingPathComponent(file.name)
            let bytes = Data(file.contents.utf8)
            if !always && FileManager.default.contents(atPath: url.path) == bytes { continue }
            try bytes.write(to: url, options: .atomic)
            written += 1
        }
        let stale = staleGeneratedFiles(in: directory, keeping: Set(files.map(\.name)))
        for url in stale { try FileManager.default.removeItem(at: url) }
        print("amqp-gen: \(files.count) files in \(directory.path), \(written) written, \(stale.count) removed")
    }

    static func compare(_ files: [GeneratedFile], with directory: URL) throws -> [String] {
        var existing: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".swift") {
            if let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) {
                existing[name] = String(decoding: data, as: UTF8.self)
            }
        }
        return AMQPSwiftGenerator.differences(between: files, and: existing).map { "  " + $0 }
    }
}
