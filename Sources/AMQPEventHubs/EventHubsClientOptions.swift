import AMQPCodec
import CoreMetrics
import AMQPEventHubsProtocol
import AMQPTransport
import Foundation
import Logging
import NIOCore
import NIOPosix
import Tracing

/// How an ``EventHubsClient`` connects: transport, authorization, retries and token lifetime.
public struct EventHubsClientOptions: Sendable {
    /// What carries AMQP.
    public enum Transport: Sendable, Hashable {
        /// AMQP over TLS on port 5671 (plain TCP on the endpoint's port with
        /// `UseDevelopmentEmulator=true`).
        case amqp
        /// AMQP over WebSockets: port 443, path `/$servicebus/websocket`, subprotocol `amqp`,
        /// inside TLS (plain HTTP on the endpoint's port for a development emulator). For
        /// networks that only let HTTPS out.
        case webSockets
    }

    /// How the client authorizes.
    public enum Authorization: Sendable, Hashable {
        /// SASL ANONYMOUS, then a token put on `$cbs` for each audience and renewed before it
        /// expires — what Microsoft's SDKs do, and the only way with a token provider.
        case claimsBasedSecurity
        /// SASL PLAIN with the shared access key name as user name and the key as password (the
        /// path most non-Microsoft clients take). Needs ``EventHubsCredential/sharedAccessKey(name:key:)``
        /// and TLS — except for a development emulator on a loopback address: the connection
        /// options allow cleartext credentials on loopback (`CleartextCredentials/allowedOnLoopback`),
        /// and the transport's rule lets the key go nowhere else without TLS.
        case saslPlain
    }

    /// AMQP over TLS (the default) or over WebSockets.
    public var transport: Transport
    /// CBS tokens (the default) or SASL PLAIN.
    public var authorization: Authorization
    /// How failed operations are retried.
    public var retry: EventHubsRetryOptions
    /// How long the SAS tokens the client signs are valid; they are renewed when a tenth of
    /// their lifetime (at least a few seconds, at most half of it) is left.
    public var tokenLifetime: Duration
    /// TLS settings instead of full verification with the system's trust roots (a private CA).
    /// Ignored for a development emulator, which is plain TCP.
    public var tlsConfiguration: AMQPConnectionOptions.TLS?
    /// Connect here instead of the namespace host (a proxy, a private endpoint, a test bridge);
    /// TLS server name, `open.hostname` and token audiences still name the namespace.
    public var customEndpoint: (host: String, port: Int)?
    /// An HTTP proxy to tunnel through with `CONNECT` (`AMQPHTTPProxy`), for AMQP over TLS or
    /// WebSockets alike; `nil` connects directly.
    public var proxy: AMQPHTTPProxy?
    /// The AMQP container id; a fresh one per client by default.
    public var identifier: String?
    /// Where the client logs: connections, authorizations, retries and link recovery. Never
    /// keys, tokens or event contents.
    public var logger: Logger
    /// Where the connection's I/O runs.
    public var eventLoopGroup: any EventLoopGroup
    /// The clock every retry delay, request timeout and token renewal of the client waits on, and
    /// that the times in the tokens it signs come from: `ContinuousClock` by default. A test clock
    /// makes a test of token expiry take no real time.
    public var clock: any Clock<Duration>
    /// Where spans go (a span per send, per received batch, per processed event): the process's
    /// bootstrapped tracer when `nil`, which does nothing until one is bootstrapped.
    public var tracer: (any Tracer)?
    /// Where metrics go (events and bytes sent and received, send latency, retries by condition,
    /// recoveries, buffered-producer depth, processor lag): the bootstrapped factory when `nil`.
    public var metricsFactory: (any MetricsFactory)?

    /// Options with TLS, CBS tokens, Microsoft's retry defaults and one-hour tokens unless given.
    public init(
        transport: Transport = .amqp, authorization: Authorization = .claimsBasedSecurity,
        retry: EventHubsRetryOptions = .init(), tokenLifetime: Duration = .seconds(3600)
    ) {
        self.transport = transport
        self.authorization = authorization
        self.retry = retry
        self.tokenLifetime = tokenLifetime
        self.tlsConfiguration = nil
        self.customEndpoint = nil
        self.proxy = nil
        self.identifier = nil
        self.logger = Logger(label: "swift-amqp.eventhubs")
        self.eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        self.clock = ContinuousClock()
        self.tracer = nil
        self.metricsFactory = nil
    }
}

