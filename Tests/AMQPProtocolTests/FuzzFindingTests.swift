import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// Engine bugs the fuzz drivers found (issue 7), each as the smallest story that shows it. The
/// minimized inputs are replayed too, from `Tests/FuzzRegressions`.
@Suite("Connection engine: what the fuzz drivers found")
struct FuzzFindingTests {
    /// Calls an application may still make while a close is under way: none of them may write.
    static func callEverything(_ engine: inout ConnectionEngine, session: SessionID, sender: LinkID, receiver: LinkID) {
        _ = try? engine.setCredit(5, on: receiver)
        _ = try? engine.send(on: sender, payload: [1, 2, 3][...])
        _ = try? engine.settle(0, on: receiver, state: .accepted(Accepted()))
        engine.detachLink(sender)
        engine.endSession(session)
        _ = try? engine.beginSession()
        engine.close()
        _ = engine.tick(now: 1_000_000_000_000)
    }

    /// A session on the server with a link each way, as the server's application sees them.
    static func openBothWays(_ pair: inout EnginePair) throws -> (session: SessionID, sender: LinkID, receiver: LinkID) {
        let (_, receiver) = try pair.openSenderLink()
        let clientSession = try #require(pair.clientEvents.compactMap { if case .sessionBegun(let id, _) = $0 { return id } else { return nil } }.first)
        _ = try pair.client.attachLink(on: clientSession, .init(name: "receiver", role: .receiver, source: .source(Source(address: .string("queue")))))
        pair.run()
        let sender = try #require(pair.serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, let attach) = event, attach.role == .receiver { return id } else { return nil }
        }.first)
        let session = try #require(pair.serverEvents.compactMap { if case .sessionBegun(let id, _) = $0 { return id } else { return nil } }.first)
        return (session, sender, receiver)
    }

    /// fuzz-listener: after `close()`, an `end` (the application ending its session) followed
    /// the close frame. §2.7.9: the sender of close sends nothing more.
    @Test("nothing is written after our close, whatever the application calls")
    func nothingAfterOurClose() throws {
        var pair = EnginePair.plain()
        let (session, sender, receiver) = try Self.openBothWays(&pair)
        pair.server.close()
        let close = pair.server.takeOutput()
        Self.callEverything(&pair.server, session: session, sender: sender, receiver: receiver)
        #expect(pair.server.takeOutput().isEmpty)
        #expect(try performatives(in: close).map(\.performative).allSatisfy { if case .close = $0 { return true } else { return false } })
    }

    @Test("nothing is written after the peer's close is answered, nor after the connection failed")
    func nothingAfterTheEnd() throws {
        var pair = EnginePair.plain()
        let (session, sender, receiver) = try Self.openBothWays(&pair)
        pair.client.close()
        pair.run()
        #expect(pair.server.isFinished)
        Self.callEverything(&pair.server, session: session, sender: sender, receiver: receiver)
        #expect(pair.server.takeOutput().isEmpty)

        // A client whose SASL failed: its pipelined frames and later calls write nothing.
        var client = ConnectionEngine(configuration: ConnectionConfiguration(role: .client, containerID: "c", sasl: .client([AnonymousMechanism()])))
        client.start(now: 0)
        let clientSession = try client.beginSession()
        _ = client.takeOutput()
        client.receive(ProtocolHeader.amqp.bytes, now: 0)
        #expect(client.isFinished)
        client.endSession(clientSession)
        client.close()
        #expect(client.takeOutput().isEmpty)
    }

    /// fuzz-client: an attach, the credit for it and the peer's close came in one read; the
    /// server's application accepted the link after the `closed` event and was told of credit.
    @Test("a link accepted after the peer's close is refused, and no event follows closed")
    func acceptAfterThePeersClose() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { _, _ in }  // the application answers after the read
        pair.start()
        let session = try pair.client.beginSession()
        let link = try pair.client.attachLink(on: session, .init(
            name: "receiver", role: .receiver,
            source: .source(Source(address: .string("queue"))), target: .target(Target(address: .string("client")))))
        try pair.client.setCredit(1, on: link)
        pair.client.close()
        pair.server.receive(pair.client.takeOutput(), now: pair.now)
        let events = pair.server.takeEvents()
        let (serverLink, attach) = try #require(events.compactMap { event -> (LinkID, Attach)? in
            if case .linkAttachRequested(_, let id, let attach) = event { return (id, attach) } else { return nil }
        }.first)
        #expect(events.contains { if case .closed = $0 { return true } else { return false } })
        #expect(throws: ConnectionUsageError.self) {
            try pair.server.acceptLink(serverLink, source: attach.source, target: attach.target)
        }
        #expect(pair.server.takeEvents().isEmpty)
    }

    @Test("no heartbeat follows our close while we wait for the peer's")
    func noHeartbeatAfterClose() throws {
        var pair = EnginePair.plain()
        pair.start()
        pair.client.close()
        _ = pair.client.tick(now: pair.now)
        _ = pair.client.takeOutput()
        // The server advertised idle-time-out 30 s; a client would send a heartbeat after 15 s.
        _ = pair.client.tick(now: pair.now + 20_000_000_000)
        #expect(pair.client.takeOutput().isEmpty)
    }
}

