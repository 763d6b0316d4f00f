import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

@Suite("Links: credit, transfers, settlement (§2.6, §2.7)")
struct LinkTests {
    static let message: [UInt8] = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string("hello")))

    @Test("deliveries wait for credit and flow as it is granted")
    func creditGatesSending() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        for _ in 0..<5 { try pair.client.send(on: sender, payload: Self.message[...]) }
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).isEmpty)
        #expect(pair.client.queuedDeliveries(on: sender) == 5)
        try pair.server.setCredit(3, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).count == 3)
        #expect(pair.client.queuedDeliveries(on: sender) == 2)
        #expect(pair.client.credit(of: sender) == 0)
        try pair.server.setCredit(10, on: receiver)
        pair.run()
        let received = pair.deliveries(pair.serverEvents)
        #expect(received.count == 5)
        #expect(received.map(\.deliveryID.rawValue) == [0, 1, 2, 3, 4])
        #expect(received.allSatisfy { Array($0.payload) == Self.message })
        #expect(pair.client.credit(of: sender) == 8)
    }

    @Test("the footprint the engine keeps follows links, queued and unsettled deliveries, and frees them with the link")
    func keptFootprint() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        func expectKept(_ links: Int, queued: Int, unsettled: Int, _ comment: Comment) {
            for engine in [pair.client, pair.server] {
                #expect(engine.footprint == engine.walkedFootprint, comment)
            }
            let kept = pair.client.footprint
            #expect(kept.links == links && kept.queuedDeliveries == queued && kept.unsettledDeliveries == unsettled, "\(comment): \(kept)")
        }
        expectKept(1, queued: 0, unsettled: 0, "attached")
        for _ in 0..<5 { try pair.client.send(on: sender, payload: Self.message[...]) }
        pair.run()
        expectKept(1, queued: 5, unsettled: 0, "waiting for credit")
        try pair.server.setCredit(3, on: receiver)
        pair.run()
        expectKept(1, queued: 2, unsettled: 3, "three sent")
        #expect(pair.server.footprint.unsettledDeliveries == 3)
        pair.client.detachLink(sender)
        pair.run()
        expectKept(0, queued: 0, unsettled: 0, "detached")
        #expect(pair.server.footprint.entries == 1, "the server's session is left: \(pair.server.footprint)")
    }

    @Test("credit that arrives with the attach, before the server answers it, is kept (Proton's receive pipelines it)")
    func creditBeforeAttachAnswer() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { _, _ in }  // the application answers later
        pair.start()
        let session = try pair.client.beginSession()
        let link = try pair.client.attachLink(on: session, .init(
            name: "receiver", role: .receiver,
            source: .source(Source(address: .string("queue"))), target: .target(Target(address: .string("client")))))
        try pair.client.setCredit(5, on: link)
        pair.run()
        let (serverLink, attach) = try #require(pair.serverEvents.compactMap { event -> (LinkID, Attach)? in
            if case .linkAttachRequested(_, let id, let attach) = event { return (id, attach) } else { return nil }
        }.last)
        try pair.server.acceptLink(serverLink, source: attach.source, target: attach.target)
        let granted = pair.server.takeEvents().compactMap { event -> UInt32? in
            if case .creditGranted(serverLink, let credit, _) = event { return credit } else { return nil }
        }
        #expect(granted == [5])
        _ = try pair.server.send(on: serverLink, payload: Self.message[...])
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 1)
    }

    @Test("receiver-settle-mode first: accepting settles; the sender sees the outcome once")
    func settleFirst() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        try pair.server.setCredit(10, on: receiver)
        let sent = try pair.client.send(on: sender, payload: Self.message[...])
        pair.run()
        let delivery = try #require(pair.deliveries(pair.serverEvents).first)
        #expect(!delivery.isSettled)
        try pair.server.settle(delivery.deliveryID, on: receiver, state: .accepted(Accepted()))
        pair.run()
        let outcomes = pair.outcomes(pair.clientEvents)
        #expect(outcomes.count == 1)
        #expect(outcomes.first?.0 == sent)
        #expect(outcomes.first?.1 == .accepted(Accepted()))
        #expect(outcomes.first?.2 == true)
    }

    @Test("receiver-settle-mode second: the receiver states, the sender settles, the receiver is told")
    func settleSecond() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink(senderSettleMode: .unsettled, receiverSettleMode: .second)
        try pair.server.setCredit(10, on: receiver)
        try pair.client.send(on: sender, payload: Self.message[...])
        pair.run()
        let delivery = try #require(pair.deliveries(pair.serverEvents).first)
        try pair.server.settle(delivery.deliveryID, on: receiver, state: .accepted(Accepted()), settled: false)
        pair.run()
        #expect(pair.outcomes(pair.clientEvents).first?.2 == true)
        #expect(pair.serverEvents.contains { if case .settledByPeer(receiver, delivery.deliveryID) = $0 { return true } else { return false } })
    }

    @Test("pre-settled deliveries report completion when written and are never tracked")
    func presettled() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink(senderSettleMode: .settled)
        try pair.server.setCredit(10, on: receiver)
        try pair.client.send(on: sender, payload: Self.message[...])
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).first?.isSettled == true)
        #expect(pair.outcomes(pair.clientEvents).first?.2 == true)
    }

    @Test("a message larger than max-frame-size is split and reassembled")
    func multiFrame() throws {
        var pair = EnginePair.plain(serverMaxFrameSize: 512)
        let (sender, receiver) = try pair.openSenderLink()
        try pair.server.setCredit(10, on: receiver)
        let big = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try pair.client.send(on: sender, payload: big[...])
        try pair.client.send(on: sender, payload: Self.message[...])
        pair.run()
        let received = pair.deliveries(pair.serverEvents)
        #expect(received.count == 2)
        #expect(Array(received[0].payload) == big)
        #expect(Array(received[1].payload) == Self.message)
        let transfers = try performatives(in: pair.clientToServer).compactMap { entry -> (Transfer, Int)? in
            if case .transfer(let t) = entry.performative { return (t, entry.payload) } else { return nil }
        }
        #expect(transfers.count > 20)
        #expect(transfers.dropLast(2).allSatisfy { $0.0.more })
        // No frame exceeds the server's 512 bytes.
        var decoder = FrameDecoder(maxFrameSize: 512)
        decoder.append(pair.clientToServer)
        while try decoder.next() != nil {}
    }

    @Test("a message over the receiver's max-message-size detaches the link with message-size-exceeded")
    func messageTooLarge() throws {
        var pair = EnginePair.plain(serverMaxFrameSize: 512, serverMaxMessageSize: 1000)
        let (sender, receiver) = try pair.openSenderLink()
        // The server advertised 1000: the client refuses locally.
        #expect(pair.client.peerMaxMessageSize(of: sender) == 1000)
        #expect(throws: ConnectionUsageError.self) { try pair.client.send(on: sender, payload: [UInt8](repeating: 1, count: 2000)[...]) }
        _ = receiver
    }

    @Test("drain: the sender uses what it has, gives back the rest, and the receiver is told")
    func drain() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        try pair.client.send(on: sender, payload: Self.message[...])
        try pair.client.send(on: sender, payload: Self.message[...])
        pair.run()
        try pair.server.setCredit(10, drain: true, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).count == 2)
        #expect(pair.serverEvents.contains { if case .drained(receiver) = $0 { return true } else { return false } })
        #expect(pair.client.credit(of: sender) == 0)
        #expect(pair.server.credit(of: receiver) == 0)
    }

    @Test("drain: a sender that sends in answer to the drain's credit is drained after those messages")
    func drainAnsweredAfterTheApplicationSends() throws {
        // Found with Qpid Proton's Python receiver against our broker: the engine answered the
        // drain inside the flow, before the broker saw the credit, so the queued messages stayed
        // behind and the receiver got nothing.
        var pair = EnginePair.plain()
        let (receiver, sender) = try pair.openReceiverLink()
        pair.serverPolicy = { engine, event in
            EnginePair.acceptEverything(&engine, event)
            if case .creditGranted(sender, let credit, true) = event {
                #expect(credit == 10)
                for _ in 0..<2 { _ = try? engine.send(on: sender, payload: Self.message[...]) }
            }
        }
        try pair.client.setCredit(10, drain: true, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 2)
        let drained = pair.clientEvents.lastIndex { if case .drained(receiver) = $0 { return true } else { return false } }
        let lastDelivery = pair.clientEvents.lastIndex { if case .delivery = $0 { return true } else { return false } }
        #expect(drained != nil && lastDelivery != nil && drained! > lastDelivery!)
        #expect(pair.server.credit(of: sender) == 0)
        #expect(pair.client.credit(of: receiver) == 0)
    }

    @Test("a sender that adds our new credit to deliveries already under way is tolerated up to that, not beyond")
    func creditTopUpWhileDeliveriesAreUnderWay() throws {
        // Found with RabbitMQ 3.10: its session sends, after our flow, the deliveries already
        // inside it and then the whole new link-credit, so a receiver that tops up credit before
        // it reaches zero sees a few transfers more than the specification's arithmetic allows.
        var pair = EnginePair.plain()
        let (receiver, sender) = try pair.openReceiverLink()
        try pair.client.setCredit(2, on: receiver)
        pair.run()
        try pair.server.send(on: sender, payload: Self.message[...])
        pair.run()
        #expect(pair.client.credit(of: receiver) == 1)
        // Top up to 2 while one credit is outstanding, and let the 'sender' answer as RabbitMQ does.
        try pair.client.setCredit(2, on: receiver)
        _ = pair.client.takeOutput()
        @Sendable func transfer(_ id: UInt32) -> [UInt8] {
            var encoder = AMQPEncoder()
            let transfer = Transfer(handle: 0, deliveryID: DeliveryNumber(id), deliveryTag: Binary([UInt8(id)]), settled: true, more: false)
            FrameEncoder.write(transfer, payload: Self.message, channel: 0, into: &encoder)
            return encoder.bytes
        }
        pair.clientEvents = []
        pair.client.receive((1...3).flatMap(transfer), now: pair.now)
        pair.clientEvents += pair.client.takeEvents()
        #expect(pair.deliveries(pair.clientEvents).count == 3)
        #expect(pair.client.credit(of: receiver) == 0)
        // One more is beyond anything we granted.
        pair.client.receive(transfer(4), now: pair.now)
        let detach = try performatives(in: pair.client.takeOutput()).compactMap { if case .detach(let d) = $0.performative { return d } else { return nil } }.first
        #expect(detach?.error?.condition == .link(.transferLimitExceeded))

        // Grants in a row carry at most twice the largest grant over: 2 + 4 here, however many.
        var again = EnginePair.plain()
        let (second, _) = try again.openReceiverLink()
        for _ in 0..<10 { try again.client.setCredit(2, on: second) }
        _ = again.client.takeOutput()
        again.client.receive((1...6).flatMap(transfer), now: again.now)
        #expect(again.deliveries(again.client.takeEvents()).count == 6)
        again.client.receive(transfer(7), now: again.now)
        #expect(try performatives(in: again.client.takeOutput()).contains { if case .detach = $0.performative { return true } else { return false } })
    }

    @Test("a refused link: attach without a terminus, then detach with the error (§2.6.3)")
    func refusedLink() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { engine, event in
            if case .linkAttachRequested(_, let id, _) = event {
                engine.refuseLink(id, error: AMQPError(condition: .amqp(.notFound), description: "no such node"))
            }
        }
        pair.start()
        let session = try pair.client.beginSession()
        let link = try pair.client.attachLink(on: session, .init(name: "r", role: .receiver, source: .source(Source(address: .string("missing")))))
        pair.run()
        let refusals = pair.clientEvents.compactMap { e -> AMQPError?? in if case .linkRefused(link, let error) = e { return error } else { return nil } }
        #expect(refusals.count == 1)
        #expect(refusals.first??.condition == .amqp(.notFound))
        #expect(!pair.clientEvents.contains { if case .linkAttached = $0 { return true } else { return false } })
        #expect(!pair.clientEvents.contains { if case .linkDetached = $0 { return true } else { return false } })
        #expect(pair.client.isOpen)
    }

    @Test("an attach answered with both termini and detached in the next frame is a refusal (Azure's way)")
    func refusedWithTermini() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { engine, event in
            if case .linkAttachRequested(_, let id, let attach) = event {
                try? engine.acceptLink(id, source: attach.source, target: attach.target)
                engine.detachLink(id, error: AMQPError(condition: .amqp(.unauthorizedAccess), description: "no token"))
            }
        }
        pair.start()
        let session = try pair.client.beginSession()
        let link = try pair.client.attachLink(on: session, .init(name: "r", role: .receiver, source: .source(Source(address: .string("q"))),
                                                                 creditMode: .window(10)))
        pair.run()
        #expect(pair.clientEvents.contains { if case .linkRefused(link, let error?) = $0 { return error.condition == .amqp(.unauthorizedAccess) } else { return false } })
        #expect(!pair.clientEvents.contains { if case .linkAttached = $0 { return true } else { return false } })
        let linkFlows = try performatives(in: pair.clientToServer).filter { if case .flow(let f) = $0.performative { return f.handle != nil } else { return false } }
        #expect(linkFlows.isEmpty, "a refused receiver is granted no credit")
    }

    @Test("an attach answered and detached later is attached, then detached; what follows the answer comes after linkAttached")
    func attachedThenDetached() throws {
        var pair = EnginePair.plain()
        var serverLink: LinkID?
        pair.serverPolicy = { engine, event in
            if case .linkAttachRequested(_, let id, let attach) = event {
                try? engine.acceptLink(id, source: attach.source, target: attach.target)
                // Credit in the frame right behind the answer: reported after the attach.
                try? engine.setCredit(5, on: id)
                serverLink = id
            }
        }
        let (sender, _) = try pair.openSenderLink()
        let kinds = pair.clientEvents.compactMap { event -> String? in
            switch event {
            case .linkAttached(sender, _): return "attached"
            case .creditGranted(sender, _, _): return "credit"
            default: return nil
            }
        }
        #expect(kinds == ["attached", "credit"])
        pair.server.detachLink(try #require(serverLink))
        pair.run()
        #expect(pair.clientEvents.contains { if case .linkDetached(sender, nil, true, true) = $0 { return true } else { return false } })
        #expect(!pair.clientEvents.contains { if case .linkRefused = $0 { return true } else { return false } })
    }

    @Test("detach and end from the client are answered; links of an ended session are reported detached")
    func detachAndEnd() throws {
        var pair = EnginePair.plain()
        let (sender, _) = try pair.openSenderLink()
        pair.client.detachLink(sender, error: nil)
        pair.run()
        #expect(pair.clientEvents.contains { if case .linkDetached(sender, nil, true, false) = $0 { return true } else { return false } })
        #expect(throws: ConnectionUsageError.self) { try pair.client.send(on: sender, payload: [1][...]) }
    }

    @Test("the server sends to a client receiver, which grants credit")
    func serverToClient() throws {
        var pair = EnginePair.plain()
        let (receiver, sender) = try pair.openReceiverLink()
        try pair.client.setCredit(2, on: receiver)
        pair.run()
        for _ in 0..<3 { try pair.server.send(on: sender, payload: Self.message[...], settled: true) }
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 2)
        #expect(pair.server.queuedDeliveries(on: sender) == 1)
    }

    @Test("dispositions cover runs of delivery ids in one frame")
    func dispositionRanges() throws {
        var pair = EnginePair.plain()
        let (sender, receiver) = try pair.openSenderLink()
        try pair.server.setCredit(100, on: receiver)
        for _ in 0..<10 { try pair.client.send(on: sender, payload: Self.message[...]) }
        pair.run()
        let ids = pair.deliveries(pair.serverEvents).map(\.deliveryID)
        let before = pair.serverToClient.count
        try pair.server.settle(deliveryIDs: ids, on: receiver, state: .accepted(Accepted()))
        pair.run()
        let dispositions = try performatives(in: Array(pair.serverToClient[before...])).compactMap { e -> Disposition? in
            if case .disposition(let d) = e.performative { return d } else { return nil }
        }
        #expect(dispositions.count == 1)
        #expect(dispositions.first?.first == 0)
        #expect(dispositions.first?.last == 9)
        #expect(pair.outcomes(pair.clientEvents).count == 10)
    }
}

