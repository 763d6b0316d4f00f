import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// The per-connection cap on incomplete multi-frame deliveries (``ConnectionConfiguration/maxIncompleteDeliveryBytes``):
/// max-message-size bounds one delivery on one link, the cap bounds what all links reassemble.
@Suite("Incomplete deliveries per connection")
struct IncompleteDeliveryLimitTests {
    /// A server with 512-byte frames and 4,000-byte messages (so a 16,000-byte cap by default):
    /// each 3,000-byte delivery takes seven frames, and the six before the last hold about 2,850
    /// bytes of it.
    static func pair(maxIncompleteDeliveryBytes: UInt64?? = nil) -> EnginePair {
        var pair = EnginePair.plain(serverMaxFrameSize: 512, serverMaxMessageSize: 4000)
        if let maxIncompleteDeliveryBytes {
            var configuration = pair.server.configuration
            configuration.maxIncompleteDeliveryBytes = maxIncompleteDeliveryBytes
            pair.server = ConnectionEngine(configuration: configuration)
        }
        return pair
    }

    static let payload = [UInt8](repeating: 0xA5, count: 3000)

    /// Opens `count` sender links with credit, sends one delivery on each, and hands the server
    /// every frame but the last of each delivery. Returns the links and the held-back frames.
    static func startDeliveries(_ pair: inout EnginePair, links count: Int) throws -> (links: [(client: LinkID, server: LinkID)], lastFrames: [UInt8]) {
        pair.start()
        let session = try pair.client.beginSession()
        var links: [LinkID] = []
        for index in 0..<count {
            links.append(try pair.client.attachLink(on: session, .init(
                name: "sender-\(index)", role: .sender, source: .source(Source(address: .string("client"))),
                target: .target(Target(address: .string("queue-\(index)"))))))
        }
        pair.run()
        let serverLinks = pair.serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, _) = event { return id } else { return nil }
        }
        try #require(serverLinks.count == count)
        for link in serverLinks { try pair.server.setCredit(10, on: link) }
        pair.run()
        for link in links { try pair.client.send(on: link, payload: payload[...]) }
        let (incomplete, last) = try split(pair.client.takeOutput())
        pair.clientToServer += incomplete
        pair.server.receive(incomplete, now: pair.now)
        pair.serverEvents += pair.server.takeEvents()
        return (Array(zip(links, serverLinks)), last)
    }

    /// Frames in `bytes` split into those that leave each delivery incomplete and the last
    /// transfer frame of each.
    static func split(_ bytes: [UInt8]) throws -> (incomplete: [UInt8], last: [UInt8]) {
        var decoder = FrameDecoder(startsWithProtocolHeader: false)
        decoder.append(bytes)
        var incomplete: [UInt8] = []
        var last: [UInt8] = []
        var start = 0
        while let event = try decoder.next() {
            guard case .frame(let frame) = event else { continue }
            let end = start + 8 + frame.body.count
            var body = AMQPDecoder(frame.body)
            if case .transfer(let transfer) = try body.decode(Performative.self), !transfer.more {
                last += bytes[start..<end]
            } else {
                incomplete += bytes[start..<end]
            }
            start = end
        }
        return (incomplete, last)
    }

    @Test("the default is four times max-message-size, and none when messages have no limit")
    func defaultCap() {
        #expect(ConnectionConfiguration(role: .server, containerID: "s", maxMessageSize: 4000).maxIncompleteDeliveryBytes == 16_000)
        #expect(ConnectionConfiguration(role: .server, containerID: "s").maxIncompleteDeliveryBytes == 1 << 30)
        #expect(ConnectionConfiguration(role: .server, containerID: "s", maxMessageSize: nil).maxIncompleteDeliveryBytes == nil)
        #expect(ConnectionConfiguration(role: .server, containerID: "s", maxMessageSize: .max).maxIncompleteDeliveryBytes == .max)
        #expect(ConnectionConfiguration(role: .server, containerID: "s", maxMessageSize: 4000, maxIncompleteDeliveryBytes: 100).maxIncompleteDeliveryBytes == 100)
    }

    @Test("links within max-message-size each, past the cap together, close the connection with resource-limit-exceeded")
    func pastTheCap() throws {
        // Five links hold about 14,250 bytes, under the cap; the sixth link's frames pass it.
        var pair = Self.pair()
        _ = try Self.startDeliveries(&pair, links: 6)
        let closed = pair.serverEvents.compactMap { event -> AMQPError?? in
            if case .closed(let error, let byPeer) = event, !byPeer { return .some(error) } else { return nil }
        }
        let error = try #require(closed.first ?? nil, "server events: \(pair.serverEvents)")
        #expect(error.condition == .amqp(.resourceLimitExceeded))
        #expect(error.description?.contains("16000 bytes") == true, "\(error)")
        #expect(pair.server.isFinished)
        // The peer is told why (§2.8.15): the server's last frame is a close with that error.
        let sent = try performatives(in: pair.server.takeOutput())
        guard case .close(let close)? = sent.last?.performative else {
            Issue.record("no close: \(sent.map(\.performative))")
            return
        }
        #expect(close.error?.condition == .amqp(.resourceLimitExceeded))
    }

    @Test("under the cap deliveries complete, and completing them gives their bytes back to the connection")
    func underTheCapAndReleased() throws {
        var pair = Self.pair()
        let (links, last) = try Self.startDeliveries(&pair, links: 4)
        #expect(!pair.server.isFinished)
        #expect(pair.server.footprint.partialDeliveryBytes > 10_000, "\(pair.server.footprint)")
        pair.server.receive(last, now: pair.now)
        pair.run()
        #expect(pair.server.footprint.partialDeliveryBytes == 0)
        #expect(pair.deliveries(pair.serverEvents).count == 4)
        // The same again on the same links: the cap counts what is held now, not what was held.
        for link in links { try pair.client.send(on: link.client, payload: Self.payload[...]) }
        let (incomplete, rest) = try Self.split(pair.client.takeOutput())
        pair.server.receive(incomplete, now: pair.now)
        #expect(!pair.server.isFinished)
        pair.server.receive(rest, now: pair.now)
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).count == 8)
        #expect(pair.server.isOpen)
    }

    @Test("with the cap turned off, only max-message-size bounds each link")
    func capTurnedOff() throws {
        var pair = Self.pair(maxIncompleteDeliveryBytes: .some(nil))
        let (_, last) = try Self.startDeliveries(&pair, links: 7)
        #expect(pair.server.isOpen)
        pair.server.receive(last, now: pair.now)
        pair.run()
        #expect(pair.deliveries(pair.serverEvents).count == 7)
    }
}
