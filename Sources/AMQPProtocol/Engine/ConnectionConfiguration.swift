import AMQPCodec
import AMQPTypes

/// How a ``ConnectionEngine`` presents itself and what it accepts.
public struct ConnectionConfiguration: Sendable {
    /// Which end of the connection this is: the client opens; the server listens.
    public enum Role: Sendable, Hashable {
        case client
        case server
    }

    /// How the client authenticates, or which mechanisms the server offers.
    public enum SASL: Sendable {
        /// No SASL layer: the AMQP header is the first thing sent.
        case none
        /// Client: try these mechanisms in order, using the first one the server offers.
        case client([any SASLClientMechanism])
        /// Server: offer these mechanisms (in this order). Clients that skip SASL are refused
        /// unless `required` is false.
        case server([any SASLServerMechanism], required: Bool)
    }

    /// What a server does with a client that starts with the TLS protocol header (`2 1 0 0`,
    /// §5.2.1) to negotiate TLS on the AMQP port. Clients ask for it with
    /// ``ConnectionEngine/start(now:inBandTLS:)``.
    public enum InBandTLS: Sendable, Hashable {
        /// Answer with the header we do speak and close: for servers without a certificate, and
        /// those that use direct TLS.
        case refused
        /// Upgrade clients that ask; clients that start with SASL or AMQP go on in the clear.
        case accepted
        /// Upgrade clients that ask; answer any other first header with the TLS header and close.
        case required
    }

    /// Whether we open the connection (client) or accept it (server).
    public var role: Role
    /// Our container id (`open.container-id`).
    public var containerID: String
    /// The host name we connect to (`open.hostname`, `sasl-init.hostname`); clients only.
    public var hostname: String?
    /// The largest frame we accept; advertised in `open`. At least 512.
    public var maxFrameSize: UInt32
    /// The highest channel number we accept; advertised in `open`.
    public var channelMax: UInt16
    /// Close the connection when nothing arrives for this long (milliseconds); advertised in
    /// `open` as half of it, as the specification recommends (§2.4.5). `nil`: never.
    public var idleTimeout: Milliseconds?
    /// Extensions we support, sent as `open.offered-capabilities` (§2.7.1).
    public var offeredCapabilities: [Symbol]
    /// Extensions we would like the peer to support, sent as `open.desired-capabilities` (§2.7.1).
    public var desiredCapabilities: [Symbol]
    /// Connection properties sent in `open.properties` (§2.7.1), e.g. product and version.
    public var properties: Fields?
    /// Whether and how the SASL layer runs before AMQP (§5.3).
    public var sasl: SASL
    /// Servers: whether the TLS protocol header is answered (the transport then runs the TLS
    /// handshake and calls ``ConnectionEngine/tlsEstablished()``).
    public var inBandTLS: InBandTLS
    /// When SASL mechanisms that send secrets in the clear (PLAIN) may run without TLS; with
    /// ``transportSecurity`` it is the input of ``CleartextCredentials/permits(_:over:)``.
    /// Refused by default; a caller may opt in.
    public var cleartextCredentials: CleartextCredentials
    /// What protects the bytes below the engine, as the transport knows it (direct TLS, a
    /// WebSocket inside TLS, a loopback peer). An in-band TLS handshake counts too: the engine
    /// knows when it is done.
    public var transportSecurity: TransportSecurity
    /// Whether ``cleartextCredentials`` is ``CleartextCredentials/allowed``; setting it chooses
    /// that or ``CleartextCredentials/refused``.
    public var allowsCleartextCredentials: Bool {
        get { cleartextCredentials == .allowed }
        set { cleartextCredentials = newValue ? .allowed : .refused }
    }
    /// How performatives are written. Servers default to `EncodingPolicy/full` so that the
    /// strictest clients can read them.
    public var encodingPolicy: EncodingPolicy
    /// The incoming window we grant each session, in transfer frames.
    public var sessionIncomingWindow: UInt32
    /// The most links one session may have (`begin.handle-max` + 1).
    public var handleMax: Handle
    /// The largest message a receiving link accepts (`attach.max-message-size`); reassembly of
    /// a multi-frame delivery stops there. `nil`: no limit beyond memory.
    public var maxMessageSize: UInt64?
    /// The most payload bytes that multi-frame deliveries still arriving may hold at once, over
    /// all links of the connection; a frame that would take them past it closes the connection
    /// with `amqp:resource-limit-exceeded`. ``maxMessageSize`` bounds one delivery on one link;
    /// this bounds their sum, which a peer could otherwise multiply by opening links (up to
    /// ``handleMax`` + 1 per session). `nil`: no limit beyond memory.
    public var maxIncompleteDeliveryBytes: UInt64?

