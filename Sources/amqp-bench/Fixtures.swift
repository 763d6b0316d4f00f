import AMQPCodec
import AMQPCodecFixtures
import AMQPMessage
import AMQPProtocol
import AMQPTypes

/// The values every codec benchmark encodes and decodes. `Benchmarks/proton/codec-bench.c` builds
/// the same values with Qpid Proton; keep the two in step (the fixture names, field values and
/// sizes below are the contract between them).
enum Fixtures {
    static let epochMilliseconds = CodecFixtures.epochMilliseconds
    static let kibibyte = CodecFixtures.kibibyte
    static let mebibyte = CodecFixtures.mebibyte
    static let eventHubsMessage = CodecFixtures.eventHubsMessage

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
