import Foundation

/// Runs a program to completion, with a time limit, capturing its output.
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `executable` with `arguments`; kills it after `timeout` seconds.
    public static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 120,
                           environment: [String: String]? = nil) async throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Failure(description: "\(executable) is missing: run scripts/install-test-deps.sh")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let killer = Task {
            try await Task.sleep(for: .seconds(timeout))
            if process.isRunning { process.terminate() }
        }
        // Read both pipes on threads of their own: blocking reads must not occupy Swift
        // concurrency's few pool threads (two on a two-core machine), or other tasks stall.
        async let out = readToEnd(output.fileHandleForReading)
        async let err = readToEnd(errors.fileHandleForReading)
        let (stdout, stderr) = await (out, err)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { process.waitUntilExit(); done.resume() }.start()
        }
        killer.cancel()
        return Result(status: process.terminationStatus, standardOutput: String(decoding: stdout, as: UTF8.self),
                      standardError: String(decoding: stderr, as: UTF8.self))
    }
}

/// Reads a file handle to its end on a dedicated thread.
func readToEnd(_ handle: FileHandle) async -> Data {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: handle.readDataToEndOfFile()) }.start()
    }
}

/// Microsoft's Python Event Hubs SDK, driven through `scripts/eventhubs-sdk.py` in the venv that
/// `scripts/install-test-deps.sh` creates. Fails, never skips, when it is missing.
public enum EventHubsSDK {
    public static var python: String { TestPaths.packageRoot.appendingPathComponent(".venv-eventhubs/bin/python").path }

    /// Runs a command of the script and returns its JSON result.
    public static func run(_ arguments: [String], timeout: TimeInterval = 120) async throws -> [String: Any] {
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/eventhubs-sdk.py").path
        let result = try await Subprocess.run(python, [script] + arguments, timeout: timeout)
        guard result.status == 0, let data = result.standardOutput.split(separator: "\n").last.map({ Data($0.utf8) }),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw Subprocess.Failure(description: "eventhubs-sdk.py \(arguments.first ?? "") exited \(result.status)\n\(result.standardOutput)\n\(result.standardError.suffix(4000))")
        }
        return json
    }
}
