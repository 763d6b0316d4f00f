import AMQPCodec
import AMQPTypes

/// One AMQP 1.0 connection, without I/O: bytes from the peer go in, bytes for the peer and
/// ``ConnectionEvent``s come out.
///
/// The engine runs the protocol header exchange, SASL, and the connection, session and link state
/// machines (§2.4–§2.7): windows, credit, delivery counts, multi-frame transfers split at the
/// peer's max-frame-size and reassembled up to our max-message-size, settlement, detach, end and
/// close. It never blocks and never touches a socket, so it is driven the same way by a SwiftNIO
/// channel handler, by a test, and by a fuzzer.
///
/// Time is an input: pass a monotonic clock reading in nanoseconds to ``receive(_:now:)`` and
/// ``tick(now:)``; ``tick(now:)`` sends heartbeats and enforces the idle timeout.
///
/// A peer that breaks the protocol gets a `close` (or `end`, or `detach`) carrying the AMQP error
/// condition, never a trap. After ``isFinished`` becomes true, flush ``takeOutput()`` and close the
/// socket.
///
/// The state is nested values, each changed in place by the one above it: the connection's
/// phase, then its sessions keyed by our channel (`SessionTable` of `SessionState`: windows,
/// unsettled deliveries, §2.5), then each session's links keyed by our handle (`LinkState`:
/// phase, credit and ``CreditMode``, delivery-count, message-size limits, the outgoing queue, a
/// delivery being reassembled, §2.6). A copy of an engine is therefore a snapshot: driving one
/// copy leaves the other as it was, and either can be driven on. Where each decision lives:
/// credit top-ups in `topUpCredit`, refusals (§2.6.3) in the attach reply handling,
/// message sizes in ``MessageSizeLimit`` and the connection's total of incomplete deliveries
/// in `receiveTransfer`, the outgoing backlog in each sender link's queue.
public struct ConnectionEngine: Sendable {
    /// How this connection presents itself and what it accepts; fixed for its lifetime.
    public let configuration: ConnectionConfiguration

    enum Phase: Sendable {
        /// Not started.
        case initial
        /// Client: we sent the TLS header and wait for the server's.
        case awaitingTLSHeader
        /// In-band TLS is being negotiated by the transport.
        case tlsHandshake
        /// Waiting for the peer's protocol header (which ones are acceptable depends on role and
        /// how far we got).
        case awaitingHeader
        /// SASL frames are exchanged.
        case sasl
        /// AMQP frames are exchanged.
        case amqp
        /// The connection cannot go on; nothing more is read.
        case finished
    }

    var phase: Phase = .initial
    var decoder: FrameDecoder
    var output: AMQPEncoder
    /// AMQP frames queued before our `open` is written (a client still in SASL).
    var deferred: AMQPEncoder
    var events: [ConnectionEvent] = []

    // Header and SASL progress
    var tlsDone = false
    var saslDone = false
    var saslClient: (any SASLClientMechanism)?
    var saslServer: (any SASLServerMechanism)?
    var pendingSASLClientMechanisms: [any SASLClientMechanism] = []

    // Connection
    var openSent = false
    var remoteOpen: Open?
    var closeSent = false
    var closeReceived = false
    /// The error our `close` carried, reported when the peer answers.
    var localCloseError: AMQPError?
    var remoteMaxFrameSize: UInt32 = Frame.minimumMaxFrameSize
    var remoteChannelMax: UInt16 = .max
    var remoteIdleTimeout: Milliseconds?

    // Sessions and links
    /// Sessions keyed by our channel, each holding its links keyed by our handle.
    var sessions = SessionTable()
    /// Every channel below it has a session (see ``freeChannel()``).
    var firstChannelMaybeFree = 0
    var sessionChannels: [SessionID: UInt16] = [:]
    var remoteChannels: [UInt16: UInt16] = [:]
    /// Channels whose session the peer ended: frames it still sends on them (Microsoft's
    /// Python client pipelines detach, end and close out of order) are dropped, not fatal.
    var endedRemoteChannels: Set<UInt16> = []
    var linkLocations: [LinkID: (channel: UInt16, handle: Handle)] = [:]
    var nextSessionSerial: UInt64 = 0
    var nextLinkSerial: UInt64 = 0
    var nextDeliverySerial: UInt64 = 0
    /// Sender links whose peer asked to drain, until ``answerDrains()`` answers.
    var pendingDrains: Set<LinkID> = []
    /// A link whose attach the peer answered with its terminus in the frame just read: reported
    /// attached before the next frame is handled, unless that frame detaches it (a refusal).
    var pendingAttachReply: LinkID?

