import AMQPCodec
import AMQPMessage
import AMQPTypedJSON
import AMQPTypes

/// The JSON form of a `Message` that `amqp send --messages` reads and `amqp receive --json`
/// prints, one message per line, so that scripts and other test suites can drive the client.
///
/// ```json
/// {"header":{"durable":true,"priority":4,"ttl":1000,"first_acquirer":false,"delivery_count":0},
///  "delivery_annotations":<typed map>,"message_annotations":<typed map>,
///  "properties":{"message_id":<typed>,"user_id":"<hex>","to":"…","subject":"…","reply_to":"…",
///                "correlation_id":<typed>,"content_type":"…","content_encoding":"…",
///                "absolute_expiry_time":<ms>,"creation_time":<ms>,"group_id":"…",
///                "group_sequence":<n>,"reply_to_group_id":"…"},
///  "application_properties":<typed map>,
///  "body":{"value":<typed>} | {"data":["<hex>",…]} | {"sequence":[<typed list>,…]},
///  "footer":<typed map>}
/// ```
///
/// Field names are the specification's with `_` for `-`; values that can be of any AMQP type
/// use `TypedJSON` (`{"t":"ulong","v":7}`). Every key is optional: an absent section (or field)
/// is not sent, and a message without body sections prints without `body`. Keys are printed in
/// the order above; unknown keys are refused, so a typo does not silently drop a field.
public enum MessageJSON {
    /// A JSON message that does not describe a message, with where (`$.properties.to`): the
    /// same error typed JSON reports, so a bad value inside a message names its full path.
    public typealias FormatError = TypedJSON.FormatError

    // MARK: Printing

    /// The one-line JSON of `message`.
    public static func string(for message: Message) -> String {
        json(for: message).serialized
    }

    /// The JSON tree of `message`, the form ``string(for:)`` serializes; absent sections are left out.
    public static func json(for message: Message) -> JSON {
        var pairs: [(key: String, value: JSON)] = []
        if let header = message.header {
            var fields: [(key: String, value: JSON)] = []
            if let v = header.durable { fields.append(("durable", .bool(v))) }
            if let v = header.priority { fields.append(("priority", .number(String(v)))) }
            if let v = header.ttl { fields.append(("ttl", .number(String(v)))) }
            if let v = header.firstAcquirer { fields.append(("first_acquirer", .bool(v))) }
            if let v = header.deliveryCount { fields.append(("delivery_count", .number(String(v)))) }
            pairs.append(("header", .object(fields)))
        }
        if let v = message.deliveryAnnotations { pairs.append(("delivery_annotations", typedMap(v.value))) }
        if let v = message.messageAnnotations { pairs.append(("message_annotations", typedMap(v.value))) }
        if let properties = message.properties {
            pairs.append(("properties", json(for: properties)))
        }
        if let v = message.applicationProperties { pairs.append(("application_properties", typedMap(v.value))) }
        switch message.body {
        case .value(let section):
            pairs.append(("body", .object([("value", TypedJSON.json(for: section.value))])))
        case .data(let sections) where !sections.isEmpty:
            pairs.append(("body", .object([("data", .array(sections.map { .string($0.value.hexString) }))])))
        case .sequence(let sections):
            pairs.append(("body", .object([("sequence", .array(sections.map { TypedJSON.json(for: .list($0.value)) }))])))
        case .data:
            break  // no body sections
        }
        if let v = message.footer { pairs.append(("footer", typedMap(v.value))) }
        return .object(pairs)
    }

    static func json(for properties: Properties) -> JSON {
        var fields: [(key: String, value: JSON)] = []
        if let v = properties.messageID { fields.append(("message_id", TypedJSON.json(for: value(of: v)))) }
        if let v = properties.userID { fields.append(("user_id", .string(v.hexString))) }
        if let v = properties.to { fields.append(("to", json(for: v))) }
        if let v = properties.subject { fields.append(("subject", .string(v))) }
        if let v = properties.replyTo { fields.append(("reply_to", json(for: v))) }
        if let v = properties.correlationID { fields.append(("correlation_id", TypedJSON.json(for: value(of: v)))) }
        if let v = properties.contentType { fields.append(("content_type", .string(v.stringValue))) }
        if let v = properties.contentEncoding { fields.append(("content_encoding", .string(v.stringValue))) }
        if let v = properties.absoluteExpiryTime { fields.append(("absolute_expiry_time", .number(String(v.millisecondsSince1970)))) }
        if let v = properties.creationTime { fields.append(("creation_time", .number(String(v.millisecondsSince1970)))) }
        if let v = properties.groupID { fields.append(("group_id", .string(v))) }
        if let v = properties.groupSequence { fields.append(("group_sequence", .number(String(v.rawValue)))) }
        if let v = properties.replyToGroupID { fields.append(("reply_to_group_id", .string(v))) }
        return .object(fields)
    }

    static func typedMap(_ map: AMQPMap) -> JSON { TypedJSON.json(for: .map(map)) }

