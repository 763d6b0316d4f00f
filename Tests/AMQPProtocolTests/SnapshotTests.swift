import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// The engine is a value all the way down (connection → sessions → links), so a copy taken in
/// the middle of a conversation is a snapshot: driving the original does not change it, and it
/// can be driven on by itself to the same results.
@Suite("Engine snapshots")
struct SnapshotTests {
    static let message: [UInt8] = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string("hello")))
    static let big = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    /// Two sessions and two links on each side, mid-conversation: on the server a delivery half
    /// reassembled and two received and unsettled; on the client those three unsettled and two
    /// more queued for want of credit; on the second session a server-to-client link with credit
    /// granted. Returns the bytes of the client's transfers that
    /// the server has not read yet.
    static func midConversation() throws -> (pair: EnginePair, unread: [UInt8], links: Links) {
        var pair = EnginePair.plain(serverMaxFrameSize: 512)
        let (sender, receiver) = try pair.openSenderLink()
        let second = try pair.client.beginSession()
        let clientReceiver = try pair.client.attachLink(on: second, .init(
            name: "receiver-events", role: .receiver,
            source: .source(Source(address: .string("events"))), target: .target(Target(address: .string("client")))))
        pair.run()
        let serverSender = try #require(pair.serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, _) = event { return id } else { return nil }
        }.last)
        try pair.client.setCredit(4, on: clientReceiver)
        try pair.server.setCredit(3, on: receiver)
        pair.run()
        try pair.client.send(on: sender, payload: message[...])
        try pair.client.send(on: sender, payload: message[...])
        pair.run()
        // The third credit goes to a delivery of many frames; the two after it wait for credit.
        try pair.client.send(on: sender, payload: big[...])
        try pair.client.send(on: sender, payload: message[...])
        try pair.client.send(on: sender, payload: message[...])
        let transfers = pair.client.takeOutput()
        pair.clientToServer += transfers
        let half = transfers.count / 2
        pair.server.receive(transfers[..<half], now: pair.now)
        pair.serverEvents += pair.server.takeEvents()
        pair.clientEvents += pair.client.takeEvents()
        return (pair, Array(transfers[half...]), Links(sender: sender, receiver: receiver, clientReceiver: clientReceiver, serverSender: serverSender))
    }

    struct Links {
        var sender, receiver, clientReceiver, serverSender: LinkID
    }

    /// What both the original and the snapshot are driven through after the copy: the rest of the
    /// big delivery, settlement of everything received, more credit, traffic the other way, and
    /// the end of the first session.
    static func driveOn(_ pair: inout EnginePair, unread: [UInt8], _ links: Links) throws {
        pair.server.receive(unread, now: pair.now)
        pair.run()
        try pair.server.setCredit(5, on: links.receiver)
        pair.run()
        let received = pair.deliveries(pair.serverEvents).map(\.deliveryID)
        try pair.server.settle(deliveryIDs: received, on: links.receiver, state: .accepted(Accepted()))
        pair.run()
        try pair.server.send(on: links.serverSender, payload: message[...])
        try pair.server.send(on: links.serverSender, payload: big[...])
        pair.run()
        let toClient = pair.deliveries(pair.clientEvents).map(\.deliveryID)
        try pair.client.settle(deliveryIDs: toClient, on: links.clientReceiver, state: .accepted(Accepted()))
        pair.client.detachLink(links.sender)
        pair.run()
    }

    @Test("a copy taken mid-conversation is unchanged by driving the original, and is driven on to the same results")
    func copyIsSnapshot() throws {
        var (original, unread, links) = try Self.midConversation()
        let server = original.server.footprint
        let client = original.client.footprint
        // What the copy must still hold: a delivery half reassembled, unsettled deliveries both ways,
        // queued deliveries, two sessions and their links.
        #expect(server.partialDeliveryBytes > 0 && server.unsettledDeliveries == 2 && server.sessions == 2 && server.links == 2, "\(server)")
        #expect(client.queuedDeliveries == 2 && client.unsettledDeliveries == 3 && client.sessions == 2 && client.links == 2, "\(client)")
        #expect(original.client.credit(of: links.sender) == 0)
        #expect(original.client.queuedDeliveries(on: links.sender) == 2)

        var snapshot = original
        try Self.driveOn(&original, unread: unread, links)

        // The original moved on: the big delivery arrived, everything was settled, a link detached.
        #expect(original.server.footprint.partialDeliveryBytes == 0)
        #expect(original.server.footprint.unsettledDeliveries == 0)
        #expect(original.client.footprint.links == 1)
        #expect(original.client.queuedDeliveries(on: links.sender) == nil)
        // The snapshot did not: its counts, and the states they are counted from, are as copied.
        for (engine, copied) in [(snapshot.server, server), (snapshot.client, client)] {
            #expect(engine.footprint == copied)
            #expect(engine.walkedFootprint == copied)
        }
        #expect(snapshot.client.credit(of: links.sender) == 0)
        #expect(snapshot.client.queuedDeliveries(on: links.sender) == 2)
        #expect(snapshot.server.credit(of: links.serverSender) == 4)

        try Self.driveOn(&snapshot, unread: unread, links)
        #expect(snapshot.clientToServer == original.clientToServer)
        #expect(snapshot.serverToClient == original.serverToClient)
        #expect(snapshot.clientEvents.map { "\($0)" } == original.clientEvents.map { "\($0)" })
        #expect(snapshot.serverEvents.map { "\($0)" } == original.serverEvents.map { "\($0)" })
        for (engine, driven) in [(snapshot.server, original.server), (snapshot.client, original.client)] {
            #expect(engine.footprint == driven.footprint)
            #expect(engine.walkedFootprint == engine.footprint)
        }
        let received = original.deliveries(original.serverEvents)
        #expect(received.map { Array($0.payload) } == [Self.message, Self.message, Self.big, Self.message, Self.message])
        #expect(original.deliveries(original.clientEvents).map { Array($0.payload) } == [Self.message, Self.big])
    }

    @Test("a snapshot driven differently from the original leaves the original as it was")
    func snapshotDivergesAlone() throws {
        let (original, _, links) = try Self.midConversation()
        let server = original.server.footprint
        var snapshot = original.server
        // The snapshot's application gives up on the connection; the original's is untouched.
        try snapshot.settle(deliveryIDs: [0, 1], on: links.receiver, state: .accepted(Accepted()))
        snapshot.detachLink(links.receiver)
        snapshot.close(error: AMQPError(condition: .amqp(.internalError), description: "snapshot only"))
        #expect(snapshot.footprint.unsettledDeliveries == 0)
        #expect(!snapshot.isOpen)
        #expect(original.server.footprint == server)
        #expect(original.server.walkedFootprint == server)
        #expect(original.server.isOpen)
    }
}
