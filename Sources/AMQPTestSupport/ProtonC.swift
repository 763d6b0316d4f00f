import Foundation

/// Qpid Proton's C broker and clients, built once per test run by
/// `scripts/peers/build-proton-c.sh` from the examples that `libqpid-proton11-dev-examples`
/// installs (PEERS.md), into `.build/peers/proton-c`.
///
/// - `broker HOST PORT`: queues by address; grants 5 credits per incoming link.
/// - `send HOST PORT ADDRESS COUNT`: sends COUNT messages (body `{"sequence": n}`, message-id n),
///   waits for every acknowledgement, prints "N messages sent and acknowledged".
/// - `receive HOST PORT ADDRESS COUNT`: prints each body (Proton's inspect form), accepts it,
///   prints "N messages received".
/// - `send-sized HOST PORT ADDRESS COUNT SIZE`: `send.c` with one change
///   (`scripts/peers/send-sized.patch`): each body is the string ``bodyText(size:)`` of SIZE bytes.
public struct ProtonC: Sendable {
    public let broker: String
    public let send: String
    public let receive: String
    public let sendSized: String

    /// Builds the programs (once per process; later calls return the same result).
    public static func built() throws -> ProtonC { try cached.get() }

    private static let cached: Result<ProtonC, Error> = Result { try build() }

    static func build() throws -> ProtonC {
        let folder = TestPaths.packageRoot.appendingPathComponent(".build/peers/proton-c", isDirectory: true)
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/peers/build-proton-c.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = [folder.path]
        // One pipe for both streams: reading two pipes in turn could deadlock on a full one.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PeerError("scripts/peers/build-proton-c.sh failed (\(process.terminationStatus)): \(text)")
        }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        return ProtonC(broker: path("broker"), send: path("send"), receive: path("receive"), sendSized: path("send-sized"))
    }

    /// The body of `send-sized`: `size` letters and digits that change with the position, so a
    /// dropped, repeated or reordered frame shows. Proton's `receive` prints it inside quotes as
    /// is. The same formula is in `scripts/peers/send-sized.patch`.
    public static func bodyText(size: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<size { bytes[i] = alphabet[(i &* 7 &+ (i >> 10)) % 62] }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Running

    /// Starts Proton's C broker on a free port and waits until it listens.
    public func startBroker() async throws -> (process: ExternalProcess, port: Int) {
        let port = try LocalPort.free()
        let process = try ExternalProcess(broker, ["127.0.0.1", String(port)], name: "proton-broker")
        try await process.waitForPort(port)
        return (process, port)
    }
}