    /// An address is a string; one of another type (which the specification does not define)
    /// prints as a typed value, so nothing is lost.
    static func json(for address: Address) -> JSON {
        switch address {
        case .string(let s): return .string(s)
        case .unknown(let v): return TypedJSON.json(for: v)
        }
    }

    static func value(of id: MessageID) -> AMQPValue {
        switch id {
        case .ulong(let v): return .ulong(v)
        case .uuid(let v): return .uuid(v)
        case .binary(let v): return .binary(v)
        case .string(let v): return .string(v)
        case .unknown(let v): return v
        }
    }

    // MARK: Reading

    /// Parses one line of JSON into a message.
    public static func message(from text: String) throws(FormatError) -> Message {
        let document: JSON
        do {
            document = try JSON.parse(text)
        } catch {
            throw FormatError(path: "$", message: "invalid JSON: \(error.message)", offset: error.offset)
        }
        return try message(from: document)
    }

    /// Reads a message from a parsed JSON tree; unknown keys and bad values throw ``FormatError``
    /// with their path.
    public static func message(from document: JSON) throws(FormatError) -> Message {
        let reader = ObjectReader(document, path: "$")
        try reader.check(allowed: [
            "header", "delivery_annotations", "message_annotations", "properties", "application_properties", "body", "footer",
        ])
        var message = Message()
        if let fields = try reader.object("header") {
            try fields.check(allowed: ["durable", "priority", "ttl", "first_acquirer", "delivery_count"])
            message.header = Header(
                durable: try fields.bool("durable"),
                priority: try fields.integer("priority", UInt8.self),
                ttl: try fields.integer("ttl", UInt32.self),
                firstAcquirer: try fields.bool("first_acquirer"),
                deliveryCount: try fields.integer("delivery_count", UInt32.self)
            )
        }
        if let map = try reader.annotations("delivery_annotations") { message.deliveryAnnotations = DeliveryAnnotations(map) }
        if let map = try reader.annotations("message_annotations") { message.messageAnnotations = MessageAnnotations(map) }
        if let properties = try reader.object("properties") {
            message.properties = try self.properties(from: properties)
        }
        if let map = try reader.typedMap("application_properties") {
            for (index, entry) in map.entries.enumerated() {
                guard case .string = entry.key else {
                    throw FormatError(path: "$.application_properties.v[\(index)][0]", message: "application-properties keys must be strings")
                }
            }
            message.applicationProperties = ApplicationProperties(map)
        }
        if let body = try reader.object("body") {
            message.body = try self.body(from: body)
        }
        if let map = try reader.annotations("footer") { message.footer = Footer(map) }
        return message
    }

    static func properties(from fields: ObjectReader) throws(FormatError) -> Properties {
        try fields.check(allowed: [
            "message_id", "user_id", "to", "subject", "reply_to", "correlation_id", "content_type", "content_encoding",
            "absolute_expiry_time", "creation_time", "group_id", "group_sequence", "reply_to_group_id",
        ])
        return Properties(
            messageID: try fields.messageID("message_id"),
            userID: try fields.hex("user_id").map { Binary($0) },
            to: try fields.address("to"),
            subject: try fields.string("subject"),
            replyTo: try fields.address("reply_to"),
            correlationID: try fields.messageID("correlation_id"),
            contentType: try fields.symbol("content_type"),
            contentEncoding: try fields.symbol("content_encoding"),
            absoluteExpiryTime: try fields.integer("absolute_expiry_time", Int64.self).map { Timestamp(millisecondsSince1970: $0) },
            creationTime: try fields.integer("creation_time", Int64.self).map { Timestamp(millisecondsSince1970: $0) },
            groupID: try fields.string("group_id"),
            groupSequence: try fields.integer("group_sequence", UInt32.self).map { SequenceNumber($0) },
            replyToGroupID: try fields.string("reply_to_group_id")
        )
    }

    static func body(from object: ObjectReader) throws(FormatError) -> Message.Body {
        guard case .object(let pairs) = object.node, pairs.count == 1, let (key, node) = pairs.first else {
            throw FormatError(path: object.path, message: "body must hold exactly one of \"value\", \"data\" or \"sequence\"")
        }
        let path = "\(object.path).\(key)"
        switch key {
        case "value":
            return .value(AMQPValueSection(try typed(node, path)))
        case "data":
            guard case .array(let items) = node, !items.isEmpty else {
                throw FormatError(path: path, message: "data must be a non-empty array of hex strings")
            }
            var sections: [DataSection] = []
            for (index, item) in items.enumerated() {
                guard case .string(let text) = item, let bytes = HexEncoding.bytes(text), !text.contains(" ") else {
                    throw FormatError(path: "\(path)[\(index)]", message: "a data section must be a string of hexadecimal digits in pairs")
                }
                sections.append(DataSection(Binary(bytes)))
            }
            return .data(sections)
        case "sequence":
            guard case .array(let items) = node, !items.isEmpty else {
                throw FormatError(path: path, message: "sequence must be a non-empty array of typed lists")
            }
            var sections: [AMQPSequenceSection] = []
            for (index, item) in items.enumerated() {
                guard case .list(let values) = try typed(item, "\(path)[\(index)]") else {
                    throw FormatError(path: "\(path)[\(index)]", message: "an amqp-sequence section must be a typed list")
                }
                sections.append(AMQPSequenceSection(values))
            }
            return .sequence(sections)
        default:
            throw FormatError(path: path, message: "unknown body kind \"\(key)\": use \"value\", \"data\" or \"sequence\"")
        }
    }

