import AMQPCodec
import AMQPProtocol
import AMQPTypes

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one ``ConnectionEngine`` (server or client role) against bytes from the fuzzer as its
/// peer, with an application that answers like a real one: it accepts links, grants credit,
/// sends when it has credit and settles what it receives, so that the peer's bytes reach the
/// deep states of sessions, links and deliveries.
///
/// An input is either **raw** — it starts with `A`, as every AMQP byte stream does (`AMQP…`):
/// it is fed one protocol header or frame at a time, the application reacting in between — or a
/// **script**: its first byte chooses the configuration, and the rest is a sequence of
/// operations (``Operation``) that feed bytes, move the clock, or call the engine's API. For the
/// client target, an input that starts with `P` is a conversation between two of our engines
/// (``EnginePairDriver``).
///
/// After every step the driver checks that the engine's output is a valid frame stream for the
/// peer (frames decode, fit the peer's max-frame-size, sit on channels where a session is begun,
/// nothing follows `close`), that its events make sense for the links and sessions it reported,
/// and that what it wrote and holds stays proportional to what it was given. At the end the
/// engine must either be running or have finished with one `closed` or `failed` event, and a
/// finished engine must ignore further bytes.
struct EngineDriver {
    /// The operations of a script: the high four bits of an operation byte; the low four are its
    /// argument.
    enum Operation: UInt8 {
        /// Feeds `argument + 1` bytes.
        case feedBytes = 0x0
        /// Feeds `argument + 1` protocol headers or frames, each cut where its size field says.
        case feedUnits = 0x1
        /// Feeds `(argument << 8 | next byte) + 1` bytes.
        case feedLong = 0x2
        /// Moves the clock by ``tickSteps``[argument] and calls `tick(now:)`.
        case tick = 0x3
        /// Accepts the oldest link the peer attached and we have not answered.
        case accept = 0x4
        /// Refuses it.
        case refuse = 0x5
        /// Sets the credit of a receiving link (next byte picks it).
        case credit = 0x6
        /// Sends a message on a sending link (next byte picks it).
        case send = 0x7
        /// Settles the oldest delivery we received and have not settled.
        case settle = 0x8
        /// Detaches a link (next byte picks it).
        case detach = 0x9
        /// Ends a session.
        case end = 0xA
        /// Closes the connection.
        case close = 0xB
        /// Begins a session.
        case begin = 0xC
        /// Attaches a link on a session.
        case attach = 0xD
        /// Sets which automatic answers the application gives (bits: accept, credit, settle, send).
        case policy = 0xE
        /// Tells the engine that in-band TLS is established.
        case tlsEstablished = 0xF
    }

    static let tickSteps: [UInt64] = [
        0, 1, 10, 100, 1_000, 5_000, 15_000, 30_000, 31_000, 59_000, 60_000, 61_000, 120_000, 600_000, 3_600_000, 86_400_000,
    ].map { $0 * 1_000_000 }
    static let creditSteps: [UInt32] = [0, 1, 2, 10, 100, 1_000, 65_535, .max]
    static let payloadSizes: [Int] = [0, 1, 10, 100, 500, 600, 2_000, 70_000]
    /// What the application sends: a prefix of these bytes, made once (making them per send was
    /// half of the listener target's time).
    static let payloadBytes: [UInt8] = (0..<payloadSizes.max()!).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    /// The link name of the RabbitMQ capture, so that seeds made from it answer our attaches.
    static let captureLinkName = "60996b9e-7c52-4869-8c38-8830c1171860-/queue/cap"
    /// At most this many messages are sent by the automatic policy, so that a peer granting
    /// credit again and again cannot make a run long.
    static let automaticSendBudget = 64

    // MARK: Proportionality

    /// Output may be at most this many times the input, plus allowances for what the
    /// application asked for: the largest ratio is the server's answer to a bare protocol header
    /// and `open` (its header and a full `open`), and a `flow` with `echo` answered by a full one.
    static let outputPerInputByte = 16
    static let outputPerCall = 1_024
    static let outputBase = 4_096