    // Time
    var now: UInt64 = 0
    var lastReceivedAt: UInt64 = 0
    var lastOutputCount = 0
    var outputBytesTotal = 0
    var lastOutputActivityAt: UInt64 = 0

    /// Whether the connection is over: flush the output, then close the socket. Derived from the
    /// phase, so the two cannot disagree.
    public var isFinished: Bool {
        if case .finished = phase { return true } else { return false }
    }

    /// An engine that has done nothing yet; ``start(now:inBandTLS:)`` begins the connection.
    public init(configuration: ConnectionConfiguration) {
        self.configuration = configuration
        self.decoder = FrameDecoder(maxFrameSize: configuration.maxFrameSize)
        self.output = AMQPEncoder(policy: configuration.encodingPolicy, capacity: 4096)
        self.deferred = AMQPEncoder(policy: configuration.encodingPolicy, capacity: 0)
    }

    // MARK: Driving

    /// Starts the connection: a client writes its first protocol header (and, without SASL, its
    /// `open`); a server waits for the client's header.
    public mutating func start(now: UInt64, inBandTLS: Bool = false) {
        guard case .initial = phase else { return }
        self.now = now
        lastReceivedAt = now
        lastOutputActivityAt = now
        switch configuration.role {
        case .server:
            phase = .awaitingHeader
        case .client:
            if inBandTLS {
                writeHeader(.tls)
                phase = .awaitingTLSHeader
            } else {
                startClientLayers()
            }
        }
    }

    /// The transport finished the in-band TLS handshake that ``ConnectionEvent/startTLS`` asked for.
    public mutating func tlsEstablished() {
        guard case .tlsHandshake = phase else { return }
        tlsDone = true
        decoder.expectProtocolHeader()
        switch configuration.role {
        case .client: startClientLayers()
        case .server: phase = .awaitingHeader
        }
    }

    mutating func startClientLayers() {
        if case .client(let mechanisms) = configuration.sasl, !saslDone {
            pendingSASLClientMechanisms = mechanisms
            writeHeader(.sasl)
        } else {
            writeHeader(.amqp)
            writeOpen()
        }
        phase = .awaitingHeader
    }

    /// Feeds bytes read from the peer.
    public mutating func receive<Bytes: Collection>(_ bytes: Bytes, now: UInt64) where Bytes.Element == UInt8 {
        self.now = now
        lastReceivedAt = now
        switch phase {
        case .finished, .initial, .tlsHandshake: return
        default: break
        }
        decoder.append(bytes)
        while !isFinished {
            if case .tlsHandshake = phase { return }
            let event: FrameDecoder.Event?
            do {
                event = try decoder.next()
            } catch {
                failFraming(error)
                return
            }
            guard let event else {
                reportPendingAttach()
                return
            }
            switch event {
            case .protocolHeader(let header): receiveHeader(header)
            case .frame(let frame): receiveFrame(frame)
            }
        }
    }

    /// Sends a heartbeat when we have been quiet for half the peer's idle timeout, and closes
    /// when the peer has been silent longer than ours. Returns when to call again (nanoseconds),
    /// or `nil` when no timer is needed.
    public mutating func tick(now: UInt64) -> UInt64? {
        self.now = now
        guard !isFinished else { return nil }
        if outputBytesTotal != lastOutputCount {
            lastOutputCount = outputBytesTotal
            lastOutputActivityAt = now
        }
        var next: UInt64? = nil
        if let timeout = configuration.idleTimeout, timeout > 0 {
            let limit = UInt64(timeout) * 1_000_000
            if now &- lastReceivedAt >= limit {
                idleTimedOut()
                return nil
            }
            next = lastReceivedAt + limit
        }
        if case .amqp = phase, openSent, !closeSent, let remote = remoteIdleTimeout, remote > 0 {
            let interval = UInt64(remote) * 1_000_000 / 2
            if now &- lastOutputActivityAt >= interval {
                FrameEncoder.writeHeartbeat(into: &output)
                noteOutput()
                lastOutputActivityAt = now
                lastOutputCount = outputBytesTotal
            }
            let due = lastOutputActivityAt + interval
            next = min(next ?? due, due)
        }
        return next
    }

