import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes

/// One fixture: an operation that encodes it and one that decodes it. Each returns a number
/// derived from its result so that the optimizer cannot drop the work.
protocol CodecBenchmark: Sendable {
    var name: String { get }
    func encode() -> Int
    func decode() throws -> Int
    /// Checks once, before measuring, that decoding gives back the fixture.
    func verify() throws -> Bool
}

/// A transfer frame: the 8-byte frame header, the `transfer` performative and the message
/// encoded straight after it into the same buffer, as a sender puts it on the wire.
struct TransferFrameBenchmark: CodecBenchmark {
    let name: String
    let transfer: Transfer
    let message: Message
    let frame: [UInt8]

    init(name: String, transfer: Transfer, message: Message) {
        self.name = name
        self.transfer = transfer
        self.message = message
        self.frame = Self.encodeFrame(transfer, message)
    }

    @inline(__always)
    static func encodeFrame(_ transfer: Transfer, _ message: Message) -> [UInt8] {
        var encoder = AMQPEncoder()
        FrameEncoder.write(transfer, encoding: message, channel: 0, into: &encoder)
        return encoder.takeBytes()
    }

    func encode() -> Int {
        Self.encodeFrame(transfer, message).count
    }

    @inline(__always)
    func decodeFrame() throws -> (Transfer, Message) {
        // The frame decoder has found the frame; this is the work that follows: the performative,
        // then the message in the rest of the body.
        let dataOffset = Int(frame[4]) &* 4
        var decoder = AMQPDecoder(frame[dataOffset...])
        let transfer = try Transfer(from: &decoder)
        let message = try Message(from: &decoder)
        return (transfer, message)
    }

    func decode() throws -> Int {
        let (transfer, message) = try decodeFrame()
        return Int(transfer.handle) &+ (message.header?.durable == true ? 1 : 0)
    }

    func verify() throws -> Bool {
        let (t, m) = try decodeFrame()
        return t == transfer && m == message
    }
}

/// A message alone: its sections, as `pn_message_encode`/`pn_message_decode` handle it.
struct MessageBenchmark: CodecBenchmark {
    let name: String
    let message: Message
    let bytes: [UInt8]

    init(name: String, message: Message) {
        self.name = name
        self.message = message
        self.bytes = message.encoded()
    }

    func encode() -> Int { message.encoded().count }

    func decode() throws -> Int {
        let message = try Message(decoding: bytes)
        return message.header == nil ? 0 : 1
    }

    func verify() throws -> Bool { try Message(decoding: bytes) == message }
}

/// A received message read lazily: one annotation and the body's slice, the rest left undecoded
/// (`LazyMessage`, what a consumer that routes on one annotation does). Encoding forwards the
/// received bytes unchanged (what a lazy message does when it is sent on).
struct LazyMessageBenchmark: CodecBenchmark {
    let name: String
    let message: Message
    let bytes: [UInt8]
    let lazy: LazyMessage

    init(name: String, message: Message) throws {
        self.name = name
        self.message = message
        self.bytes = message.encoded()
        self.lazy = try LazyMessage(decoding: bytes)
    }

    func encode() -> Int { AMQPEncoder.encode(lazy).count }

    @inline(__always)
    func read() throws -> (AMQPValue?, Binary?) {
        let lazy = try LazyMessage(decoding: bytes)
        return (try lazy.messageAnnotation("x-opt-sequence-number"), try lazy.decodeSingleDataBody())
    }

    func decode() throws -> Int {
        let (annotation, body) = try read()
        return (annotation == nil ? 0 : 1) &+ (body?.count ?? 0)
    }

    func verify() throws -> Bool {
        let (annotation, body) = try read()
        guard case .data(let sections) = message.body, sections.count == 1 else { return false }
        let expected = message.messageAnnotations?.value.entries.first(where: { $0.key == .symbol("x-opt-sequence-number") })?.value
        let validated = try LazyMessage(decoding: bytes).validate()
        return annotation != nil && annotation == expected && body == sections[0].value && validated == message
    }
}

/// One value through its `AMQPCodable` conformance: an `AMQPValue` (the dynamic path, as
/// `pn_data_encode`/`pn_data_decode` handle values) or a generated performative (the typed path).
struct CodableBenchmark<Value: AMQPCodable & Equatable & Sendable>: CodecBenchmark {
    let name: String
    let value: Value
    let bytes: [UInt8]

    init(name: String, value: Value) {
        self.name = name
        self.value = value
        self.bytes = AMQPEncoder.encode(value)
    }

    func encode() -> Int { AMQPEncoder.encode(value).count }

    func decode() throws -> Int {
        _ = try AMQPDecoder.decode(Value.self, from: bytes)
        return 1
    }

    func verify() throws -> Bool { try AMQPDecoder.decode(Value.self, from: bytes) == value }
}

/// Every codec fixture, in the order `amqp-bench codec` prints them. The first three are the
/// codec issue's; then the Proton comparison's (`eh-message-lazy` is issue 13's lazy read), then
/// the Codable bridge's.
let codecBenchmarks: [any CodecBenchmark] = [
    TransferFrameBenchmark(name: "eh-transfer", transfer: Fixtures.transfer, message: Fixtures.eventHubsMessage),
    CodableBenchmark(name: "map100", value: Fixtures.map100),
    CodableBenchmark(name: "symbols1000", value: Fixtures.symbols1000),
    MessageBenchmark(name: "eh-message", message: Fixtures.eventHubsMessage),
    try! LazyMessageBenchmark(name: "eh-message-lazy", message: Fixtures.eventHubsMessage),
    MessageBenchmark(name: "data1m", message: Fixtures.data1m),
    CodableBenchmark(name: "open", value: Fixtures.open),
    CodableBenchmark(name: "attach", value: Fixtures.attach),
    CodableBenchmark(name: "flow", value: Fixtures.flow),
    // The Codable bridge beside building the AMQPValue by hand (issue 18): no Proton rows.
    CodableBridgeBenchmark(),
    HandBuiltPropertiesBenchmark(),
]