    var engine: ConnectionEngine
    let role: ConnectionConfiguration.Role
    var now: UInt64 = 1_000_000_000

    // What went in.
    var fedBytes = 0
    var lastFeedCount = 0
    var bufferedBeforeLastFeed = 0
    /// The engine asked for in-band TLS and the application has not said it is established.
    var tlsRequested = false
    var calls = 0
    var sentPayloadBytes = 0
    var outputBytes = 0
    var eventCount = 0
    var appClosed = false

    // What the application knows.
    /// Whether the application "completes" in-band TLS as soon as the engine asks (raw inputs);
    /// scripts do it with ``Operation/tlsEstablished``.
    var autoTLS = false
    var autoAccept = true
    var autoCredit = true
    var autoSettle = true
    var autoSend = true
    var automaticSends = 0
    var sessions: [SessionID] = []
    var endedSessions: Set<SessionID> = []
    /// Our links and our role on each.
    var links: [(id: LinkID, isSender: Bool)] = []
    var ourAttaches: Set<LinkID> = []
    var detachedLinks: Set<LinkID> = []
    var pendingAttaches: [(id: LinkID, attach: Attach)] = []
    /// The message size a receiving link we accepted enforces (the configuration's otherwise).
    var messageSizeLimits: [LinkID: UInt64?] = [:]
    var unsettled: [(link: LinkID, delivery: DeliveryNumber)] = []
    var opened = false
    var terminated = false
    var output = OutputChecker()
    /// Receiving links accepted with an enforced max-message-size below the advertised one:
    /// detaching them for a message in between is the application's choice.
    var applicationEnforcedLimits: Set<LinkID> = []
    /// The session of each link, and the most links each session held at once.
    var linkSessions: [LinkID: SessionID] = [:]
    var linkPeaks: [SessionID: Int] = [:]
    /// The events of the batch being handled that come after the one being handled.
    var unhandledEvents: ArraySlice<ConnectionEvent> = []
    /// In a pair (``EnginePairDriver``): what the engine wrote, kept for the other engine, and
    /// whether every error it raises is judged.
    var outbox: [UInt8]?
    var judgesErrors = false
    /// In a pair: whether the other side's application once held more links on a session than
    /// handle-max (its engine may then end that session with resource-limit-exceeded, and this
    /// engine, having ended it too meanwhile, reports the peer's error as its own).
    var peerFilledHandles = false
    /// In a pair: whether the other side's application enforces a max-message-size below the one
    /// it advertised on some link (its detach may cross ours, and is then reported as ours).
    var peerEnforcesLimits = false
    /// Whether the clock moved, so that an idle timeout may have been deserved.
    var timeJumped = false
    /// With `AMQP_FUZZ_TRACE` set, every step is printed: what to read when a finding needs explaining.
    let tracing = getenv("AMQP_FUZZ_TRACE") != nil

    init(configuration: ConnectionConfiguration) {
        self.engine = ConnectionEngine(configuration: configuration)
        self.role = configuration.role
        output.tracing = tracing
    }

    // MARK: Entry

    static func check(_ bytes: [UInt8], role: ConnectionConfiguration.Role) throws(FuzzFinding) {
        if bytes.first == UInt8(ascii: "A") {
            try runRaw(bytes, role: role)
        } else if bytes.first == UInt8(ascii: "P") && role == .client {
            try EnginePairDriver.run(bytes.dropFirst())
        } else {
            try runScript(bytes, role: role)
        }
    }

    static func runRaw(_ bytes: [UInt8], role: ConnectionConfiguration.Role) throws(FuzzFinding) {
        let header = bytes.count >= 5 ? bytes[4] : 0
        var driver = EngineDriver(configuration: rawConfiguration(role: role, firstHeaderID: header))
        driver.autoTLS = true
        try driver.start(inBandTLS: role == .client && header == ProtocolHeader.ProtocolID.tls.rawValue)
        if role == .client {
            // A client application begins a session and attaches both ways at once (pipelining).
            try driver.beginSession()
            try driver.attach(sessionIndex: 0, isSender: true, name: captureLinkName)
            try driver.attach(sessionIndex: 0, isSender: false, name: captureLinkName)
        }
        var offset = 0
        while offset < bytes.count {
            let length = unitLength(bytes[offset...])
            try driver.feed(bytes[offset..<(offset + length)])
            offset += length
        }
        try driver.finish(replaying: bytes)
    }

