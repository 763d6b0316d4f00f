import Foundation

/// Debian's tinyproxy, a real HTTP proxy, for the `CONNECT` tunnel tests.
public enum TinyProxy {
    /// Starts a tinyproxy on a free loopback port, requiring Basic credentials when given, and
    /// waits until it accepts connections. Its standard output (log level Connect) names each
    /// tunnel it opened: `CONNECT host:port HTTP/1.1`.
    public static func start(username: String? = nil, password: String? = nil) async throws -> (process: ExternalProcess, port: Int) {
        let port = try LocalPort.free()
        let folder = try ScratchFolder.make("tinyproxy")
        var config = """
            Port \(port)
            Listen 127.0.0.1
            Timeout 30
            LogLevel Connect
            MaxClients 20

            """
        if let username, let password { config += "BasicAuth \(username) \(password)\n" }
        // As root (CI), tinyproxy must be told whom to run as.
        if getuid() == 0 { config += "User nobody\nGroup nogroup\n" }
        let file = folder.appendingPathComponent("tinyproxy.conf")
        try config.write(to: file, atomically: true, encoding: .utf8)
        let process = try ExternalProcess("/usr/bin/tinyproxy", ["-d", "-c", file.path], name: "tinyproxy")
        try await process.waitForPort(port)
        return (process, port)
    }
}
