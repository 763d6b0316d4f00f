import AMQPCodec
import AMQPTypes

extension ConnectionEngine {
    // MARK: Protocol headers

    mutating func receiveHeader(_ header: ProtocolHeader) {
        switch configuration.role {
        case .client: clientReceivedHeader(header)
        case .server: serverReceivedHeader(header)
        }
    }

    mutating func clientReceivedHeader(_ header: ProtocolHeader) {
        let expected: ProtocolHeader
        switch phase {
        case .awaitingTLSHeader: expected = .tls
        case .awaitingHeader:
            if case .client = configuration.sasl, !saslDone { expected = .sasl } else { expected = .amqp }
        default:
            fail(.protocolViolation("unexpected protocol header \(header)"))
            return
        }
        guard header == expected else {
            fail(.protocolHeaderMismatch(received: header, expected: expected))
            return
        }
        switch header.id {
        case .tls:
            phase = .tlsHandshake
            events.append(.startTLS)
        case .sasl:
            phase = .sasl
        case .amqp:
            phase = .amqp
        }
    }

    mutating func serverReceivedHeader(_ header: ProtocolHeader) {
        guard case .awaitingHeader = phase else {
            fail(.protocolViolation("unexpected protocol header \(header)"))
            return
        }
        var saslRequired = false
        var saslOffered = false
        if case .server(_, let required) = configuration.sasl {
            saslOffered = true
            saslRequired = required
        }
        // What we would answer with if we could not accept this header (§2.2: reply with the
        // header we support, then close).
        let preferred = serverPreferredHeader
        guard header.isVersion1_0_0 else {
            writeHeader(preferred)
            fail(.protocolHeaderMismatch(received: header, expected: preferred))
            return
        }
        // A server that requires in-band TLS takes nothing else first.
        guard header.id == .tls || preferred != .tls else {
            writeHeader(.tls)
            fail(.protocolHeaderMismatch(received: header, expected: .tls))
            return
        }
        switch header.id {
        case .tls:
            guard configuration.inBandTLS != .refused, !tlsDone else {
                writeHeader(preferred)
                fail(.protocolHeaderMismatch(received: header, expected: preferred))
                return
            }
            // The answer goes out in the clear; the transport starts the handshake after it.
            writeHeader(.tls)
            phase = .tlsHandshake
            events.append(.startTLS)
        case .sasl:
            guard saslOffered, !saslDone, case .server(let mechanisms, _) = configuration.sasl else {
                writeHeader(.amqp)
                fail(.protocolHeaderMismatch(received: header, expected: .amqp))
                return
            }
            writeHeader(.sasl)
            writeSASL(SASLMechanisms(saslServerMechanisms: mechanisms.map(\.name)))
            phase = .sasl
        case .amqp:
            if saslRequired && !saslDone {
                writeHeader(.sasl)
                fail(.protocolHeaderMismatch(received: header, expected: .sasl))
                return
            }
            writeHeader(.amqp)
            phase = .amqp
        }
    }

    // MARK: Frames

    mutating func receiveFrame(_ frame: Frame) {
        switch phase {
        case .sasl:
            guard frame.type == .sasl else {
                fail(.protocolViolation("AMQP frame during SASL negotiation"))
                return
            }
            receiveSASLFrame(frame)
        case .amqp:
            guard frame.type == .amqp else {
                closeForViolation(.connection(.framingError), "SASL frame after SASL negotiation")
                return
            }
            guard !frame.isEmpty else { return }  // heartbeat
            if closeSent {
                // After our close only the peer's close matters (§2.4.3).
                var body = AMQPDecoder(frame.body)
                if case .close? = try? body.decode(Performative.self) {
                    closeReceived = true
                    phase = .finished
                    events.append(.closed(error: localCloseError, byPeer: false))
                }
                return
            }
            var body = AMQPDecoder(frame.body)
            let performative: Performative
            do {
                performative = try body.decode(Performative.self)
            } catch {
                closeForViolation(.amqp(.decodeError), "frame on channel \(frame.channel): \(error)")
                return
            }
            let payload = frame.body.dropFirst(body.offset)
            if !payload.isEmpty {
                guard case .transfer = performative else {
                    closeForViolation(.connection(.framingError), "\(body.offset)-byte performative followed by \(payload.count) bytes that are not a transfer payload")
                    return
                }
            }
            receivePerformative(performative, channel: frame.channel, payload: payload)
        default:
            fail(.protocolViolation("frame before the protocol header exchange completed"))
        }
    }

    mutating func receivePerformative(_ performative: Performative, channel: UInt16, payload: ArraySlice<UInt8>) {
        if remoteOpen == nil {
            guard case .open(let open) = performative else {
                closeForViolation(.amqp(.illegalState), "the first frame must be open")
                return
            }
            receiveOpen(open)
            return
        }
        if let pending = pendingAttachReply {
            if case .detach(let detach) = performative, detaches(detach, onRemoteChannel: channel, link: pending) {
                pendingAttachReply = nil
                if let (local, handle) = linkLocations[pending] { modifyLink(local, handle) { $0.refusedByPeer = true } }
            } else {
                reportPendingAttach()
            }
        }
        switch performative {
        case .open:
            closeForViolation(.amqp(.illegalState), "second open")
        case .close(let close):
            receiveClose(close)
        case .begin(let begin):
            receiveBegin(begin, channel: channel)
        case .end(let end):
            if remoteChannels[channel] == nil && endedRemoteChannels.contains(channel) { return }
            receiveEnd(end, channel: channel)
        case .attach(let attach):
            withSession(channel) { engine, channel in engine.receiveAttach(attach, channel: channel) }
        case .flow(let flow):
            withSession(channel) { engine, channel in engine.receiveFlow(flow, channel: channel) }
        case .transfer(let transfer):
            withSession(channel) { engine, channel in engine.receiveTransfer(transfer, payload: payload, channel: channel) }
        case .disposition(let disposition):
            withSession(channel) { engine, channel in engine.receiveDisposition(disposition, channel: channel) }
        case .detach(let detach):
            withSession(channel) { engine, channel in engine.receiveDetach(detach, channel: channel) }
        case .unknown(let descriptor, _):
            closeForViolation(.amqp(.notImplemented), "unknown performative \(descriptor)")
        }
    }

    /// Runs `body` with the local channel of the session the peer calls `remoteChannel`, or
    /// closes the connection when there is none.
    mutating func withSession(_ remoteChannel: UInt16, _ body: (inout ConnectionEngine, UInt16) -> Void) {
        guard let local = remoteChannels[remoteChannel], sessions[local] != nil else {
            if endedRemoteChannels.contains(remoteChannel) { return }
            closeForViolation(.connection(.framingError), "frame on channel \(remoteChannel), which has no session")
            return
        }
        body(&self, local)
    }

    mutating func receiveOpen(_ open: Open) {
        guard open.maxFrameSize >= Frame.minimumMaxFrameSize else {
            closeForViolation(.amqp(.invalidField), "max-frame-size \(open.maxFrameSize) is below 512")
            return
        }
        remoteOpen = open
        remoteMaxFrameSize = open.maxFrameSize
        remoteChannelMax = open.channelMax
        remoteIdleTimeout = open.idleTimeout
        if configuration.role == .server { writeOpen() }
        events.append(.opened(open))
    }

    mutating func receiveClose(_ close: Close) {
        closeReceived = true
        if !closeSent {
            write(Close(), channel: 0)
            closeSent = true
        }
        events.append(.closed(error: close.error, byPeer: true))
        phase = .finished
    }
}