    /// The configuration of raw inputs: a server that offers SASL PLAIN (any password) and
    /// ANONYMOUS without requiring it; a client that uses SASL when the peer's first header is
    /// the SASL one, with the credentials of the RabbitMQ capture.
    static func rawConfiguration(role: ConnectionConfiguration.Role, firstHeaderID: UInt8) -> ConnectionConfiguration {
        switch role {
        case .server:
            return ConnectionConfiguration(
                role: .server, containerID: "fuzz-listener",
                sasl: .server([PlainServerMechanism(check: { _, _ in true }), AnonymousMechanism()], required: false))
        case .client:
            let sasl: ConnectionConfiguration.SASL =
                firstHeaderID == ProtocolHeader.ProtocolID.amqp.rawValue
                ? .none : .client([PlainMechanism(username: "guest", password: "guest"), AnonymousMechanism()])
            return ConnectionConfiguration(role: .client, containerID: "fuzz-client", hostname: "localhost", sasl: sasl,
                                           allowsCleartextCredentials: true)
        }
    }

    /// How many bytes make the next protocol header or frame (or all that is left when they
    /// cannot be a frame): what a socket read would deliver at best.
    static func unitLength(_ rest: ArraySlice<UInt8>) -> Int {
        if rest.starts(with: ProtocolHeader.amqp.bytes.prefix(4)) { return min(8, rest.count) }
        guard rest.count >= 8 else { return rest.count }
        let i = rest.startIndex
        let size = Int(rest[i]) << 24 | Int(rest[i + 1]) << 16 | Int(rest[i + 2]) << 8 | Int(rest[i + 3])
        guard size >= 8 else { return rest.count }
        return min(size, rest.count)
    }

    /// Script inputs: the first byte is the configuration (see ``scriptConfiguration(_:role:)``),
    /// the rest a sequence of operations.
    static func runScript(_ bytes: [UInt8], role: ConnectionConfiguration.Role) throws(FuzzFinding) {
        guard let first = bytes.first else { return }
        var driver = EngineDriver(configuration: scriptConfiguration(first, role: role))
        try driver.start(inBandTLS: role == .client && first & 0x80 != 0)
        var script = bytes.dropFirst()
        while let byte = script.popFirst() {
            let argument = byte & 0x0F
            guard let operation = Operation(rawValue: byte >> 4) else { continue }
            if driver.tracing { printError("\(operation) \(argument)") }
            switch operation {
            case .feedBytes:
                let length = min(Int(argument) + 1, script.count)
                try driver.feed(script.prefix(length))
                script = script.dropFirst(length)
            case .feedUnits:
                for _ in 0...argument where !script.isEmpty {
                    let length = min(unitLength(script), 1 << 16)
                    try driver.feed(script.prefix(length))
                    script = script.dropFirst(length)
                }
            case .feedLong:
                let length = min((Int(argument) << 8 | Int(script.popFirst() ?? 0)) + 1, script.count)
                try driver.feed(script.prefix(length))
                script = script.dropFirst(length)
            case .tick:
                try driver.tick(by: tickSteps[Int(argument)])
            case .accept:
                try driver.acceptOldest(withTermini: argument & 1 == 0, smallMaxMessageSize: argument & 2 != 0,
                                        enforcesLarger: argument & 4 != 0, sendsSettled: argument & 8 != 0)
            case .refuse:
                try driver.refuseOldest()
            case .credit:
                try driver.setCredit(creditSteps[Int(argument >> 1)], drain: argument & 1 != 0, pick: script.popFirst() ?? 0)
            case .send:
                try driver.send(payloadSize: payloadSizes[Int(argument >> 1)], settled: argument & 1 != 0, pick: script.popFirst() ?? 0)
            case .settle:
                try driver.settleOldest(state: argument & 7, settled: argument & 8 == 0)
            case .detach:
                try driver.detach(pick: script.popFirst() ?? 0, closed: argument & 1 == 0, withError: argument & 2 != 0)
            case .end:
                try driver.endSession(pick: argument)
            case .close:
                try driver.close(withError: argument & 1 != 0)
            case .begin:
                try driver.beginSession()
            case .attach:
                try driver.attach(sessionIndex: Int(argument >> 2), isSender: argument & 1 != 0,
                                  name: argument & 2 != 0 ? captureLinkName : "link-\(argument >> 2)")
            case .policy:
                driver.autoAccept = argument & 1 != 0
                driver.autoCredit = argument & 2 != 0
                driver.autoSettle = argument & 4 != 0
                driver.autoSend = argument & 8 != 0
            case .tlsEstablished:
                try driver.establishTLS()
            }
        }
        try driver.finish(replaying: Array(bytes.dropFirst()))
    }