@Suite("Connection engine: nothing on a session after our end")
struct NothingAfterEndTests {
    /// Frames as a peer writes them.
    let peer = ProtocolViolationTests()

    /// fuzz-client: begin, attach a receiver, end the session, then grant credit: the flow went
    /// out on a channel whose session we had ended.
    @Test("late application calls write nothing on an ended session")
    func lateCalls() throws {
        var client = ConnectionEngine(configuration: ConnectionConfiguration(role: .client, containerID: "c"))
        client.start(now: 0)
        let session = try client.beginSession()
        let receiver = try client.attachLink(on: session, .init(name: "r", role: .receiver, source: .source(Source(address: .string("q")))))
        client.endSession(session)
        let before = try performatives(in: client.takeOutput()).map(\.performative)
        guard case .end? = before.last else {
            Issue.record("no end: \(before)")
            return
        }
        _ = try? client.setCredit(10, on: receiver)
        _ = try? client.settle(0, on: receiver, state: .accepted(Accepted()))
        client.detachLink(receiver)
        #expect(client.takeOutput().isEmpty)
    }

    /// The peer's flow (asking for an echo), detach and disposition cross our end: none is answered.
    @Test("frames the peer sent before it saw our end are not answered")
    func framesInFlight() throws {
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        server.start(now: 0)
        let attach = Attach(name: "l", handle: 0, role: .receiver, source: .source(Source(address: .string("q"))))
        server.receive(ProtocolHeader.amqp.bytes + peer.frame(Open(containerID: "peer")) + peer.frame(Begin(nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10)) + peer.frame(attach), now: 0)
        var session: SessionID?
        for event in server.takeEvents() {
            if case .linkAttachRequested(let s, let id, let a) = event {
                session = s
                try server.acceptLink(id, source: a.source, target: a.target)
            }
        }
        server.endSession(try #require(session))
        _ = server.takeOutput()
        server.receive(
            peer.frame(Flow(nextIncomingID: 0, incomingWindow: 10, nextOutgoingID: 0, outgoingWindow: 10, handle: 0, deliveryCount: 0, linkCredit: 5, echo: true))
                + peer.frame(Flow(nextIncomingID: 0, incomingWindow: 10, nextOutgoingID: 0, outgoingWindow: 10, echo: true))
                + peer.frame(Disposition(role: .receiver, first: 0, last: 3, settled: true, state: .accepted(Accepted())))
                + peer.frame(Detach(handle: 0, closed: true)),
            now: 0)
        #expect(server.takeOutput().isEmpty)
        #expect(!server.isFinished)
        server.receive(peer.frame(End()), now: 0)
        #expect(server.takeEvents().contains { if case .sessionEnded(_, nil, false) = $0 { return true } else { return false } })
    }
}

@Suite("Connection engine: ending a session before its begin is answered")
struct EarlyEndTests {
    /// A client that begins a session and ends it at once (an application that gives up, or a
    /// pipelined request that failed): the server answers both, and the client must take the
    /// answering begin, then the end, without closing the connection.
    @Test("begin, end, then the peer's answering begin and end: the session ends, the connection stays")
    func endBeforeBeginIsAnswered() throws {
        var pair = EnginePair.plain()
        pair.start()
        let session = try pair.client.beginSession()
        pair.client.endSession(session)
        pair.run()
        #expect(pair.client.isOpen, "\(pair.clientEvents)")
        #expect(pair.server.isOpen, "\(pair.serverEvents)")
        #expect(pair.clientEvents.contains { if case .sessionEnded(session, nil, false) = $0 { return true } else { return false } }, "\(pair.clientEvents)")
        // The channel can be used again.
        let again = try pair.client.beginSession()
        pair.run()
        #expect(pair.clientEvents.contains { if case .sessionBegun(again, _) = $0 { return true } else { return false } })
    }
}

@Suite("Links: credit lowered while transfers are in flight")
struct LoweredCreditTests {
    /// fuzz-client, two of our engines: a receiver granted 10, then lowered its credit to 1 while
    /// the sender, acting on the 10, already sent four. The receiver detached with
    /// transfer-limit-exceeded; the sender had done nothing wrong (§2.6.7: it acts on the last flow
    /// it saw). The receiver's credit budget (main, f84acd1) takes them.
    @Test("transfers sent under credit the receiver has since lowered are delivered")
    func loweredCredit() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        for _ in 0..<4 { try pair.client.send(on: sender, payload: LinkTests.message[...]) }
        try pair.server.setCredit(10, on: receiver)
        let grant = pair.server.takeOutput()
        try pair.server.setCredit(1, on: receiver)
        let lowered = pair.server.takeOutput()
        pair.client.receive(grant, now: pair.now)
        let transfers = pair.client.takeOutput()
        pair.client.receive(lowered, now: pair.now)
        pair.server.receive(transfers, now: pair.now)
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).count == 4)
        #expect(!pair.serverEvents.contains { if case .linkDetached = $0 { return true } else { return false } })
        #expect(pair.server.credit(of: receiver) == 0)
    }

    /// Beyond the highest limit ever granted, a transfer is still a violation.
    @Test("a transfer beyond every credit granted still detaches with transfer-limit-exceeded")
    func beyondEveryGrant() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        try pair.server.setCredit(1, on: receiver)
        pair.run()
        try pair.client.send(on: sender, payload: LinkTests.message[...])
        pair.run()
        // A second transfer the sender has no credit for, written by hand on the client's handle.
        var encoder = AMQPEncoder()
        FrameEncoder.write(Transfer(handle: 0, deliveryID: 1, deliveryTag: [9], more: false), payload: LinkTests.message, channel: 0, into: &encoder)
        pair.server.receive(encoder.bytes, now: pair.now)
        let detaches = try performatives(in: pair.server.takeOutput()).compactMap { if case .detach(let d) = $0.performative { return d } else { return nil } }
        #expect(detaches.first?.error?.condition == .link(.transferLimitExceeded))
    }
}

