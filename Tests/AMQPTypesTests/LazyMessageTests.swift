import AMQPCodec
@testable import AMQPMessage
import AMQPTypes
import Testing

@Suite struct LazyMessageTests {
    static let messages: [Message] = [
        MessageTests.full,
        Message(body: .value(AMQPValueSection(.string("hello")))),
        Message(body: .sequence([AMQPSequenceSection([.uint(1)]), AMQPSequenceSection([])])),
        Message(properties: Properties(subject: "no body")),
        Message(),
    ]

    @Test(arguments: messages)
    func sectionsDecodeAsTheMessageDoes(message: Message) throws {
        for policy in [EncodingPolicy.compact, .full] {
            let bytes = message.encoded(policy: policy)
            let lazy = try LazyMessage(decoding: bytes)
            #expect(try lazy.decodeHeader() == message.header)
            #expect(try lazy.decodeDeliveryAnnotations() == message.deliveryAnnotations)
            #expect(try lazy.decodeMessageAnnotations() == message.messageAnnotations)
            #expect(try lazy.decodeProperties() == message.properties)
            #expect(try lazy.decodeApplicationProperties() == message.applicationProperties)
            #expect(try lazy.decodeBody() == message.body)
            #expect(try lazy.decodeFooter() == message.footer)
            #expect(try lazy.validate() == message)
            // Forwarded unchanged.
            #expect(AMQPEncoder.encode(lazy) == bytes)
        }
    }

    @Test func oneAnnotationAndTheBodySlice() throws {
        let bytes = MessageTests.full.encoded()
        let lazy = try LazyMessage(decoding: bytes)
        #expect(try lazy.messageAnnotation("x-opt-partition-key") == .string("k"))
        #expect(try lazy.messageAnnotation("x-opt-absent") == nil)
        // Two data sections: not a single-section body.
        #expect(try lazy.decodeSingleDataBody() == nil)
        let single = try LazyMessage(decoding: Message(body: .data([DataSection(Binary([7, 8, 9]))])).encoded())
        #expect(try single.decodeSingleDataBody() == Binary([7, 8, 9]))
        #expect(try single.messageAnnotation("x-opt-partition-key") == nil)
    }

    /// Replaces the first occurrence of `pattern` in `bytes`.
    func replacing(_ pattern: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        for start in 0...(bytes.count - pattern.count) where Array(bytes[start..<(start + pattern.count)]) == pattern {
            return Array(bytes[..<start]) + replacement + Array(bytes[(start + pattern.count)...])
        }
        Issue.record("pattern not found")
        return bytes
    }

    @Test func aMalformedSectionIsAnErrorWhenItIsRead() throws {
        // The properties' `to` address as invalid UTF-8 (same length): framing intact, content not.
        let message = Message(
            messageAnnotations: MessageAnnotations([.symbol("x-opt-a"): .long(1)]),
            properties: Properties(to: .string("queue")),
            body: .data([DataSection(Binary([1, 2]))]))
        let bytes = replacing(Array("queue".utf8), with: [0x71, 0xFF, 0xFE, 0x75, 0x65], in: message.encoded())
        #expect(throws: AMQPDecodingError.self) { _ = try Message(decoding: bytes) }
        let lazy = try LazyMessage(decoding: bytes)
        // What is well formed reads as usual...
        #expect(try lazy.messageAnnotation("x-opt-a") == .long(1))
        #expect(try lazy.decodeSingleDataBody() == Binary([1, 2]))
        // ...and the malformed section throws what the eager decoder throws, at the same offset.
        var eager: AMQPDecodingError?
        do { _ = try Message(decoding: bytes) } catch { eager = error }
        #expect(throws: eager!) { _ = try lazy.decodeProperties() }
        #expect(throws: eager!) { _ = try lazy.validate() }
    }

    @Test(arguments: [
        ("properties after application-properties", [MessageSection.applicationProperties(ApplicationProperties([:])), .properties(Properties())]),
        ("two headers", [.header(Header()), .header(Header())]),
        ("data then amqp-sequence", [.data(DataSection([1])), .amqpSequence(AMQPSequenceSection([]))]),
        ("two amqp-values", [.amqpValue(AMQPValueSection(.null)), .amqpValue(AMQPValueSection(.null))]),
        ("footer before the body", [.footer(Footer([:])), .data(DataSection([1]))]),
        ("not a section", [.unknown(descriptor: .code(0x10), value: .list([]))]),
    ])
    func sectionOrderIsCheckedWhenCreated(name: String, sections: [MessageSection]) {
        var encoder = AMQPEncoder()
        for section in sections { section.encode(to: &encoder) }
        let bytes = encoder.takeBytes()
        var eager: AMQPDecodingError?
        do { _ = try Message(decoding: bytes) } catch { eager = error }
        #expect(eager?.kind == .unexpectedDescriptor, "\(name)")
        #expect(throws: eager!) { _ = try LazyMessage(decoding: bytes) }
    }

    @Test func truncatedFramingIsRefusedWhenCreated() throws {
        let bytes = MessageTests.full.encoded()
        for cut in [1, 5, bytes.count / 2, bytes.count - 1] {
            #expect(throws: AMQPDecodingError.self) { _ = try LazyMessage(decoding: Array(bytes[..<cut])) }
        }
    }

    @Test func readsTheRestOfATransferFrame() throws {
        var encoder = AMQPEncoder()
        Transfer(handle: 1, deliveryID: 2, deliveryTag: Binary([1]), settled: true).encode(to: &encoder)
        MessageTests.full.encode(to: &encoder)
        let frame = encoder.takeBytes()
        var decoder = AMQPDecoder(frame)
        _ = try Transfer(from: &decoder)
        let lazy = try LazyMessage(from: &decoder)
        #expect(decoder.isAtEnd)
        #expect(try lazy.validate() == MessageTests.full)
        #expect(lazy.bytes.startIndex > 0)
    }
}

@Suite struct SectionDescriptorTests {
    /// The decoders' fast path names sections by literal codes; they must be the generated ones.
    @Test func literalCodesAreTheGeneratedDescriptors() {
        #expect(Message.sectionKind(code: Header.descriptor.code) == .header)
        #expect(Message.sectionKind(code: DeliveryAnnotations.descriptor.code) == .deliveryAnnotations)
        #expect(Message.sectionKind(code: MessageAnnotations.descriptor.code) == .messageAnnotations)
        #expect(Message.sectionKind(code: Properties.descriptor.code) == .properties)
        #expect(Message.sectionKind(code: ApplicationProperties.descriptor.code) == .applicationProperties)
        #expect(Message.sectionKind(code: DataSection.descriptor.code) == .data)
        #expect(Message.sectionKind(code: AMQPSequenceSection.descriptor.code) == .amqpSequence)
        #expect(Message.sectionKind(code: AMQPValueSection.descriptor.code) == .amqpValue)
        #expect(Message.sectionKind(code: Footer.descriptor.code) == .footer)
        #expect(Message.sectionKind(code: 0x6F) == nil)
        #expect(Message.sectionKind(code: 0x79) == nil)
    }
}