@Suite("Serial numbers wrap (RFC 1982, §2.8.9)")
struct SerialWrapTests {
    func frame<P: AMQPEncodable>(_ p: P, channel: UInt16 = 0, payload: [UInt8] = []) -> [UInt8] {
        var e = AMQPEncoder()
        FrameEncoder.write(p, payload: payload, channel: channel, into: &e)
        return e.bytes
    }

    @Test("transfer ids, delivery ids and delivery counts crossing 2³² keep working")
    func wrap() throws {
        var s = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", sessionIncomingWindow: 8))
        s.start(now: 0)
        let start: UInt32 = .max - 2
        let attach = Attach(name: "l", handle: 0, role: .sender, target: .target(Target(address: .string("q"))), initialDeliveryCount: SerialNumber(start))
        s.receive(ProtocolHeader.amqp.bytes + frame(Open(containerID: "p")) + frame(Begin(nextOutgoingID: SerialNumber(start), incomingWindow: 10, outgoingWindow: 10)) + frame(attach), now: 0)
        var link: LinkID? = nil
        for event in s.takeEvents() {
            if case .linkAttachRequested(_, let id, let a) = event {
                try s.acceptLink(id, source: a.source, target: a.target)
                try s.setCredit(6, on: id)
                link = id
            }
        }
        _ = s.takeOutput()
        var burst: [UInt8] = []
        for i in 0..<6 {
            burst += frame(Transfer(handle: 0, deliveryID: SerialNumber(start) + UInt32(i), deliveryTag: [UInt8(i)], more: false), payload: [0x40])
        }
        s.receive(burst, now: 0)
        let deliveries = s.takeEvents().compactMap { if case .delivery(_, let d) = $0 { return d } else { return nil } }
        #expect(deliveries.map(\.deliveryID.rawValue) == [.max - 2, .max - 1, .max, 0, 1, 2])
        // Settle the whole run across the wrap in one disposition.
        try s.settle(deliveryIDs: deliveries.map(\.deliveryID), on: link!, state: .accepted(Accepted()))
        let out = try performatives(in: s.takeOutput())
        let dispositions = out.compactMap { if case .disposition(let d) = $0.performative { return d } else { return nil } }
        #expect(dispositions.count == 1)
        #expect(dispositions.first?.first.rawValue == UInt32.max - 2)
        #expect(dispositions.first?.last?.rawValue == 2)
        // Credit is exhausted: delivery-count went from 2³²-3 to 3.
        let flow = Flow(nextIncomingID: 0, incomingWindow: 10, nextOutgoingID: SerialNumber(start) + 6, outgoingWindow: 10, handle: 0,
                        deliveryCount: SerialNumber(3), linkCredit: 0)
        s.receive(frame(flow), now: 0)
        #expect(s.credit(of: link!) == 0)
        #expect(!s.isFinished)
    }
}