/// What the offline campaign of issue 7 found (minimized inputs in `Tests/FuzzRegressions`).
@Suite("Connection engine: what the fuzz campaign found")
struct CampaignFindingTests {
    /// fuzz-client (two engines): a message queued on a sending link before the peer's attach
    /// answered was sent although the answer advertised a smaller max-message-size, and the
    /// receiver detached the link with message-size-exceeded.
    @Test("a message queued before the peer's max-message-size is known and larger than it is rejected, not sent")
    func oversizedMessageQueuedBeforeAttach() throws {
        var pair = EnginePair.plain(serverMaxMessageSize: 100)
        pair.start()
        let session = try pair.client.beginSession()
        let sender = try pair.client.attachLink(on: session, .init(
            name: "sender", role: .sender, target: .target(Target(address: .string("queue")))))
        let large = try pair.client.send(on: sender, payload: [UInt8](repeating: 7, count: 101)[...])
        let small = try pair.client.send(on: sender, payload: [UInt8](repeating: 7, count: 100)[...])
        pair.serverPolicy = { engine, event in
            EnginePair.acceptEverything(&engine, event)
            if case .linkAttachRequested(_, let link, _) = event { _ = try? engine.setCredit(10, on: link) }
        }
        pair.run()
        #expect(pair.client.peerMaxMessageSize(of: sender) == 100)
        let outcomes = pair.outcomes(pair.clientEvents)
        let rejected = try #require(outcomes.first { $0.0 == large })
        guard case .rejected(let rejection)? = rejected.1 else {
            Issue.record("the oversized delivery's outcome is \(String(describing: rejected.1))")
            return
        }
        #expect(rejection.error?.condition == .link(.messageSizeExceeded))
        #expect(rejected.2)
        #expect(pair.deliveries(pair.serverEvents).map(\.payload.count) == [100])
        #expect(!outcomes.contains { $0.0 == small && $0.1 != nil && $0.1 != .accepted(Accepted()) })
        #expect(!pair.serverEvents.contains { if case .linkDetached = $0 { return true } else { return false } })
    }

