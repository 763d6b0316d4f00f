import AMQPProtocol
import AMQPTypes

/// Two of our engines, a client and a server, each with its ``EngineDriver`` application, talking
/// through memory; the fuzzer decides when bytes move, what each application calls and how time
/// passes. Both engines are correct peers of each other, so neither may find fault with the
/// other: any close, end or detach with an error that no application chose (an idle timeout
/// after time jumped aside) is a finding, as is any failure. Every check of the single-engine
/// drivers applies to both sides as well.
///
/// Input (after the `P` that selects this mode in `fuzz-client`): the server's configuration
/// byte, the client's (as in scripts; SASL and channel and handle limits follow the server's so
/// that the two can agree), then operations of one byte: the high four bits choose it, the low
/// four are its argument, whose bit 3 picks the side for application calls (0 client, 1 server).
struct EnginePairDriver {
    enum Operation: UInt8 {
        /// Moves `(argument + 1) × 32` bytes from the client to the server (all, for 15).
        case toServer = 0x0
        /// Moves bytes from the server to the client.
        case toClient = 0x1
        /// Moves everything both ways until both are quiet.
        case exchange = 0x2
        case accept = 0x3
        case refuse = 0x4
        case credit = 0x5
        case send = 0x6
        case settle = 0x7
        case detach = 0x8
        case end = 0x9
        case close = 0xA
        case begin = 0xB
        case attach = 0xC
        case policy = 0xD
        /// Moves both clocks by ``EngineDriver/tickSteps``[argument].
        case tick = 0xE
        case reserved = 0xF
    }

    var client: EngineDriver
    var server: EngineDriver

    static func run(_ input: ArraySlice<UInt8>) throws(FuzzFinding) {
        var script = input
        guard let serverBits = script.popFirst(), let clientByte = script.popFirst() else { return }
        // Both speak the same SASL (a refusal is no protocol fault) and share channel and handle
        // limits (a client may pipeline up to its own before it learns the server's).
        let saslAndLimits: UInt8 = 0b0010_0011
        let clientBits = clientByte & ~saslAndLimits | serverBits & saslAndLimits
        var pair = EnginePairDriver(
            client: EngineDriver(configuration: pairConfiguration(clientBits, role: .client)),
            server: EngineDriver(configuration: pairConfiguration(serverBits, role: .server)))
        pair.server.outbox = []
        pair.client.outbox = []
        pair.server.judgesErrors = true
        pair.client.judgesErrors = true
        try pair.server.start(inBandTLS: false)
        try pair.client.start(inBandTLS: false)
        while let byte = script.popFirst() {
            let argument = byte & 0x0F
            let onServer = argument & 8 != 0
            let detail = argument & 7
            guard let operation = Operation(rawValue: byte >> 4) else { continue }
            if pair.client.tracing { printError("pair \(operation) \(argument)") }
            switch operation {
            case .toServer: try pair.move(toServer: true, count: argument == 15 ? .max : (Int(argument) + 1) * 32)
            case .toClient: try pair.move(toServer: false, count: argument == 15 ? .max : (Int(argument) + 1) * 32)
            case .exchange, .reserved: try pair.exchangeUntilQuiet()
            case .tick:
                try pair.client.tick(by: EngineDriver.tickSteps[Int(argument)])
                try pair.server.tick(by: EngineDriver.tickSteps[Int(argument)])
            default:
                if onServer {
                    try pair.server.call(operation, detail, &script)
                } else {
                    try pair.client.call(operation, detail, &script)
                }
            }
        }
        try pair.exchangeUntilQuiet()
        try pair.client.checkHeldCounts()
        try pair.server.checkHeldCounts()
    }

    /// A script's configuration for one side, without in-band TLS (the pair has no TLS to do).
    static func pairConfiguration(_ bits: UInt8, role: ConnectionConfiguration.Role) -> ConnectionConfiguration {
        // SASL mode 3 is a refusal by design (PLAIN refused, or not allowed in the clear): use 2.
        let sasl = bits & 3 == 3 ? bits & ~1 : bits
        return EngineDriver.scriptConfiguration(sasl, role: role)
    }

    mutating func move(toServer: Bool, count: Int) throws(FuzzFinding) {
        client.peerFilledHandles = server.linkPeaks.values.contains { $0 > Int(server.engine.configuration.handleMax) }
        server.peerFilledHandles = client.linkPeaks.values.contains { $0 > Int(client.engine.configuration.handleMax) }
        client.peerEnforcesLimits = !server.applicationEnforcedLimits.isEmpty
        server.peerEnforcesLimits = !client.applicationEnforcedLimits.isEmpty
        if toServer {
            let chunk = client.outbox!.prefix(count)
            client.outbox!.removeFirst(chunk.count)
            if !chunk.isEmpty { try server.feed(chunk) }
        } else {
            let chunk = server.outbox!.prefix(count)
            server.outbox!.removeFirst(chunk.count)
            if !chunk.isEmpty { try client.feed(chunk) }
        }
    }

