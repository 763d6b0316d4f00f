import AMQPCodec
import AMQPMessage
import AMQPTypedJSON
import AMQPTypes
import ArgumentParser
import Foundation

/// `NAME=TEXT` (a string) or `NAME:=TYPED-JSON` (any AMQP value, in the typed JSON that
/// `amqp receive --json` prints: `count:={"t":"long","v":5}`), the syntax of `--property` and
/// `--message-annotation`. The `:=` spelling follows httpie's for raw JSON; it keeps a plain
/// `=` free for text that looks like JSON.
struct NamedValue: ExpressibleByArgument, Sendable {
    var name: String
    var value: AMQPValue

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "=") else { return nil }
        var name = String(argument[..<equals])
        let text = String(argument[argument.index(after: equals)...])
        if name.hasSuffix(":") {
            name.removeLast()
            guard let value = try? TypedJSON.value(from: text) else { return nil }
            self.value = value
        } else {
            self.value = .string(text)
        }
        guard !name.isEmpty else { return nil }
        self.name = name
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// The per-field flags of `amqp send`: each sets one field of every message sent, over what a
/// `--messages` line or the generator put there.
struct MessageFieldOptions: ParsableArguments {
    @Option(name: .customLong("property"), help: ArgumentHelp(
        "An application property, NAME=TEXT or NAME:=TYPED-JSON (repeatable).",
        discussion: #"NAME:={"t":"long","v":5} gives a long; any type `amqp receive --json` prints works."#,
        valueName: "NAME=VALUE"))
    var properties: [NamedValue] = []

    @Option(name: .customLong("message-annotation"), help: ArgumentHelp(
        "A message annotation (a symbol key), NAME=TEXT or NAME:=TYPED-JSON (repeatable).", valueName: "NAME=VALUE"))
    var messageAnnotations: [NamedValue] = []

    @Option(name: .customLong("content-type"), help: "properties.content-type (a MIME type).")
    var contentType: String?

    @Option(name: .customLong("message-id"), help: ArgumentHelp(
        "properties.message-id, a string; {n} in it becomes the message's number (from 0).", valueName: "ID"))
    var messageID: String?

    @Option(name: .customLong("correlation-id"), help: "properties.correlation-id, a string.")
    var correlationID: String?

    @Option(help: "properties.subject.")
    var subject: String?

    @Option(help: ArgumentHelp("header.ttl: the message's time to live, in milliseconds.", valueName: "MS"))
    var ttl: UInt32?

    @Flag(help: "header.durable: ask the broker to keep the message across restarts.")
    var durable = false

    @Option(help: ArgumentHelp("header.priority, 0 (lowest) to 255; 4 is the default.", valueName: "N"))
    var priority: UInt8?

    func validate() throws {
        if let contentType, Symbol(contentType) == nil {
            throw ValidationError("--content-type must be ASCII (it is an AMQP symbol): \(contentType)")
        }
        for annotation in messageAnnotations where Symbol(annotation.name) == nil {
            throw ValidationError("a --message-annotation name must be ASCII (it is an AMQP symbol): \(annotation.name)")
        }
    }

    /// Whether any flag sets a field.
    var isEmpty: Bool {
        properties.isEmpty && messageAnnotations.isEmpty && contentType == nil && messageID == nil
            && correlationID == nil && subject == nil && ttl == nil && !durable && priority == nil
    }

    /// `message` with the fields these flags set (after ``validate()``); `number` is the message's place in the run.
    func apply(to message: inout Message, number: Int) {
        guard !isEmpty else { return }
        if ttl != nil || durable || priority != nil {
            var header = message.header ?? Header()
            if let ttl { header.ttl = ttl }
            if durable { header.durable = true }
            if let priority { header.priority = priority }
            message.header = header
        }
        if contentType != nil || messageID != nil || correlationID != nil || subject != nil {
            var fields = message.properties ?? Properties()
            if let contentType { fields.contentType = Symbol(contentType)! }
            if let messageID { fields.messageID = .string(messageID.replacingOccurrences(of: "{n}", with: String(number))) }
            if let correlationID { fields.correlationID = .string(correlationID) }
            if let subject { fields.subject = subject }
            message.properties = fields
        }
        if !properties.isEmpty {
            var map = message.applicationProperties?.value ?? AMQPMap()
            for property in properties { map.set(.string(property.name), property.value) }
            message.applicationProperties = ApplicationProperties(map)
        }
        if !messageAnnotations.isEmpty {
            var map = message.messageAnnotations?.value ?? AMQPMap()
            for annotation in messageAnnotations { map.set(.symbol(Symbol(annotation.name)!), annotation.value) }
            message.messageAnnotations = MessageAnnotations(map)
        }
    }
}

extension AMQPMap {
    /// Replaces the value under `key`, or appends the pair: a flag overrides what a message had.
    fileprivate mutating func set(_ key: AMQPValue, _ value: AMQPValue) {
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = value
        } else {
            append(key: key, value: value)
        }
    }
}
