import AMQPProtocol
import AMQPTransport
import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOSSL

/// `amqp://[user:password@]host[:port]/address` or `amqps://…`, as `amqp send` and `amqp receive`
/// take it: an ``AMQPEndpoint`` (the library's one URL parser) whose path, without its first
/// `/`, is the node address, so RabbitMQ's `/queue/orders` is `amqp://host//queue/orders`.
/// Credentials select SASL PLAIN, their absence ANONYMOUS.
struct EndpointURL: Sendable, CustomStringConvertible {
    /// The parsed URL.
    var endpoint: AMQPEndpoint
    /// The node to send to or receive from.
    var address: String

    var tls: Bool { endpoint.usesTLS }
    var host: String { endpoint.host }
    var port: Int { endpoint.port }
    var username: String? { endpoint.username }
    var password: String? { endpoint.password }

    init(_ text: String) throws {
        do {
            endpoint = try AMQPEndpoint(parsing: text)
        } catch {
            throw ValidationError(error.description)
        }
        guard let address = endpoint.path else {
            let scheme = endpoint.scheme.rawValue
            throw ValidationError("the URL names no address: \(AMQPEndpoint.redacted(text)) — write \(scheme)://host:port/ADDRESS")
        }
        self.address = address
    }

    /// The URL as it may be shown: never with the password.
    var description: String { endpoint.description }
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

    @OptionGroup var passwordSource: PasswordOptions

    @OptionGroup var log: LogOptions

    /// The URL, checked before anything connects: TLS options only with `amqps`, and no password
    /// that the connection's cleartext rule would refuse to send.
    func endpoint() throws -> EndpointURL {
        var endpoint = try EndpointURL(url)
        if passwordSource.passwordFile != nil {
            guard endpoint.username != nil else {
                throw ValidationError("--password-file needs a user name in the URL: amqp://USER@host/address")
            }
            guard endpoint.password == nil else { throw ValidationError("give the password once: in the URL or with --password-file") }
        }
        // A password in the URL wins over one in the environment: it was given for this command.
        if endpoint.username != nil, endpoint.password == nil, let password = try passwordSource.password() {
            endpoint.endpoint.password = password
        }
        if !endpoint.tls && (caFile != nil || serverName != nil || insecureSkipVerify) {
            throw ValidationError("--ca-file, --server-name and --insecure-skip-verify are for amqps:// URLs")
        }
        let options = try connectionOptions(endpoint)
        if let username = endpoint.username,
           !options.cleartextCredentials.permits(PlainMechanism(username: username, password: endpoint.password ?? ""), over: options.transportSecurity) {
            throw ValidationError("""
                \(endpoint) would send its password over plain TCP with SASL PLAIN: use amqps://, \
                or --allow-plain-without-tls for a local test broker
                """)
        }
        return endpoint
    }

    func connectionOptions(_ endpoint: EndpointURL) throws -> AMQPConnectionOptions {
        var options = AMQPConnectionOptions(endpoint: endpoint.endpoint)
        // The path is the node address here, not a virtual host.
        options.virtualHost = nil
        if endpoint.tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else { throw ValidationError("cannot read --ca-file \(caFile)") }
                configuration.trustRoots = .file(caFile)
            }
            if insecureSkipVerify { configuration.certificateVerification = .none }
            options.tls = .enabled(configuration)
        }
        options.cleartextCredentials = allowPlainWithoutTLS ? .allowed : .refused
        options.serverName = serverName
        options.connectTimeout = .seconds(connectTimeout)
        options.logger.logLevel = log.logLevel
        return options
    }

    /// Connects on `eventLoop`'s group, turning failures into one line that names the endpoint
    /// (never its password).
    func connect(on eventLoop: EventLoop) async throws -> (AMQPConnection, EndpointURL) {
        let endpoint = try endpoint()
        do {
            return (try await AMQPConnection.connect(try connectionOptions(endpoint), eventLoopGroup: eventLoop), endpoint)
        } catch let error as AMQPClientError {
            throw CommandFailure("cannot connect to \(endpoint): \(error)", status: .of(error))
        }
    }
}

/// A failure the command reports on one line of standard error, exiting with its status.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    var status: ExitStatus
    init(_ description: String, status: ExitStatus = .failure) {
        self.description = description
        self.status = status
    }
}
