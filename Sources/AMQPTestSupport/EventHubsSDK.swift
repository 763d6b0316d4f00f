import Foundation

/// Microsoft's Python Event Hubs SDK, driven through `scripts/eventhubs-sdk.py` in the venv that
/// `scripts/install-test-deps.sh` creates. Fails, never skips, when it is missing.
public enum EventHubsSDK {
    public static var python: String { TestPaths.packageRoot.appendingPathComponent(".venv-eventhubs/bin/python").path }

    /// Runs a command of the script and returns its JSON result.
    public static func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> [String: Any] {
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/eventhubs-sdk.py").path
        let process = try await ExternalProcess.run(python, [script] + arguments, name: "eventhubs-sdk.py", timeout: timeout)
        guard process.exitStatus == 0, let line = process.output.split(separator: "\n").last,
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw PeerError("eventhubs-sdk.py \(arguments.first ?? "") exited \(process.exitStatus ?? -1)\n\(process.outputTail)")
        }
        return json
    }
}

/// A program run to completion: its status and output, for callers that want only the results
/// of `ExternalProcess.run`.
public struct CompletedProcess: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    /// Runs `executable` with `arguments`; stops it after `timeout` seconds and throws.
    public static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 120,
                           environment: [String: String]? = nil) async throws -> CompletedProcess {
        let process = try await ExternalProcess.run(executable, arguments, environment: environment, timeout: .seconds(timeout))
        return CompletedProcess(status: process.exitStatus ?? -1, standardOutput: process.output, standardError: process.errorOutput)
    }
}
