import Foundation
import PackagePlugin

/// Generates Swift types at build time from the AMQP type-definition XML files (`*.xml`, in the
/// schema of the OASIS AMQP 1.0 files) in the target it is attached to.
///
/// When the target depends on `AMQPTypes`, its XML is generated *against* that module: it may use
/// the core types (`error`, `fields`, `role`, `milliseconds`, `requires="delivery-state"`, …), and
/// the generated code imports `AMQPTypes` and uses its Swift types instead of declaring them again.
/// Names are resolved from `Generated/AMQPTypes.index.xml`, which swift-amqp commits, so building
/// needs no OASIS XML on the machine. A target that depends only on `AMQPCodec` gets standalone
/// types, as before.
///
/// Each `NAME.xml` becomes `NAME.swift`, and `Archetypes.swift` holds the `provides` enums and the
/// described-type registry; every one of these is declared as an output and always written.
@main
struct AMQPTypeGenerator: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let inputs = target.sourceFiles(withSuffix: ".xml").map(\.url).sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !inputs.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "GeneratedAMQPTypes")
        var arguments = ["--output", output.path(percentEncoded: false), "--layout", "document", "--write-all"]
        var inputFiles = inputs
        if dependsOnAMQPTypes(target) {
            guard let index = coreIndex(context.package) else {
                throw PluginFailure("\(target.name) depends on AMQPTypes, but no package in the graph has Generated/AMQPTypes.index.xml")
            }
            arguments += ["--against", index.path(percentEncoded: false), "--module-name", target.name]
            inputFiles.append(index)
        }
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
                inputFiles: inputFiles,
                outputFiles: outputs),
        ]
    }

    /// Whether the target itself depends on the `AMQPTypes` product or target.
    func dependsOnAMQPTypes(_ target: SourceModuleTarget) -> Bool {
        target.dependencies.contains { dependency in
            switch dependency {
            case .product(let product): return product.name == "AMQPTypes"
            case .target(let target): return target.name == "AMQPTypes"
            @unknown default: return false
            }
        }
    }

    /// The index swift-amqp commits beside `Generated/`, found in this package or a dependency.
    func coreIndex(_ package: Package) -> URL? {
        var queue = [package]
        var seen = Set<String>()
        while !queue.isEmpty {
            let next = queue.removeFirst()
            guard seen.insert(next.id).inserted else { continue }
            let candidate = next.directoryURL.appending(path: "Generated/AMQPTypes.index.xml")
            if FileManager.default.fileExists(atPath: candidate.path(percentEncoded: false)) { return candidate }
            queue += next.dependencies.map(\.package)
        }
        return nil
    }
}

struct PluginFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