    /// Bits of a script's first byte:
    /// - 0–1: SASL — none; ANONYMOUS (a server offers it, optional); PLAIN accepted (a server
    ///   offers PLAIN and ANONYMOUS and requires SASL; a client may send PLAIN in the clear);
    ///   PLAIN refused (the server refuses every password; the client may not send it in the clear);
    /// - 2: the other encoding policy than the role's default;
    /// - 3: max-frame-size 512;
    /// - 4: a session incoming window of 2 transfers;
    /// - 5: channel-max 1 and handle-max 1;
    /// - 6: max-message-size 100 bytes;
    /// - 7: an idle timeout of 1 s instead of 60 s (and a client starts with in-band TLS).
    static func scriptConfiguration(_ bits: UInt8, role: ConnectionConfiguration.Role) -> ConnectionConfiguration {
        let sasl: ConnectionConfiguration.SASL
        var cleartext = true
        switch (bits & 3, role) {
        case (0, _): sasl = .none
        case (1, .server): sasl = .server([AnonymousMechanism()], required: false)
        case (1, .client): sasl = .client([AnonymousMechanism()])
        case (2, .server): sasl = .server([PlainServerMechanism(check: { _, _ in true }), AnonymousMechanism()], required: true)
        case (2, .client): sasl = .client([PlainMechanism(username: "guest", password: "guest")])
        case (_, .server): sasl = .server([PlainServerMechanism(check: { _, _ in false })], required: true)
        case (_, .client):
            sasl = .client([PlainMechanism(username: "guest", password: "guest")])
            cleartext = false
        }
        let defaultPolicy: EncodingPolicy = role == .server ? .full : .compact
        return ConnectionConfiguration(
            role: role, containerID: role == .server ? "fuzz-listener" : "fuzz-client",
            hostname: role == .client ? "localhost" : nil,
            maxFrameSize: bits & 0x08 != 0 ? 512 : 1 << 20,
            channelMax: bits & 0x20 != 0 ? 1 : 255,
            idleTimeout: bits & 0x80 != 0 ? 1_000 : 60_000,
            sasl: sasl, allowsCleartextCredentials: cleartext,
            encodingPolicy: bits & 0x04 != 0 ? (defaultPolicy == .full ? .compact : .full) : defaultPolicy,
            sessionIncomingWindow: bits & 0x10 != 0 ? 2 : 2048,
            handleMax: bits & 0x20 != 0 ? 1 : 1023,
            maxMessageSize: bits & 0x40 != 0 ? 100 : 256 << 20)
    }

    // MARK: Steps

    mutating func start(inBandTLS: Bool) throws(FuzzFinding) {
        engine.start(now: now, inBandTLS: inBandTLS)
        try reactUntilQuiet()
    }

