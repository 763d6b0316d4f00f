import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// The application side of one accepted connection: receives every engine event, on the
/// connection's event loop, and answers through ``AMQPServerConnection``.
public protocol AMQPServerConnectionDelegate: AnyObject {
    /// An engine event: a link to accept or refuse, a delivery, credit, a detach, a close…
    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection)
    /// The socket is closed; the connection is gone.
    func connectionClosed(_ connection: AMQPServerConnection)
    /// ``AMQPServerConnection/isWritable`` changed: an application that stopped producing for a
    /// full socket resumes here when it turns true.
    func connectionWritabilityChanged(_ connection: AMQPServerConnection)
}

extension AMQPServerConnectionDelegate {
    /// Nothing: an application that only answers requests need not watch writability.
    public func connectionWritabilityChanged(_ connection: AMQPServerConnection) {}
}

/// One accepted connection, as the application sees it. Use it on its ``eventLoop`` only (inside
/// delegate calls, or after ``execute(_:)``); it must not cross threads.
public final class AMQPServerConnection {
    let handler: ConnectionHandler
    /// The loop that owns this connection.
    public let eventLoop: EventLoop
    /// The peer's address.
    public let remoteAddress: SocketAddress?
    /// Set by the application: anything it wants to keep per connection.
    public var userInfo: [String: Any] = [:]
    /// The identity SASL authenticated, if any.
    public internal(set) var authenticatedIdentity: String?

    init(handler: ConnectionHandler, remoteAddress: SocketAddress?) {
        self.handler = handler
        self.eventLoop = handler.eventLoop
        self.remoteAddress = remoteAddress
    }

    /// Runs `body` on the connection's engine (accept a link, send, settle, grant credit,
    /// detach…), then writes what it produced and delivers the events it caused.
    @discardableResult
    public func withEngine<T>(_ body: (inout ConnectionEngine) throws -> T) rethrows -> T {
        try handler.withEngine(body)
    }

    /// The link's credit now (for a sender, how many deliveries it may start); `nil` for an
    /// unknown link. The engine itself is not handed out: a copy would be a stale snapshot.
    public func credit(of link: LinkID) -> UInt32? { handler.engine.credit(of: link) }

    /// Sender: how many deliveries wait in the engine for credit or session window.
    public func queuedDeliveries(on link: LinkID) -> Int? { handler.engine.queuedDeliveries(on: link) }

    /// The peer's `open`, once it arrived.
    public var peerOpen: Open? { handler.engine.peerOpen }

    /// Whether the socket takes more bytes now (NIO's writability: below the channel's high-water
    /// mark of unsent bytes). A server that produces deliveries on its own (from a queue or a
    /// log) stops while this is false, whatever credit the peer granted, and resumes in
    /// ``AMQPServerConnectionDelegate/connectionWritabilityChanged(_:)``: a client that stops
    /// reading then costs the server a bounded buffer, not everything it was granted.
    public var isWritable: Bool { handler.isWritable }

    /// Runs `body` on the connection's event loop, from any thread.
    public func execute(_ body: @escaping (AMQPServerConnection) -> Void) {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let boundBody = NIOLoopBound(body, eventLoop: eventLoop)
        eventLoop.execute { boundBody.value(bound.value) }
    }

    /// Closes the socket at once, without a `close` frame.
    public func abort() { handler.closeNow() }
}

@available(*, unavailable)
extension AMQPServerConnection: Sendable {}

