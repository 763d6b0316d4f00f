import Foundation

/// Qpid Proton's C broker and clients, built once per test run from the examples that
/// `libqpid-proton11-dev-examples` installs (PEERS.md), into `.build/peers/proton-c`.
///
/// - `broker HOST PORT`: queues by address; grants 5 credits per incoming link.
/// - `send HOST PORT ADDRESS COUNT`: sends COUNT messages (body `{"sequence": n}`, message-id n),
///   waits for every acknowledgement, prints "N messages sent and acknowledged".
/// - `receive HOST PORT ADDRESS COUNT`: prints each body (Proton's inspect form), accepts it,
///   prints "N messages received".
/// - `send-sized HOST PORT ADDRESS COUNT SIZE`: `send.c` with one change: each body is the
///   string ``bodyText(size:)`` of SIZE bytes (Proton's `send` has no size option).
public struct ProtonC: Sendable {
    public let broker: String
    public let send: String
    public let receive: String
    public let sendSized: String

    public static let examples = URL(fileURLWithPath: "/usr/share/proton/examples/c")

    /// Builds the programs (once per process; later calls return the same result).
    public static func built() throws -> ProtonC { try cached.get() }

    private static let cached: Result<ProtonC, Error> = Result { try build() }

    static func build() throws -> ProtonC {
        for file in ["broker.c", "send.c", "receive.c", "thread.h"] {
            guard FileManager.default.fileExists(atPath: examples.appendingPathComponent(file).path) else {
                throw PeerError("Proton C examples missing (\(examples.path)/\(file)): install libqpid-proton11-dev-examples (scripts/install-test-deps.sh)")
            }
        }
        let folder = TestPaths.packageRoot.appendingPathComponent(".build/peers/proton-c", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let flags = try pkgConfig(["--cflags", "--libs", "libqpid-proton"])
        let sendSource = try String(contentsOf: examples.appendingPathComponent("send.c"), encoding: .utf8)
        let sized = try sizedSend(from: sendSource)
        try write(sized, to: folder.appendingPathComponent("send-sized.c"))
        var sources: [(name: String, source: URL)] = [
            ("broker", examples.appendingPathComponent("broker.c")),
            ("send", examples.appendingPathComponent("send.c")),
            ("receive", examples.appendingPathComponent("receive.c")),
            ("send-sized", folder.appendingPathComponent("send-sized.c")),
        ]
        sources.sort { $0.name < $1.name }
        for (name, source) in sources {
            let binary = folder.appendingPathComponent(name)
            if isUpToDate(binary, source) { continue }
            // Build next to the binary, then rename: a half-written binary is never used.
            let partial = folder.appendingPathComponent("\(name).partial-\(getpid())")
            try runSynchronously(
                "/usr/bin/gcc",
                ["-O2", "-I", examples.path, "-o", partial.path, source.path] + flags + ["-lpthread"]
            )
            _ = try? FileManager.default.removeItem(at: binary)
            try FileManager.default.moveItem(at: partial, to: binary)
        }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        return ProtonC(broker: path("broker"), send: path("send"), receive: path("receive"), sendSized: path("send-sized"))
    }

    /// The body of `send-sized`: `size` letters and digits that change with the position, so a
    /// dropped, repeated or reordered frame shows. Proton's `receive` prints it inside quotes as is.
    public static func bodyText(size: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<size { bytes[i] = alphabet[(i &* 7 &+ (i >> 10)) % 62] }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `send.c` with the body replaced by ``bodyText(size:)`` (the same formula in C) when a fifth
    /// argument gives a size. Fails loudly if the examples changed so that the patch no longer fits.
    static func sizedSend(from source: String) throws -> String {
        let originalBody = """
              pn_data_put_map(body);
              pn_data_enter(body);
              pn_data_put_string(body, pn_bytes(sizeof("sequence")-1, "sequence"));
              pn_data_put_int(body, app->sent); /* The sequence number */
              pn_data_exit(body);
            """
        let sizedBody = """
              if (body_size > 0) {
                pn_data_put_string(body, pn_bytes(body_size, body_text));
              } else {
                pn_data_put_map(body);
                pn_data_enter(body);
                pn_data_put_string(body, pn_bytes(sizeof("sequence")-1, "sequence"));
                pn_data_put_int(body, app->sent);
                pn_data_exit(body);
              }
            """
        let originalCount = "  app.message_count = (argc > 4) ? atoi(argv[4]) : 10;\n"
        let sizedCount = originalCount + """
              if (argc > 5) {
                static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                body_size = (size_t)atol(argv[5]);
                body_text = malloc(body_size);
                for (size_t i = 0; i < body_size; i++) body_text[i] = alphabet[(i * 7 + (i >> 10)) % 62];
              }

            """
        let globals = "static int exit_code = 0;\n"
        for piece in [originalBody, originalCount, globals] where !source.contains(piece) {
            throw PeerError("send.c from libqpid-proton11-dev-examples no longer contains the expected code:\n\(piece)")
        }
        return source
            .replacingOccurrences(of: globals, with: globals + "static size_t body_size = 0;\nstatic char *body_text = NULL;\n")
            .replacingOccurrences(of: originalBody, with: sizedBody)
            .replacingOccurrences(of: originalCount, with: sizedCount)
    }

    static func isUpToDate(_ binary: URL, _ source: URL) -> Bool {
        guard let built = try? binary.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate,
              let edited = try? source.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate
        else { return false }
        return built >= edited
    }

    static func write(_ text: String, to url: URL) throws {
        // Rewrite only on change, so the binary built from it stays up to date.
        if let old = try? String(contentsOf: url, encoding: .utf8), old == text { return }
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    static func pkgConfig(_ arguments: [String]) throws -> [String] {
        let output = try runSynchronously("/usr/bin/pkg-config", arguments)
        return output.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    /// Runs a short build step and returns its standard output; throws with its errors.
    @discardableResult
    static func runSynchronously(_ executable: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw PeerError("\(executable) is missing: install gcc and pkg-config (scripts/install-test-deps.sh)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // One pipe for both streams: reading two pipes in turn could deadlock on a full one.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PeerError("\(executable) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(out)")
        }
        return out
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
