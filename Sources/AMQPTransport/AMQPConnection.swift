import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how to connect.
public struct AMQPConnectionOptions: Sendable {
    /// How the client proves who it is (SASL, §5.3).
    public enum Authentication: Sendable, CustomStringConvertible {
        /// No SASL layer at all: the AMQP header is sent first.
        case none
        /// SASL ANONYMOUS.
        case anonymous
        /// SASL PLAIN. The password crosses the wire as is, so it is refused without TLS unless
        /// ``AMQPConnectionOptions/cleartextCredentials`` allows it.
        case plain(username: String, password: String)
        /// SASL EXTERNAL: the identity comes from the TLS client certificate.
        case external
        /// SASL SCRAM-SHA-256: the password never crosses the wire.
        case scramSHA256(username: String, password: String)
        /// These mechanisms, in order of preference.
        case mechanisms([any SASLClientMechanism])

        var mechanisms: [any SASLClientMechanism]? {
            switch self {
            case .none: return nil
            case .anonymous: return [AnonymousMechanism()]
            case .plain(let u, let p): return [SASLpreppedPlainMechanism(username: u, password: p)]
            case .external: return [ExternalMechanism()]
            case .scramSHA256(let u, let p): return [SCRAMSHA256ClientMechanism(username: u, password: p)]
            case .mechanisms(let m): return m
            }
        }

        /// The mechanism's name; the password is never shown.
        public var description: String {
            switch self {
            case .none: return "none"
            case .anonymous: return "ANONYMOUS"
            case .plain(let u, _): return "PLAIN(\(u), <redacted>)"
            case .external: return "EXTERNAL"
            case .scramSHA256(let u, _): return "SCRAM-SHA-256(\(u), <redacted>)"
            case .mechanisms(let m): return m.map(\.name.stringValue).joined(separator: ", ")
            }
        }
    }

    /// Transport security.
    public enum TLS: Sendable {
        /// Plain TCP.
        case disabled
        /// TLS from the first byte (what Azure and every broker with an `amqps` port expect),
        /// verifying the server's certificate and host name unless the configuration says otherwise.
        case enabled(TLSConfiguration)
        /// TLS negotiated on the AMQP port: the TLS protocol header first (`AMQP 2 1 0 0`,
        /// §5.2.1), then the handshake, then SASL and AMQP inside it. For brokers that offer TLS
        /// that way (Qpid Broker-J, ActiveMQ Artemis, this package's listener); verification as
        /// for ``enabled(_:)``.
        case inBand(TLSConfiguration)

        /// TLS with the system's trust roots, full certificate and host-name verification.
        public static var verified: TLS { .enabled(.makeClientConfiguration()) }