/// An AMQP 1.0 listener: accepts connections, runs each through a `ConnectionEngine` in the
/// server role, and hands its events to a delegate made for it. A connection that misbehaves is
/// closed with the AMQP error its fault maps to; the others are not affected.
public final class AMQPListener: Sendable {
    /// What a listener binds to and offers each connection.
    public struct Configuration: Sendable {
        /// The address to bind (127.0.0.1 by default; 0.0.0.0 for every interface).
        public var host: String
        /// 0 picks a free port; read ``AMQPListener/port`` afterwards.
        public var port: Int
        /// Direct TLS for every connection (certificate chain and key), or plain TCP.
        public var tls: TLSConfiguration?
        /// TLS for clients that ask for it with the TLS protocol header (`AMQP 2 1 0 0`, §5.2.1)
        /// on this plain port; see ``inBandTLSRequired``. Not with ``tls``.
        public var inBandTLS: TLSConfiguration?
        /// With ``inBandTLS``: whether every client must start TLS that way (the default), or
        /// clients that start with SASL or AMQP may go on in the clear.
        public var inBandTLSRequired: Bool
        /// The SASL mechanisms offered, in order; empty means no SASL layer.
        public var saslMechanisms: [any SASLServerMechanism]
        /// Whether clients must authenticate with SASL. When false, a client may skip SASL.
        public var saslRequired: Bool
        /// Our `open.container-id`.
        public var containerID: String
        /// The largest frame accepted (1 MiB by default).
        public var maxFrameSize: UInt32
        /// Close connections silent for this long; advertised as half of it.
        public var idleTimeout: Milliseconds?
        /// The largest message a receiving link accepts (1 MiB by default).
        public var maxMessageSize: UInt64?
        /// The most bytes the multi-frame deliveries a connection is still receiving may hold
        /// together, over all its links; past it the connection is closed with
        /// `amqp:resource-limit-exceeded`. `nil` (the default): four times ``maxMessageSize``
        /// (`ConnectionConfiguration.defaultMaxIncompleteDeliveryBytes(maxMessageSize:)`).
        public var maxIncompleteDeliveryBytes: UInt64?
        /// The incoming window granted to each session, in transfer frames.
        public var sessionIncomingWindow: UInt32
        /// `open.properties` sent to clients.
        public var properties: Fields?
        /// How performatives are written: every field by default, which the strictest clients need.
        public var encodingPolicy: EncodingPolicy
        /// `open.offered-capabilities`.
        public var offeredCapabilities: [Symbol]
        /// Where connections log (see ``AMQPConnectionOptions/logger``).
        public var logger: Logger
        /// How long a client has from its first byte to its `open` (protocol headers, TLS and
        /// SASL included) before the socket is closed: 30 s by default, `nil` for no limit. Without
        /// it, a client that sends a byte a second holds a connection forever.
        public var handshakeTimeout: TimeAmount?
        /// The most connections open at once, `nil` for no limit. One over it is closed as soon as
        /// it is accepted, so the ones already open keep their share. By default 10,000, or fewer
        /// when the process may open fewer files (the soft `RLIMIT_NOFILE` less 64 for everything
        /// else), so that connections alone never exhaust the descriptors.
        public var maxConnections: Int?
        /// Prints every frame in and out of each connection (``AMQPFrameTrace``);
        /// `AMQP_TRACE_FRAMES` in the environment decides by default.
        public var frameTrace: AMQPFrameTrace?
        /// Failed SASL logins that lock a peer address out for a while (see ``LoginThrottle``):
        /// by default 10 within a minute refuse that address's connections for 5 minutes. `nil`
        /// for no throttling. Counted per IP address, so a client guessing passwords locks out
        /// only itself.
        public var loginThrottle: LoginThrottle.Policy?
        /// The throttle's clock (uptime in nanoseconds); tests replace it.
        var loginThrottleClock: @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }

        /// A plain listener on 127.0.0.1 (port 0: any free one) offering ANONYMOUS, not requiring SASL.
        public init(host: String = "127.0.0.1", port: Int = 0, tls: TLSConfiguration? = nil,
                    saslMechanisms: [any SASLServerMechanism] = [AnonymousMechanism()], saslRequired: Bool = false,
                    containerID: String = "swift-amqp-listener") {
            self.host = host
            self.port = port
            self.tls = tls
            self.inBandTLS = nil
            self.inBandTLSRequired = true
            self.saslMechanisms = saslMechanisms
            self.saslRequired = saslRequired
            self.containerID = containerID
            self.maxFrameSize = 1 << 20
            self.idleTimeout = 120_000
            self.maxMessageSize = 1 << 20
            self.sessionIncomingWindow = 5000
            self.properties = nil
            self.encodingPolicy = .full
            self.offeredCapabilities = []
            self.logger = Logger(label: "swift-amqp.listener")
            self.handshakeTimeout = .seconds(30)
            self.maxConnections = Self.defaultMaxConnections
            self.frameTrace = .fromEnvironment
            self.loginThrottle = LoginThrottle.Policy()
        }