/// Where the event hub is and how to reach it: what a connection string names, apart from the
/// credential.
public struct EventHubsEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The namespace host, `myns.servicebus.windows.net` (or `localhost` for an emulator).
    public var fullyQualifiedNamespace: String
    /// The event hub (a connection string's `EntityPath`).
    public var eventHubName: String
    /// The endpoint's port; used only by development emulators.
    public var port: Int?
    /// `UseDevelopmentEmulator=true`: plain TCP (or plain HTTP for WebSockets) to ``port``.
    public var usesDevelopmentEmulator: Bool

    /// An endpoint; `port` and `usesDevelopmentEmulator` matter only for a local emulator.
    public init(fullyQualifiedNamespace: String, eventHubName: String, port: Int? = nil, usesDevelopmentEmulator: Bool = false) {
        self.fullyQualifiedNamespace = fullyQualifiedNamespace
        self.eventHubName = eventHubName
        self.port = port
        self.usesDevelopmentEmulator = usesDevelopmentEmulator
    }

    /// The endpoint of a connection string; `eventHubName` when it has no `EntityPath`.
    public init(_ connectionString: EventHubsConnectionString, eventHubName: String? = nil) throws(EventHubsError) {
        guard let hub = connectionString.eventHubName ?? eventHubName, !hub.isEmpty else {
            throw EventHubsError(.invalidArgument, detail: "no event hub: the connection string has no EntityPath and none was given")
        }
        if let eventHubName, let path = connectionString.eventHubName, eventHubName != path {
            throw EventHubsError(.invalidArgument, detail: "the connection string's EntityPath \(path) differs from the event hub \(eventHubName)")
        }
        self.init(fullyQualifiedNamespace: connectionString.host, eventHubName: hub, port: connectionString.port,
                  usesDevelopmentEmulator: connectionString.usesDevelopmentEmulator)
    }

    /// `sb://host[:port]/hub`: the audience of producers and management requests. The port is
    /// part of it only for a development emulator.
    public var hubAudience: String {
        EventHubsAudience.hub(namespace: fullyQualifiedNamespace, port: usesDevelopmentEmulator ? port : nil, hub: eventHubName)
    }

    /// `sb://host[:port]/hub/consumergroups/cg`: the audience of a consumer group's receivers.
    public func consumerGroupAudience(_ consumerGroup: String) -> String {
        EventHubsAudience.consumerGroup(hubAudience: hubAudience, consumerGroup: consumerGroup)
    }

    /// `host[:port]/hub`.
    public var description: String {
        "\(fullyQualifiedNamespace)\(port.map { ":\($0)" } ?? "")/\(eventHubName)\(usesDevelopmentEmulator ? " (development emulator)" : "")"
    }

    /// The transport's options for this endpoint: TLS on 5671 with full verification unless
    /// it is a development emulator (plain TCP to its port); WebSockets on 443; SASL ANONYMOUS
    /// for claims-based security or PLAIN with the key name and key.
    public func connectionOptions(credential: EventHubsCredential, options: EventHubsClientOptions) throws(EventHubsError) -> AMQPConnectionOptions {
        let connectHost = options.customEndpoint?.host ?? fullyQualifiedNamespace
        let secure = !usesDevelopmentEmulator
        let defaultPort: Int
        switch (options.transport, secure) {
        case (.amqp, true): defaultPort = 5671
        case (.amqp, false): defaultPort = port ?? 5672
        case (.webSockets, true): defaultPort = 443
        case (.webSockets, false): defaultPort = port ?? 80
        }
        let authentication: AMQPConnectionOptions.Authentication
        switch options.authorization {
        case .claimsBasedSecurity:
            authentication = .anonymous
        case .saslPlain:
            guard case .sharedAccessKey(let name, let key) = credential else {
                throw EventHubsError(.invalidArgument, detail: "SASL PLAIN needs a shared access key name and key, not a \(credential)")
            }
            authentication = .plain(username: name, password: key)
        }
        let tls: AMQPConnectionOptions.TLS = secure ? (options.tlsConfiguration ?? .verified) : .disabled
        var amqp = AMQPConnectionOptions(host: connectHost, port: options.customEndpoint?.port ?? defaultPort, tls: tls,
                                         authentication: authentication,
                                         containerID: options.identifier ?? "swift-amqp-eventhubs-\(AMQPUUID.random())")
        amqp.serverName = fullyQualifiedNamespace
        amqp.proxy = options.proxy
        amqp.virtualHost = fullyQualifiedNamespace
        amqp.channelMax = 65535
        amqp.logger = options.logger
        amqp.properties = [
            .symbol("product"): .string("swift-amqp-eventhubs"),
            .symbol("version"): .string(EventHubsClient.version),
            .symbol("framework"): .string("Swift"),
            .symbol("platform"): .string(Self.platform),
            .symbol("user-agent"): .string("swift-amqp-eventhubs/\(EventHubsClient.version)"),
        ]
        // PLAIN sends the key as is: safe inside TLS, and without it (a development emulator)
        // acceptable only to this machine. The transport's one cleartext rule applies this.
        if case .saslPlain = options.authorization {
            amqp.cleartextCredentials = .allowedOnLoopback
        }
        if options.transport == .webSockets {
            amqp.streamLayer = WebSocketStreamLayer(host: fullyQualifiedNamespace, path: "/$servicebus/websocket", subprotocol: "amqp")
        }
        return amqp
    }

    static var platform: String {
        #if os(Linux)
        return "Linux"
        #elseif os(macOS)
        return "macOS"
        #else
        return "unknown"
        #endif
    }
}
