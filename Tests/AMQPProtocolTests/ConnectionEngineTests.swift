import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

@Suite("Connection engine: headers, SASL, open and close (§2.2, §2.4, §5.3)")
struct ConnectionLifecycleTests {
    @Test("open without SASL, then close from the client")
    func openAndClose() throws {
        var pair = EnginePair.plain()
        pair.start()
        #expect(pair.client.isOpen)
        #expect(pair.server.isOpen)
        #expect(pair.client.peerOpen?.containerID == "server")
        #expect(pair.server.peerOpen?.containerID == "client")
        #expect(pair.server.peerOpen?.hostname == "localhost")
        pair.client.close()
        pair.run()
        #expect(pair.client.isFinished)
        #expect(pair.server.isFinished)
        #expect(pair.serverEvents.contains { if case .closed(nil, true) = $0 { return true } else { return false } })
        #expect(pair.clientEvents.contains { if case .closed(nil, false) = $0 { return true } else { return false } })
    }

    @Test("SASL PLAIN with a credential check, then AMQP")
    func saslPlain() throws {
        var pair = EnginePair.plain(
            clientSASL: .client([PlainMechanism(username: "RootManageSharedAccessKey", password: "SAS_KEY_VALUE")]),
            serverSASL: .server([AnonymousMechanism(), PlainServerMechanism { $0 == "RootManageSharedAccessKey" && $1 == "SAS_KEY_VALUE" }], required: true))
        pair.start()
        #expect(pair.client.isOpen)
        #expect(pair.serverEvents.contains {
            if case .authenticated("RootManageSharedAccessKey", "PLAIN") = $0 { return true } else { return false }
        })
        // The wire: SASL header both ways, mechanisms, init, outcome, AMQP header both ways, opens.
        #expect(Array(pair.clientToServer.prefix(8)) == ProtocolHeader.sasl.bytes)
        #expect(Array(pair.serverToClient.prefix(8)) == ProtocolHeader.sasl.bytes)
    }

    @Test("the client prefers its first mechanism the server offers")
    func mechanismChoice() throws {
        var pair = EnginePair.plain(
            clientSASL: .client([ExternalMechanism(), AnonymousMechanism()]),
            serverSASL: .server([PlainServerMechanism { _, _ in false }, AnonymousMechanism()], required: true))
        pair.start()
        #expect(pair.client.isOpen)
        #expect(pair.serverEvents.contains { if case .authenticated(_, "ANONYMOUS") = $0 { return true } else { return false } })
    }

    @Test("a wrong password fails both sides with a SASL error, and no AMQP frame is exchanged")
    func saslRefused() throws {
        var pair = EnginePair.plain(
            clientSASL: .client([PlainMechanism(username: "u", password: "wrong")]),
            serverSASL: .server([PlainServerMechanism { $1 == "right" }], required: true))
        pair.start()
        #expect(pair.client.isFinished)
        #expect(pair.server.isFinished)
        guard case .failed(.sasl(let error))? = pair.clientEvents.last else {
            Issue.record("client did not fail: \(pair.clientEvents)")
            return
        }
        #expect(error.kind == .authenticationFailed)
        #expect(pair.server.peerOpen == nil)
    }

    @Test("PLAIN is refused over a connection without TLS unless allowed")
    func plainNeedsTLS() throws {
        var pair = EnginePair(
            client: ConnectionConfiguration(role: .client, containerID: "c", sasl: .client([PlainMechanism(username: "u", password: "p")])),
            server: ConnectionConfiguration(role: .server, containerID: "s", sasl: .server([PlainServerMechanism { _, _ in true }], required: true)))
        pair.start()
        guard case .failed(.sasl(let error))? = pair.clientEvents.last else {
            Issue.record("client did not refuse: \(pair.clientEvents)")
            return
        }
        #expect(error.kind == .plaintextRefused)
        // The password never left: the client sent no sasl-init.
        #expect(!pair.clientToServer.contains(0x70) || !String(decoding: pair.clientToServer, as: UTF8.self).contains("p"))
    }

    static func isStartTLS(_ event: ConnectionEvent) -> Bool {
        if case .startTLS = event { return true } else { return false }
    }

    @Test("in-band TLS (§5.2.1): TLS headers both ways, the handshake, then SASL PLAIN, which TLS makes safe to send")
    func inBandTLS() throws {
        var pair = EnginePair(
            client: ConnectionConfiguration(role: .client, containerID: "c", sasl: .client([PlainMechanism(username: "u", password: "p")])),
            server: ConnectionConfiguration(role: .server, containerID: "s", sasl: .server([PlainServerMechanism { $0 == "u" && $1 == "p" }], required: true),
                                            inBandTLS: .required))
        pair.server.start(now: pair.now)
        pair.client.start(now: pair.now, inBandTLS: true)
        pair.run()
        #expect(pair.clientToServer == ProtocolHeader.tls.bytes)
        #expect(pair.serverToClient == ProtocolHeader.tls.bytes)
        #expect(pair.clientEvents.contains(where: Self.isStartTLS))
        #expect(pair.serverEvents.contains(where: Self.isStartTLS))
        #expect(!pair.client.isOpen)
        // The transport runs the handshake on the socket, then tells each engine.
        pair.server.tlsEstablished()
        pair.client.tlsEstablished()
        pair.run()
        #expect(pair.client.isOpen)
        #expect(pair.server.isOpen)
        #expect(pair.serverEvents.contains { if case .authenticated("u", "PLAIN") = $0 { return true } else { return false } })
    }

    @Test("a server that requires in-band TLS answers SASL or AMQP first with its TLS header and hangs up; one that refuses it answers TLS with SASL")
    func inBandTLSPolicies() throws {
        var required = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", inBandTLS: .required))
        required.start(now: 0)
        required.receive(ProtocolHeader.amqp.bytes, now: 0)
        #expect(required.takeOutput() == ProtocolHeader.tls.bytes)
        #expect(required.isFinished)

        var refused = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s",
                                                                            sasl: .server([AnonymousMechanism()], required: true)))
        refused.start(now: 0)
        refused.receive(ProtocolHeader.tls.bytes, now: 0)
        #expect(refused.takeOutput() == ProtocolHeader.sasl.bytes)
        #expect(refused.isFinished)
        #expect(!refused.takeEvents().contains(where: Self.isStartTLS))

        // Accepted, not required: a client in the clear goes on in the clear.
        var pair = EnginePair(client: ConnectionConfiguration(role: .client, containerID: "c"),
                              server: ConnectionConfiguration(role: .server, containerID: "s", inBandTLS: .accepted))
        pair.start()
        #expect(pair.client.isOpen)
        #expect(!pair.serverEvents.contains(where: Self.isStartTLS))
    }

    @Test("no mechanism in common")
    func noCommonMechanism() throws {
        var pair = EnginePair.plain(
            clientSASL: .client([ExternalMechanism()]),
            serverSASL: .server([AnonymousMechanism()], required: true))
        pair.start()
        guard case .failed(.sasl(let error))? = pair.clientEvents.last else {
            Issue.record("client did not fail")
            return
        }
        #expect(error.kind == .noCommonMechanism)
    }

    @Test("a server that requires SASL answers an AMQP header with its SASL header and hangs up")
    func saslRequired() throws {
        var pair = EnginePair.plain(serverSASL: .server([AnonymousMechanism()], required: true))
        pair.start()
        #expect(Array(pair.serverToClient) == ProtocolHeader.sasl.bytes)
        #expect(pair.server.isFinished)
        #expect(pair.client.isFinished)
    }

    @Test("an unsupported version gets our header back, then the connection ends (§2.2)")
    func wrongVersion() {
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        server.start(now: 0)
        server.receive([0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1], now: 0)  // AMQP 0-9-1
        #expect(server.takeOutput() == ProtocolHeader.amqp.bytes)
        #expect(server.isFinished)
        guard case .failed(.protocolHeaderMismatch)? = server.takeEvents().last else {
            Issue.record("no failure")
            return
        }
    }

    @Test("bytes that are not a protocol header at all also get our header back before the end (§2.2)")
    func notAProtocolHeader() {
        // Found with hostile bytes through a socket: an HTTP request got no answer at all.
        for sasl in [ConnectionConfiguration.SASL.none, .server([AnonymousMechanism()], required: false)] {
            var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", sasl: sasl))
            server.start(now: 0)
            server.receive(Array("GET / HTTP/1.1\r\n".utf8), now: 0)
            let expected: ProtocolHeader
            if case .none = sasl { expected = .amqp } else { expected = .sasl }
            #expect(server.takeOutput() == expected.bytes)
            #expect(server.isFinished)
            guard case .failed(.framing(let error))? = server.takeEvents().last else {
                Issue.record("no framing failure")
                continue
            }
            #expect(error.kind == .invalidProtocolHeader)
        }
    }

    @Test("the client pipelines open, begin and attach; the server accepts them in one read")
    func pipelining() throws {
        var client = ConnectionEngine(configuration: ConnectionConfiguration(role: .client, containerID: "c"))
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        client.start(now: 0)
        server.start(now: 0)
        let session = try client.beginSession()
        _ = try client.attachLink(on: session, .init(name: "l", role: .sender, target: .target(Target(address: .string("q")))))
        let burst = client.takeOutput()
        let frames = try performatives(in: burst)
        #expect(frames.map { "\($0.performative)".prefix(5) } == ["open(", "begin", "attac"])
        server.receive(burst, now: 0)
        let events = server.takeEvents()
        #expect(events.count == 3)
        guard case .opened = events[0], case .sessionBegun = events[1], case .linkAttachRequested = events[2] else {
            Issue.record("\(events)")
            return
        }
        let reply = try performatives(in: server.takeOutput())
        #expect(reply.count == 2)  // open and begin; the attach waits for the application
    }

    @Test("the server writes every performative field (the full policy)")
    func serverWritesFull() throws {
        var pair = EnginePair.plain()
        pair.start()
        // open from the server: list with all ten fields
        let serverFrames = try performatives(in: pair.serverToClient)
        guard case .open(let open)? = serverFrames.first?.performative else {
            Issue.record("no open")
            return
        }
        #expect(open.maxFrameSize == 1 << 20)
        var decoder = FrameDecoder()
        decoder.append(pair.serverToClient)
        _ = try decoder.next()
        guard case .frame(let frame)? = try decoder.next() else { return }
        // 00 53 10 then list8/list32 (never list0), ten fields.
        #expect(Array(frame.body.prefix(3)) == [0x00, 0x53, 0x10])
        #expect(frame.body[frame.body.startIndex + 3] == 0xC0 || frame.body[frame.body.startIndex + 3] == 0xD0)
        #expect(frame.body[frame.body.startIndex + 5] == 10)
    }
}

