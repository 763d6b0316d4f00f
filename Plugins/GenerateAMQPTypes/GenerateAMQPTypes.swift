import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory generate-amqp-types [amqp-gen options]`
///
/// Regenerates `Generated/AMQPTypes` from the OASIS spec files (`/usr/share/amqp/specs/1-0`,
/// Debian's `amqp-specs`) and `spec/`. Extra arguments go to amqp-gen: `--spec-dir DIR` to read
/// the full amqp.org files with `<doc>`, `--check` to only compare.
@main
struct GenerateAMQPTypes: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let tool = try context.tool(named: "amqp-gen").url
        let package = context.package.directoryURL
        let process = Process()
        process.executableURL = tool
        process.arguments = [
            "--extensions", package.appending(path: "spec").path(percentEncoded: false),
            "--output", package.appending(path: "Generated/AMQPTypes").path(percentEncoded: false),
            // What users' spec files are generated against (AMQPTypeGenerator, `amqp-gen --against`).
            "--module-name", "AMQPTypes",
            "--index-output", package.appending(path: "Generated/AMQPTypes.index.xml").path(percentEncoded: false),
        ] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw GenerationFailed(status: process.terminationStatus)
        }
    }
}

struct GenerationFailed: Error, CustomStringConvertible {
    var status: Int32
    var description: String { "amqp-gen failed (exit status \(status))" }
}