    mutating func feed(_ bytes: ArraySlice<UInt8>) throws(FuzzFinding) {
        if tracing { printError("feed \(bytes.count): \(HexEncoding.string(bytes.prefix(64)))") }
        fedBytes += bytes.count
        lastFeedCount = bytes.count
        bufferedBeforeLastFeed = engine.footprint.bufferedBytes
        engine.receive(bytes, now: now)
        try reactUntilQuiet()
    }

    mutating func tick(by step: UInt64) throws(FuzzFinding) {
        now += step
        if step > 0 { timeJumped = true }
        calls += 1
        if let next = engine.tick(now: now) {
            try expect(next > now || engine.isFinished, "tick(now: \(now)) asks to be called again at \(next), which is not later")
        }
        try reactUntilQuiet()
    }

    mutating func establishTLS() throws(FuzzFinding) {
        calls += 1
        engine.tlsEstablished()
        tlsRequested = false
        try reactUntilQuiet()
    }

    mutating func beginSession() throws(FuzzFinding) {
        calls += 1
        if let id = try? engine.beginSession() { sessions.append(id) }
        try reactUntilQuiet()
    }

    mutating func attach(sessionIndex: Int, isSender: Bool, name: String) throws(FuzzFinding) {
        guard !sessions.isEmpty else { return }
        calls += 1
        let session = sessions[sessionIndex % sessions.count]
        let options = ConnectionEngine.LinkOptions(
            name: name, role: isSender ? .sender : .receiver,
            source: .source(Source(address: .string(isSender ? "fuzz" : "/queue/cap"))),
            target: .target(Target(address: .string(isSender ? "/queue/cap" : "fuzz"))))
        if let id = try? engine.attachLink(on: session, options) {
            links.append((id, isSender))
            ourAttaches.insert(id)
            noteLink(id, on: session)
        }
        try reactUntilQuiet()
    }

    mutating func acceptOldest(withTermini: Bool, smallMaxMessageSize: Bool, enforcesLarger: Bool, sendsSettled: Bool) throws(FuzzFinding) {
        guard !pendingAttaches.isEmpty else { return }
        let (id, attach) = pendingAttaches.removeFirst()
        try accept(id, attach, withTermini: withTermini, smallMaxMessageSize: smallMaxMessageSize,
                   enforcesLarger: enforcesLarger, sendsSettled: sendsSettled)
        try reactUntilQuiet()
    }

    /// Answers a peer's attach. A receiving link may advertise 100 bytes as its max-message-size
    /// and enforce 1,000 (an application that rejects oversized messages itself); a sending link
    /// may send pre-settled whatever the peer asked.
    mutating func accept(_ id: LinkID, _ attach: Attach, withTermini: Bool, smallMaxMessageSize: Bool = false,
                         enforcesLarger: Bool = false, sendsSettled: Bool = false) throws(FuzzFinding) {
        calls += 1
        let advertised: UInt64? = smallMaxMessageSize ? 100 : nil
        let enforced: UInt64? = enforcesLarger ? 1_000 : nil
        if attach.role == .sender {
            let limit: UInt64? = enforced ?? advertised ?? engine.configuration.maxMessageSize
            messageSizeLimits[id] = .some(limit)
            if let enforced, enforced < advertised ?? engine.configuration.maxMessageSize ?? .max {
                applicationEnforcedLimits.insert(id)
            }
        }
        do {
            try engine.acceptLink(id, source: withTermini ? attach.source : nil, target: withTermini ? attach.target : nil,
                                  maxMessageSize: advertised, enforcedMaxMessageSize: enforced,
                                  senderSettleMode: sendsSettled ? .settled : nil)
        } catch {
            // Only a link that is no longer waiting (detached meanwhile) may be refused.
            try expect(detachedLinks.contains(id) || terminated || appClosed || laterEventEnds(id), "acceptLink(\(id)) failed: \(error)")
        }
    }

    mutating func refuseOldest() throws(FuzzFinding) {
        guard !pendingAttaches.isEmpty else { return }
        calls += 1
        let (id, _) = pendingAttaches.removeFirst()
        engine.refuseLink(id, error: AMQPError(condition: .amqp(.notFound), description: "refused by the fuzz application"))
        try reactUntilQuiet()
    }

