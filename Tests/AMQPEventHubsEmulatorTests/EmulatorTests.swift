import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTestSupport
import AMQPProtocol
import AMQPTypes
import NIOCore
import NIOEmbedded
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOConcurrencyHelpers
import NIOSSL
import Testing

@testable import AMQPEventHubsEmulator
@testable import AMQPTransport

/// A clock tests can move.
final class TestClock: Sendable {
    let now = NIOLockedValueBox<Int64>(1_800_000_000_000)
    func advance(seconds: Int64) { now.withLockedValue { $0 += seconds * 1000 } }
    var read: @Sendable () -> Int64 { { [now] in now.withLockedValue { $0 } } }
}

func plainOptions(_ emulator: EventHubsEmulator, key: String = EmulatorConfiguration.defaultKey) -> AMQPConnectionOptions {
    var options = AMQPConnectionOptions(host: "127.0.0.1", port: emulator.port,
                                        authentication: .plain(username: EmulatorConfiguration.defaultKeyName, password: key))
    options.allowsCleartextCredentials = true
    return options
}

func anonymousOptions(_ emulator: EventHubsEmulator) -> AMQPConnectionOptions {
    AMQPConnectionOptions(host: "127.0.0.1", port: emulator.port, authentication: .anonymous)
}

func event(_ text: String, key: String? = nil, properties: [String: AMQPValue] = [:]) -> Message {
    var annotations: MessageAnnotations? = nil
    if let key { annotations = MessageAnnotations([.symbol(EventHubsNames.partitionKey): .string(key)]) }
    return Message(messageAnnotations: annotations, properties: Properties(groupID: "g"),
                   applicationProperties: properties.isEmpty ? nil : ApplicationProperties(AMQPMap(properties.map { .init(key: .string($0.key), value: $0.value) })),
                   body: .data([DataSection(Binary(Array(text.utf8)))]))
}

func bodyText(_ message: Message) -> String? {
    if case .data(let sections) = message.body, let first = sections.first { return String(decoding: first.value.bytes, as: UTF8.self) }
    return nil
}

func consumerOptions(_ address: String, _ position: EventPosition = .earliest, ownerLevel: Int64? = nil, metrics: Bool = false,
                     numericDescriptor: Bool = false) -> AMQPReceiver.Options {
    var source = Source(address: .string(address))
    let descriptor: AMQPValue = numericDescriptor ? .ulong(EventHubsNames.selectorFilterCode) : .symbol(EventHubsNames.selectorFilter)
    source.filter = AMQPMap([.init(key: .symbol(EventHubsNames.selectorFilter), value: .described(descriptor: descriptor, value: .string(position.selectorExpression)))])
    return AMQPReceiver.Options(credit: .prefetch(100), source: source,
                                properties: ownerLevel.map { [.symbol(EventHubsNames.epoch): .long($0)] },
                                desiredCapabilities: metrics ? [EventHubsNames.receiverRuntimeMetric] : [])
}

