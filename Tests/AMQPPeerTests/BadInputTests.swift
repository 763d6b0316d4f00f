import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTestSupport
import AMQPTypes
import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import AMQPTransport

/// The in-memory broker, except that links to `no-credit` are attached and never given credit:
/// a peer that sends on one breaks the credit rule.
final class StingyBrokerConnection: AMQPServerConnectionDelegate {
    let broker: BrokerConnection
    init(state: NIOLockedValueBox<BrokerState>) { broker = BrokerConnection(state: state) }

    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
        if case .linkAttachRequested(_, let link, let attach) = event, case .target(let target)? = attach.target,
           target.address == .string("no-credit") {
            connection.withEngine { try? $0.acceptLink(link, source: attach.source, target: attach.target) }
            return
        }
        broker.handle(event, on: connection)
    }

    func connectionClosed(_ connection: AMQPServerConnection) { broker.connectionClosed(connection) }
}

/// A hostile client on a raw socket: exactly the bytes the test chooses, and a reader of what the
/// listener answers.
struct RawPeer {
    let socket: TCPTestSocket
    var decoder = FrameDecoder()

    init(port: Int) throws {
        socket = try TCPTestSocket(port: port)
    }

    static func frame<P: AMQPEncodable>(_ performative: P, channel: UInt16 = 0, payload: [UInt8] = []) -> [UInt8] {
        var encoder = AMQPEncoder()
        FrameEncoder.write(performative, payload: payload, channel: channel, into: &encoder)
        return encoder.bytes
    }

    /// Sends the AMQP header and `open` (no SASL; the listener lets clients skip it) and reads
    /// the listener's header and `open`.
    mutating func open() throws {
        try socket.write(ProtocolHeader.amqp.bytes + Self.frame(Open(containerID: "hostile", maxFrameSize: 65536)))
        guard case .protocolHeader(.amqp) = try next(count: 1)[0], case (0, .open) = try nextPerformative() else {
            throw PeerError("the listener did not answer with its header and open")
        }
    }

    /// Reads until `count` more headers or frames arrived (heartbeats skipped).
    mutating func next(count: Int) throws -> [FrameDecoder.Event] {
        var events: [FrameDecoder.Event] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while events.count < count {
            while let event = try decoder.next() {
                if case .frame(let frame) = event, frame.isEmpty { continue }
                events.append(event)
                if events.count == count { return events }
            }
            guard ContinuousClock.now < deadline else { throw PeerError("only \(events.count) of \(count) frames arrived") }
            let bytes = socket.read(atLeast: 1, timeout: .seconds(1))
            decoder.append(bytes)
        }
        return events
    }

    /// The next performative and its channel.
    mutating func nextPerformative() throws -> (channel: UInt16, performative: Performative) {
        guard case .frame(let frame) = try next(count: 1)[0] else { throw PeerError("a protocol header instead of a frame") }
        var body = AMQPDecoder(frame.body)
        return (frame.channel, try body.decode(Performative.self))
    }

    /// Reads the listener's `close` and checks that it then closes the socket.
    mutating func expectClose(_ condition: ErrorCondition, descriptionContains text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (_, performative) = try nextPerformative()
        guard case .close(let close) = performative else {
            Issue.record("expected close, got \(performative)", sourceLocation: sourceLocation)
            return
        }
        #expect(close.error?.condition == condition, sourceLocation: sourceLocation)
        #expect(close.error?.description?.contains(text) == true, "description: \(close.error?.description ?? "none")", sourceLocation: sourceLocation)
        let rest = socket.readUntilClosed()
        #expect(rest.closedByPeer, "the listener kept the socket open after its close", sourceLocation: sourceLocation)
    }
}

extension RealPeers {
    /// Hostile bytes through real sockets to our listener: each bad connection is closed (or its
    /// session or link ended) with the AMQP error the fault maps to, a well-behaved connection
    /// on the same listener keeps working, and the listener's connection count returns to zero.
    @Suite("Bad input through a socket", .timeLimit(.minutes(2)))
    struct BadInputTests {
        final class Fixture {
            let listener: AMQPListener
            let good: AMQPConnection
            let sender: AMQPSender
            let receiver: AMQPReceiver
            var exchanged = 0

            init(listener: AMQPListener, good: AMQPConnection, sender: AMQPSender, receiver: AMQPReceiver) {
                self.listener = listener
                self.good = good
                self.sender = sender
                self.receiver = receiver
            }

            static func start() async throws -> Fixture {
                var configuration = AMQPListener.Configuration()
                configuration.maxFrameSize = 4096
                let state = NIOLockedValueBox(BrokerState())
                let listener = try await AMQPListener.bind(configuration) { StingyBrokerConnection(state: state) }
                let good = try await AMQPConnection.connect(AMQPConnectionOptions(host: "127.0.0.1", port: listener.port))
                let sender = try await good.openSender(to: "good")
                let receiver = try await good.openReceiver(from: "good")
                return Fixture(listener: listener, good: good, sender: sender, receiver: receiver)
            }