    mutating func setCredit(_ credit: UInt32, drain: Bool, pick: UInt8) throws(FuzzFinding) {
        let receivers = links.filter { !$0.isSender }
        guard !receivers.isEmpty else { return }
        calls += 1
        _ = try? engine.setCredit(credit, drain: drain, on: receivers[Int(pick) % receivers.count].id)
        try reactUntilQuiet()
    }

    mutating func send(payloadSize: Int, settled: Bool, pick: UInt8) throws(FuzzFinding) {
        let senders = links.filter(\.isSender)
        guard !senders.isEmpty else { return }
        try send(on: senders[Int(pick) % senders.count].id, payloadSize: payloadSize, settled: settled)
        try reactUntilQuiet()
    }

    mutating func send(on id: LinkID, payloadSize: Int, settled: Bool) throws(FuzzFinding) {
        calls += 1
        if (try? engine.send(on: id, payload: Self.payloadBytes[..<payloadSize], settled: settled)) != nil {
            sentPayloadBytes += payloadSize
        }
    }

    mutating func settleOldest(state: UInt8, settled: Bool) throws(FuzzFinding) {
        guard !unsettled.isEmpty else { return }
        calls += 1
        let (link, delivery) = unsettled.removeFirst()
        let states: [DeliveryState?] = [
            nil, .accepted(Accepted()), .rejected(Rejected(error: AMQPError(condition: .amqp(.decodeError)))), .released(Released()),
            .modified(Modified(deliveryFailed: true)), .received(Received(sectionNumber: 0, sectionOffset: 0)),
            .accepted(Accepted()), .released(Released()),
        ]
        _ = try? engine.settle(delivery, on: link, state: states[Int(state)], settled: settled)
        try reactUntilQuiet()
    }

    mutating func detach(pick: UInt8, closed: Bool, withError: Bool) throws(FuzzFinding) {
        guard !links.isEmpty else { return }
        calls += 1
        let id = links[Int(pick) % links.count].id
        engine.detachLink(id, closed: closed, error: withError ? AMQPError(condition: .link(.detachForced)) : nil)
        // Detaching a link the peer attached answers its attach: there is nothing left to accept.
        pendingAttaches.removeAll { $0.id == id }
        try reactUntilQuiet()
    }

    mutating func endSession(pick: UInt8) throws(FuzzFinding) {
        guard !sessions.isEmpty else { return }
        calls += 1
        engine.endSession(sessions[Int(pick) % sessions.count], error: pick & 8 != 0 ? AMQPError(condition: .amqp(.internalError)) : nil)
        try reactUntilQuiet()
    }

    mutating func close(withError: Bool) throws(FuzzFinding) {
        calls += 1
        if !engine.isFinished { appClosed = true }
        engine.close(error: withError ? AMQPError(condition: .amqp(.internalError), description: "closed by the fuzz application") : nil)
        try reactUntilQuiet()
    }

    // MARK: After every step

    /// Lets the application react to events until the engine is quiet, checking output, events
    /// and footprint along the way.
    mutating func reactUntilQuiet() throws(FuzzFinding) {
        for _ in 0..<64 {
            try takeOutput()
            let events = engine.takeEvents()
            if events.isEmpty { break }
            for index in events.indices {
                unhandledEvents = events[(index + 1)...]
                try react(to: events[index])
            }
            unhandledEvents = []
        }
        try takeOutput()
        try checkFootprint()
    }

