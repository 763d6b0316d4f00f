import AMQPCodec
import AMQPTypedJSON
import Foundation

/// Qpid Proton's Python binding as an independent AMQP codec (`scripts/proton-oracle.py`), for
/// cross-implementation tests. Fails, never skips, when Proton is missing.
public enum ProtonOracle {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Runs the oracle in `mode` (`decode`: hex lines → typed JSON lines; `encode`: typed JSON
    /// lines → hex lines) and returns one output line per value.
    public static func run(_ mode: String, _ lines: [String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [TestPaths.packageRoot.appendingPathComponent("scripts/proton-oracle.py").path, mode]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Feed stdin from another thread so a full output pipe cannot deadlock us.
        let text = Data((lines.joined(separator: "\n") + "\n").utf8)
        let writer = Thread {
            input.fileHandleForWriting.write(text)
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(message: "proton-oracle.py \(mode) exited \(process.terminationStatus): \(String(decoding: err, as: UTF8.self)) — install python3-qpid-proton (scripts/install-test-deps.sh)")
        }
        return String(decoding: out, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Proton's reading of each encoding, as values (or the error Proton reported).
    public static func decode(_ encodings: [[UInt8]]) throws -> [Result<AMQPValue, Failure>] {
        let lines = try run("decode", encodings.map { HexEncoding.string($0) })
        guard lines.count == encodings.count else {
            throw Failure(message: "expected \(encodings.count) answers from Proton, got \(lines.count)")
        }
        return lines.map { line in
            if line.hasPrefix("{\"error\"") { return .failure(Failure(message: line)) }
            do { return .success(try TypedJSON.value(from: line)) } catch { return .failure(Failure(message: "\(error): \(line)")) }
        }
    }

    /// Proton's encoding of each value.
    public static func encode(_ values: [AMQPValue]) throws -> [[UInt8]] {
        let lines = try run("encode", values.map { TypedJSON.string(for: $0, floatsAsBits: true) })
        guard lines.count == values.count else {
            throw Failure(message: "expected \(values.count) encodings from Proton, got \(lines.count)")
        }
        return try lines.map { line in
            guard let bytes = HexEncoding.bytes(line) else { throw Failure(message: "Proton printed \(line)") }
            return bytes
        }
    }
}
