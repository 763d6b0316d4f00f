import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes

/// The values every codec benchmark encodes and decodes. `Benchmarks/proton/codec-bench.c` builds
/// the same values with Qpid Proton; keep the two in step (the fixture names, field values and
/// sizes below are the contract between them).
enum Fixtures {
    static let epochMilliseconds: Int64 = 1_700_000_000_000

    /// 1 KiB of `i & 0xFF`: the body of the Event Hubs message.
    static let kibibyte: [UInt8] = (0..<1024).map { UInt8(truncatingIfNeeded: $0) }
    /// 1 MiB of `i & 0xFF`.
    static let mebibyte: [UInt8] = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0) }

    /// A message as Azure Event Hubs hands it to a consumer: durable header, the four `x-opt-…`
    /// annotations, properties, five application properties and a 1 KiB data section.
    static let eventHubsMessage = Message(
        header: Header(durable: true),
        messageAnnotations: MessageAnnotations([
            .symbol("x-opt-partition-key"): .string("device-0042"),
            .symbol("x-opt-sequence-number"): .long(123_456_789),
            .symbol("x-opt-offset"): .string("98765432100"),
            .symbol("x-opt-enqueued-time"): .timestamp(Timestamp(millisecondsSince1970: epochMilliseconds)),
        ]),
        properties: Properties(
            messageID: .uuid(AMQPUUID(high: 0x1b4e_28ba_2fa1_11d2, low: 0x883f_0016_d3cc_a427)),
            contentType: "application/octet-stream",
            creationTime: Timestamp(millisecondsSince1970: epochMilliseconds),
            groupID: "group-7"
        ),
        applicationProperties: ApplicationProperties([
            .string("tenant"): .string("contoso"),
            .string("attempt"): .long(3),
            .string("urgent"): .boolean(true),
            .string("score"): .double(0.75),
            .string("observed-at"): .timestamp(Timestamp(millisecondsSince1970: epochMilliseconds + 123)),
        ]),
        body: .data([DataSection(Binary(kibibyte))])
    )

    /// The transfer that carries it: what Proton's transport writes for a pre-settled delivery.
    static let transfer = Transfer(
        handle: 0, deliveryID: 0, deliveryTag: Binary([0, 0, 0, 1] as [UInt8]), messageFormat: 0, settled: true
    )

    /// 100 pairs `"key-000"` → long `i * 1000003`.
    static let map100: AMQPValue = .map(AMQPMap((0..<100).map { i in
        AMQPMap.Entry(key: .string("key-" + threeDigits(i)), value: .long(Int64(i) * 1_000_003))
    }))

    /// `sym-0000` … `sym-0999`.
    static let symbols1000: AMQPValue = {
        let symbols = (0..<1000).map { i in AMQPValue.symbol(Symbol("sym-" + fourDigits(i))!) }
        return .array(try! AMQPArray(elementType: .symbol, elements: symbols))
    }()

    /// A message whose only section is 1 MiB of data.
    static let data1m = Message(body: .data([DataSection(Binary(mebibyte))]))

    static let open = Open(
        containerID: "swift-amqp-bench-4f9c2d7e-0123-4567-89ab-cdef01234567",
        hostname: "bench.servicebus.example.net",
        maxFrameSize: 1 << 20,
        channelMax: 255,
        idleTimeout: 60_000,
        properties: [.symbol("product"): .string("swift-amqp"), .symbol("platform"): .string("Swift")]
    )

    static let attach = Attach(
        name: "sender-orders-4f9c2d7e",
        handle: 0,
        role: .sender,
        senderSettleMode: .unsettled,
        receiverSettleMode: .first,
        source: .source(Source(address: .string("sender-orders-4f9c2d7e"))),
        target: .target(Target(address: .string("orders"))),
        initialDeliveryCount: 0,
        maxMessageSize: 1 << 20
    )

    static let flow = Flow(
        nextIncomingID: 10, incomingWindow: 5000, nextOutgoingID: 20, outgoingWindow: 5000,
        handle: 0, deliveryCount: 100, linkCredit: 300
    )

    static func threeDigits(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: 3 - s.count) + s
    }

    static func fourDigits(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: 4 - s.count) + s
    }
}
