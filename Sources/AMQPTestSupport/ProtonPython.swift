import Foundation

/// The Qpid Proton Python peers of `scripts/peers/proton-peer.py`, run with the system
/// interpreter that sees `python3-qpid-proton` (PEERS.md).
public enum ProtonPython {
    public static let interpreter = "/usr/bin/python3"
    public static var script: String { TestPaths.packageRoot.appendingPathComponent("scripts/peers/proton-peer.py").path }

    /// Starts a peer in `mode` with `arguments`.
    public static func start(_ mode: String, _ arguments: [String]) throws -> ExternalProcess {
        try ExternalProcess(interpreter, [script, mode] + arguments, name: "proton-peer-\(mode)")
    }

    /// Starts a listening peer (`serve-…`) on a free port and waits until it accepts connections.
    public static func serve(_ mode: String, _ arguments: [String]) async throws -> (process: ExternalProcess, port: Int) {
        let port = try LocalPort.free()
        let process = try start(mode, ["--port", String(port)] + arguments)
        try await process.waitForPort(port, timeout: .seconds(30))
        return (process, port)
    }

    /// Waits for a peer to exit with status 0 and decodes the one JSON line it printed.
    public static func summary<Summary: Decodable>(of process: ExternalProcess, as type: Summary.Type, timeout: Duration = .seconds(60)) async throws -> Summary {
        try await process.expectSuccess(timeout: timeout)
        guard let line = process.output.split(separator: "\n").last else {
            throw PeerError("\(process.name) printed nothing\n\(process.outputTail)")
        }
        do {
            return try JSONDecoder().decode(Summary.self, from: Data(line.utf8))
        } catch {
            throw PeerError("\(process.name) printed \(line): \(error)")
        }
    }
}