@Suite("Emulator with our transport client", .timeLimit(.minutes(2)))
struct EmulatorTests {
    func start(_ configure: (inout EmulatorConfiguration) -> Void = { _ in }, clock: TestClock? = nil) async throws -> EventHubsEmulator {
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 2)])
        configure(&configuration)
        if let clock { return try await EventHubsEmulator.start(configuration, clock: clock.read) }
        return try await EventHubsEmulator.start(configuration)
    }

    @Test("the seed's scenario: SASL PLAIN with key name and key, a sender on the hub, group-id, data body, a receiver on a partition")
    func seedScenario() async throws {
        let emulator = try await start { $0.hubs = [.init(name: "eh1", partitionCount: 1)] }
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1")
        var message = event("hello from the seed")
        message.properties = Properties(groupID: "group-1")
        #expect(try await sender.send(message) == .accepted)
        let receiver = try await connection.openReceiver(from: "eh1/ConsumerGroups/$default/Partitions/0")
        let delivery = try #require(try await receiver.receive())
        #expect(bodyText(delivery.message) == "hello from the seed")
        #expect(delivery.message.properties?.groupID == "group-1")
        #expect(delivery.isSettled)
        let annotations = try #require(delivery.message.messageAnnotations?.value)
        #expect(annotations[symbol: EventHubsNames.sequenceNumber] == .long(0))
        #expect(annotations[symbol: EventHubsNames.offset] == .string("0"))
        guard case .timestamp? = annotations[symbol: EventHubsNames.enqueuedTime] else {
            Issue.record("no enqueued time")
            return
        }
        try await connection.close()
        try await emulator.stop()
    }

    @Test("SASL PLAIN with a wrong key fails to connect")
    func wrongKey() async throws {
        let emulator = try await start()
        do {
            _ = try await AMQPConnection.connect(plainOptions(emulator, key: "nope"))
            Issue.record("connected")
        } catch let error as AMQPClientError {
            #expect(error.kind == .connectionFailed)
        }
        try await emulator.stop()
    }

    @Test("ANONYMOUS without a CBS token is refused with unauthorized-access; with one, allowed")
    func cbs() async throws {
        let clock = TestClock()
        let emulator = try await start(clock: clock)
        let connection = try await AMQPConnection.connect(anonymousOptions(emulator))
        do {
            _ = try await connection.openSender(to: "eh1")
            Issue.record("attached without a token")
        } catch let error as AMQPClientError {
            #expect(error.condition == .amqp(.unauthorizedAccess))
        }
        let cbs = try await AMQPRequestResponseLink.attach(on: try await connection.session(), node: "$cbs")
        func putToken(_ token: String, audience: String) async throws -> Int32? {
            let reply = try await cbs.request(Message(
                applicationProperties: ApplicationProperties([
                    .string("operation"): .string("put-token"), .string("type"): .string(EventHubsNames.sasTokenType),
                    .string("name"): .string(audience),
                    .string("expiration"): .timestamp(Timestamp(millisecondsSince1970: clock.read() + 3_600_000)),
                ]),
                body: .value(AMQPValueSection(.string(token)))))
            if case .int(let code)? = reply.applicationProperties?.value[.string("status-code")] { return code }
            return nil
        }
        let expiry = clock.read() / 1000 + 3600
        let wrongKey = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: EmulatorConfiguration.defaultKeyName, key: "x", expiry: expiry)
        #expect(try await putToken(wrongKey.token, audience: "sb://localhost/eh1") == 401)
        let expired = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: EmulatorConfiguration.defaultKeyName,
                                            key: EmulatorConfiguration.defaultKey, expiry: clock.read() / 1000 - 1)
        #expect(try await putToken(expired.token, audience: "sb://localhost/eh1") == 401)
        let otherHub = SharedAccessSignature(audience: "sb://localhost/eh2", keyName: EmulatorConfiguration.defaultKeyName,
                                             key: EmulatorConfiguration.defaultKey, expiry: expiry)
        #expect(try await putToken(otherHub.token, audience: "sb://localhost/eh1") == 401)
        let good = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: EmulatorConfiguration.defaultKeyName,
                                         key: EmulatorConfiguration.defaultKey, expiry: expiry)
        #expect(try await putToken(good.token, audience: "sb://localhost/eh1") == 202)
        let sender = try await connection.openSender(to: "amqps://localhost/eh1")
        #expect(try await sender.send(event("with a token")) == .accepted)
        // Once the token expires, new links are refused.
        clock.advance(seconds: 3601)
        do {
            _ = try await connection.openSender(to: "eh1/Partitions/1")
            Issue.record("attached with an expired token")
        } catch let error as AMQPClientError {
            #expect(error.condition == .amqp(.unauthorizedAccess))
        }
        try await connection.close()
        try await emulator.stop()
    }

    @Test("a batch envelope is unpacked: each event keeps its annotations; the envelope's key picks the partition")
    func batches() async throws {
        let emulator = try await start()
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1")
        var sections: [DataSection] = []
        for i in 0..<5 {
            var e = event("b\(i)", properties: ["n": .int(Int32(i))])
            e.messageAnnotations = MessageAnnotations([.symbol("x-custom"): .string("c\(i)")])
            sections.append(DataSection(Binary(e.encoded())))
        }
        let envelope = Message(messageAnnotations: MessageAnnotations([.symbol(EventHubsNames.partitionKey): .string("the-key")]), body: .data(sections))
        #expect(try await sender.send(envelope, messageFormat: EventHubsNames.batchMessageFormat) == .accepted)
        let counts = [emulator.eventCount(hub: "eh1", partition: 0), emulator.eventCount(hub: "eh1", partition: 1)]
        #expect(counts.sorted() == [0, 5])
        let partition = counts[0] == 5 ? 0 : 1
        let receiver = try await connection.openReceiver(from: "eh1/ConsumerGroups/$Default/Partitions/\(partition)")
        for i in 0..<5 {
            let d = try #require(try await receiver.receive())
            #expect(bodyText(d.message) == "b\(i)")
            #expect(d.message.messageAnnotations?.value[symbol: "x-custom"] == .string("c\(i)"))
            #expect(d.message.messageAnnotations?.value[symbol: EventHubsNames.partitionKey] == .string("the-key"))
            #expect(d.message.applicationProperties?.value[.string("n")] == .int(Int32(i)))
        }
        try await connection.close()
        try await emulator.stop()
    }

    @Test("an event over max-message-size is rejected with message-size-exceeded; the link lives on")
    func tooLarge() throws {
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)])
        configuration.maxMessageSize = 2048
        let wire = try EmulatorWire(configuration)
        let session = try wire.client.beginSession()
        let link = try wire.client.attachLink(on: session, .init(name: "s", role: .sender, source: .source(Source()),
                                                                 target: .target(Target(address: .string("eh1")))))
        // Our AMQPSender refuses this once it knows the limit; queued before the attach reply
        // arrives, it goes out anyway.
        try wire.client.send(on: link, payload: Message(body: .data([DataSection(Binary([UInt8](repeating: 1, count: 3000)))])).encoded()[...])
        try wire.client.send(on: link, payload: event("small").encoded()[...])
        try wire.run()
        let outcomes = wire.events.compactMap { e -> DeliveryState?? in if case .outcome(_, _, let s, true) = e { return s } else { return nil } }
        #expect(outcomes.count == 2)
        guard case .rejected(let rejected)?? = outcomes.first else {
            Issue.record("\(outcomes)")
            return
        }
        #expect(rejected.error?.condition == .link(.messageSizeExceeded))
        #expect(outcomes.last == .some(.accepted(Accepted())))
    }

    @Test("owner levels: higher displaces with link:stolen, lower and non-epoch are refused")
    func ownerLevels() async throws {
        let emulator = try await start()
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let address = "eh1/ConsumerGroups/$Default/Partitions/0"
        let low = try await connection.openReceiver(from: address, options: consumerOptions(address, ownerLevel: 1))
        let high = try await connection.openReceiver(from: address, options: consumerOptions(address, ownerLevel: 5))
        do {
            _ = try await low.receive()
            Issue.record("the displaced receiver kept going")
        } catch let error as AMQPClientError {
            #expect(error.condition == .link(.stolen))
        }
        for level: Int64? in [3, nil] {
            do {
                _ = try await connection.openReceiver(from: address, options: consumerOptions(address, ownerLevel: level))
                Issue.record("admitted owner level \(level.map { "\($0)" } ?? "none")")
            } catch let error as AMQPClientError {
                #expect(error.condition == .link(.stolen))
            }
        }
        try await high.close()
        // With no owner-level receiver left, a plain one is welcome again.
        let plain = try await connection.openReceiver(from: address, options: consumerOptions(address))
        try await plain.close()
        try await connection.close()
        try await emulator.stop()
    }

    @Test("unknown hub, partition or consumer group → amqp:not-found")
    func notFound() async throws {
        let emulator = try await start()
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        for address in ["nohub", "eh1/Partitions/9", "eh1/ConsumerGroups/nope/Partitions/0", "eh1/ConsumerGroups/$Default/Partitions/7"] {
            do {
                if address.contains("ConsumerGroups") {
                    _ = try await connection.openReceiver(from: address)
                } else {
                    _ = try await connection.openSender(to: address)
                }
                Issue.record("attached \(address)")
            } catch let error as AMQPClientError {
                #expect(error.condition == .amqp(.notFound), "\(address)")
            }
        }
        try await connection.close()
        try await emulator.stop()
    }

    @Test("selector filters with the symbolic and the numeric descriptor; runtime metrics")
    func filters() async throws {
        let emulator = try await start()
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1/Partitions/1")
        for i in 0..<6 { try await sender.send(event("f\(i)")) }
        let address = "eh1/ConsumerGroups/$Default/Partitions/1"
        let bySequence = try await connection.openReceiver(from: address, options: consumerOptions(address, .sequenceNumber(2), numericDescriptor: true))
        #expect(bodyText(try #require(try await bySequence.receive()).message) == "f3")
        let withMetrics = try await connection.openReceiver(from: address, options: consumerOptions(address, .sequenceNumber(4, inclusive: true), metrics: true))
        #expect(withMetrics.peerAttach.offeredCapabilities.contains(EventHubsNames.receiverRuntimeMetric))
        let d = try #require(try await withMetrics.receive())
        #expect(bodyText(d.message) == "f4")
        #expect(d.message.deliveryAnnotations?.value[symbol: EventHubsNames.lastEnqueuedSequenceNumber] == .long(5))
        try await connection.close()
        try await emulator.stop()
    }

    @Test("retention drops old events and moves the beginning sequence number")
    func retention() async throws {
        let clock = TestClock()
        let emulator = try await start({ $0.retentionSeconds = 60; $0.hubs = [.init(name: "eh1", partitionCount: 1)] }, clock: clock)
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await connection.openSender(to: "eh1")
        for i in 0..<3 { try await sender.send(event("old\(i)")) }
        clock.advance(seconds: 120)
        try await sender.send(event("new"))
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 1)
        let receiver = try await connection.openReceiver(from: "eh1/ConsumerGroups/$Default/Partitions/0")
        let first = try #require(try await receiver.receive())
        #expect(bodyText(first.message) == "new")
        #expect(first.message.messageAnnotations?.value[symbol: EventHubsNames.sequenceNumber] == .long(3))
        try await connection.close()
        try await emulator.stop()
    }

    @Test("a configuration in the shape of Microsoft's Config.json")
    func microsoftConfig() throws {
        let json = """
        {"UserConfig":{"NamespaceConfig":[{"Type":"EventHub","Name":"emulatorNs1","Entities":[
          {"Name":"eh1","PartitionCount":"2","ConsumerGroups":[{"Name":"cg1"}]},
          {"Name":"orders","PartitionCount":8,"ConsumerGroups":[]}],
          "SharedAccessKeys":[{"Name":"app","Key":"s3cret"}]}],"LoggingConfig":{"Type":"File"}}}
        """
        var configuration = EmulatorConfiguration()
        try configuration.load(microsoftConfig: Data(json.utf8))
        #expect(configuration.hubs.map(\.name) == ["eh1", "orders"])
        #expect(configuration.hubs[0].partitionCount == 2)
        #expect(configuration.hubs[0].allConsumerGroups == ["$Default", "cg1"])
        #expect(configuration.hubs[1].partitionCount == 8)
        #expect(configuration.keys == ["app": "s3cret"])
        var bad = EmulatorConfiguration()
        #expect(throws: EmulatorConfiguration.Invalid.self) {
            try bad.load(microsoftConfig: Data(#"{"UserConfig":{"NamespaceConfig":[{"Entities":[{"Name":"x","PartitionCount":0}]}]}}"#.utf8))
        }
        #expect(throws: EmulatorConfiguration.Invalid.self) { try bad.load(microsoftConfig: Data("not json".utf8)) }
        // Errors name the place in the file.
        for (json, message) in [
            (#"{"UserConfig":{"NamespaceConfig":[{"Entities":[{"PartitionCount":2}]}]}}"#, "UserConfig.NamespaceConfig[0].Entities[0].Name is missing"),
            (#"{"UserConfig":{"NamespaceConfig":[{"Entities":[{"Name":"x","PartitionCount":"two"}]}]}}"#, "UserConfig.NamespaceConfig[0].Entities[0].PartitionCount must be a number"),
            (#"{"UserConfig":{"NamespaceConfig":[{"Name":"ns"}]}}"#, "UserConfig.NamespaceConfig[0].Entities is missing"),
            (#"{"UserConfig":{"NamespaceConfig":[{"Entities":[{"Name":7,"PartitionCount":1}]}]}}"#, "UserConfig.NamespaceConfig[0].Entities[0].Name must be a string"),
            (#"{"UserConfig":{"NamespaceConfig":[]}}"#, "configuration needs UserConfig.NamespaceConfig[]"),
        ] {
            do {
                try bad.load(microsoftConfig: Data(json.utf8))
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    @Test("GET /health answers 200")
    func health() async throws {
        let emulator = try await start { $0.healthPort = 0 }
        let port = try #require(emulator.healthPort)
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self).contains("Healthy"))
        try await emulator.stop()
    }
}

/// The emulator's connection logic on an `EmbeddedChannel`, driven by a client engine: no
/// sockets, fully synchronous, and free to send what a well-behaved client would not.
final class EmulatorWire {
    let channel = EmbeddedChannel()
    var client: ConnectionEngine
    var events: [ConnectionEvent] = []
    let store: EventHubsStore
    private let adapter: ServerConnectionAdapter

    init(_ configuration: EmulatorConfiguration) throws {
        store = try EventHubsStore(configuration: configuration)
        adapter = ServerConnectionAdapter(delegate: EmulatorConnection(store: store, clock: { Int64(Date().timeIntervalSince1970 * 1000) }))
        let keys = configuration.keys
        let server = ConnectionConfiguration(
            role: .server, containerID: "emulator",
            sasl: .server([AnonymousMechanism(), PlainServerMechanism { keys[$0] == $1 }], required: false),
            encodingPolicy: .full, maxMessageSize: configuration.maxMessageSize * 4 + 65536)
        let handler = ConnectionHandler(engine: ConnectionEngine(configuration: server), eventLoop: channel.eventLoop, sink: adapter,
                                        logger: .init(label: "test"))
        adapter.connection = AMQPServerConnection(handler: handler, remoteAddress: nil)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        client = ConnectionEngine(configuration: ConnectionConfiguration(
            role: .client, containerID: "client",
            sasl: .client([PlainMechanism(username: EmulatorConfiguration.defaultKeyName, password: EmulatorConfiguration.defaultKey)]),
            allowsCleartextCredentials: true))
        client.start(now: 0)
        try run()
    }

    /// Moves bytes both ways until both sides are quiet.
    func run() throws {
        for _ in 0..<1000 {
            let out = client.takeOutput()
            if !out.isEmpty { try channel.writeInbound(channel.allocator.buffer(bytes: out)) }
            channel.embeddedEventLoop.run()
            var moved = !out.isEmpty
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                client.receive(buffer.readableBytesView, now: 0)
                moved = true
            }
            events += client.takeEvents()
            if !moved { return }
        }
    }

    func openSender(_ address: String) throws -> (LinkID, SessionID) {
        let session = try client.beginSession()
        let link = try client.attachLink(on: session, .init(name: "s-\(address)", role: .sender, source: .source(Source()),
                                                          target: .target(Target(address: .string(address)))))
        try run()
        return (link, session)
    }
}
