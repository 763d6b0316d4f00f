import AMQPGenerator
import AMQPSpecModel
import Foundation
import Testing

/// The generator article's library example, as a region (AMQPDocumentationTests checks that the
/// article's block equals it), on the XML of Examples/CustomTypes that the article shows.
@Suite("Documentation examples: the generator")
struct GeneratorDocumentationExampleTests {
    @Test("the article's XML, generated one file per document")
    func generateFromLibrary() throws {
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/CustomTypes/Sources/CustomTypes/telemetry.xml")
        let xml = try [UInt8](Data(contentsOf: example))

        // snippet: generator library
        let model = try SpecModel.load([(fileName: "telemetry.xml", bytes: xml)])
        for file in try AMQPSwiftGenerator.generate(model, options: GeneratorOptions(layout: .filePerDocument)) {
            print(file.name, file.contents.utf8.count)
        }
        // snippet end

        #expect(printed.map { $0.split(separator: " ")[0] }.sorted() == ["Archetypes.swift", "telemetry.swift"])
    }
}
