import AMQPCodec
import AMQPMessage
import AMQPMessageJSON
import AMQPTypedJSON

/// The oracle of the JSON target: the exact JSON parser that `amqp send --messages`, `amqp codec
/// encode` and the emulator's management replies rely on. Whatever parses must serialize to text
/// that parses to the same document (numbers kept as their digits, key order kept); whatever is
/// typed JSON must decode to a value whose typed JSON decodes to the same value (compared by
/// encoding, so NaNs and negative zeros compare by their bits); the same for whole messages.
enum JSONOracle {
    /// Nesting deeper than this is refused by the parser; it bounds the recursion of the checks.
    static let maxDepth = 200

    static func check(_ bytes: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: bytes, as: UTF8.self)
        let document: JSON
        do {
            document = try JSON.parse(text, maxDepth: maxDepth)
        } catch {
            try expect(error.offset >= 0 && error.offset <= text.utf8.count,
                       "a syntax error at offset \(error.offset) of \(text.utf8.count) bytes")
            return
        }
        let serialized = document.serialized
        let reparsed: JSON
        do {
            reparsed = try JSON.parse(serialized, maxDepth: maxDepth)
        } catch {
            throw FuzzFinding("serialized JSON does not parse (\(error)): \(serialized.prefix(200))")
        }
        try expect(reparsed == document, "serialize → parse changed the document: \(serialized.prefix(200))")
        try expect(reparsed.serialized == serialized, "serializing twice gave two texts")

        try checkTypedValue(document)
        try checkMessage(document)
    }

    static func checkTypedValue(_ document: JSON) throws(FuzzFinding) {
        guard let value = try? TypedJSON.value(from: document) else { return }
        let text = TypedJSON.string(for: value, floatsAsBits: true)
        let again: AMQPValue
        do {
            again = try TypedJSON.value(from: text)
        } catch {
            throw FuzzFinding("typed JSON of a value does not decode (\(error)): \(text.prefix(200))")
        }
        try expect(AMQPEncoder.encode(again) == AMQPEncoder.encode(value), "typed JSON round trip changed the value: \(text.prefix(200))")
    }

    static func checkMessage(_ document: JSON) throws(FuzzFinding) {
        guard let message = try? MessageJSON.message(from: document) else { return }
        let text = MessageJSON.string(for: message)
        let again: Message
        do {
            again = try MessageJSON.message(from: text)
        } catch {
            throw FuzzFinding("the JSON of a message does not decode (\(error)): \(text.prefix(200))")
        }
        try expect(again.encoded() == message.encoded(), "message JSON round trip changed the message: \(text.prefix(200))")
    }
}
