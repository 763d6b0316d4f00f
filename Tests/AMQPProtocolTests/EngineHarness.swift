import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// Two engines wired back to back in memory: what one writes, the other reads. Runs
/// synchronously, so every test is deterministic and needs no sockets.
struct EnginePair {
    var client: ConnectionEngine
    var server: ConnectionEngine
    var clientEvents: [ConnectionEvent] = []
    var serverEvents: [ConnectionEvent] = []
    /// Bytes that crossed in each direction, for tests that inspect frames.
    var clientToServer: [UInt8] = []
    var serverToClient: [UInt8] = []
    var now: UInt64 = 1_000_000_000
    /// Called for each server event; lets a test answer link attaches like an application.
    var serverPolicy: (inout ConnectionEngine, ConnectionEvent) -> Void = EnginePair.acceptEverything

    init(client: ConnectionConfiguration, server: ConnectionConfiguration) {
        self.client = ConnectionEngine(configuration: client)
        self.server = ConnectionEngine(configuration: server)
    }

    static func acceptEverything(_ engine: inout ConnectionEngine, _ event: ConnectionEvent) {
        if case .linkAttachRequested(_, let link, let attach) = event {
            try? engine.acceptLink(link, source: attach.source, target: attach.target)
        }
    }

    mutating func start() {
        server.start(now: now)
        client.start(now: now)
        run()
    }

    /// Moves bytes both ways until neither side has anything to say.
    mutating func run(maxRounds: Int = 10_000) {
        for _ in 0..<maxRounds {
            let toServer = client.takeOutput()
            let toClient = server.takeOutput()
            clientEvents += client.takeEvents()
            let newServerEvents = server.takeEvents()
            for event in newServerEvents { serverPolicy(&server, event) }
            serverEvents += newServerEvents
            // As the transport does: drains are answered after the events were handled.
            client.answerDrains()
            server.answerDrains()
            if toServer.isEmpty && toClient.isEmpty && !server.hasOutput && !client.hasOutput {
                clientEvents += client.takeEvents()
                serverEvents += server.takeEvents()
                return
            }
            clientToServer += toServer
            serverToClient += toClient
            if !toServer.isEmpty { server.receive(toServer, now: now) }
            if !toClient.isEmpty { client.receive(toClient, now: now) }
        }
        Issue.record("engines did not go quiet")
    }

    static func plain(clientSASL: ConnectionConfiguration.SASL = .none, serverSASL: ConnectionConfiguration.SASL = .none,
                      clientMaxFrameSize: UInt32 = 1 << 20, serverMaxFrameSize: UInt32 = 1 << 20,
                      serverMaxMessageSize: UInt64? = 256 << 20, sessionWindow: UInt32 = 2048) -> EnginePair {
        EnginePair(
            client: ConnectionConfiguration(role: .client, containerID: "client", hostname: "localhost",
                                            maxFrameSize: clientMaxFrameSize, sasl: clientSASL, allowsCleartextCredentials: true,
                                            sessionIncomingWindow: sessionWindow),
            server: ConnectionConfiguration(role: .server, containerID: "server", maxFrameSize: serverMaxFrameSize,
                                            sasl: serverSASL, sessionIncomingWindow: sessionWindow, maxMessageSize: serverMaxMessageSize)
        )
    }

    /// Opens the connection, a session and a sender (client) → receiver (server) link on `address`.
    mutating func openSenderLink(address: String = "queue", senderSettleMode: SenderSettleMode = .mixed,
                                 receiverSettleMode: ReceiverSettleMode = .first) throws -> (client: LinkID, server: LinkID) {
        start()
        let session = try client.beginSession()
        let link = try client.attachLink(on: session, .init(
            name: "sender-\(address)", role: .sender,
            source: .source(Source(address: .string("client"))), target: .target(Target(address: .string(address))),
            senderSettleMode: senderSettleMode, receiverSettleMode: receiverSettleMode))
        run()
        let serverLink = try #require(serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, _) = event { return id } else { return nil }
        }.last)
        return (link, serverLink)
    }

    /// Opens the connection, a session and a receiver (client) ← sender (server) link.
    mutating func openReceiverLink(address: String = "queue", creditMode: CreditMode = .manual) throws -> (client: LinkID, server: LinkID) {
        start()
        let session = try client.beginSession()
        let link = try client.attachLink(on: session, .init(
            name: "receiver-\(address)", role: .receiver,
            source: .source(Source(address: .string(address))), target: .target(Target(address: .string("client"))),
            creditMode: creditMode))
        run()
        let serverLink = try #require(serverEvents.compactMap { event -> LinkID? in
            if case .linkAttachRequested(_, let id, _) = event { return id } else { return nil }
        }.last)
        return (link, serverLink)
    }

    func deliveries(_ events: [ConnectionEvent]) -> [IncomingDelivery] {
        events.compactMap { if case .delivery(_, let d) = $0 { return d } else { return nil } }
    }

    func outcomes(_ events: [ConnectionEvent]) -> [(OutgoingDeliveryID, DeliveryState?, Bool)] {
        events.compactMap { if case .outcome(_, let id, let state, let settled) = $0 { return (id, state, settled) } else { return nil } }
    }
}

/// Decodes every frame in a byte stream (after its protocol headers) into performatives.
func performatives(in bytes: [UInt8]) throws -> [(channel: UInt16, performative: Performative, payload: Int)] {
    var decoder = FrameDecoder(startsWithProtocolHeader: bytes.starts(with: [0x41, 0x4D, 0x51, 0x50]))
    decoder.append(bytes)
    var out: [(UInt16, Performative, Int)] = []
    while let event = try decoder.next() {
        switch event {
        case .protocolHeader: continue
        case .frame(let frame):
            if frame.type == .sasl {
                if case .saslOutcome = try AMQPDecoder.decode(SASLPerformative.self, from: Array(frame.body)) {
                    decoder.expectProtocolHeader()
                }
                continue
            }
            if frame.isEmpty { continue }
            var body = AMQPDecoder(frame.body)
            let p = try body.decode(Performative.self)
            out.append((frame.channel, p, frame.body.count - body.offset))
        }
    }
    return out
}

extension ConnectionEvent {
    var isFailure: Bool { if case .failed = self { return true } else { return false } }
    var closeError: AMQPError?? {
        if case .closed(let error, _) = self { return .some(error) }
        return nil
    }
}
