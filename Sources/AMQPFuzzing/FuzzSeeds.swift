import AMQPCodec
import AMQPMessage
import AMQPMessageJSON
import AMQPProtocol
import AMQPTypedJSON
import AMQPTypes

/// Seeds made in code: values of every type, messages, and the two byte streams of whole
/// conversations between a client and a server engine (with and without SASL, multi-frame
/// deliveries, settlement, detach, end and close). `scripts/fuzz.sh` adds the captures and
/// Qpid Proton's corpora from `../shared/corpora`, and the committed regression inputs.
public enum FuzzSeeds {
    public static func seeds(for target: FuzzTarget) -> [(name: String, bytes: [UInt8])] {
        switch target {
        case .value:
            return named("value", sampleValues.flatMap { value in
                ValueOracle.policies.map { AMQPEncoder.encode(value, policy: $0.policy) }
            })
        case .message:
            return named("message", sampleMessages.flatMap { message in ValueOracle.policies.map { message.encoded(policy: $0.policy) } })
        case .frames:
            return named("stream", conversations.flatMap { [$0.clientToServer, $0.serverToClient] })
        case .performative:
            var bodies: [[UInt8]] = []
            for conversation in conversations {
                bodies += frameBodies(conversation.clientToServer) + frameBodies(conversation.serverToClient)
            }
            bodies += sampleDescribedValues.map { AMQPEncoder.encode($0) }
            return named("body", Array(Set(bodies)).sorted { $0.lexicographicallyPrecedes($1) })
        case .listener:
            return named("raw", conversations.map(\.clientToServer)) + named("script", conversations.map { script($0.clientToServer, $0.scriptConfiguration) })
        case .client:
            return named("raw", conversations.map(\.serverToClient)) + named("script", conversations.map { clientScript($0) })
                + named("pair", pairScripts)
        case .specXML:
            return named("spec", sampleSpecs.map { Array($0.utf8) })
        case .json:
            let values = sampleValues.map { TypedJSON.string(for: $0) } + sampleValues.map { TypedJSON.string(for: $0, floatsAsBits: true) }
            let messages = sampleMessages.map { MessageJSON.string(for: $0) }
            return named("json", (values + messages + sampleJSONTexts).map { Array($0.utf8) })
        }
    }

    /// JSON the parser must take exactly: escapes, surrogate pairs, numbers at the edges of what
    /// 64 bits hold, deep nesting, duplicate keys, and whitespace everywhere JSON allows it.
    static let sampleJSONTexts = [
        #"{"a":[1,-0,0.5e-3,1E+2,18446744073709551615,-9223372036854775808],"b":{"c":null,"d":true,"e":false}}"#,
        #"["\u0000\n\t\"\\\/\b\f\r","\ud83d\ude00","é"]"#,
        " \t\r\n[ { } , [ ] , \"\" ] ",
        #"{"k":1,"k":2}"#,
        String(repeating: "[", count: 64) + String(repeating: "]", count: 64),
        #"{"t":"map","v":[[{"t":"symbol","v":"x-opt-k"},{"t":"ulong","v":"18446744073709551615"}]]}"#,
    ]

    static func named(_ prefix: String, _ inputs: [[UInt8]]) -> [(name: String, bytes: [UInt8])] {
        inputs.enumerated().map { (name: "seed-\(prefix)-\($0.offset)", bytes: $0.element) }
    }

    // MARK: Values and messages

