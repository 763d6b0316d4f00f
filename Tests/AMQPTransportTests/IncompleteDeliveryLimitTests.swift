import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTestSupport
import AMQPTypes
import Foundation
import Testing

@testable import AMQPTransport

/// The per-connection cap on incomplete multi-frame deliveries, through a listener: a client's
/// links each stay within max-message-size, but together they would hold more than the cap.
@Suite("Incomplete deliveries per connection", .serialized, .timeLimit(.minutes(2)))
struct IncompleteDeliveryLimitTests {
    /// An engine client on a blocking socket, driven by hand so that the test decides which of
    /// its frames reach the server.
    struct RawClient {
        var engine: ConnectionEngine
        let socket: TCPTestSocket
        var events: [ConnectionEvent] = []
        let now: UInt64 = 1_000_000_000

        init(port: Int) throws {
            socket = try TCPTestSocket(port: port)
            engine = ConnectionEngine(configuration: ConnectionConfiguration(role: .client, containerID: "hoarder", hostname: "localhost"))
            engine.start(now: now)
        }

        /// Writes what the engine has to say and reads the server's answers until `done` holds
        /// for the events so far, the server closes, or 20 s pass.
        mutating func exchange(until done: ([ConnectionEvent]) -> Bool) throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while !done(events) && !engine.isFinished && ContinuousClock.now < deadline {
                let output = engine.takeOutput()
                if !output.isEmpty { try socket.write(output) }
                let bytes = socket.read(atLeast: 1, timeout: .milliseconds(200))
                if !bytes.isEmpty { engine.receive(bytes, now: now) }
                events += engine.takeEvents()
            }
        }
    }

    /// `bytes` (whole AMQP frames) without the last transfer frame of each delivery, so that
    /// every delivery in them stays incomplete at the receiver.
    static func withoutLastTransferFrames(_ bytes: [UInt8], maxFrameSize: UInt32) throws -> (bytes: [UInt8], frames: Int) {
        var decoder = FrameDecoder(maxFrameSize: maxFrameSize, startsWithProtocolHeader: false)
        decoder.append(bytes)
        var kept: [UInt8] = []
        var frames = 0
        while let event = try decoder.next() {
            guard case .frame(let frame) = event else { continue }
            var body = AMQPDecoder(frame.body)
            if case .transfer(let transfer) = try body.decode(Performative.self), !transfer.more { continue }
            let size = UInt32(8 + frame.body.count)
            kept += withUnsafeBytes(of: size.bigEndian) { Array($0) }
            kept += [2, frame.type.rawValue]
            kept += withUnsafeBytes(of: frame.channel.bigEndian) { Array($0) }
            kept += frame.body
            frames += 1
        }
        return (kept, frames)
    }

    @Test("links that each stay within max-message-size but together pass the cap close the connection with resource-limit-exceeded; other clients are served")
    func capClosesTheConnection() async throws {
        var configuration = AMQPListener.Configuration()
        configuration.maxFrameSize = 16 * 1024
        configuration.maxMessageSize = 64 * 1024
        // The default, four times max-message-size: 256 KiB.
        #expect(configuration.engineConfiguration().maxIncompleteDeliveryBytes == 256 * 1024)
        let broker = try await AMQPInMemoryBroker.start(configuration)

        var client = try RawClient(port: broker.port)
        let session = try client.engine.beginSession()
        var links: [LinkID] = []
        for index in 0..<6 {
            links.append(try client.engine.attachLink(on: session, .init(
                name: "hoard-\(index)", role: .sender, source: .source(Source(address: .string("hoarder"))),
                target: .target(Target(address: .string("hoard-\(index)"))))))
        }
        try client.exchange { events in
            Set(events.compactMap { event -> LinkID? in
                if case .creditGranted(let id, let credit, _) = event, credit > 0 { return id } else { return nil }
            }).count == links.count
        }
        #expect(links.allSatisfy { (client.engine.credit(of: $0) ?? 0) > 0 }, "credit: \(client.events)")

        // 60 KiB on each link: four frames of at most 16 KiB, of which the last is held back, so
        // each link holds about 48 KiB; five links stay under 256 KiB, the sixth passes it.
        let payload = [UInt8](repeating: 0x5A, count: 60 * 1024)
        for link in links { try client.engine.send(on: link, payload: payload[...]) }
        let (partial, frames) = try Self.withoutLastTransferFrames(client.engine.takeOutput(), maxFrameSize: configuration.maxFrameSize)
        #expect(frames == 6 * 3)
        try client.socket.write(partial)
        try client.exchange { events in events.contains { $0.closeError != nil } }
        let error = try #require(client.events.compactMap(\.closeError).first ?? nil, "events: \(client.events)")
        #expect(error.condition == .amqp(.resourceLimitExceeded))
        #expect(error.description?.contains("262144") == true, "\(error)")
        #expect(client.socket.readUntilClosed(timeout: .seconds(10)).closedByPeer)

        // Another client is served as before.
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        options.authentication = .anonymous
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "after-hoarder")
        try await sender.sendExpectingAcceptance(Message(body: .data([DataSection(Binary([UInt8](repeating: 1, count: 60 * 1024)))])))
        try await connection.close()
        try await broker.stop()
    }
}

extension ConnectionEvent {
    fileprivate var closeError: AMQPError?? {
        if case .closed(let error, _) = self { return .some(error) }
        return nil
    }
}