@Suite("Connection engine: protocol violations close the connection with the right condition")
struct ProtocolViolationTests {
    func server() -> ConnectionEngine {
        var s = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        s.start(now: 0)
        return s
    }

    func frame<P: AMQPEncodable>(_ p: P, channel: UInt16 = 0, payload: [UInt8] = []) -> [UInt8] {
        var e = AMQPEncoder()
        FrameEncoder.write(p, payload: payload, channel: channel, into: &e)
        return e.bytes
    }

    func closeCondition(_ engine: inout ConnectionEngine) -> ErrorCondition? {
        for event in engine.takeEvents() {
            if case .closed(let error?, false) = event { return error.condition }
        }
        return nil
    }

    var open: Open { Open(containerID: "peer") }

    @Test("a frame before open")
    func frameBeforeOpen() {
        var s = server()
        s.receive(ProtocolHeader.amqp.bytes + frame(Begin(nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10)), now: 0)
        #expect(closeCondition(&s) == .amqp(.illegalState))
        #expect(s.isFinished)
    }

    @Test("a frame on a channel without a session")
    func unknownChannel() {
        var s = server()
        s.receive(ProtocolHeader.amqp.bytes + frame(open) + frame(End(), channel: 9), now: 0)
        #expect(closeCondition(&s) == .connection(.framingError))
    }

