import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTypes
import Foundation

/// An event to publish: a body of bytes and the properties Event Hubs carries with it.
///
/// It is a view of the AMQP ``message`` that is sent; set that directly for anything the
/// named properties do not cover (a `group-id`, a header, an `amqp-value` body).
public struct EventData: Sendable, Hashable {
    /// The AMQP message sent for this event (the partition key annotation is added on sending).
    public var message: Message

    /// An event with `body` and the properties given.
    public init<Bytes: Sequence>(body: Bytes, contentType: String? = nil, correlationID: String? = nil, messageID: String? = nil,
                                 properties: [String: AMQPValue] = [:]) where Bytes.Element == UInt8 {
        self.message = Message(body: .data([DataSection(Binary(Array(body)))]))
        self.contentType = contentType
        self.correlationID = correlationID
        self.messageID = messageID
        self.properties = properties
    }

    /// An event whose body is `text` in UTF-8.
    public init(_ text: String, contentType: String? = nil, properties: [String: AMQPValue] = [:]) {
        self.init(body: Array(text.utf8), contentType: contentType, properties: properties)
    }

    /// An event that is this AMQP message.
    public init(message: Message) {
        self.message = message
    }

    /// The body: the bytes of the message's `data` sections (one section when set).
    public var body: [UInt8] {
        get { ReceivedEventData.bodyBytes(of: message) }
        set { message.body = .data([DataSection(Binary(newValue))]) }
    }

    /// `properties.content-type`, e.g. `application/json`.
    public var contentType: String? {
        get { message.properties?.contentType?.stringValue }
        set { updateProperties { $0.contentType = newValue.flatMap { Symbol($0) } } }
    }

    /// `properties.correlation-id`.
    public var correlationID: String? {
        get { message.properties?.correlationID.map(ReceivedEventData.text(of:)) }
        set { updateProperties { $0.correlationID = newValue.map { .string($0) } } }
    }

    /// `properties.message-id`.
    public var messageID: String? {
        get { message.properties?.messageID.map(ReceivedEventData.text(of:)) }
        set { updateProperties { $0.messageID = newValue.map { .string($0) } } }
    }

    /// Application properties: string keys, simple AMQP values (strings, numbers, booleans,
    /// timestamps, UUIDs, binary). Written sorted by key, so an event always encodes the same.
    public var properties: [String: AMQPValue] {
        get { ReceivedEventData.stringKeyed(message.applicationProperties) }
        set {
            let entries = newValue.sorted { $0.key < $1.key }.map { AMQPMap.Entry(key: .string($0.key), value: $0.value) }
            message.applicationProperties = entries.isEmpty ? nil : ApplicationProperties(AMQPMap(entries))
        }
    }

    private mutating func updateProperties(_ change: (inout Properties) -> Void) {
        var properties = message.properties ?? Properties()
        change(&properties)
        message.properties = properties == Properties() ? nil : properties
    }

    /// The encoding sent, with `partitionKey` in the message annotations when given: every
    /// composite field written, which the strictest readers need.
    func encoded(partitionKey: String?) -> [UInt8] {
        var scratch = AMQPEncoder(policy: .full)
        return encoded(partitionKey: partitionKey, using: &scratch)
    }

    /// The same, written through `scratch`, whose room is kept for the next event: a batch
    /// encodes its events through one encoder instead of preparing a fresh one for each.
    func encoded(partitionKey: String?, using scratch: inout AMQPEncoder) -> [UInt8] {
        var message = self.message
        if let partitionKey {
            var annotations = message.messageAnnotations?.value ?? AMQPMap()
            annotations[symbol: EventHubsNames.partitionKey] = .string(partitionKey)
            message.messageAnnotations = MessageAnnotations(annotations)
        }
        scratch.removeAll()
        message.encode(to: &scratch)
        return scratch.bytes
    }
}

/// An event as a receiver delivers it: what the publisher sent, and where Event Hubs put it.
public struct ReceivedEventData: Sendable, Hashable {
    /// The partition it was read from.
    public var partitionID: String
    /// The body: the bytes of the `data` sections (or of an `amqp-value` string or binary).
    public var body: [UInt8]
    /// `properties.content-type`.
    public var contentType: String?
    /// `properties.correlation-id`, as text.
    public var correlationID: String?
    /// `properties.message-id`, as text.
    public var messageID: String?
    /// Application properties whose keys are strings.
    public var properties: [String: AMQPValue]
    /// The event's number in its partition, from 0, without gaps.
    public var sequenceNumber: Int64
    /// Where the event is in its partition; resuming "after this offset" continues after it.
    public var offset: String
    /// When the service stored the event.
    public var enqueuedTime: Date
    /// The key it was published with, if any.
    public var partitionKey: String?
    /// Every message annotation the service set (`x-opt-*`).
    public var systemProperties: AMQPMap
    /// The whole AMQP message.
    public var message: Message

