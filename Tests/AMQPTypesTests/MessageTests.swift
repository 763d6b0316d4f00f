import AMQPCodec
import AMQPCodecFixtures
import AMQPMessage
import AMQPTypes
import Foundation
import Testing

@Suite struct MessageTests {
    static let full = Message(
        header: Header(durable: true, priority: 4),
        deliveryAnnotations: DeliveryAnnotations([.symbol("x-opt-hop"): .uint(1)]),
        messageAnnotations: MessageAnnotations([.symbol("x-opt-partition-key"): .string("k")]),
        properties: Properties(messageID: .uuid(AMQPUUID(high: 1, low: 2)), to: .string("queue"), contentType: "text/plain"),
        applicationProperties: ApplicationProperties([.string("operation"): .string("READ")]),
        body: .data([DataSection(Binary([1, 2, 3])), DataSection(Binary([4]))]),
        footer: Footer([.symbol("x-hash"): .binary(Binary([9]))]))

    @Test(arguments: [
        full,
        Message(body: .value(AMQPValueSection(.string("hello")))),
        Message(body: .sequence([AMQPSequenceSection([.uint(1)]), AMQPSequenceSection([])])),
        Message(properties: Properties(subject: "no body")),
        Message(),
    ])
    func roundTrip(message: Message) throws {
        for policy in [EncodingPolicy.compact, .full] {
            #expect(try Message(decoding: message.encoded(policy: policy)) == message)
        }
    }

    @Test func protonInteropMessageVector() throws {
        // CI and every work tree have shared/ beside the package.
        let path = packageRoot.appendingPathComponent("../shared/corpora/proton-interop-vectors/message.amqp").path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let message = try Message(decoding: bytes)
        #expect(message.header?.durable == false)
        #expect(message.header?.priority == 4)
        #expect(message.properties != nil)
        #expect(message.body == .value(AMQPValueSection(.binary(Binary([0xA1, 0x05] + Array("hello".utf8))))))
    }

    /// The message the codec benchmarks and Proton's codec-bench build (durable header, the four
    /// `x-opt-…` annotations, properties, five application properties, 1 KiB of data): the
    /// Embedded Swift round trip (scripts/test-embedded.sh) reads its encoding from
    /// Embedded/Fixtures/eh-message.hex, which must be what the full runtime writes.
    @Test func eventHubsMessageFixtureIsTheFullRuntimeEncoding() throws {
        let message = CodecFixtures.eventHubsMessage
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Embedded/Fixtures/eh-message.hex"), encoding: .utf8)
        let fixture = try #require(HexEncoding.bytes(text.filter { !$0.isWhitespace }))
        #expect(message.encoded() == fixture)
        #expect(try Message(decoding: fixture) == message)
    }

    func sections(_ sections: [MessageSection]) -> [UInt8] {
        var encoder = AMQPEncoder()
        for section in sections { section.encode(to: &encoder) }
        return encoder.bytes
    }

    @Test(arguments: [
        ("properties after application-properties", [MessageSection.applicationProperties(ApplicationProperties([:])), .properties(Properties())]),
        ("two headers", [.header(Header()), .header(Header())]),
        ("data then amqp-sequence", [.data(DataSection([1])), .amqpSequence(AMQPSequenceSection([]))]),
        ("two amqp-values", [.amqpValue(AMQPValueSection(.null)), .amqpValue(AMQPValueSection(.null))]),
        ("footer before the body", [.footer(Footer([:])), .data(DataSection([1]))]),
        ("header after the body", [.data(DataSection([1])), .header(Header())]),
        ("not a section", [.unknown(descriptor: .code(0x10), value: .list([]))]),
    ])
    func sectionOrderIsChecked(name: String, sections: [MessageSection]) {
        #expect(name.isEmpty == false)
        #expect {
            _ = try Message(decoding: self.sections(sections))
        } throws: { error in
            (error as? AMQPDecodingError)?.kind == .unexpectedDescriptor
        }
    }
}
