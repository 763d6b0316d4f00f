import AMQPTransport
import ArgumentParser
import Foundation
import Logging
import NIOSSL

/// `amqp://[user:password@]host[:port]/address` or `amqps://…`, as `amqp send` and `amqp receive`
/// take it: the path (without its first `/`) is the node address, so RabbitMQ's `/queue/orders`
/// is `amqp://host//queue/orders`. Credentials select SASL PLAIN, their absence ANONYMOUS.
struct EndpointURL: Sendable, CustomStringConvertible {
    var tls: Bool
    var host: String
    var port: Int
    var username: String?
    var password: String?
    var address: String

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "amqp" || scheme == "amqps", let host = components.host, !host.isEmpty
        else {
            throw ValidationError("not an amqp:// or amqps:// URL with a host: \(Self.redacted(text))")
        }
        tls = scheme == "amqps"
        // URLComponents keeps brackets around IPv6 addresses; sockets want them without.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (tls ? 5671 : 5672)
        username = components.percentEncodedUser.map { $0.removingPercentEncoding ?? $0 }
        password = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        guard components.path.hasPrefix("/"), components.path.count > 1 else {
            throw ValidationError("the URL names no address: \(Self.redacted(text)) — write \(tls ? "amqps" : "amqp")://host:port/ADDRESS")
        }
        address = String(components.path.dropFirst())
        if password != nil && (username ?? "").isEmpty {
            throw ValidationError("the URL has a password but no user name: \(Self.redacted(text))")
        }
    }

    /// The URL with its password replaced: safe for messages and logs.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.percentEncodedPassword != nil else { return text }
        components.percentEncodedPassword = "***"
        return components.string ?? "<url>"
    }

    /// The URL as it may be shown: never with the password.
    var description: String {
        let credentials = username.map { user in "\(user)\(password == nil ? "" : ":***")@" } ?? ""
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "amqps" : "amqp")://\(credentials)\(hostPart):\(port)/\(address)"
    }
}

/// The connection options `amqp send` and `amqp receive` share.
struct EndpointOptions: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "amqp://[user:password@]host[:port]/address or amqps://…",
        discussion: "The path is the address (RabbitMQ's /queue/orders: amqp://host//queue/orders). Credentials mean SASL PLAIN, none ANONYMOUS."
    ))
    var url: String

    @Flag(name: .customLong("allow-plain-without-tls"), help: ArgumentHelp(
        "Let SASL PLAIN send the URL's user name and password over plain TCP (amqp://).",
        discussion: "Without TLS anyone on the path can read them: only for local test brokers. amqps:// never needs it."
    ))
    var allowPlainWithoutTLS = false

    @Option(name: .customLong("ca-file"), help: "amqps: trust the certificates in this PEM file instead of the system's.")
    var caFile: String?

    @Option(name: .customLong("server-name"), help: "amqps: the name the server's certificate must carry (the host by default).")
    var serverName: String?

    @Flag(name: .customLong("insecure-skip-verify"), help: "amqps: accept any certificate. Anyone on the path can read and change the traffic.")
    var insecureSkipVerify = false

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the connection.")
    var connectTimeout: Int64 = 10

    @Option(name: .customLong("log-level"), help: "The connection's log on standard error: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .error

    func endpoint() throws -> EndpointURL {
        let endpoint = try EndpointURL(url)
        if !endpoint.tls && (caFile != nil || serverName != nil || insecureSkipVerify) {
            throw ValidationError("--ca-file, --server-name and --insecure-skip-verify are for amqps:// URLs")
        }
        if !endpoint.tls && endpoint.username != nil && !allowPlainWithoutTLS {
            throw ValidationError("""
                \(endpoint) would send its password over plain TCP with SASL PLAIN: use amqps://, \
                or --allow-plain-without-tls for a local test broker
                """)
        }
        return endpoint
    }

    func connectionOptions(_ endpoint: EndpointURL) throws -> AMQPConnectionOptions {
        var tls = AMQPConnectionOptions.TLS.disabled
        if endpoint.tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else { throw ValidationError("cannot read --ca-file \(caFile)") }
                configuration.trustRoots = .file(caFile)
            }
            if insecureSkipVerify { configuration.certificateVerification = .none }
            tls = .enabled(configuration)
        }
        let authentication: AMQPConnectionOptions.Authentication
        if let username = endpoint.username {
            authentication = .plain(username: username, password: endpoint.password ?? "")
        } else {
            authentication = .anonymous
        }
        var options = AMQPConnectionOptions(host: endpoint.host, port: endpoint.port, tls: tls, authentication: authentication)
        options.allowsCleartextCredentials = allowPlainWithoutTLS
        options.serverName = serverName
        options.connectTimeout = .seconds(connectTimeout)
        options.logger.logLevel = logLevel
        return options
    }

    /// Connects, turning failures into one line that names the endpoint (never its password).
    func connect() async throws -> (AMQPConnection, EndpointURL) {
        let endpoint = try endpoint()
        do {
            return (try await AMQPConnection.connect(try connectionOptions(endpoint)), endpoint)
        } catch let error as AMQPClientError {
            throw CommandFailure("cannot connect to \(endpoint): \(error)")
        }
    }
}

/// A failure the command reports on one line of standard error, exiting with status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