            /// The well-behaved connection still sends and receives.
            func expectGoodConnectionWorks(sourceLocation: SourceLocation = #_sourceLocation) async throws {
                exchanged += 1
                #expect(try await sender.send(stringMessage("ok \(exchanged)")) == .accepted, sourceLocation: sourceLocation)
                let delivery = try #require(try await receiver.receive(), sourceLocation: sourceLocation)
                #expect(string(of: delivery.message) == "ok \(exchanged)", sourceLocation: sourceLocation)
                try await delivery.accept()
            }

            /// Closes the good connection and waits until the listener counts no connection.
            func finish() async throws {
                try await good.close()
                let deadline = ContinuousClock.now + .seconds(10)
                while listener.connectionCount != 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(listener.connectionCount == 0)
                try await listener.close()
            }
        }

        @Test("bytes that are not AMQP get the listener's protocol header, then the socket closes (§2.2)")
        func garbageBeforeHeader() async throws {
            let fixture = try await Fixture.start()
            for garbage in [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1], [UInt8](repeating: 0xFF, count: 64)] {
                let socket = try TCPTestSocket(port: fixture.listener.port)
                try socket.write(garbage)
                let answer = socket.readUntilClosed()
                #expect(answer.closedByPeer)
                // The listener offers SASL (ANONYMOUS), so that is the header it supports.
                #expect(answer.bytes == ProtocolHeader.sasl.bytes, "answer to \(garbage.prefix(8)): \(answer.bytes)")
                try await fixture.expectGoodConnectionWorks()
            }
            try await fixture.finish()
        }

        @Test("garbage frames after open: connection closed with a framing or decode error")
        func garbageFrames() async throws {
            let fixture = try await Fixture.start()
            let cases: [(bytes: [UInt8], condition: ErrorCondition, text: String)] = [
                ([0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0], .connection(.framingError), "exceeds max-frame-size 4096"),
                ([0, 0, 0, 4, 2, 0, 0, 0], .connection(.framingError), "below the 8-byte header"),
                ([0, 0, 0, 12, 1, 0, 0, 0, 1, 2, 3, 4], .connection(.framingError), "data offset"),
                ([0, 0, 0, 12, 2, 7, 0, 0, 1, 2, 3, 4], .connection(.framingError), "frame type 7"),
                ([0, 0, 0, 16, 2, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF], .amqp(.decodeError), "frame on channel 0"),
            ]
            for (bytes, condition, text) in cases {
                var peer = try RawPeer(port: fixture.listener.port)
                try peer.open()
                try peer.socket.write(bytes)
                try peer.expectClose(condition, descriptionContains: text)
                try await fixture.expectGoodConnectionWorks()
            }
            try await fixture.finish()
        }

        @Test("a transfer frame over the listener's max-frame-size closes the connection before it is buffered")
        func frameOverMaxFrameSize() async throws {
            let fixture = try await Fixture.start()
            var peer = try RawPeer(port: fixture.listener.port)
            try peer.open()
            try peer.socket.write(RawPeer.frame(Begin(nextOutgoingID: 0, incomingWindow: 100, outgoingWindow: 100)))
            _ = try peer.nextPerformative()
            let transfer = Transfer(handle: 0, deliveryID: 0, deliveryTag: Binary([1]), more: false)
            let frame = RawPeer.frame(transfer, payload: [UInt8](repeating: 0x55, count: 5000))
            // Only the frame header and a little more: the size alone must be enough to refuse it.
            try peer.socket.write(Array(frame.prefix(64)))
            try peer.expectClose(.connection(.framingError), descriptionContains: "frame size \(frame.count) exceeds max-frame-size 4096")
            try await fixture.expectGoodConnectionWorks()
            try await fixture.finish()
        }

        @Test("a performative illegal in the state closes the connection with amqp:illegal-state")
        func illegalPerformative() async throws {
            let fixture = try await Fixture.start()
            // begin before open
            var early = try RawPeer(port: fixture.listener.port)
            try early.socket.write(ProtocolHeader.amqp.bytes + RawPeer.frame(Begin(nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10)))
            guard case .protocolHeader(.amqp) = try early.next(count: 1)[0] else { throw PeerError("no AMQP header") }
            let (_, first) = try early.nextPerformative()
            guard case .open = first else { throw PeerError("expected the listener's open before its close, got \(first)") }
            try early.expectClose(.amqp(.illegalState), descriptionContains: "the first frame must be open")
            try await fixture.expectGoodConnectionWorks()

            // a second open
            var twice = try RawPeer(port: fixture.listener.port)
            try twice.open()
            try twice.socket.write(RawPeer.frame(Open(containerID: "again")))
            try twice.expectClose(.amqp(.illegalState), descriptionContains: "second open")
            try await fixture.expectGoodConnectionWorks()

            // a begin that answers a begin the listener never sent
            var answer = try RawPeer(port: fixture.listener.port)
            try answer.open()
            try answer.socket.write(RawPeer.frame(Begin(remoteChannel: 3, nextOutgoingID: 0, incomingWindow: 10, outgoingWindow: 10)))
            try answer.expectClose(.amqp(.illegalState), descriptionContains: "begin answers channel 3")
            try await fixture.expectGoodConnectionWorks()
            try await fixture.finish()
        }