    mutating func takeOutput() throws(FuzzFinding) {
        let bytes = engine.takeOutput()
        if tracing && !bytes.isEmpty { printError("  output \(bytes.count) bytes, \(outputBytes + bytes.count) in all: \(HexEncoding.string(bytes.prefix(48)))") }
        try expect(!engine.hasOutput, "hasOutput is true right after takeOutput()")
        outputBytes += bytes.count
        outbox?.append(contentsOf: bytes)
        try output.append(bytes, peerMaxFrameSize: engine.peerMaxFrameSize)
        let allowance = Self.outputPerInputByte * fedBytes + Self.outputPerCall * calls + 2 * sentPayloadBytes + Self.outputBase
        try expect(outputBytes <= allowance,
                   "\(outputBytes) bytes written for \(fedBytes) bytes read, \(calls) calls and \(sentPayloadBytes) payload bytes sent")
    }

    mutating func checkFootprint() throws(FuzzFinding) {
        let footprint = engine.footprint
        let configuration = engine.configuration
        // A reading engine holds at most one frame that has not fully arrived. One that stopped
        // reading (finished, or waiting for the transport's TLS handshake) keeps what it held and
        // what was left of the bytes it was given last, and takes no more.
        let stoppedReading = engine.isFinished || tlsRequested
        let bound = stoppedReading ? bufferedBeforeLastFeed + lastFeedCount : max(Int(configuration.maxFrameSize), 8)
        try expect(footprint.bufferedBytes <= bound,
                   "\(footprint.bufferedBytes) bytes buffered with max-frame-size \(configuration.maxFrameSize) (last read: \(lastFeedCount) bytes)")
        try expect(footprint.partialDeliveryBytes <= fedBytes, "\(footprint.partialDeliveryBytes) bytes of partial deliveries from \(fedBytes) bytes read")
        // Every session, link and delivery came from a frame of at least 8 bytes or from a call.
        try expect(footprint.entries <= fedBytes / 8 + calls + automaticSends + 4,
                   "\(footprint) from \(fedBytes) bytes read and \(calls) calls")
        try expect(eventCount <= fedBytes / 4 + 4 * (calls + automaticSends) + 8,
                   "\(eventCount) events from \(fedBytes) bytes read and \(calls) calls")
    }

    /// The counts the engine keeps as its sessions and links change (what ``checkFootprint()``
    /// reads after every step) are those found by walking them.
    func checkHeldCounts() throws(FuzzFinding) {
        let kept = engine.footprint
        let walked = engine.walkedFootprint
        try expect(kept == walked, "the engine's kept footprint \(kept) differs from its sessions' and links' \(walked)")
    }

