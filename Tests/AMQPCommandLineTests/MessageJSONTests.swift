import AMQPCodec
import AMQPMessage
import AMQPMessageJSON
import AMQPTypedJSON
import AMQPTypes
import Testing

@Suite("Message ⇄ JSON (amqp send --messages, amqp receive --json)")
struct MessageJSONTests {
    /// Every section and every field, in the printed order.
    static let full = #"{"header":{"durable":true,"priority":4,"ttl":1000,"first_acquirer":false,"delivery_count":0},"#
        + #""delivery_annotations":{"t":"map","v":[[{"t":"symbol","v":"x-opt-hop"},{"t":"int","v":1}]]},"#
        + #""message_annotations":{"t":"map","v":[[{"t":"symbol","v":"x-opt-partition-key"},{"t":"string","v":"k"}],[{"t":"ulong","v":7},{"t":"null"}]]},"#
        + #""properties":{"message_id":{"t":"ulong","v":42},"user_id":"6775657374","to":"queue-a","subject":"greeting","#
        + #""reply_to":"replies","correlation_id":{"t":"uuid","v":"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},"content_type":"text/plain","#
        + #""content_encoding":"identity","absolute_expiry_time":1700000000000,"creation_time":-5,"group_id":"g","group_sequence":4294967295,"#
        + #""reply_to_group_id":"rg"},"#
        + #""application_properties":{"t":"map","v":[[{"t":"string","v":"n"},{"t":"long","v":-9223372036854775808}]]},"#
        + #""body":{"value":{"t":"list","v":[{"t":"double","v":0.1},{"t":"binary","hex":"00ff"}]}},"#
        + #""footer":{"t":"map","v":[[{"t":"symbol","v":"sig"},{"t":"binary","hex":"ab"}]]}}"#