    /// Moves bytes both ways until neither side has anything to say. Two engines always go
    /// quiet: nothing they write asks for an answer that asks for another. Messages take their
    /// time, though: with 512-byte frames and a session window of two transfers, an exchange moves
    /// about 800 payload bytes, so the bound grows with what the applications sent.
    mutating func exchangeUntilQuiet() throws(FuzzFinding) {
        let limit = 1_000 + (client.sentPayloadBytes + server.sentPayloadBytes) / 256
        for _ in 0..<limit {
            if client.outbox!.isEmpty && server.outbox!.isEmpty { return }
            try move(toServer: true, count: .max)
            try move(toServer: false, count: .max)
        }
        throw FuzzFinding("two engines still talk after \(limit) exchanges")
    }
}

extension EngineDriver {
    /// The application calls of a pair operation, on this side.
    mutating func call(_ operation: EnginePairDriver.Operation, _ detail: UInt8, _ script: inout ArraySlice<UInt8>) throws(FuzzFinding) {
        switch operation {
        case .accept:
            try acceptOldest(withTermini: true, smallMaxMessageSize: detail & 1 != 0, enforcesLarger: detail & 2 != 0, sendsSettled: detail & 4 != 0)
        case .refuse:
            try refuseOldest()
        case .credit:
            try setCredit(Self.creditSteps[Int(detail & 3) * 2 + 1], drain: detail & 4 != 0, pick: script.popFirst() ?? 0)
        case .send:
            let pick = script.popFirst() ?? 0
            try send(payloadSize: Self.payloadSizes[Int(detail)], settled: pick & 0x80 != 0, pick: pick)
        case .settle:
            try settleOldest(state: detail, settled: true)
        case .detach:
            try detach(pick: script.popFirst() ?? 0, closed: detail & 1 == 0, withError: detail & 2 != 0)
        case .end:
            try endSession(pick: detail)
        case .close:
            try close(withError: detail & 1 != 0)
        case .begin:
            try beginSession()
        case .attach:
            try attach(sessionIndex: Int(detail >> 1), isSender: detail & 1 != 0, name: "link-\(detail >> 1)")
        case .policy:
            let bits = script.popFirst() ?? 0xFF
            autoAccept = bits & 1 != 0
            autoCredit = bits & 2 != 0
            autoSettle = bits & 4 != 0
            autoSend = bits & 8 != 0
        case .toServer, .toClient, .exchange, .tick, .reserved:
            break
        }
    }

    /// The conditions the applications of a pair use: anything else an engine raises is a fault
    /// it found in the other, which cannot be.
    static let applicationConditions: Set<ErrorCondition> = [.amqp(.internalError), .link(.detachForced), .amqp(.notFound)]

    /// In a pair, every error this engine raised must be one the application chose, or the idle
    /// timeout once time has jumped.
    func judge(_ event: ConnectionEvent) throws(FuzzFinding) {
        let error: AMQPError?
        switch event {
        case .closed(let e, false): error = e
        case .sessionEnded(_, let e, false): error = e
        case .linkDetached(_, let e, _, false): error = e
        case .failed(.idleTimeout) where timeJumped: return
        case .failed(let failure): throw FuzzFinding("between two of our engines, the \(role) failed: \(failure)")
        default: return
        }
        guard let error else { return }
        if Self.applicationConditions.contains(error.condition) { return }
        // An answer the other side's max-frame-size cannot carry (a terminus or link name the
        // application chose); the output checker holds every frame to that size.
        if error.condition == .amqp(.frameSizeTooSmall) { return }
        if case .closed = event, error.condition == .amqp(.resourceLimitExceeded), timeJumped { return }
        // A receiving link whose application enforces less than it advertised.
        if case .linkDetached(let id, _, _, _) = event, error.condition == .link(.messageSizeExceeded),
           applicationEnforcedLimits.contains(id) || peerEnforcesLimits { return }
        // Both applications may begin sessions at once, and together need more channels than
        // channel-max allows (§2.7.1): the engine that runs out while every channel it may use
        // carries a session its application knows of has no way but to close.
        if case .closed = event, error.condition == .amqp(.resourceLimitExceeded),
           sessions.count > Int(engine.configuration.channelMax) { return }
        // Likewise links and handle-max: a session whose links once took every handle it has ends
        // (detaching its links) when the other side attaches one more.
        if error.condition == .amqp(.resourceLimitExceeded) {
            let session: SessionID?
            switch event {
            case .sessionEnded(let id, _, _): session = id
            case .linkDetached(let id, _, _, _): session = linkSessions[id]
            default: session = nil
            }
            if let session, (linkPeaks[session] ?? 0) > Int(engine.configuration.handleMax) || peerFilledHandles { return }
        }
        throw FuzzFinding("between two of our engines, the \(role) raised \(error.condition.rawValue): \(error.description ?? "") (\(ValueOracle.brief(event)))")
    }
}