    mutating func react(to event: ConnectionEvent) throws(FuzzFinding) {
        if tracing { printError("  \(role) event \(ValueOracle.brief(event))") }
        if judgesErrors { try judge(event) }
        eventCount += 1
        try expect(!terminated, "event \(event) after the connection ended")
        switch event {
        case .startTLS:
            try expect(role == .client, "a server asks for in-band TLS, which it refuses")
            tlsRequested = true
            if autoTLS {
                calls += 1
                engine.tlsEstablished()
                tlsRequested = false
            }
        case .authenticated:
            try expect(role == .server, "a client reports authenticated")
        case .opened:
            try expect(!opened, "a second opened event")
            opened = true
        case .sessionBegun(let id, _):
            try expect(!endedSessions.contains(id), "\(id) begun after it ended")
            if !sessions.contains(id) { sessions.append(id) }
        case .linkAttachRequested(let session, let id, let attach):
            try expect(sessions.contains(session), "a link attached on unknown \(session)")
            try expect(!links.contains { $0.id == id }, "\(id) requested twice")
            links.append((id, attach.role == .receiver))
            noteLink(id, on: session)
            if autoAccept {
                try accept(id, attach, withTermini: true)
                if attach.role == .sender && autoCredit { _ = try? engine.setCredit(10, on: id) }
            } else {
                pendingAttaches.append((id, attach))
            }
        case .linkAttached(let id, _):
            try expect(ourAttaches.contains(id), "linkAttached for \(id), which we did not attach")
            if autoCredit, links.contains(where: { $0.id == id && !$0.isSender }) { _ = try? engine.setCredit(10, on: id) }
        case .creditGranted(let id, let credit, _):
            try checkLink(id, isSender: true, event)
            if autoSend {
                for _ in 0..<min(Int(credit), 4) where automaticSends < Self.automaticSendBudget {
                    automaticSends += 1
                    try send(on: id, payloadSize: 16, settled: automaticSends % 3 == 0)
                }
            }
        case .delivery(let id, let delivery):
            try checkLink(id, isSender: false, event)
            if let limit = messageSizeLimits[id] ?? engine.configuration.maxMessageSize {
                try expect(UInt64(delivery.payload.count) <= limit, "a \(delivery.payload.count)-byte delivery over max-message-size \(limit)")
            }
            if !delivery.isSettled {
                if autoSettle {
                    _ = try? engine.settle(delivery.deliveryID, on: id, state: .accepted(Accepted()))
                } else {
                    unsettled.append((id, delivery.deliveryID))
                }
            }
        case .deliveryAborted(let id, _), .settledByPeer(let id, _), .drained(let id):
            try checkLink(id, isSender: false, event)
        case .outcome(let id, _, _, _):
            try checkLink(id, isSender: true, event)
        case .linkRefused(let id, _), .linkDetached(let id, _, _, _):
            if case .linkRefused = event { try expect(ourAttaches.contains(id), "linkRefused for \(id), which we did not attach") }
            try expect(links.contains { $0.id == id }, "\(id) detached but never attached")
            try expect(!detachedLinks.contains(id), "\(id) detached twice")
            detachedLinks.insert(id)
            links.removeAll { $0.id == id }
            pendingAttaches.removeAll { $0.id == id }
            unsettled.removeAll { $0.link == id }
        case .sessionEnded(let id, _, _):
            try expect(sessions.contains(id), "\(id) ended but never begun")
            try expect(!endedSessions.contains(id), "\(id) ended twice")
            endedSessions.insert(id)
            sessions.removeAll { $0 == id }
        case .closed, .failed:
            terminated = true
            try expect(engine.isFinished, "\(event) but the engine is not finished")
        }
    }

    /// Whether an event of the batch being handled, after the current one, detaches `id` or ends
    /// the connection. The application answers an attach request as it reads it, and may learn
    /// only from a later event of the same batch that the link is gone (the peer ended its session
    /// or closed in the same read); the engine then refuses the answer.
    func laterEventEnds(_ id: LinkID) -> Bool {
        unhandledEvents.contains { event in
            switch event {
            case .linkDetached(let detached, _, _, _): return detached == id
            case .closed, .failed: return true
            default: return false
            }
        }
    }

    mutating func noteLink(_ id: LinkID, on session: SessionID) {
        linkSessions[id] = session
        let held = links.count { linkSessions[$0.id] == session }
        linkPeaks[session] = max(linkPeaks[session] ?? 0, held)
    }

    func checkLink(_ id: LinkID, isSender: Bool, _ event: ConnectionEvent) throws(FuzzFinding) {
        guard let link = links.first(where: { $0.id == id }) else {
            throw FuzzFinding("\(event) for \(id), which is not attached")
        }
        try expect(link.isSender == isSender, "\(event) for \(id), where we are the \(link.isSender ? "sender" : "receiver")")
    }

    // MARK: The end

    /// The engine is running or finished cleanly; if it has an idle timeout, time running out
    /// finishes it; a finished engine ignores everything.
    mutating func finish(replaying bytes: [UInt8]) throws(FuzzFinding) {
        try checkHeldCounts()
        if engine.isFinished {
            try expect(terminated || appClosed, "the engine finished without a closed or failed event")
        }
        if engine.configuration.idleTimeout != nil {
            try tick(by: 24 * 3_600 * 1_000_000_000)
            try expect(engine.isFinished, "a day without input did not finish the engine")
            try expect(terminated || appClosed, "the idle timeout finished the engine without a closed or failed event")
        }
        guard engine.isFinished else { return }
        let before = outputBytes
        engine.receive(bytes, now: now)
        try reactUntilQuiet()
        try expect(outputBytes == before, "a finished engine wrote \(outputBytes - before) bytes in answer to more input")
    }
}
