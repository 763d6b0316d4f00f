import Foundation
import PackagePlugin

/// Generates Swift types at build time from the AMQP type-definition XML files (`*.xml`, in the
/// schema of the OASIS AMQP 1.0 files) in the target it is attached to.
///
/// The generated code uses `AMQPCodec`, so the target must depend on it. Each `NAME.xml` becomes
/// `NAME.swift`, and `Archetypes.swift` holds the `provides` enums and the described-type
/// registry; every one of these is declared as an output and always written.
@main
struct AMQPTypeGenerator: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let inputs = target.sourceFiles(withSuffix: ".xml").map(\.url).sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !inputs.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "GeneratedAMQPTypes")
        var arguments = ["--output", output.path(percentEncoded: false), "--layout", "document", "--write-all"]
        for input in inputs {
            arguments += ["--spec-file", input.path(percentEncoded: false)]
        }
        // The generator's naming for the document layout: the XML file name with `.swift` for `.xml`.
        let outputs = inputs.map { output.appending(path: String($0.lastPathComponent.dropLast(4)) + ".swift") }
            + [output.appending(path: "Archetypes.swift")]
        return [
            .buildCommand(
                displayName: "Generating AMQP types from \(inputs.map(\.lastPathComponent).joined(separator: ", "))",
                executable: try context.tool(named: "amqp-gen").url,
                arguments: arguments,
                inputFiles: inputs,
                outputFiles: outputs),
        ]
    }
}