        /// TLS that accepts any certificate: for test servers only. Anyone on the path can read and
        /// change the traffic.
        public static var insecureNoCertificateVerification: TLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            return .enabled(configuration)
        }
    }

    /// The host to connect to (name or address).
    public var host: String
    /// The port: 5672 by default, 5671 with direct TLS.
    public var port: Int
    /// Plain, direct TLS or in-band TLS.
    public var tls: TLS
    /// The TLS server name (SNI) and the name the certificate must match; the host by default.
    public var serverName: String?
    /// How to authenticate with SASL.
    public var authentication: Authentication
    /// When SASL PLAIN may run over a connection without TLS: `CleartextCredentials/refused` by
    /// default; `CleartextCredentials/allowedOnLoopback` for development emulators on this
    /// machine, `CleartextCredentials/allowed` for test brokers.
    public var cleartextCredentials: CleartextCredentials
    /// Whether ``cleartextCredentials`` is `CleartextCredentials/allowed`; setting it chooses
    /// that or `CleartextCredentials/refused`.
    public var allowsCleartextCredentials: Bool {
        get { cleartextCredentials == .allowed }
        set { cleartextCredentials = newValue ? .allowed : .refused }
    }
    /// `open.hostname`: the virtual host; the host by default.
    public var virtualHost: String?
    /// Our `open.container-id`.
    public var containerID: String
    /// The largest frame we accept (at least 512).
    public var maxFrameSize: UInt32
    /// The highest channel (session) number we accept.
    public var channelMax: UInt16
    /// Close the connection when the peer is silent this long (ms); `nil` never.
    public var idleTimeout: Milliseconds?
    /// `open.properties` (product, version, platform, …).
    public var properties: Fields?
    /// How long TCP connect may take.
    public var connectTimeout: TimeAmount
    /// The largest message a receiver accepts.
    public var maxMessageSize: UInt64?
    /// How many transfer frames each session lets the peer send ahead (`begin.incoming-window`),
    /// topped up once half is used. 2048 by default.
    public var sessionIncomingWindow: UInt32 = 2048
    /// Where the connection logs: opens, closes, attaches and errors at debug and notice, every
    /// delivery at trace. Never credentials or message contents.
    public var logger: Logger
    /// A layer between the byte stream (TCP or TLS) and AMQP, such as the WebSocket binding;
    /// `nil` runs AMQP straight over the stream.
    public var streamLayer: (any AMQPStreamLayer)?
    /// Prints every frame in and out (``AMQPFrameTrace``); `AMQP_TRACE_FRAMES` in the environment
    /// decides by default.
    public var frameTrace: AMQPFrameTrace?
    /// An HTTP proxy to tunnel through (``AMQPHTTPProxy``); `nil` connects directly.
    public var proxy: AMQPHTTPProxy?

    /// Options for `host`; the port follows the TLS choice unless given.
    public init(
        host: String, port: Int? = nil, tls: TLS = .disabled, authentication: Authentication = .anonymous,
        containerID: String = "swift-amqp-\(AMQPUUID.random())"
    ) {
        self.host = host
        self.tls = tls
        if case .enabled = tls { self.port = port ?? 5671 } else { self.port = port ?? 5672 }
        self.serverName = nil
        self.authentication = authentication
        self.cleartextCredentials = .refused
        self.virtualHost = nil
        self.containerID = containerID
        self.maxFrameSize = 1 << 20
        self.channelMax = 255
        self.idleTimeout = 60_000
        self.properties = [
            .symbol("product"): .string("swift-amqp"),
            .symbol("platform"): .string("Swift"),
        ]
        self.connectTimeout = .seconds(10)
        self.maxMessageSize = 256 << 20
        self.logger = Logger(label: "swift-amqp.connection")
        self.streamLayer = nil
        self.frameTrace = .fromEnvironment
        self.proxy = nil
    }

    /// Parses `amqp://[user[:password]@]host[:port][/vhost]` or `amqps://…` (TLS, verified) with
    /// ``AMQPEndpoint``; see ``init(endpoint:)``. A URL that does not parse is an
    /// ``AMQPClientError/Kind-swift.struct/invalidArgument`` error whose underlying
    /// ``AMQPEndpointError`` names the bad part (never the password).
    public init(url: String) throws {
        let endpoint: AMQPEndpoint
        do {
            endpoint = try AMQPEndpoint(parsing: url)
        } catch {
            throw AMQPClientError(.invalidArgument, detail: error.description, underlying: error)
        }
        self.init(endpoint: endpoint)
    }

    /// Options for `endpoint`: TLS with full verification for `amqps`; a user name selects SASL
    /// PLAIN (with the password, empty when the URL has none), its absence ANONYMOUS; the path,
    /// if any, is the virtual host (`open.hostname`).
    public init(endpoint: AMQPEndpoint) {
        let authentication: Authentication = endpoint.username.map { .plain(username: $0, password: endpoint.password ?? "") } ?? .anonymous
        self.init(host: endpoint.host, port: endpoint.port, tls: endpoint.usesTLS ? .verified : .disabled, authentication: authentication)
        virtualHost = endpoint.path
    }

    /// What protects the connection's bytes before any in-band TLS: direct TLS (also with a
    /// ``streamLayer`` inside it, such as WebSocket over TLS) is
    /// `TransportSecurity/encrypted`; otherwise a loopback host (``AMQPEndpoint/isLoopback(_:)``)
    /// is `TransportSecurity/loopback` (and so is the ``proxy``, if any). In-band TLS counts once its handshake is done: the engine
    /// knows when. With ``cleartextCredentials`` it decides whether PLAIN may run
    /// (`CleartextCredentials/permits(_:over:)`).
    public var transportSecurity: TransportSecurity {
        if case .enabled = tls { return .encrypted }
        // Through a proxy, the bytes cross two hops: both must stay on this machine.
        let onThisMachine = AMQPEndpoint.isLoopback(host) && (proxy.map { AMQPEndpoint.isLoopback($0.host) } ?? true)
        return onThisMachine ? .loopback : .none
    }

    func engineConfiguration() -> ConnectionConfiguration {
        let sasl: ConnectionConfiguration.SASL = authentication.mechanisms.map { .client($0) } ?? .none
        var configuration = ConnectionConfiguration(
            role: .client, containerID: containerID, hostname: virtualHost ?? host, maxFrameSize: maxFrameSize,
            channelMax: channelMax, idleTimeout: idleTimeout, properties: properties, sasl: sasl,
            transportSecurity: transportSecurity, maxMessageSize: maxMessageSize
        )
        configuration.cleartextCredentials = cleartextCredentials
        configuration.sessionIncomingWindow = max(sessionIncomingWindow, 2)
        return configuration
    }
}