    static var sampleValues: [AMQPValue] {
        let scalars: [AMQPValue] = [
            .null, .boolean(true), .boolean(false), .ubyte(255), .ushort(0xABCD), .uint(0), .uint(255), .uint(.max),
            .ulong(0), .ulong(0x10), .ulong(.max), .byte(-128), .short(-256), .int(-1), .int(.min), .long(-129), .long(.max),
            .float(1.5), .float(.nan), .double(-0.0), .double(.infinity), .decimal32(Decimal32(bitPattern: 0x2200_0001)),
            .decimal64(Decimal64(bitPattern: 0x2238_0000_0000_0001)), .decimal128(Decimal128(high: 0x2208_0000_0000_0000, low: 1)),
            .char("é"), .timestamp(Timestamp(millisecondsSince1970: 1_700_000_000_000)),
            .uuid(AMQPUUID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)),
            .binary(Binary([0, 1, 2, 0xFF])), .binary(Binary([UInt8](repeating: 7, count: 300))), .string(""), .string("héllo ✓"),
            .string(String(repeating: "x", count: 300)), .symbol("amqp:accepted:list"),
        ]
        let arrays: [AMQPValue] = [
            .array(try! AMQPArray(elementType: .uint, elements: [.uint(1), .uint(1000)])),
            .array(try! AMQPArray(elementType: .symbol, elements: [.symbol("a"), .symbol("bc")])),
            .array(try! AMQPArray(elementType: .list, descriptor: .ulong(0x28), elements: [.list([.string("q")]), .list([])])),
            .array(try! AMQPArray(elementType: .array, elements: [.array(try! AMQPArray(elementType: .boolean, elements: [.boolean(true)]))])),
            .array(try! AMQPArray(elementType: .map, elements: [.map([.symbol("k"): .int(1)])])),
        ]
        let compounds: [AMQPValue] = [
            .list([]), .list(scalars), .map([.symbol("x-opt-offset"): .string("42"), .int(1): .list([.null])]),
            .described(descriptor: .ulong(0x77), value: .string("body")), .described(descriptor: .symbol("com.example:t"), value: .list([.uint(1)])),
            .described(descriptor: .int(5), value: .null), .list([.list([.list([.map([:])])])]),
        ]
        return scalars + arrays + compounds
    }

    static var sampleMessages: [Message] {
        let properties = Properties(
            messageID: .string("m-1"), userID: Binary(Array("guest".utf8)), to: .string("/queue/a"), subject: "s",
            replyTo: .string("/queue/r"), correlationID: .ulong(7), contentType: "application/json", contentEncoding: "gzip",
            absoluteExpiryTime: Timestamp(millisecondsSince1970: 1), creationTime: Timestamp(millisecondsSince1970: 2),
            groupID: "g", groupSequence: 3, replyToGroupID: "rg")
        return [
            Message(body: .data([DataSection(Binary(Array("hello".utf8)))])),
            Message(body: .data([])),
            Message(header: Header(durable: true, priority: 9, ttl: 1000, firstAcquirer: true, deliveryCount: 2),
                    deliveryAnnotations: DeliveryAnnotations([.symbol("x-opt-lock-token"): .uuid(AMQPUUID(high: 1, low: 2))]),
                    messageAnnotations: MessageAnnotations([.symbol("x-opt-sequence-number"): .long(42)]),
                    properties: properties, applicationProperties: ApplicationProperties([.string("k"): .int(-1)]),
                    body: .sequence([AMQPSequenceSection([.string("a"), .uint(1)]), AMQPSequenceSection([])]),
                    footer: Footer([.symbol("hash"): .binary(Binary([1, 2]))])),
            Message(properties: Properties(messageID: .uuid(AMQPUUID(high: 3, low: 4))), body: .value(AMQPValueSection(.map([.string("n"): .double(1)])))),
            Message(body: .data([DataSection(Binary([0])), DataSection(Binary([UInt8](repeating: 0xAB, count: 600)))])),
        ]
    }

    /// Described types beyond the performatives: delivery states, termini with filters, errors,
    /// SASL frames and transactions.
    static var sampleDescribedValues: [any AMQPEncodable] {
        let error = AMQPError(condition: .link(.detachForced), description: "d", info: [.symbol("k"): .string("v")])
        return [
            DeliveryState.received(Received(sectionNumber: 1, sectionOffset: 2)), DeliveryState.accepted(Accepted()),
            DeliveryState.rejected(Rejected(error: error)), DeliveryState.released(Released()),
            DeliveryState.modified(Modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: [.symbol("a"): .null])),
            Source(address: .string("/queue/a"), durable: .unsettledState, expiryPolicy: .never, timeout: 5, dynamic: true,
                   distributionMode: .standard(.move), filter: [.symbol("f"): .described(descriptor: .symbol("apache.org:selector-filter:string"), value: .string("a = 1"))],
                   defaultOutcome: .released(Released()), outcomes: ["amqp:accepted:list"], capabilities: ["queue"]),
            Target(address: .string("t"), durable: .configuration, expiryPolicy: .linkDetach, dynamic: false, capabilities: ["topic"]),
            error,
            SASLMechanisms(saslServerMechanisms: ["PLAIN", "ANONYMOUS"]), SASLInit(mechanism: "PLAIN", initialResponse: Binary([0, 0x61, 0, 0x62]), hostname: "h"),
            SASLChallenge(challenge: Binary([1])), SASLResponse(response: Binary([2])), SASLOutcome(code: .ok, additionalData: Binary([3])),
            Coordinator(capabilities: [.standard(.localTransactions)]), Declare(), Discharge(txnID: .binary(Binary([9])), fail: true),
            Declared(txnID: .binary(Binary([9]))), TransactionalState(txnID: .binary(Binary([9])), outcome: .accepted(Accepted())),
            SelectorFilter("color = 'red'"), NoLocalFilter(), LegacyAMQPTopicBinding("a.*"),
        ]
    }

    // MARK: Conversations

    /// Both directions of one conversation between our engines, and how a script must configure
    /// the listener to answer its client bytes alike.
    struct Conversation {
        var clientToServer: [UInt8]
        var serverToClient: [UInt8]
        var scriptConfiguration: UInt8
    }

    static var conversations: [Conversation] {
        [
            converse(sasl: .none, scriptConfiguration: 0x00),
            converse(sasl: .plain, scriptConfiguration: 0x02),
            converse(sasl: .anonymous, smallFrames: true, scriptConfiguration: 0x09),
        ]
    }

    enum SASLChoice { case none, plain, anonymous }

    /// A client and a server engine back to back: the client begins a session and attaches a
    /// sender and a receiver; the server's application accepts both and grants credit; messages
    /// go both ways (one larger than a frame), are settled, and everything is closed in order.
    static func converse(sasl: SASLChoice, smallFrames: Bool = false, scriptConfiguration: UInt8) -> Conversation {
        let clientSASL: ConnectionConfiguration.SASL
        let serverSASL: ConnectionConfiguration.SASL
        switch sasl {
        case .none:
            clientSASL = .none
            serverSASL = .none
        case .plain:
            clientSASL = .client([PlainMechanism(username: "guest", password: "guest")])
            serverSASL = .server([PlainServerMechanism(check: { _, _ in true }), AnonymousMechanism()], required: true)
        case .anonymous:
            clientSASL = .client([AnonymousMechanism()])
            serverSASL = .server([AnonymousMechanism()], required: false)
        }
        var pair = EnginePair(
            client: ConnectionConfiguration(role: .client, containerID: "client", hostname: "localhost", sasl: clientSASL,
                                            allowsCleartextCredentials: true),
            server: ConnectionConfiguration(role: .server, containerID: "server", maxFrameSize: smallFrames ? 512 : 1 << 20, sasl: serverSASL))
        pair.start()
        guard let session = try? pair.client.beginSession(),
              let sender = try? pair.client.attachLink(on: session, .init(
                name: EngineDriver.captureLinkName, role: .sender, source: .source(Source(address: .string("client"))),
                target: .target(Target(address: .string("/queue/cap"))))),
              let receiver = try? pair.client.attachLink(on: session, .init(
                name: EngineDriver.captureLinkName, role: .receiver, source: .source(Source(address: .string("/queue/cap"))),
                target: .target(Target(address: .string("client")))))
        else { preconditionFailure("a fresh client engine refuses to begin and attach") }
        pair.run()
        _ = try? pair.client.setCredit(5, on: receiver)
        pair.run()
        for (index, message) in sampleMessages.enumerated() {
            _ = try? pair.client.send(on: sender, payload: message.encoded()[...], settled: index == 1)
        }
        pair.run()
        pair.now += 40_000_000_000
        _ = pair.client.tick(now: pair.now)
        _ = pair.server.tick(now: pair.now)
        pair.run()
        pair.client.detachLink(sender)
        pair.run()
        pair.client.endSession(session)
        pair.run()
        pair.client.close()
        pair.run()
        return Conversation(clientToServer: pair.clientToServer, serverToClient: pair.serverToClient, scriptConfiguration: scriptConfiguration)
    }

    /// The bodies of the frames in a stream, as the performative target reads them.
    static func frameBodies(_ stream: [UInt8]) -> [[UInt8]] {
        var decoder = FrameDecoder(startsWithProtocolHeader: true)
        decoder.append(stream)
        var bodies: [[UInt8]] = []
        while let event = try? decoder.next() {
            guard case .frame(let frame) = event else { continue }
            if frame.type == .sasl, case .saslOutcome? = try? AMQPDecoder.decode(SASLPerformative.self, from: Array(frame.body)) {
                decoder.expectProtocolHeader()
            }
            if !frame.isEmpty { bodies.append(Array(frame.body)) }
        }
        return bodies
    }

    /// A script that feeds `stream` one header or frame at a time, with the application's
    /// automatic answers on, then lets time pass and closes.
    static func script(_ stream: [UInt8], _ configuration: UInt8) -> [UInt8] {
        var script: [UInt8] = [configuration]
        var rest = stream[...]
        while !rest.isEmpty {
            let length = EngineDriver.unitLength(rest)
            script.append(EngineDriver.Operation.feedUnits.rawValue << 4)
            script += rest.prefix(length)
            rest = rest.dropFirst(length)
        }
        script.append(EngineDriver.Operation.tick.rawValue << 4 | 6)
        script.append(EngineDriver.Operation.close.rawValue << 4)
        return script
    }

    /// The client's script begins a session and attaches both ways before the server's bytes.
    static func clientScript(_ conversation: Conversation) -> [UInt8] {
        var fed = script(conversation.serverToClient, conversation.scriptConfiguration)
        let prologue: [UInt8] = [
            EngineDriver.Operation.begin.rawValue << 4,
            EngineDriver.Operation.attach.rawValue << 4 | 0b0011,
            EngineDriver.Operation.attach.rawValue << 4 | 0b0010,
        ]
        fed.insert(contentsOf: prologue, at: 1)
        return fed
    }

    /// Conversations between two of our engines (``EnginePairDriver``): a whole exchange with
    /// and without SASL and small frames; applications that refuse, end and close at once; and
    /// a session ended before its begin is answered.
    static var pairScripts: [[UInt8]] {
        typealias Op = EnginePairDriver.Operation
        func op(_ operation: Op, _ argument: UInt8 = 0) -> UInt8 { operation.rawValue << 4 | argument }
        let server: UInt8 = 8
        let exchange = op(.exchange)
        let conversation: [UInt8] = [
            op(.begin), op(.attach, 1), op(.attach, 0), exchange, op(.credit, 1), 0, exchange,
            op(.send, 3), 0, op(.send, 6), 0x80, op(.send, 7), 0, exchange, op(.settle, 1), exchange,
            op(.tick, 6), exchange, op(.detach), 0, exchange, op(.end), exchange, op(.close), exchange,
        ]
        let hurried: [UInt8] = [
            op(.policy, server), 0, op(.begin), op(.attach, 1), op(.attach, 0), exchange, op(.refuse, server), op(.accept, server),
            op(.toServer, 3), op(.toClient, 3), op(.end), op(.end, server), exchange, op(.close), op(.close, server), exchange,
        ]
        let earlyEnd: [UInt8] = [op(.begin), op(.end), exchange, op(.begin), op(.attach, 1), exchange]
        return [
            [UInt8(ascii: "P"), 0x00, 0x00] + conversation,
            [UInt8(ascii: "P"), 0x1A, 0x02] + conversation,
            [UInt8(ascii: "P"), 0x01, 0x01] + hurried,
            [UInt8(ascii: "P"), 0x00, 0x00] + earlyEnd,
        ]
    }

    // MARK: Spec XML

    static let sampleSpecs: [String] = [
        #"<?xml version="1.0"?><amqp name="fuzz" label="fuzz"><section name="s"><type name="t" class="composite" source="list" provides="p"><descriptor name="x:t:list" code="0x00000001:0x00000002"/><field name="a" type="uint" default="7"/><field name="b" type="symbol" multiple="true" requires="p"/><field name="c" type="*" mandatory="true"/></type><type name="r" class="restricted" source="ubyte"><choice name="one" value="1"/><choice name="two" value="2"/></type><type name="u" class="primitive"><encoding name="x" code="0x52" category="fixed" width="1"/></type><definition name="D" value="512"/></section></amqp>"#,
        #"<amqp name="e"><section name="s"><type name="sym" class="restricted" source="symbol" provides="error-condition"><choice name="a" value="x:a"/><doc><p>text</p><ul><li>item</li></ul><picture>  pic  </picture></doc></type></section></amqp>"#,
    ]
}

