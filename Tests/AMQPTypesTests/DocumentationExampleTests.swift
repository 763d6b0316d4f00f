import AMQPCodec
import AMQPMessage
import AMQPTypes
import Testing

/// The message's code in the README and the AMQPMessage catalog, region for region
/// (AMQPDocumentationTests checks that each block equals its region here).
@Suite("Documentation examples: messages")
struct MessageDocumentationExampleTests {
    @Test("a lazy message reads one annotation and the body without decoding the rest")
    func lazyMessage() throws {
        let sent = Message(
            messageAnnotations: MessageAnnotations([.symbol("x-opt-partition-key"): .string("k"), .symbol("x-opt-sequence-number"): .long(41)]),
            properties: Properties(subject: "reading"),
            body: .data([DataSection(Binary(Array("21.5".utf8)))]))
        let payload = sent.encoded()

        // snippet: lazy message
        let message = try LazyMessage(decoding: payload)            // or LazyMessage(from: &decoder) after a transfer
        let sequence = try message.messageAnnotation("x-opt-sequence-number")
        let body = try message.decodeSingleDataBody()                 // a slice of `payload`, not a copy
        let everything: Message = try message.validate()              // every section, checked now
        // snippet end

        #expect(sequence == .long(41))
        #expect(body.map { Array($0.bytes) } == Array("21.5".utf8))
        #expect(everything == sent)
    }
}