    @Test("bytes that do not decode as a performative")
    func garbage() {
        var s = server()
        var bad: [UInt8] = [0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xFF]
        bad[3] = UInt8(bad.count)
        s.receive(ProtocolHeader.amqp.bytes + frame(open) + bad, now: 0)
        #expect(closeCondition(&s) == .amqp(.decodeError))
    }

    @Test("a frame larger than our max-frame-size")
    func frameTooLarge() {
        var s = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", maxFrameSize: 512))
        s.start(now: 0)
        s.receive(ProtocolHeader.amqp.bytes + frame(open) + [0, 0, 0x10, 0, 2, 0, 0, 0], now: 0)
        #expect(closeCondition(&s) == .connection(.framingError))
    }

    @Test("a transfer without credit detaches the link with transfer-limit-exceeded")
    func transferWithoutCredit() throws {
        var s = server()
        let attach = Attach(name: "l", handle: 0, role: .sender, target: .target(Target(address: .string("q"))), initialDeliveryCount: 0)
        s.receive(ProtocolHeader.amqp.bytes + frame(open) + frame(Begin(nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10)) + frame(attach), now: 0)
        for event in s.takeEvents() {
            if case .linkAttachRequested(_, let id, let a) = event { try s.acceptLink(id, source: a.source, target: a.target) }
        }
        _ = s.takeOutput()
        s.receive(frame(Transfer(handle: 0, deliveryID: 0, deliveryTag: [1], more: false), payload: [0x00, 0x53, 0x77, 0x40]), now: 0)
        let detaches = try performatives(in: s.takeOutput()).compactMap { if case .detach(let d) = $0.performative { return d } else { return nil } }
        #expect(detaches.first?.error?.condition == .link(.transferLimitExceeded))
        #expect(!s.isFinished)  // the connection and session live on
    }