    /// fuzz-client (two engines): the server's application accepted a link after the peer had
    /// closed the connection; the link had credit pipelined with its attach, and the engine
    /// reported `creditGranted` after `closed`.
    @Test("accepting a link after the connection closed fails and reports nothing")
    func acceptAfterClose() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { _, _ in }
        pair.start()
        let session = try pair.client.beginSession()
        let receiver = try pair.client.attachLink(on: session, .init(
            name: "receiver", role: .receiver, source: .source(Source(address: .string("queue")))))
        try pair.client.setCredit(10, on: receiver)
        pair.run()
        let link = try #require(pair.serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, _) = event { return id } else { return nil }
        }.first)
        pair.client.close()
        pair.run()
        #expect(pair.server.isFinished)
        _ = pair.server.takeEvents()
        #expect(throws: ConnectionUsageError.self) { try pair.server.acceptLink(link, source: nil, target: nil) }
        #expect(pair.server.takeEvents().isEmpty)
        #expect(pair.server.takeOutput().isEmpty)
    }

    /// fuzz-listener: a close before open whose error field was no error; our close quoted it in
    /// its description and came to 735 bytes, over the 512 a peer must take before its open
    /// (§2.7.1). Errors we write are now cut to the peer's max-frame-size; the application still
    /// hears the whole description.
    @Test("a close whose description quotes the peer is cut to the peer's max-frame-size", arguments: [false, true])
    func closeFitsPeerFrameSize(withInfo: Bool) throws {
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        server.start(now: 0)
        // A close whose error has a 300-character descriptor (600 bytes) instead of `error`'s.
        let long = String(repeating: "é", count: 300)
        var encoder = AMQPEncoder()
        let error = AMQPValue.described(descriptor: .string(long), value: .list([]))
        FrameEncoder.write(AMQPValue.described(descriptor: .ulong(0x18), value: .list([error])), channel: 0, into: &encoder)
        server.receive(ProtocolHeader.amqp.bytes + encoder.bytes, now: 0)
        let frames = try performatives(in: Array(server.takeOutput().dropFirst(8)))
        guard case .close(let close)? = frames.last?.performative else {
            Issue.record("no close: \(frames)")
            return
        }
        let description = try #require(close.error?.description)
        #expect(description.hasSuffix("…"))
        #expect(close.error?.condition == .amqp(.decodeError))
        let written = AMQPEncoder.encode(close, policy: server.configuration.encodingPolicy).count + Frame.headerSize
        #expect(written <= 512)
        let heard = server.takeEvents().compactMap { if case .closed(let e?, _) = $0 { return e } else { return nil } }.first
        #expect(heard?.description.map { $0.count > description.count } == true)

        // An application's error with info: info goes first, then the description is cut.
        var client = ConnectionEngine(configuration: ConnectionConfiguration(role: .client, containerID: "c", hostname: "h"))
        client.start(now: 0)
        let info: Fields? = withInfo ? [.symbol("detail"): .string(String(repeating: "x", count: 400))] : nil
        client.close(error: AMQPError(condition: .amqp(.internalError), description: String(repeating: "y", count: withInfo ? 200 : 700), info: info))
        let clientFrames = try performatives(in: Array(client.takeOutput().dropFirst(8)))
        guard case .close(let clientClose)? = clientFrames.last?.performative else {
            Issue.record("no close: \(clientFrames)")
            return
        }
        #expect(AMQPEncoder.encode(clientClose).count + Frame.headerSize <= 512)
        if withInfo {
            #expect(clientClose.error?.info == nil)
            #expect(clientClose.error?.description?.count == 200, "only info had to go")
        } else {
            #expect(clientClose.error?.description?.hasSuffix("…") == true)
        }
    }

    /// fuzz-listener: after our close, a frame that breaks the protocol (a SASL frame) finished
    /// the engine without a `closed` event and without leaving the AMQP phase, so `receive` kept
    /// buffering every byte it was given.
    @Test("a violation after our close finishes the engine with closed, and later bytes are not kept")
    func violationAfterOurClose() throws {
        var pair = EnginePair.plain()
        pair.start()
        pair.server.close()
        _ = pair.server.takeOutput()
        #expect(pair.server.takeEvents().isEmpty)
        // An empty SASL frame: size 8, data offset 2, type 1, channel 0.
        pair.server.receive([0, 0, 0, 8, 2, 1, 0, 0], now: pair.now)
        #expect(pair.server.isFinished)
        let events = pair.server.takeEvents()
        #expect(events.count == 1)
        if case .closed(_, false)? = events.first {} else { Issue.record("events after the violation: \(events)") }
        pair.server.receive([UInt8](repeating: 0, count: 1_000), now: pair.now)
        #expect(pair.server.footprint.bufferedBytes == 0)
        #expect(pair.server.takeEvents().isEmpty)
        #expect(pair.server.takeOutput().isEmpty)
    }

    static func noErrors(_ events: [ConnectionEvent]) -> Bool {
        !events.contains { event in
            switch event {
            case .sessionEnded, .closed, .failed: return true
            case .linkDetached(_, let error, _, _): return error != nil
            default: return false
            }
        }
    }

    static func detached(_ id: LinkID, _ events: [ConnectionEvent]) -> Bool {
        events.contains { if case .linkDetached(id, nil, true, _) = $0 { return true } else { return false } }
    }

    /// fuzz-client (two engines): a client attached and detached at once; the server read both
    /// before its application could answer and wrote a bare detach, for a handle its own attach
    /// had never established, and the client ended the session with unattached-handle.
    @Test("a link detached before the peer read its attach detaches cleanly on both sides")
    func detachBeforeTheAttachIsRead() throws {
        var pair = EnginePair.plain()
        pair.start()
        let session = try pair.client.beginSession()
        pair.run()
        let link = try pair.client.attachLink(on: session, .init(name: "early", role: .receiver, source: .source(Source(address: .string("queue")))))
        pair.client.detachLink(link)
        pair.run()
        #expect(Self.detached(link, pair.clientEvents))
        #expect(Self.noErrors(pair.clientEvents) && Self.noErrors(pair.serverEvents))
        #expect(pair.client.isOpen && pair.server.isOpen)
    }

    /// …and the other order: the server's answering attach crossed the client's detach. The
    /// client took the answer for a new link the server attached.
    @Test("a link detached while the peer's answering attach is on its way detaches cleanly")
    func detachCrossingTheAnswer() throws {
        var pair = EnginePair.plain()
        pair.start()
        let session = try pair.client.beginSession()
        pair.run()
        let link = try pair.client.attachLink(on: session, .init(name: "crossing", role: .receiver, source: .source(Source(address: .string("queue")))))
        pair.server.receive(pair.client.takeOutput(), now: pair.now)
        for event in pair.server.takeEvents() { EnginePair.acceptEverything(&pair.server, event) }
        let answer = pair.server.takeOutput()
        pair.client.detachLink(link)
        pair.client.receive(answer, now: pair.now)
        pair.run()
        #expect(Self.detached(link, pair.clientEvents))
        #expect(!pair.clientEvents.contains { if case .linkAttachRequested = $0 { return true } else { return false } })
        #expect(Self.noErrors(pair.clientEvents) && Self.noErrors(pair.serverEvents))
        #expect(pair.client.isOpen && pair.server.isOpen)
    }

    /// fuzz-client (two engines): the server's application detached a link it had not answered
    /// (rather than refusing it); the bare detach named a handle the server never attached.
    @Test("detaching a link the peer attached and we never answered writes our attach first")
    func detachUnansweredLink() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { _, _ in }
        pair.start()
        let session = try pair.client.beginSession()
        let link = try pair.client.attachLink(on: session, .init(name: "unanswered", role: .receiver, source: .source(Source(address: .string("queue")))))
        pair.run()
        let serverLink = try #require(pair.serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, _) = event { return id } else { return nil }
        }.first)
        pair.server.detachLink(serverLink)
        let output = pair.server.takeOutput()
        let written = try performatives(in: output).map(\.performative)
        guard written.count == 2, case .attach(let attach) = written[0], case .detach = written[1] else {
            Issue.record("written: \(written)")
            return
        }
        #expect(attach.source == nil && attach.target == nil)
        pair.client.receive(output, now: pair.now)
        pair.run()
        // The answer without termini refuses the client's link; its detach carries no error.
        #expect(pair.clientEvents.contains { if case .linkRefused(link, nil) = $0 { return true } else { return false } })
        #expect(Self.noErrors(pair.clientEvents))
        #expect(pair.client.isOpen && pair.server.isOpen)
    }
}