    mutating func idleTimedOut() {
        if case .amqp = phase, openSent, !closeSent {
            let error = AMQPError(condition: .amqp(.resourceLimitExceeded), description: "no frame received within the idle timeout")
            closeConnection(error)
            phase = .finished
            events.append(.closed(error: error, byPeer: false))
        } else {
            fail(.idleTimeout)
        }
    }

    /// Bytes to write to the peer since the last call.
    public mutating func takeOutput() -> [UInt8] {
        guard output.count > 0 else { return [] }
        let bytes = output.takeBytes()
        output.reserveCapacity(min(bytes.count, 1 << 16))
        return bytes
    }

    /// Lends the pending output to `body` (to copy it into a socket buffer), then clears it,
    /// keeping the buffer's capacity.
    public mutating func consumeOutput<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        defer { output.removeAll() }
        return try output.withUnsafeBytes(body)
    }

    /// Whether bytes are waiting to be written to the socket.
    public var hasOutput: Bool { output.count > 0 }

    /// Events since the last call, in order.
    public mutating func takeEvents() -> [ConnectionEvent] {
        guard !events.isEmpty else { return [] }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The peer's `open`, once it arrived.
    public var peerOpen: Open? { remoteOpen }

    /// Whether our `open` is written and the peer's has arrived, and neither side closed.
    public var isOpen: Bool { openSent && remoteOpen != nil && !closeSent && !closeReceived && !isFinished }

    /// The largest frame we may send: the peer's `max-frame-size`.
    public var peerMaxFrameSize: UInt32 { remoteMaxFrameSize }

    // MARK: Writing

    mutating func noteOutput() {
        outputBytesTotal &+= 1
    }

    mutating func writeHeader(_ header: ProtocolHeader) {
        output.writeBytes(header.bytes)
        noteOutput()
    }

    /// Writes an AMQP performative, or queues it until our `open` is out. Nothing is written after
    /// our `close` (§2.7.9: its sender sends nothing more) or once the connection is finished,
    /// whatever the application still calls.
    mutating func write<P: AMQPEncodable>(_ performative: P, channel: UInt16) {
        guard !closeSent, !isFinished else { return }
        if openSent {
            FrameEncoder.write(performative, channel: channel, into: &output)
            noteOutput()
        } else {
            FrameEncoder.write(performative, channel: channel, into: &deferred)
        }
    }

    /// `make(error)`, with `error` shortened when the frame would not fit the peer's
    /// max-frame-size (512 bytes until its `open` arrives, §2.7.1): `info` goes first, then the
    /// description is cut at a character boundary and marked with "…". The application still
    /// hears the whole error; only the copy on the wire is cut. Our descriptions of a violation
    /// quote what the peer sent, so without this a peer could make us break its own limit.
    func fitted<P: AMQPEncodable>(_ error: AMQPError?, _ make: (AMQPError?) -> P) -> P {
        guard var error else { return make(nil) }
        // Each round measures what is left over; the second or third fits unless the condition
        // alone is too long, which is then sent as it is.
        for _ in 0..<3 {
            let performative = make(error)
            let excess = bytesOverPeerFrameSize(performative)
            guard excess > 0 else { return performative }
            if error.info != nil {
                error.info = nil
            } else if let description = error.description {
                error.description = Self.shortened(description, by: excess)
            } else {
                return performative
            }
        }
        return make(error)
    }

    /// How many bytes a frame of `performative` alone would exceed the peer's max-frame-size by
    /// (zero or less when it fits).
    func bytesOverPeerFrameSize<P: AMQPEncodable>(_ performative: P) -> Int {
        let limit = Int(min(remoteMaxFrameSize, UInt32(Int32.max))) &- Frame.headerSize
        return AMQPEncoder.encode(performative, policy: configuration.encodingPolicy).count &- limit
    }

    /// `text` at least `excess` UTF-8 bytes shorter, cut at a scalar boundary and ending in "…";
    /// `nil` when nothing of it is left.
    static func shortened(_ text: String, by excess: Int) -> String? {
        let ellipsis = "…"
        var budget = text.utf8.count &- excess &- ellipsis.utf8.count
        var cut = text.unicodeScalars.startIndex
        for scalar in text.unicodeScalars {
            budget &-= UTF8.width(scalar)
            guard budget >= 0 else { break }
            cut = text.unicodeScalars.index(after: cut)
        }
        let kept = text.unicodeScalars[..<cut]
        return kept.isEmpty ? nil : String(kept) + ellipsis
    }

    /// Writes a frame of a session's links (attach, flow, disposition, detach). Nothing is written
    /// on a session once our `end` is out (§2.5, ending a session): the peer may already have
    /// unmapped the channel, and a frame on it would be a framing error there. Late calls, and
    /// answers to frames the peer sent before it saw our `end`, are dropped; the peer's `end`
    /// detaches everything.
    mutating func writeOnSession<P: AMQPEncodable>(_ performative: P, channel: UInt16) {
        guard let phase = sessions[channel]?.phase, phase != .endSent else { return }
        write(performative, channel: channel)
    }

    mutating func writeSASL<P: AMQPEncodable>(_ performative: P) {
        FrameEncoder.write(performative, channel: 0, type: .sasl, into: &output)
        noteOutput()
    }

    mutating func writeOpen() {
        guard !openSent else { return }
        let open = Open(
            containerID: configuration.containerID,
            hostname: configuration.role == .client ? configuration.hostname : nil,
            maxFrameSize: configuration.maxFrameSize,
            channelMax: configuration.channelMax,
            idleTimeout: configuration.idleTimeout.map { $0 / 2 },
            offeredCapabilities: configuration.offeredCapabilities,
            desiredCapabilities: configuration.desiredCapabilities,
            properties: configuration.properties
        )
        FrameEncoder.write(open, channel: 0, into: &output)
        openSent = true
        if deferred.count > 0 {
            output.writeBytes(deferred.takeBytes())
        }
        noteOutput()
    }

    // MARK: Failing

    mutating func fail(_ failure: ConnectionFailure) {
        guard !isFinished else { return }
        events.append(.failed(failure))
        phase = .finished
    }

    mutating func failFraming(_ error: FramingError) {
        if case .amqp = phase, openSent, !closeSent {
            // The AMQP layer is up: tell the peer why before hanging up (§2.8.15).
            closeForViolation(.connection(.framingError), error.description)
        } else {
            if error.kind == .invalidProtocolHeader, configuration.role == .server, case .awaitingHeader = phase {
                // Bytes that are not a protocol header at all (HTTP, TLS without AMQP's TLS
                // header, noise) get the header we support before we hang up, like a header
                // of a version we do not speak (§2.2).
                writeHeader(serverPreferredHeader)
            }
            fail(.framing(error))
        }
    }

    /// The header a server answers with when it cannot accept the client's (§2.2): SASL while
    /// SASL is offered and not done, else AMQP.
    var serverPreferredHeader: ProtocolHeader {
        if configuration.inBandTLS == .required && !tlsDone { return .tls }
        if case .server = configuration.sasl, !saslDone { return .sasl }
        return .amqp
    }

    /// Closes the connection because the peer broke the protocol.
    mutating func closeForViolation(_ condition: ErrorCondition, _ description: String) {
        guard !isFinished else { return }
        guard !closeSent else {
            // Our close is on its way and the peer broke the protocol instead of answering: stop
            // waiting for its close. Finished means finished: `receive` takes no more bytes (it
            // buffered them without end), and the application hears that the close is done.
            phase = .finished
            events.append(.closed(error: localCloseError, byPeer: false))
            return
        }
        if !openSent { writeOpen() }
        let error = AMQPError(condition: condition, description: description)
        closeConnection(error)
        // We do not wait for the peer's close: its frames can no longer be trusted.
        phase = .finished
        events.append(.closed(error: error, byPeer: false))
    }

    mutating func closeConnection(_ error: AMQPError?) {
        guard !closeSent else { return }
        localCloseError = error
        write(fitted(error) { Close(error: $0) }, channel: 0)
        closeSent = true
    }
}