/// A layer between the byte stream and AMQP framing: the AMQP WebSocket binding, a proxy
/// handshake. It owns the channel until AMQP can start, then hands it over.
public protocol AMQPStreamLayer: Sendable, CustomStringConvertible {
    /// Adds the layer's handlers to a new channel (after TLS, before it connects). Once the
    /// channel carries AMQP bytes (`ByteBuffer`s in both directions) the layer calls `ready`
    /// with success, on the channel's event loop, and the AMQP connection starts; a failure
    /// (a refused handshake) fails the connect with it.
    func addHandlers(to channel: Channel, ready: @escaping @Sendable (Result<Void, any Error>) -> Void) throws
}

/// A client connection to an AMQP 1.0 peer: a broker, Azure Event Hubs or Service Bus, or a
/// listener of this package.
///
/// ```swift
/// let connection = try await AMQPConnection.connect(to: "amqps://user:secret@broker.example.com")
/// let sender = try await connection.openSender(to: "orders")
/// try await sender.send(Message(body: .value(AMQPValueSection("hello"))))
/// try await connection.close()
/// ```
///
/// Sessions and links are multiplexed on one TCP connection; every method may be called from any
/// task. Closing the connection fails whatever is still waiting on it.
public final class AMQPConnection: Sendable {
    let core: ClientCore
    let channel: Channel
    /// The peer's `open`: its container id, limits, capabilities and properties.
    public let peerOpen: Open
    private let defaultSession: NIOLockedValueBox<EventLoopFuture<AMQPSession>?>

    init(core: ClientCore, channel: Channel, peerOpen: Open) {
        self.core = core
        self.channel = channel
        self.peerOpen = peerOpen
        self.defaultSession = NIOLockedValueBox(nil)
    }

