import AMQPGenerator
import AMQPSpecModel
import Foundation
import Testing

/// The package's root folder, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Where Debian's `amqp-specs` installs the OASIS files (`.ci/run` installs it).
let coreSpecDirectory = URL(fileURLWithPath: "/usr/share/amqp/specs/1-0")
let coreSpecFiles = ["types", "transport", "messaging", "security", "transactions"].map { "\($0).bare.xml" }

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The core spec files and `spec/`, in the order amqp-gen reads them.
func loadSpecFiles() throws -> [(fileName: String, bytes: [UInt8])] {
    var files: [(fileName: String, bytes: [UInt8])] = []
    for name in coreSpecFiles {
        let url = coreSpecDirectory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SpecFilesMissing(path: url.path)
        }
        files.append((name, [UInt8](data)))
    }
    let extensions = packageRoot.appendingPathComponent("spec")
    for name in try FileManager.default.contentsOfDirectory(atPath: extensions.path).filter({ $0.hasSuffix(".xml") }).sorted() {
        files.append((name, [UInt8](try Data(contentsOf: extensions.appendingPathComponent(name)))))
    }
    return files
}

/// The generator's options for `Generated/AMQPTypes`: section numbers and units from
/// `spec/annotations.tsv`, checked against `model`.
func committedOptions(for model: SpecModel) throws -> GeneratorOptions {
    let url = packageRoot.appendingPathComponent("spec/annotations.tsv")
    let annotations = try SpecAnnotations.parse([UInt8](try Data(contentsOf: url)), fileName: "annotations.tsv")
    try annotations.validate(against: model)
    return GeneratorOptions(annotations: annotations)
}

struct SpecFilesMissing: Error, CustomStringConvertible {
    var path: String
    var description: String { "\(path) is missing: apt-get install -y amqp-specs" }
}

/// Generates from one XML snippet and returns the files by name.
func generate(
    _ xml: String, fileName: String = "snippet.xml", layout: GeneratorOptions.Layout = .filePerSection, annotations: String? = nil
) throws -> [String: String] {
    let model = try SpecModel.load([(fileName, bytes(xml))])
    var options = GeneratorOptions(layout: layout)
    if let annotations {
        options.annotations = try SpecAnnotations.parse(bytes(annotations), fileName: "annotations.tsv")
        try options.annotations.validate(against: model)
    }
    let files = try AMQPSwiftGenerator.generate(model, options: options)
    return Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.contents) })
}

/// Compares generated text with the expected text, showing the line diff when they differ.
func expectSame(_ actual: String?, _ expected: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    guard let actual else {
        Issue.record("no such file was generated", sourceLocation: sourceLocation)
        return
    }
    if actual != expected {
        Issue.record("generated code differs from the expected code: \(LineDiff.summary(from: expected, to: actual, limit: 40))", sourceLocation: sourceLocation)
    }
}