/// Frames the peer could not read: every frame we write fits its max-frame-size (§2.7.1).
@Suite("Connection engine: answers that would not fit the peer's frames")
struct OversizedAnswerTests {
    /// An attach whose source we echo is larger than the 512-byte frames the client takes.
    @Test("accepting a link whose answer exceeds the peer's max-frame-size refuses it with frame-size-too-small")
    func acceptTooLargeRefuses() throws {
        var pair = EnginePair.plain(clientMaxFrameSize: 512)
        pair.start()
        let session = try pair.client.beginSession()
        let link = try pair.client.attachLink(on: session, .init(
            name: "receiver", role: .receiver, source: .source(Source(address: .string(String(repeating: "a", count: 700))))))
        pair.run()
        let detached = pair.clientEvents.compactMap { event -> AMQPError? in
            if case .linkRefused(link, let error?) = event { return error } else { return nil }
        }
        #expect(detached.first?.condition == .amqp(.frameSizeTooSmall), "\(pair.clientEvents)")
        #expect(!pair.clientEvents.contains { if case .closed = $0 { return true } else { return false } })
        #expect(Self.frameSizes(Array(pair.serverToClient.dropFirst(8))).allSatisfy { $0 <= 512 })
        // The connection still works: a link that fits is accepted.
        let small = try pair.client.attachLink(on: session, .init(
            name: "small", role: .receiver, source: .source(Source(address: .string("queue")))))
        pair.run()
        #expect(pair.clientEvents.contains { if case .linkAttached(small, _) = $0 { return true } else { return false } })
    }