        /// 10,000, or the soft file-descriptor limit less 64 when that is lower (at least 1).
        public static var defaultMaxConnections: Int {
            guard let limit = FileDescriptorLimit.soft else { return 10_000 }
            return max(1, min(10_000, limit - 64))
        }

        func engineConfiguration() -> ConnectionConfiguration {
            ConnectionConfiguration(
                role: .server, containerID: containerID, maxFrameSize: maxFrameSize, channelMax: 65535,
                idleTimeout: idleTimeout, offeredCapabilities: offeredCapabilities, properties: properties,
                sasl: saslMechanisms.isEmpty ? .none : .server(saslMechanisms, required: saslRequired),
                inBandTLS: inBandTLS == nil ? .refused : (inBandTLSRequired ? .required : .accepted),
                encodingPolicy: encodingPolicy, sessionIncomingWindow: sessionIncomingWindow,
                handleMax: 4095, maxMessageSize: maxMessageSize, maxIncompleteDeliveryBytes: maxIncompleteDeliveryBytes
            )
        }
    }

    let channel: Channel
    /// The port the listener is bound to.
    public let port: Int
    /// The address it is bound to.
    public let host: String
    /// The accepted connections still open, so that ``closeConnections()`` can reach them.
    let accepted: AcceptedChannels

    init(channel: Channel, host: String, port: Int, accepted: AcceptedChannels) {
        self.channel = channel
        self.host = host
        self.port = port
        self.accepted = accepted
    }

    /// The open accepted channels, by identity; each removes itself when it closes.
    final class AcceptedChannels: Sendable {
        private let channels = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])

        func add(_ channel: Channel) {
            let id = ObjectIdentifier(channel)
            channels.withLockedValue { $0[id] = channel }
            channel.closeFuture.whenComplete { [self] _ in _ = channels.withLockedValue { $0.removeValue(forKey: id) } }
        }

        var all: [Channel] { channels.withLockedValue { Array($0.values) } }
        var count: Int { channels.withLockedValue { $0.count } }
    }

    /// How many accepted connections are open now: counted when a connection is accepted, and
    /// no longer once its socket is closed, whatever closed it.
    public var connectionCount: Int { accepted.count }

    /// Binds and starts accepting. `makeDelegate` is called on the new connection's event loop
    /// for each connection.
    public static func bind(
        _ configuration: Configuration,
        eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        makeDelegate: @escaping @Sendable () -> any AMQPServerConnectionDelegate
    ) async throws -> AMQPListener {
        guard configuration.tls == nil || configuration.inBandTLS == nil else {
            throw AMQPClientError(.invalidArgument, detail: "a listener uses direct TLS or in-band TLS, not both")
        }
        let sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        let inBandSSLContext = try configuration.inBandTLS.map { try NIOSSLContext(configuration: $0) }
        let engineConfiguration = configuration.engineConfiguration()
        let accepted = AcceptedChannels()
        let logger = configuration.logger
        let reserve = DescriptorReserve()
        let throttle = configuration.loginThrottle.map { SharedLoginThrottle(policy: $0, now: configuration.loginThrottleClock) }
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AcceptOverloadHandler(reserve: reserve)) }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                if reserve.acceptedWhileShedding() {
                    logger.warning("connection refused: no file descriptors left",
                                   metadata: ["amqp.peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
                    return channel.close()
                }
                accepted.add(channel)
                if let limit = configuration.maxConnections, accepted.count > limit {
                    logger.warning("connection refused: \(limit) connections are open (maxConnections)",
                                   metadata: ["amqp.peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
                    return channel.close()
                }
                if let throttle, throttle.isLockedOut(channel.remoteAddress) {
                    logger.notice("connection refused: too many failed logins from this address (loginThrottle)",
                                  metadata: ["amqp.peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    let adapter = ServerConnectionAdapter(delegate: makeDelegate())
                    if let throttle {
                        let peer = channel.remoteAddress
                        adapter.loginFailed = {
                            guard throttle.loginFailed(peer) else { return }
                            logger.warning("too many failed logins: address refused for \(throttle.policy.lockout) (loginThrottle)",
                                           metadata: ["amqp.peer": "\(peer.map { "\($0)" } ?? "?")"])
                        }
                    }
                    let keep = try serve(channel, adapter: adapter, engineConfiguration: engineConfiguration, logger: configuration.logger,
                                         inBandTLS: inBandSSLContext.map { .server($0) }, frameTrace: configuration.frameTrace)
                    if let timeout = configuration.handshakeTimeout {
                        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                            guard !keep.value.peerOpened else { return }
                            logger.notice("connection closed: no open within \(timeout) (handshakeTimeout)",
                                          metadata: ["amqp.peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
                            channel.close(promise: nil)
                        }
                        channel.closeFuture.whenComplete { _ in deadline.cancel() }
                    }
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        let port = channel.localAddress?.port ?? configuration.port
        return AMQPListener(channel: channel, host: configuration.host, port: port, accepted: accepted)
    }

    /// Runs one connection on `channel` through an engine in the server role, its events going
    /// to `adapter`'s delegate. Returns the adapter, bound to the channel's loop.
    private static func serve(_ channel: Channel, adapter: ServerConnectionAdapter, engineConfiguration: ConnectionConfiguration,
                              logger: Logger, inBandTLS: ConnectionHandler.InBandTLS?,
                              frameTrace: AMQPFrameTrace?) throws -> NIOLoopBound<ServerConnectionAdapter> {
        let handler = ConnectionHandler(engine: ConnectionEngine(configuration: engineConfiguration), eventLoop: channel.eventLoop,
                                        sink: adapter, logger: logger, inBandTLS: inBandTLS, frameTrace: frameTrace)
        adapter.connection = AMQPServerConnection(handler: handler, remoteAddress: channel.remoteAddress)
        // The adapter lives as long as the channel: the pipeline holds the handler, the handler
        // holds the adapter only weakly, so the channel's close future keeps it.
        let keep = NIOLoopBound(adapter, eventLoop: channel.eventLoop)
        channel.closeFuture.whenComplete { _ in _ = keep.value }
        try channel.pipeline.syncOperations.addHandler(handler)
        return keep
    }

    /// Serves one connection on a channel that is already connected (an `EmbeddedChannel` a
    /// harness writes a client's bytes into), as an accepted one is served, less what belongs to
    /// accepting: TLS, the handshake deadline, the connection cap and the login throttle. For
    /// driving a server application with bytes in tests and fuzz targets.
    package static func serve(_ channel: Channel, configuration: Configuration, delegate: any AMQPServerConnectionDelegate) throws {
        _ = try serve(channel, adapter: ServerConnectionAdapter(delegate: delegate), engineConfiguration: configuration.engineConfiguration(),
                      logger: configuration.logger, inBandTLS: nil, frameTrace: configuration.frameTrace)
    }

    /// Stops accepting; open connections are not touched.
    public func close() async throws {
        try await channel.close()
    }

    /// Drops every open connection at once, without a `close` frame: what its peers see when a
    /// server goes away. Returns when the sockets are closed.
    public func closeConnections() async {
        for channel in accepted.all {
            try? await channel.close()
        }
    }
}

/// Forwards handler events to the application's delegate.
final class ServerConnectionAdapter: ConnectionEventSink {
    let delegate: any AMQPServerConnectionDelegate
    var connection: AMQPServerConnection?
    /// Whether the client's `open` arrived: the end of the handshake the deadline bounds.
    private(set) var peerOpened = false
    /// Called when the client fails SASL authentication (the listener's login throttle).
    var loginFailed: (() -> Void)?

    init(delegate: any AMQPServerConnectionDelegate) {
        self.delegate = delegate
    }

    func handle(_ event: ConnectionEvent, handler: ConnectionHandler) {
        if case .opened = event { peerOpened = true }
        if case .failed(.sasl(let error)) = event, error.kind == .authenticationFailed { loginFailed?() }
        guard let connection else { return }
        if case .authenticated(let identity, _) = event { connection.authenticatedIdentity = identity }
        delegate.handle(event, on: connection)
    }

    func channelClosed(handler: ConnectionHandler, error: (any Error & Sendable)?) {
        guard let connection else { return }
        delegate.connectionClosed(connection)
        self.connection = nil
    }

    func writabilityChanged(handler: ConnectionHandler) {
        guard let connection else { return }
        delegate.connectionWritabilityChanged(connection)
    }
}