        @Test("a transfer on an unattached handle ends that session; the connection and its other sessions go on")
        func transferOnUnattachedHandle() async throws {
            let fixture = try await Fixture.start()
            var peer = try RawPeer(port: fixture.listener.port)
            try peer.open()
            try peer.socket.write(RawPeer.frame(Begin(nextOutgoingID: 0, incomingWindow: 100, outgoingWindow: 100), channel: 0))
            guard case (0, .begin) = try peer.nextPerformative() else { throw PeerError("no begin on channel 0") }
            let transfer = Transfer(handle: 9, deliveryID: 0, deliveryTag: Binary([1]), more: false)
            try peer.socket.write(RawPeer.frame(transfer, channel: 0, payload: stringMessage("lost").encoded()))
            let (channel, performative) = try peer.nextPerformative()
            guard case .end(let end) = performative else {
                Issue.record("expected end, got \(performative)")
                return
            }
            #expect(channel == 0)
            #expect(end.error?.condition == .session(.unattachedHandle))
            #expect(end.error?.description?.contains("handle 9") == true)
            try peer.socket.write(RawPeer.frame(End(), channel: 0))
            // The connection is still open: a new session begins, and close is answered.
            try peer.socket.write(RawPeer.frame(Begin(nextOutgoingID: 0, incomingWindow: 100, outgoingWindow: 100), channel: 1))
            guard case (_, .begin(let begun)) = try peer.nextPerformative() else { throw PeerError("no begin for channel 1") }
            #expect(begun.remoteChannel == 1)
            try peer.socket.write(RawPeer.frame(Close()))
            guard case (_, .close(let close)) = try peer.nextPerformative() else { throw PeerError("close not answered") }
            #expect(close.error == nil)
            #expect(peer.socket.readUntilClosed().closedByPeer)
            try await fixture.expectGoodConnectionWorks()
            try await fixture.finish()
        }

        @Test("a transfer without link credit detaches that link with transfer-limit-exceeded; the session goes on")
        func creditViolation() async throws {
            let fixture = try await Fixture.start()
            var peer = try RawPeer(port: fixture.listener.port)
            try peer.open()
            try peer.socket.write(RawPeer.frame(Begin(nextOutgoingID: 0, incomingWindow: 100, outgoingWindow: 100)))
            _ = try peer.nextPerformative()
            let attach = Attach(name: "greedy", handle: 0, role: .sender, source: .source(Source(address: .string("raw"))),
                                target: .target(Target(address: .string("no-credit"))), initialDeliveryCount: 0)
            try peer.socket.write(RawPeer.frame(attach))
            guard case (_, .attach(let reply)) = try peer.nextPerformative() else { throw PeerError("attach not answered") }
            #expect(reply.target != nil)
            let transfer = Transfer(handle: 0, deliveryID: 0, deliveryTag: Binary([1]), more: false)
            try peer.socket.write(RawPeer.frame(transfer, payload: stringMessage("uninvited").encoded()))
            let (_, performative) = try peer.nextPerformative()
            guard case .detach(let detach) = performative else {
                Issue.record("expected detach, got \(performative)")
                return
            }
            #expect(detach.handle == reply.handle)
            #expect(detach.closed)
            #expect(detach.error?.condition == .link(.transferLimitExceeded))
            #expect(detach.error?.description?.contains("without link credit") == true)
            try peer.socket.write(RawPeer.frame(Detach(handle: 0, closed: true)))
            // The session still works: attach another link and get its credit.
            let next = Attach(name: "polite", handle: 1, role: .sender, source: .source(Source(address: .string("raw"))),
                              target: .target(Target(address: .string("good"))), initialDeliveryCount: 0)
            try peer.socket.write(RawPeer.frame(next))
            guard case (_, .attach) = try peer.nextPerformative() else { throw PeerError("second attach not answered") }
            guard case (_, .flow(let flow)) = try peer.nextPerformative() else { throw PeerError("no credit for the second link") }
            #expect((flow.linkCredit ?? 0) > 0)
            peer.socket.close()
            try await fixture.expectGoodConnectionWorks()
            try await fixture.finish()
        }
    }
}