    /// Reads an event from a delivered message; a message without the service's annotations
    /// is not an Event Hubs event.
    init(message: Message, partitionID: String) throws(EventHubsError) {
        let annotations = message.messageAnnotations?.value ?? AMQPMap()
        guard let sequenceNumber = Self.integer(annotations[symbol: EventHubsNames.sequenceNumber]) else {
            throw EventHubsError(.service, detail: "a delivery on partition \(partitionID) has no x-opt-sequence-number")
        }
        let offset: String
        if case .string(let text)? = annotations[symbol: EventHubsNames.offset] {
            offset = text
        } else if let number = Self.integer(annotations[symbol: EventHubsNames.offset]) {
            offset = String(number)
        } else {
            throw EventHubsError(.service, detail: "a delivery on partition \(partitionID) has no x-opt-offset")
        }
        self.partitionID = partitionID
        self.sequenceNumber = sequenceNumber
        self.offset = offset
        if case .timestamp(let t)? = annotations[symbol: EventHubsNames.enqueuedTime] {
            enqueuedTime = Date(timeIntervalSince1970: TimeInterval(t.millisecondsSince1970) / 1000)
        } else {
            enqueuedTime = Date(timeIntervalSince1970: 0)
        }
        if case .string(let key)? = annotations[symbol: EventHubsNames.partitionKey] { partitionKey = key } else { partitionKey = nil }
        body = Self.bodyBytes(of: message)
        contentType = message.properties?.contentType?.stringValue
        correlationID = message.properties?.correlationID.map(Self.text(of:))
        messageID = message.properties?.messageID.map(Self.text(of:))
        properties = Self.stringKeyed(message.applicationProperties)
        systemProperties = annotations
        self.message = message
    }

    /// The event as one to publish again: the message without what the service added
    /// (annotations, delivery annotations, header).
    public var eventData: EventData {
        var message = self.message
        message.header = nil
        message.deliveryAnnotations = nil
        message.messageAnnotations = nil
        return EventData(message: message)
    }

    /// The bytes of a body: its `data` sections (or an `amqp-value` string or binary; other
    /// bodies encoded).
    static func bodyBytes(of message: Message) -> [UInt8] {
        switch message.body {
        case .data(let sections):
            return sections.count == 1 ? Array(sections[0].value.bytes) : sections.flatMap { $0.value.bytes }
        case .value(let section):
            switch section.value {
            case .binary(let b): return Array(b.bytes)
            case .string(let s): return Array(s.utf8)
            default: return AMQPEncoder.encode(section.value)
            }
        case .sequence(let sections):
            return sections.flatMap { AMQPEncoder.encode(AMQPValue.list($0.value)) }
        }
    }

    static func stringKeyed(_ properties: ApplicationProperties?) -> [String: AMQPValue] {
        var out: [String: AMQPValue] = [:]
        for entry in properties?.value ?? AMQPMap() {
            if case .string(let key) = entry.key { out[key] = entry.value }
        }
        return out
    }

    static func integer(_ value: AMQPValue?) -> Int64? {
        longValue(value)
    }

    static func text(of id: MessageID) -> String {
        switch id {
        case .string(let s): return s
        case .uuid(let u): return u.uuidString
        case .ulong(let n): return String(n)
        case .binary(let b): return b.hexString
        case .unknown(let v): return "\(v)"
        }
    }
}

/// The last event enqueued in a partition, as the service reported it with a delivery when
/// the receiver asked for runtime metrics (`com.microsoft:enable-receiver-runtime-metric`).
public struct LastEnqueuedEventProperties: Sendable, Hashable {
    /// The last event's sequence number.
    public var sequenceNumber: Int64?
    /// The last event's offset.
    public var offset: String?
    /// When the last event was stored.
    public var enqueuedTime: Date?
    /// When the service read these figures.
    public var retrievalTime: Date?

    init?(_ annotations: AMQPMap?) {
        guard let annotations else { return nil }
        func date(_ key: Symbol) -> Date? {
            if case .timestamp(let t)? = annotations[symbol: key] { return Date(timeIntervalSince1970: TimeInterval(t.millisecondsSince1970) / 1000) }
            return nil
        }
        sequenceNumber = ReceivedEventData.integer(annotations[symbol: EventHubsNames.lastEnqueuedSequenceNumber])
        switch annotations[symbol: EventHubsNames.lastEnqueuedOffset] {
        case .string(let s)?: offset = s
        case let other?: offset = ReceivedEventData.integer(other).map(String.init)
        case nil: offset = nil
        }
        enqueuedTime = date(EventHubsNames.lastEnqueuedTimeUTC)
        retrievalTime = date(EventHubsNames.runtimeInfoRetrievalTimeUTC)
        if sequenceNumber == nil && offset == nil && enqueuedTime == nil { return nil }
    }
}