    /// Connects to `url` (`amqp://` or `amqps://`, parsed by ``AMQPEndpoint``).
    public static func connect(to url: String, eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> AMQPConnection {
        try await connect(AMQPConnectionOptions(url: url), eventLoopGroup: eventLoopGroup)
    }

    /// Connects to `endpoint` with ``AMQPConnectionOptions/init(endpoint:)``'s options.
    public static func connect(to endpoint: AMQPEndpoint, eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> AMQPConnection {
        try await connect(AMQPConnectionOptions(endpoint: endpoint), eventLoopGroup: eventLoopGroup)
    }

    /// Connects with `options`, completing once the peer's `open` has arrived (after TLS and SASL).
    public static func connect(_ options: AMQPConnectionOptions, eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> AMQPConnection {
        let eventLoop = eventLoopGroup.next()
        let core = ClientCore(eventLoop: eventLoop)
        let engineConfiguration = options.engineConfiguration()
        let sslContext: NIOSSLContext?
        let inBandSSLContext: NIOSSLContext?
        do {
            switch options.tls {
            case .disabled: (sslContext, inBandSSLContext) = (nil, nil)
            case .enabled(let configuration): (sslContext, inBandSSLContext) = (try NIOSSLContext(configuration: configuration), nil)
            case .inBand(let configuration): (sslContext, inBandSSLContext) = (nil, try NIOSSLContext(configuration: configuration))
            }
        } catch {
            throw AMQPClientError(.connectionFailed, detail: "TLS configuration", underlying: error)
        }
        let serverName = options.serverName ?? options.host
        // SNI only for names: an IP address must not be sent as server_name.
        let sni = Self.isIPAddress(serverName) ? nil : serverName
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(options.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Everything that runs over the byte stream: through a proxy, once its tunnel is open.
                    let overTheStream: @Sendable () throws -> Void = {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: sni))
                        }
                        let logger = {
                            var logger = options.logger
                            logger[metadataKey: "amqp.host"] = "\(options.host):\(options.port)"
                            return logger
                        }()
                        let startAMQP: @Sendable () throws -> Void = {
                            let handler = ConnectionHandler(engine: ConnectionEngine(configuration: engineConfiguration), eventLoop: channel.eventLoop, sink: core,
                                                            logger: logger, inBandTLS: inBandSSLContext.map { .client($0, serverHostname: sni) },
                                                            frameTrace: options.frameTrace)
                            core.handler = handler
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        guard let layer = options.streamLayer else { return try startAMQP() }
                        // A layer with a handshake of its own starts AMQP once it is done, or reports
                        // why it could not; a channel that closes first fails the connect too.
                        channel.closeFuture.whenComplete { _ in
                            core.openPromise.fail(AMQPClientError(.connectionFailed, detail: "the connection closed before AMQP started"))
                        }
                        try layer.addHandlers(to: channel) { result in
                            channel.eventLoop.assertInEventLoop()
                            do {
                                try result.get()
                                try startAMQP()
                            } catch {
                                core.openPromise.fail(AMQPClientError(.connectionFailed, detail: "\(layer)", underlying: error))
                                channel.close(promise: nil)
                            }
                        }
                    }
                    guard let proxy = options.proxy else { return try overTheStream() }
                    try channel.pipeline.syncOperations.addHandler(HTTPConnectTunnelHandler(
                        proxy: proxy, targetHost: options.host, targetPort: options.port
                    ) { result in
                        do {
                            try result.get()
                            try overTheStream()
                        } catch {
                            core.openPromise.fail(AMQPClientError(.connectionFailed, detail: "\(error)", underlying: error))
                            channel.close(promise: nil)
                        }
                    })
                }
            }
        let channel: Channel
        // Through a proxy, TCP goes to the proxy, which opens the connection to the broker.
        let (connectHost, connectPort) = options.proxy.map { ($0.host, $0.port) } ?? (options.host, options.port)
        do {
            channel = try await bootstrap.connect(host: connectHost, port: connectPort).get()
        } catch {
            let what = options.proxy.map { "\($0)" } ?? "\(options.host):\(options.port)"
            let failure = AMQPClientError(.connectionFailed, detail: "cannot connect to \(what)", underlying: error)
            core.openPromise.fail(failure)
            throw failure
        }
        do {
            let open = try await core.openPromise.futureResult.get()
            return AMQPConnection(core: core, channel: channel, peerOpen: open)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// Runs `body` on the connection's event loop.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (ClientCore) throws -> T) async throws -> T {
        let core = self.core
        return try await core.eventLoop.submit { try body(core) }.get()
    }

    func onLoopFuture<T: Sendable>(_ body: @escaping @Sendable (ClientCore) throws -> EventLoopFuture<T>) async throws -> T {
        let core = self.core
        return try await core.eventLoop.flatSubmit {
            do { return try body(core) } catch { return core.eventLoop.makeFailedFuture(error) }
        }.get()
    }

    /// Begins a new session.
    public func openSession() async throws -> AMQPSession {
        let (id, begun) = try await onLoop { core in try core.beginSession() }
        try await begun.get()
        return AMQPSession(connection: self, id: id)
    }

    /// The session used by ``openSender(to:options:)`` and ``openReceiver(from:options:)``. When
    /// the peer ended it (RabbitMQ answers an unknown address by ending the session), the next
    /// call begins a new one.
    public func session() async throws -> AMQPSession {
        while true {
            let future: EventLoopFuture<AMQPSession> = defaultSession.withLockedValue { current in
                if let current { return current }
                let promise = core.eventLoop.makePromise(of: AMQPSession.self)
                promise.completeWithTask { try await self.openSession() }
                current = promise.futureResult
                return promise.futureResult
            }
            let session = try await future.get()
            let id = session.id
            if try await onLoop({ core in core.sessions[id] != nil }) { return session }
            // It ended: forget it (unless another caller already replaced it) and begin another.
            defaultSession.withLockedValue { current in
                if current === future { current = nil }
            }
            try await onLoop { core in try core.checkUsable() }
        }
    }

    /// Opens a sender on the connection's default session.
    public func openSender(to address: String, options: AMQPSender.Options = .init()) async throws -> AMQPSender {
        try await session().openSender(to: address, options: options)
    }

    /// Opens a receiver on the connection's default session.
    public func openReceiver(from address: String, options: AMQPReceiver.Options = .init()) async throws -> AMQPReceiver {
        try await session().openReceiver(from: address, options: options)
    }

    /// Closes the connection, waiting for the peer's `close` (or the socket to drop).
    public func close(error: AMQPError? = nil) async throws {
        let done: EventLoopFuture<Void> = try await onLoop { core in
            if core.terminalError != nil || core.handler == nil { return core.eventLoop.makeSucceededVoidFuture() }
            let promise = core.eventLoop.makePromise(of: Void.self)
            core.closePromise = promise
            core.handler?.withEngine { $0.close(error: error) }
            return promise.futureResult
        }
        try await done.get()
        try? await channel.closeFuture.get()
    }

    /// Whether the connection is still usable.
    public var isOpen: Bool {
        get async {
            (try? await onLoop { core in core.terminalError == nil && core.handler != nil }) ?? false
        }
    }
}

/// A session: an ordered, flow-controlled conversation inside a connection (§2.5). Links are
/// attached on a session.
public final class AMQPSession: Sendable {
    /// The connection the session belongs to.
    public let connection: AMQPConnection
    let id: SessionID

