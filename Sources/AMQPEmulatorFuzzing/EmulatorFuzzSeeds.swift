import AMQPCodec
import AMQPEventHubsEmulator
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPProtocol
import AMQPTypes

/// The seeds of `fuzz-emulator`: whole client sessions, recorded from our client engine talking
/// to the fuzz harness itself, so that every byte is what a working client sends and the fuzzer
/// starts past SASL and `open`, inside CBS, `$management`, producers and consumers.
public enum EmulatorFuzzSeeds {
    public struct Seed {
        public var name: String
        public var bytes: [UInt8]
        /// What the session received: the events consumers were handed and the CBS and
        /// `$management` replies, so that a test can tell the recording reached them.
        public var eventsReceived: Int
        public var repliesReceived: Int
    }

    /// A client engine against a harness session; everything the client writes is kept.
    struct Recorder {
        var client: ConnectionEngine
        var server: EmulatorFuzzDriver.Session
        var recorded: [UInt8] = []
        var received: [LinkID: Int] = [:]
        var failure: String?
        var sessionID: SessionID?

        init(sasl: [any SASLClientMechanism]) throws {
            client = ConnectionEngine(configuration: ConnectionConfiguration(
                role: .client, containerID: "fuzz-emulator-seed", hostname: "localhost",
                sasl: .client(sasl), allowsCleartextCredentials: true))
            server = try EmulatorFuzzDriver.Session()
            client.start(now: 0)
        }

        /// Moves bytes both ways until neither side has more.
        mutating func exchange() {
            for _ in 0..<100 {
                let out = client.takeOutput()
                recorded += out
                let before = server.output.count
                server.feed(out[...])
                let answer = server.output[before...]
                if !answer.isEmpty { client.receive(answer, now: 0) }
                for event in client.takeEvents() {
                    switch event {
                    case .delivery(let link, _): received[link, default: 0] += 1
                    case .failed(let why): failure = "\(why)"
                    case .closed(let error?, _): failure = "closed: \(error)"
                    case .linkDetached(_, let error?, _, _): failure = "detached: \(error)"
                    case .linkRefused(_, let error?): failure = "refused: \(error)"
                    default: break
                    }
                }
                if out.isEmpty && answer.isEmpty { return }
            }
        }

        mutating func attach(_ name: String, _ role: Role, address: String, filter: FilterSet? = nil,
                             desiredCapabilities: [Symbol] = []) throws -> LinkID {
            let session = try sessionID ?? client.beginSession()
            sessionID = session
            let link = try client.attachLink(on: session, ConnectionEngine.LinkOptions(
                name: name, role: role,
                source: role == .receiver ? .source(Source(address: .string(address), filter: filter)) : .source(Source()),
                target: role == .sender ? .target(Target(address: .string(address))) : .target(Target()),
                desiredCapabilities: desiredCapabilities))
            exchange()
            if role == .receiver {
                try client.setCredit(20, on: link)
                exchange()
            }
            return link
        }

        mutating func send(_ message: Message, on link: LinkID) throws {
            try client.send(on: link, payload: message.encoded(policy: .full)[...])
            exchange()
        }

        mutating func finish(_ name: String) throws -> Seed {
            client.close()
            exchange()
            server.close()
            if let failure { throw EmulatorFuzzFinding(description: "seed \(name): \(failure)") }
            return Seed(name: name, bytes: recorded, eventsReceived: 0, repliesReceived: 0)
        }
    }

    static let token = SharedAccessSignature(
        audience: "sb://localhost/eh1", keyName: EmulatorConfiguration.defaultKeyName, key: EmulatorConfiguration.defaultKey,
        expiry: EmulatorFuzzDriver.now / 1000 + 3600).token

    static func event(_ text: String, partitionKey: String? = nil) -> Message {
        var message = Message(properties: Properties(messageID: .string(text)), body: .data([DataSection(Binary(Array(text.utf8)))]))
        if let partitionKey { message.messageAnnotations = MessageAnnotations([.symbol(EventHubsNames.partitionKey): .string(partitionKey)]) }
        return message
    }

    /// The recorded sessions.
    public static func sessions() throws -> [Seed] {
        [try cbsSession(), try plainSession()]
    }

    /// What Microsoft's SDKs do: SASL ANONYMOUS, a SAS token on `$cbs`, events to a partition and
    /// to the hub (one with a partition key), a consumer from an offset with runtime metrics,
    /// and `$management` reads of the hub and a partition.
    static func cbsSession() throws -> Seed {
        var recorder = try Recorder(sasl: [AnonymousMechanism()])
        recorder.exchange()
        let cbsOut = try recorder.attach("cbs-out", .sender, address: "$cbs")
        let cbsIn = try recorder.attach("cbs-in", .receiver, address: "$cbs")
        try recorder.send(CBSPutTokenRequest(token: token, tokenType: EventHubsNames.sasTokenType, audience: "sb://localhost/eh1",
                                             expiration: Timestamp(millisecondsSince1970: EmulatorFuzzDriver.now + 3_600_000)).message, on: cbsOut)
        let toPartition = try recorder.attach("p0", .sender, address: "eh1/Partitions/0")
        try recorder.send(event("first"), on: toPartition)
        try recorder.send(event("second"), on: toPartition)
        let toHub = try recorder.attach("hub", .sender, address: "eh1")
        try recorder.send(event("keyed", partitionKey: "key-1"), on: toHub)
        let position = EventPosition.offset("-1", inclusive: false)
        let consumer = try recorder.attach("consumer", .receiver, address: "eh1/ConsumerGroups/$Default/Partitions/0",
                                           filter: AMQPMap([position.filterEntry]), desiredCapabilities: [EventHubsNames.receiverRuntimeMetric])
        let managementOut = try recorder.attach("mgmt-out", .sender, address: "$management")
        let managementIn = try recorder.attach("mgmt-in", .receiver, address: "$management")
        try recorder.send(ManagementReadRequest(entityType: EventHubsNames.eventHubEntityType, hub: "eh1", securityToken: token).message, on: managementOut)
        try recorder.send(ManagementReadRequest(entityType: EventHubsNames.partitionEntityType, hub: "eh1", partition: "0", securityToken: token).message,
                          on: managementOut)
        var seed = try recorder.finish("cbs-produce-consume-manage")
        seed.eventsReceived = recorder.received[consumer, default: 0]
        seed.repliesReceived = recorder.received[cbsIn, default: 0] + recorder.received[managementIn, default: 0]
        return seed
    }

    /// SASL PLAIN with the SAS key itself (most other clients), a consumer on another group from a
    /// sequence number, and a producer.
    static func plainSession() throws -> Seed {
        var recorder = try Recorder(sasl: [PlainMechanism(username: EmulatorConfiguration.defaultKeyName, password: EmulatorConfiguration.defaultKey)])
        recorder.exchange()
        let producer = try recorder.attach("p1", .sender, address: "eh1/Partitions/1")
        for index in 0..<3 { try recorder.send(event("event-\(index)"), on: producer) }
        let position = EventPosition.sequenceNumber(0, inclusive: true)
        let consumer = try recorder.attach("consumer", .receiver, address: "eh1/ConsumerGroups/cg/Partitions/1",
                                           filter: AMQPMap([position.filterEntry]))
        var seed = try recorder.finish("plain-produce-consume")
        seed.eventsReceived = recorder.received[consumer, default: 0]
        return seed
    }
}