    static let fullMessage = Message(
        header: Header(durable: true, priority: 4, ttl: 1000, firstAcquirer: false, deliveryCount: 0),
        deliveryAnnotations: DeliveryAnnotations([.symbol("x-opt-hop"): .int(1)]),
        messageAnnotations: MessageAnnotations(AMQPMap([
            .init(key: .symbol("x-opt-partition-key"), value: .string("k")), .init(key: .ulong(7), value: .null),
        ])),
        properties: Properties(
            messageID: .ulong(42), userID: Binary(Array("guest".utf8)), to: .string("queue-a"), subject: "greeting",
            replyTo: .string("replies"), correlationID: .uuid(AMQPUUID(uuidString: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6")!),
            contentType: "text/plain", contentEncoding: "identity",
            absoluteExpiryTime: Timestamp(millisecondsSince1970: 1_700_000_000_000), creationTime: Timestamp(millisecondsSince1970: -5),
            groupID: "g", groupSequence: SequenceNumber(UInt32.max), replyToGroupID: "rg"
        ),
        applicationProperties: ApplicationProperties([.string("n"): .long(.min)]),
        body: .value(AMQPValueSection(.list([.double(0.1), .binary(Binary([0, 255]))]))),
        footer: Footer([.symbol("sig"): .binary(Binary([0xab]))])
    )

    @Test("a message with every section prints exactly, and reads back to the same message")
    func fullMessage() throws {
        #expect(MessageJSON.string(for: Self.fullMessage) == Self.full)
        #expect(try MessageJSON.message(from: Self.full) == Self.fullMessage)
    }

    @Test("the example of issue 4 reads, with numbers and strings where it shows them")
    func issueExample() throws {
        let line = #"{"header":{"durable":true,"priority":4,"ttl":1000,"first_acquirer":false,"delivery_count":0},"properties":{"message_id":{"t":"string","v":"id-1"},"to":"orders","absolute_expiry_time":0,"group_sequence":3},"body":{"data":["68656c6c6f","21"]}}"#
        let message = try MessageJSON.message(from: line)
        #expect(message.header?.priority == 4)
        #expect(message.properties?.messageID == .string("id-1"))
        #expect(message.properties?.to == .string("orders"))
        #expect(message.body == .data([DataSection(Binary(Array("hello".utf8))), DataSection(Binary([0x21]))]))
        #expect(MessageJSON.string(for: message) == line)
    }

    @Test("each body form round-trips through JSON and through the wire encoding", arguments: [
        #"{"body":{"value":{"t":"string","v":"hi"}}}"#,
        #"{"body":{"value":{"t":"null"}}}"#,
        #"{"body":{"data":[""]}}"#,
        #"{"body":{"data":["0001","feff"]}}"#,
        #"{"body":{"sequence":[{"t":"list","v":[{"t":"uint","v":1}]},{"t":"list","v":[]}]}}"#,
        #"{"properties":{"to":{"t":"symbol","v":"odd-address"}},"body":{"value":{"t":"bool","v":true}}}"#,
        #"{}"#,
    ])
    func roundTrips(line: String) throws {
        let message = try MessageJSON.message(from: line)
        #expect(MessageJSON.string(for: message) == line)
        let decoded = try Message(decoding: message.encoded())
        #expect(decoded == message)
        #expect(MessageJSON.string(for: decoded) == line)
    }

    @Test("a message without body sections prints without body; null fields are absent")
    func absentBody() throws {
        let message = Message(properties: Properties(subject: "no body"))
        #expect(MessageJSON.string(for: message) == #"{"properties":{"subject":"no body"}}"#)
        let withNulls = try MessageJSON.message(from: #"{"header":null,"properties":{"subject":"s","to":null}}"#)
        #expect(withNulls == Message(properties: Properties(subject: "s")))
    }

    @Test("bad input names the place", arguments: [
        (#"{"heder":{}}"#, "unknown key \"heder\" at $"),
        (#"{"properties":{"message-id":{"t":"ulong","v":1}}}"#, "unknown key \"message-id\" at $.properties"),
        (#"{"properties":{"message_id":{"t":"int","v":1}}}"#, "a message id is a typed ulong, uuid, binary or string at $.properties.message_id"),
        (#"{"properties":{"user_id":"abc"}}"#, "expected hexadecimal digits in pairs at $.properties.user_id"),
        (#"{"header":{"priority":256}}"#, "expected an integer that fits UInt8 at $.header.priority"),
        (#"{"header":{"durable":1}}"#, "expected true or false at $.header.durable"),
        (#"{"message_annotations":{"t":"map","v":[[{"t":"string","v":"k"},{"t":"null"}]]}}"#, "annotation keys must be symbols or ulongs at $.message_annotations.v[0][0]"),
        (#"{"application_properties":{"t":"map","v":[[{"t":"symbol","v":"k"},{"t":"null"}]]}}"#, "application-properties keys must be strings at $.application_properties.v[0][0]"),
        (#"{"application_properties":{"t":"list","v":[]}}"#, "expected a typed map ({\"t\":\"map\",\"v\":[[k,v],…]}) at $.application_properties"),
        (#"{"body":{"value":{"t":"uint","v":1},"data":["00"]}}"#, "body must hold exactly one of \"value\", \"data\" or \"sequence\" at $.body"),
        (#"{"body":{"data":[]}}"#, "data must be a non-empty array of hex strings at $.body.data"),
        (#"{"body":{"sequence":[{"t":"uint","v":1}]}}"#, "an amqp-sequence section must be a typed list at $.body.sequence[0]"),
        (#"{"body":{"value":{"t":"uint","v":-1}}}"#, "-1 is not a uint at $.body.value.v"),
        (#"{"body":"#, "invalid JSON: unexpected end of input at offset 8"),
        (#"[]"#, "expected a JSON object at $"),
        (#"{"footer":{"t":"map","v":[]},"footer":{"t":"map","v":[]}}"#, "duplicate key \"footer\" at $"),
    ])
    func badInput(line: String, expected: String) {
        do {
            let message = try MessageJSON.message(from: line)
            Issue.record("read \(message)")
        } catch {
            #expect(error.description == expected)
        }
    }
}