/// A client and a server engine wired back to back in memory, for the conversations.
struct EnginePair {
    var client: ConnectionEngine
    var server: ConnectionEngine
    var clientToServer: [UInt8] = []
    var serverToClient: [UInt8] = []
    var now: UInt64 = 1_000_000_000

    init(client: ConnectionConfiguration, server: ConnectionConfiguration) {
        self.client = ConnectionEngine(configuration: client)
        self.server = ConnectionEngine(configuration: server)
    }

    mutating func start() {
        server.start(now: now)
        client.start(now: now)
        run()
    }

    /// Moves bytes both ways until both are quiet; the server's application accepts links and
    /// grants credit, and both settle what they receive.
    mutating func run() {
        for _ in 0..<1_000 {
            for event in server.takeEvents() {
                switch event {
                case .linkAttachRequested(_, let link, let attach):
                    try? server.acceptLink(link, source: attach.source, target: attach.target)
                    if attach.role == .sender { try? server.setCredit(10, on: link) }
                    else { _ = try? server.send(on: link, payload: FuzzSeeds.sampleMessages[0].encoded()[...]) }
                case .delivery(let link, let delivery) where !delivery.isSettled:
                    try? server.settle(delivery.deliveryID, on: link, state: .accepted(Accepted()))
                default: break
                }
            }
            for event in client.takeEvents() {
                if case .delivery(let link, let delivery) = event, !delivery.isSettled {
                    try? client.settle(delivery.deliveryID, on: link, state: .accepted(Accepted()))
                }
            }
            let toServer = client.takeOutput()
            let toClient = server.takeOutput()
            if toServer.isEmpty && toClient.isEmpty { return }
            clientToServer += toServer
            serverToClient += toClient
            server.receive(toServer, now: now)
            client.receive(toClient, now: now)
        }
    }
}
