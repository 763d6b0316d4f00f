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

/// A program that runs beside a test (a server), with its output collected as it comes.
public final class BackgroundProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected = ""

    /// Starts `executable`; its standard output and error are collected together.
    public init(_ executable: String, _ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Subprocess.Failure(description: "\(executable) is missing (build it first)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let handle = pipe.fileHandleForReading
        Thread { [weak self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                guard let self else { return }
                self.lock.lock()
                self.collected += String(decoding: data, as: UTF8.self)
                self.lock.unlock()
            }
        }.start()
    }

    public var output: String {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }

    public var processIdentifier: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Waits until the output matches `pattern` (a regular expression) and returns the first
    /// capture group (or the whole match); fails after `timeout` seconds or if the process exits.
    public func waitForOutput(_ pattern: String, timeout: TimeInterval = 30) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = output
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return String(text[Range(range, in: text)!])
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Subprocess.Failure(description: "no output matching \(pattern) within \(timeout) s; got:\n\(output.suffix(2000))")
    }

    /// Sends `signal` (SIGKILL by default: no chance to clean up) and waits for the exit.
    public func kill(_ signal: Int32 = SIGKILL) async {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, signal)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { self.process.waitUntilExit(); done.resume() }.start()
        }
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