    @Test("a small incoming window is replenished as transfers arrive (§2.5.6)")
    func windowReplenished() throws {
        var s = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", sessionIncomingWindow: 4))
        s.start(now: 0)
        let attach = Attach(name: "l", handle: 0, role: .sender, target: .target(Target(address: .string("q"))), initialDeliveryCount: 0)
        s.receive(ProtocolHeader.amqp.bytes + frame(open) + frame(Begin(nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10)) + frame(attach), now: 0)
        for event in s.takeEvents() {
            if case .linkAttachRequested(_, let id, let a) = event {
                try s.acceptLink(id, source: a.source, target: a.target)
                try s.setCredit(100, on: id)
            }
        }
        _ = s.takeOutput()
        var burst: [UInt8] = []
        for i in 0..<10 { burst += frame(Transfer(handle: 0, deliveryID: i == 0 ? 0 : nil, deliveryTag: i == 0 ? [1] : nil, more: i < 9), payload: [1]) }
        s.receive(burst, now: 0)
        let frames = try performatives(in: s.takeOutput())
        let flows = frames.compactMap { if case .flow(let f) = $0.performative { return f } else { return nil } }
        #expect(flows.count >= 4)
        #expect(flows.allSatisfy { $0.handle == nil && $0.incomingWindow == 4 })
        #expect(flows.last?.nextIncomingID == 10)
        #expect(!frames.contains { if case .end = $0.performative { return true } else { return false } })
        let deliveries = s.takeEvents().compactMap { if case .delivery(_, let d) = $0 { return d } else { return nil } }
        #expect(deliveries.count == 1)
        #expect(deliveries.first?.payload.count == 10)
    }