    init(connection: AMQPConnection, id: SessionID) {
        self.connection = connection
        self.id = id
    }

    /// Attaches a sending link to `address` (the target).
    public func openSender(to address: String, options: AMQPSender.Options = .init()) async throws -> AMQPSender {
        let name = options.name ?? "sender-\(address)-\(AMQPUUID.random())"
        let linkOptions = ConnectionEngine.LinkOptions(
            name: name, role: .sender,
            source: .source(options.source ?? Source(address: .string(name))),
            target: .target(options.target ?? Target(address: .string(address))),
            senderSettleMode: options.settleMode, receiverSettleMode: options.receiverSettleMode,
            properties: options.properties, offeredCapabilities: options.offeredCapabilities,
            desiredCapabilities: options.desiredCapabilities
        )
        let id = self.id
        let (link, attached) = try await connection.onLoop { core in try core.attach(on: id, linkOptions, address: address) }
        let reply = try await attached.get()
        return AMQPSender(connection: connection, link: link, name: name, address: address, peerAttach: reply,
                          encodingPolicy: options.encodingPolicy)
    }

    /// Attaches a receiving link from `address` (the source).
    public func openReceiver(from address: String, options: AMQPReceiver.Options = .init()) async throws -> AMQPReceiver {
        let name = options.name ?? "receiver-\(address)-\(AMQPUUID.random())"
        var source = options.source ?? Source(address: .string(address))
        if source.address == nil { source.address = .string(address) }
        let creditMode: CreditMode
        switch options.credit {
        case .prefetch(let n): creditMode = .window(n, heldUntilConsumed: true, totalLimit: options.totalCredit)
        case .manual: creditMode = .manual
        }
        let linkOptions = ConnectionEngine.LinkOptions(
            name: name, role: .receiver,
            source: .source(source), target: .target(options.target ?? Target(address: .string(name))),
            senderSettleMode: options.senderSettleMode, receiverSettleMode: options.settleMode,
            maxMessageSize: options.maxMessageSize, properties: options.properties,
            offeredCapabilities: options.offeredCapabilities, desiredCapabilities: options.desiredCapabilities,
            creditMode: creditMode
        )
        let id = self.id
        let reference = AMQPReceiver.Reference()
        let (link, attached, settleQueue, inbound) = try await connection.onLoop { core in
            let (link, attached) = try core.attach(on: id, linkOptions, address: address)
            let settleQueue = SettleQueue(link: link, core: core)
            core.links[link]?.receiver = reference
            core.links[link]?.settleQueue = settleQueue
            reference.record = core.links[link]
            return (link, attached, settleQueue, core.links[link]?.inbound ?? InboundDeliveries())
        }
        let reply = try await attached.get()
        let receiver = AMQPReceiver(connection: connection, link: link, name: name, address: address, peerAttach: reply, credit: options.credit,
                                    reference: reference, settleQueue: settleQueue, inbound: inbound)
        reference.receiver = receiver
        return receiver
    }

    /// Ends the session, detaching its links.
    public func end(error: AMQPError? = nil) async throws {
        let id = self.id
        let done: EventLoopFuture<Void> = try await connection.onLoop { core in
            guard core.sessions[id] != nil else { return core.eventLoop.makeSucceededVoidFuture() }
            let promise = core.eventLoop.makePromise(of: Void.self)
            core.sessions[id]?.ended = promise
            core.handler?.withEngine { $0.endSession(id, error: error) }
            return promise.futureResult
        }
        try await done.get()
    }
}