    static func typed(_ node: JSON, _ path: String) throws(FormatError) -> AMQPValue {
        try TypedJSON.value(from: node, path: path)
    }

    /// Reads the fields of one JSON object, remembering which keys it used.
    struct ObjectReader {
        let node: JSON
        let path: String

        init(_ node: JSON, path: String) {
            self.node = node
            self.path = path
        }

        func check() throws(FormatError) {
            guard case .object(let pairs) = node else { throw FormatError(path: path, message: "expected a JSON object") }
            var seen = Set<String>()
            for pair in pairs where !seen.insert(pair.key).inserted {
                throw FormatError(path: path, message: "duplicate key \"\(pair.key)\"")
            }
        }

        func check(allowed: Set<String>) throws(FormatError) {
            try check()
            guard case .object(let pairs) = node else { return }
            for pair in pairs where !allowed.contains(pair.key) {
                throw FormatError(path: path, message: "unknown key \"\(pair.key)\"")
            }
        }

        /// The node at `key`, or nil when the key is absent or JSON null.
        func field(_ key: String) -> JSON? {
            guard let value = node[key], value != .null else { return nil }
            return value
        }

        func object(_ key: String) throws(FormatError) -> ObjectReader? {
            guard let value = field(key) else { return nil }
            let reader = ObjectReader(value, path: "\(path).\(key)")
            try reader.check()
            return reader
        }

        func bool(_ key: String) throws(FormatError) -> Bool? {
            guard let value = field(key) else { return nil }
            guard case .bool(let b) = value else { throw FormatError(path: "\(path).\(key)", message: "expected true or false") }
            return b
        }

        func integer<T: FixedWidthInteger>(_ key: String, _: T.Type) throws(FormatError) -> T? {
            guard let value = field(key) else { return nil }
            guard case .number(let text) = value, let n = T(text, radix: 10) else {
                throw FormatError(path: "\(path).\(key)", message: "expected an integer that fits \(T.self)")
            }
            return n
        }

        func string(_ key: String) throws(FormatError) -> String? {
            guard let value = field(key) else { return nil }
            guard case .string(let s) = value else { throw FormatError(path: "\(path).\(key)", message: "expected a string") }
            return s
        }

        func symbol(_ key: String) throws(FormatError) -> Symbol? {
            guard let text = try string(key) else { return nil }
            guard let symbol = Symbol(text) else { throw FormatError(path: "\(path).\(key)", message: "a symbol must be ASCII") }
            return symbol
        }

        func hex(_ key: String) throws(FormatError) -> [UInt8]? {
            guard let text = try string(key) else { return nil }
            guard !text.contains(" "), let bytes = HexEncoding.bytes(text) else {
                throw FormatError(path: "\(path).\(key)", message: "expected hexadecimal digits in pairs")
            }
            return bytes
        }

        func address(_ key: String) throws(FormatError) -> Address? {
            guard let value = field(key) else { return nil }
            if case .string(let s) = value { return .string(s) }
            return .unknown(try typed(value, "\(path).\(key)"))
        }

        func messageID(_ key: String) throws(FormatError) -> MessageID? {
            guard let value = field(key) else { return nil }
            switch try typed(value, "\(path).\(key)") {
            case .ulong(let v): return .ulong(v)
            case .uuid(let v): return .uuid(v)
            case .binary(let v): return .binary(v)
            case .string(let v): return .string(v)
            default: throw FormatError(path: "\(path).\(key)", message: "a message id is a typed ulong, uuid, binary or string")
            }
        }

        func typedMap(_ key: String) throws(FormatError) -> AMQPMap? {
            guard let value = field(key) else { return nil }
            guard case .map(let map) = try typed(value, "\(path).\(key)") else {
                throw FormatError(path: "\(path).\(key)", message: "expected a typed map ({\"t\":\"map\",\"v\":[[k,v],…]})")
            }
            return map
        }

        /// A typed map whose keys are symbols or ulongs, as annotations must be (§3.2.10).
        func annotations(_ key: String) throws(FormatError) -> AMQPMap? {
            guard let map = try typedMap(key) else { return nil }
            for (index, entry) in map.entries.enumerated() {
                switch entry.key {
                case .symbol, .ulong: continue
                default: throw FormatError(path: "\(path).\(key).v[\(index)][0]", message: "annotation keys must be symbols or ulongs")
                }
            }
            return map
        }
    }
}