    @Test("a second open")
    func secondOpen() {
        var s = server()
        s.receive(ProtocolHeader.amqp.bytes + frame(open) + frame(open), now: 0)
        #expect(closeCondition(&s) == .amqp(.illegalState))
    }

    @Test("an AMQP frame during SASL fails the connection")
    func amqpFrameDuringSASL() {
        var s = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", sasl: .server([AnonymousMechanism()], required: true)))
        s.start(now: 0)
        s.receive(ProtocolHeader.sasl.bytes + frame(open), now: 0)
        #expect(s.isFinished)
    }

    @Test("max-frame-size below 512 is refused")
    func tinyMaxFrameSize() {
        var s = server()
        s.receive(ProtocolHeader.amqp.bytes + frame(Open(containerID: "p", maxFrameSize: 100)), now: 0)
        #expect(closeCondition(&s) == .amqp(.invalidField))
    }
}

@Suite("Connection engine: idle timeout (§2.4.5)")
struct IdleTimeoutTests {
    @Test("heartbeats at half the peer's advertised timeout; close when our own passes in silence")
    func heartbeatsAndTimeout() throws {
        var pair = EnginePair(
            client: ConnectionConfiguration(role: .client, containerID: "c", idleTimeout: 10_000),
            server: ConnectionConfiguration(role: .server, containerID: "s", idleTimeout: 4_000))
        pair.start()
        // The server advertises 2 s (half of its 4 s); the client must write within 1 s of quiet.
        #expect(pair.client.peerOpen?.idleTimeout == 2_000)
        let start = pair.now
        _ = pair.client.tick(now: start)
        #expect(!pair.client.hasOutput)
        _ = pair.client.tick(now: start + 1_000_000_000)
        #expect(pair.client.takeOutput() == [0, 0, 0, 8, 2, 0, 0, 0])
        // The server hears nothing for 4 s: it closes with resource-limit-exceeded.
        _ = pair.server.tick(now: start + 3_900_000_000)
        #expect(!pair.server.isFinished)
        _ = pair.server.tick(now: start + 4_000_000_000)
        #expect(pair.server.isFinished)
        let close = try performatives(in: pair.server.takeOutput()).last
        guard case .close(let c)? = close?.performative else {
            Issue.record("no close")
            return
        }
        #expect(c.error?.condition == .amqp(.resourceLimitExceeded))
    }
}

@Suite("Connection engine: peers that close in a hurry")
struct HurriedCloseTests {
    func frame<P: AMQPEncodable>(_ p: P, channel: UInt16 = 0) -> [UInt8] {
        var e = AMQPEncoder()
        FrameEncoder.write(p, channel: channel, into: &e)
        return e.bytes
    }

    @Test("frames after the peer's end on that channel are dropped (the Python SDK pipelines end before detach)")
    func framesAfterEnd() throws {
        var s = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        s.start(now: 0)
        let attach = Attach(name: "l", handle: 0, role: .sender, target: .target(Target(address: .string("q"))), initialDeliveryCount: 0)
        s.receive(ProtocolHeader.amqp.bytes + frame(Open(containerID: "p")) + frame(Begin(nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10), channel: 1)
                  + frame(attach, channel: 1), now: 0)
        for event in s.takeEvents() {
            if case .linkAttachRequested(_, let id, let a) = event { try s.acceptLink(id, source: a.source, target: a.target) }
        }
        s.receive(frame(End(), channel: 1) + frame(Detach(handle: 0, closed: true), channel: 1) + frame(Close()), now: 0)
        let events = s.takeEvents()
        #expect(events.contains { if case .closed(nil, true) = $0 { return true } else { return false } })
        #expect(!events.contains { if case .closed(.some, false) = $0 { return true } else { return false } })
    }
}
