import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

@Suite("Credit modes: the engine's one top-up rule (§2.6.7)")
struct CreditModeTests {
    static let message: [UInt8] = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string("hello")))

    /// A server that accepts every link with a credit window and settles what needs settling,
    /// as a broker storing each message at once does.
    static func windowServer(_ window: UInt32) -> (inout ConnectionEngine, ConnectionEvent) -> Void {
        { engine, event in
            switch event {
            case .linkAttachRequested(_, let link, let attach):
                try? engine.acceptLink(link, source: attach.source, target: attach.target,
                                       creditMode: attach.role == .sender ? .window(window) : .manual)
            case .delivery(let link, let delivery) where !delivery.isSettled:
                try? engine.settle(delivery.deliveryID, on: link, state: .accepted(Accepted()))
            default:
                break
            }
        }
    }

    @Test("a window serves pre-settled, unsettled and mixed senders on one session without limit",
          arguments: [SenderSettleMode.settled, .unsettled, .mixed])
    func windowServesEverySettleMode(_ mode: SenderSettleMode) throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = Self.windowServer(100)
        let (sender, _) = try pair.openSenderLink(senderSettleMode: mode)
        #expect(pair.client.credit(of: sender) == 100, "the window is granted with the accepting attach")
        let count = 3000
        for index in 0..<count {
            // Mixed: every other delivery pre-settled.
            try pair.client.send(on: sender, payload: Self.message[...], settled: mode == .mixed ? index % 2 == 0 : nil)
            if index % 250 == 0 { pair.run() }
        }
        pair.run()
        let received = pair.deliveries(pair.serverEvents)
        #expect(received.count == count)
        #expect(pair.client.queuedDeliveries(on: sender) == 0)
        let settledOutcomes = pair.outcomes(pair.clientEvents).filter { $0.2 }
        #expect(settledOutcomes.count == count, "every delivery is settled, by us (pre-settled) or by the receiver")
        #expect(pair.client.footprint.unsettledDeliveries == 0)
    }

    @Test("pre-settled and unsettled links on one session are both served past the window many times over")
    func mixedLinksOnOneSession() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = Self.windowServer(50)
        let (settledLink, _) = try pair.openSenderLink(address: "a", senderSettleMode: .settled)
        let session = try #require(pair.clientEvents.compactMap { event -> SessionID? in
            if case .sessionBegun(let id, _) = event { return id } else { return nil }
        }.first)
        let unsettledLink = try pair.client.attachLink(on: session, .init(
            name: "sender-b", role: .sender, source: .source(Source(address: .string("client"))),
            target: .target(Target(address: .string("b"))), senderSettleMode: .unsettled))
        pair.run()
        for _ in 0..<1000 {
            try pair.client.send(on: settledLink, payload: Self.message[...])
            try pair.client.send(on: unsettledLink, payload: Self.message[...])
        }
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).count == 2000)
        #expect(pair.deliveries(pair.serverEvents).filter(\.isSettled).count == 1000)
    }

    @Test("held until consumed: credit plus held deliveries stay within the window, topped up at half")
    func heldUntilConsumed() throws {
        var pair = EnginePair.plain()
        let (receiver, sender) = try pair.openReceiverLink(creditMode: .window(10, heldUntilConsumed: true))
        for _ in 0..<100 { try pair.server.send(on: sender, payload: Self.message[...], settled: true) }
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 10, "nothing past the window while nothing is consumed")
        #expect(pair.client.credit(of: receiver) == 0)
        pair.client.consumed(4, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 10, "6 held is more than half the window: no grant yet")
        pair.client.consumed(1, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 15, "5 held: granted the window less what is held")
        #expect(pair.client.credit(of: receiver) == 0)
        pair.client.consumed(10, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 25)
        // More consumed than held is ignored rather than turned into extra credit.
        pair.client.consumed(1000, on: receiver)
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 35)
    }

    @Test("without holding, credit returns as deliveries arrive; a total limit caps all grants")
    func totalLimit() throws {
        var pair = EnginePair.plain()
        let (receiver, sender) = try pair.openReceiverLink(creditMode: .window(10, totalLimit: 23))
        for _ in 0..<100 { try pair.server.send(on: sender, payload: Self.message[...], settled: true) }
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 23)
        #expect(pair.client.credit(of: receiver) == 0)
        #expect(pair.server.queuedDeliveries(on: sender) == 77)
    }

    @Test("a manual link is never topped up, and a drain on a window link is not overridden")
    func manualAndDrain() throws {
        var pair = EnginePair.plain()
        let (manual, manualSender) = try pair.openReceiverLink(address: "m")
        for _ in 0..<5 { try pair.server.send(on: manualSender, payload: Self.message[...], settled: true) }
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).isEmpty)
        try pair.client.setCredit(2, on: manual)
        pair.client.consumed(2, on: manual)
        pair.run()
        #expect(pair.deliveries(pair.clientEvents).count == 2)
        #expect(pair.client.credit(of: manual) == 0)

        var drainPair = EnginePair.plain()
        let (receiver, _) = try drainPair.openReceiverLink(creditMode: .window(10, heldUntilConsumed: true))
        try drainPair.client.setCredit(10, drain: true, on: receiver)
        drainPair.run()
        #expect(drainPair.clientEvents.contains { if case .drained(receiver) = $0 { return true } else { return false } })
        #expect(drainPair.client.credit(of: receiver) == 0, "the drained credit is not granted again on its own")
    }

    @Test("a refused attach (no source in the reply) is granted nothing")
    func refusedAttachGetsNoCredit() throws {
        var pair = EnginePair.plain()
        pair.serverPolicy = { engine, event in
            if case .linkAttachRequested(_, let link, _) = event {
                engine.refuseLink(link, error: AMQPError(condition: .amqp(.notFound), description: "no such node"))
            }
        }
        _ = try pair.openReceiverLink(creditMode: .window(10))
        let flows = try performatives(in: pair.clientToServer).filter { if case .flow(let f) = $0.performative { return f.handle != nil } else { return false } }
        #expect(flows.isEmpty)
    }
}