    static func frameSizes(_ bytes: [UInt8]) -> [Int] {
        var sizes: [Int] = []
        var at = 0
        while at + 4 <= bytes.count {
            let size = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            guard size >= 8 else { break }
            sizes.append(size)
            at += size
        }
        return sizes
    }

    @Test("attaching a link the open peer could not read throws, and the connection goes on")
    func attachTooLargeThrows() throws {
        var pair = EnginePair.plain(serverMaxFrameSize: 512)
        pair.start()
        let session = try pair.client.beginSession()
        pair.run()
        #expect(throws: ConnectionUsageError.self) {
            try pair.client.attachLink(on: session, .init(
                name: "large", role: .sender, target: .target(Target(address: .string(String(repeating: "t", count: 600))))))
        }
        let small = try pair.client.attachLink(on: session, .init(name: "small", role: .sender, target: .target(Target(address: .string("queue")))))
        pair.run()
        #expect(pair.clientEvents.contains { if case .linkAttached(small, _) = $0 { return true } else { return false } })
    }

    /// A link name longer than the peer's frames: no answer can carry it.
    @Test("a link name no answering attach can carry closes the connection with frame-size-too-small")
    func nameTooLargeCloses() throws {
        var pair = EnginePair.plain(clientMaxFrameSize: 512)
        pair.start()
        let session = try pair.client.beginSession()
        _ = try pair.client.attachLink(on: session, .init(
            name: String(repeating: "n", count: 600), role: .receiver, source: .source(Source(address: .string("queue")))))
        pair.run()
        let closed = pair.clientEvents.compactMap { event -> AMQPError? in
            if case .closed(let error?, true) = event { return error } else { return nil }
        }
        #expect(closed.first?.condition == .amqp(.frameSizeTooSmall), "\(pair.clientEvents)")
        #expect(Self.frameSizes(Array(pair.serverToClient.dropFirst(8))).allSatisfy { $0 <= 512 })
    }
}