    /// The default of ``maxIncompleteDeliveryBytes``: four times `maxMessageSize`, so that a peer
    /// may reassemble the largest message on four links at once (a producer sending to a few
    /// partitions in parallel) while the total stays a small multiple of one message, whatever
    /// the number of links. No limit when messages have none.
    public static func defaultMaxIncompleteDeliveryBytes(maxMessageSize: UInt64?) -> UInt64? {
        MessageSizeLimit(advertised: maxMessageSize).bytes.map { $0.multipliedReportingOverflow(by: 4).overflow ? .max : $0 * 4 }
    }

    /// Defaults: 1 MiB frames, channels 0–255, a 60 s idle timeout, no SASL, 2048-frame session
    /// windows, 1024 links per session, 256 MiB messages, incomplete deliveries holding at most
    /// four times the message size (``defaultMaxIncompleteDeliveryBytes(maxMessageSize:)``, 1 GiB
    /// here; set the property to `nil` for no limit); servers encode with `EncodingPolicy/full`,
    /// clients with `EncodingPolicy/compact`.
    ///
    /// `maxFrameSize` is raised to 512 and `sessionIncomingWindow` to 2 if given lower.
    public init(
        role: Role,
        containerID: String,
        hostname: String? = nil,
        maxFrameSize: UInt32 = 1 << 20,
        channelMax: UInt16 = 255,
        idleTimeout: Milliseconds? = 60_000,
        offeredCapabilities: [Symbol] = [],
        desiredCapabilities: [Symbol] = [],
        properties: Fields? = nil,
        sasl: SASL = .none,
        inBandTLS: InBandTLS = .refused,
        allowsCleartextCredentials: Bool = false,
        transportSecurity: TransportSecurity = .none,
        encodingPolicy: EncodingPolicy? = nil,
        sessionIncomingWindow: UInt32 = 2048,
        handleMax: Handle = 1023,
        maxMessageSize: UInt64? = 256 << 20,
        maxIncompleteDeliveryBytes: UInt64? = nil
    ) {
        self.role = role
        self.containerID = containerID
        self.hostname = hostname
        self.maxFrameSize = max(maxFrameSize, Frame.minimumMaxFrameSize)
        self.channelMax = channelMax
        self.idleTimeout = idleTimeout
        self.offeredCapabilities = offeredCapabilities
        self.desiredCapabilities = desiredCapabilities
        self.properties = properties
        self.sasl = sasl
        self.inBandTLS = inBandTLS
        self.cleartextCredentials = allowsCleartextCredentials ? .allowed : .refused
        self.transportSecurity = transportSecurity
        self.encodingPolicy = encodingPolicy ?? (role == .server ? .full : .compact)
        self.sessionIncomingWindow = max(sessionIncomingWindow, 2)
        self.handleMax = handleMax
        self.maxMessageSize = maxMessageSize
        self.maxIncompleteDeliveryBytes = maxIncompleteDeliveryBytes ?? Self.defaultMaxIncompleteDeliveryBytes(maxMessageSize: maxMessageSize)
    }
}
