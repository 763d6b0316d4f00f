import AMQPCodec
import AMQPTypes

/// An AMQP message as it travels in transfers (§3.2 of the messaging specification): the bare
/// message (properties, application properties, body) with the annotations and header a sender
/// or intermediary adds around it.
///
/// Each part is a generated section type (``Header``, ``Properties``, ``DataSection``, …). On the
/// wire the sections follow one another in a fixed order; ``init(decoding:)`` checks that order and
/// ``encoded(policy:)`` writes it.
public struct Message: Sendable, Hashable, AMQPCodable {
    /// Transport headers: durability, priority, time to live, delivery count.
    public var header: Header?
    /// Annotations for the next hop only.
    public var deliveryAnnotations: DeliveryAnnotations?
    /// Annotations that travel with the message (`x-opt-…` keys).
    public var messageAnnotations: MessageAnnotations?
    /// The immutable properties of the bare message: message ID, addresses, content type, …
    public var properties: Properties?
    /// Application data with string keys, for filtering and routing.
    public var applicationProperties: ApplicationProperties?
    /// The application data: `data`, `amqp-sequence` or `amqp-value` sections (§3.2.6–§3.2.8).
    public var body: Body
    /// Delivery details computed over the message, such as hashes and signatures.
    public var footer: Footer?

    /// The body of a message: one of the three forms of §3.2.
    public enum Body: Sendable, Hashable {
        /// One or more `data` sections, opaque binary data. An empty array stands for a message
        /// without body sections, which the specification does not allow but peers send (Event
        /// Hubs management requests have none).
        case data([DataSection])
        /// One or more `amqp-sequence` sections, each a list of values.
        case sequence([AMQPSequenceSection])
        /// A single `amqp-value` section holding one value of any type.
        case value(AMQPValueSection)
    }

    /// A message with only the given sections; by default an empty `data` body and nothing else.
    public init(
        header: Header? = nil,
        deliveryAnnotations: DeliveryAnnotations? = nil,
        messageAnnotations: MessageAnnotations? = nil,
        properties: Properties? = nil,
        applicationProperties: ApplicationProperties? = nil,
        body: Body = .data([]),
        footer: Footer? = nil
    ) {
        self.header = header
        self.deliveryAnnotations = deliveryAnnotations
        self.messageAnnotations = messageAnnotations
        self.properties = properties
        self.applicationProperties = applicationProperties
        self.body = body
        self.footer = footer
    }

    /// The sections in wire order.
    public var sections: [MessageSection] {
        var sections: [MessageSection] = []
        if let header { sections.append(.header(header)) }
        if let deliveryAnnotations { sections.append(.deliveryAnnotations(deliveryAnnotations)) }
        if let messageAnnotations { sections.append(.messageAnnotations(messageAnnotations)) }
        if let properties { sections.append(.properties(properties)) }
        if let applicationProperties { sections.append(.applicationProperties(applicationProperties)) }
        switch body {
        case .data(let data): sections += data.map(MessageSection.data)
        case .sequence(let sequence): sections += sequence.map(MessageSection.amqpSequence)
        case .value(let value): sections.append(.amqpValue(value))
        }
        if let footer { sections.append(.footer(footer)) }
        return sections
    }

    /// Writes the sections in order, straight into `encoder` (no array of sections on the way).
    public func encode(to encoder: inout AMQPEncoder) {
        encoder.reserveCapacity(estimatedEncodedSize)
        header?.encode(to: &encoder)
        deliveryAnnotations?.encode(to: &encoder)
        messageAnnotations?.encode(to: &encoder)
        properties?.encode(to: &encoder)
        applicationProperties?.encode(to: &encoder)
        switch body {
        case .data(let data):
            for section in data { section.encode(to: &encoder) }
        case .sequence(let sequence):
            for section in sequence { section.encode(to: &encoder) }
        case .value(let value):
            value.encode(to: &encoder)
        }
        footer?.encode(to: &encoder)
    }

    /// Room enough for most messages in one allocation: the data sections' bytes plus a
    /// allowance for everything else. A guess, not a bound; the encoder grows past it if needed.
    var estimatedEncodedSize: Int {
        var size = 512
        if case .data(let data) = body {
            for section in data { size &+= section.value.count &+ 8 }
        }
        return size
    }

    /// The encoded message: the payload of a transfer (or of several, if it is split).
    public func encoded(policy: EncodingPolicy = .compact) -> [UInt8] {
        var encoder = AMQPEncoder(policy: policy, capacity: estimatedEncodedSize)
        encode(to: &encoder)
        return encoder.takeBytes()
    }

    /// Decodes a message that spans all of `bytes`.
    public init(decoding bytes: [UInt8], limits: AMQPDecoder.Limits = .default) throws(AMQPDecodingError) {
        var decoder = AMQPDecoder(bytes, limits: limits)
        try self.init(from: &decoder)
    }

    /// Reads sections until the decoder's input ends, checking that each may follow the one
    /// before it: header, delivery-annotations, message-annotations, properties,
    /// application-properties at most once each and in that order, then one kind of body, then
    /// the footer. A section out of place or of an unknown kind is an
    /// ``AMQPDecodingError/Kind/unexpectedDescriptor`` error.
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        self.init()
        var previous: (rank: Int, name: String)? = nil
        var dataSections: [DataSection] = []
        var sequenceSections: [AMQPSequenceSection] = []
        var value: AMQPValueSection?
        while !decoder.isAtEnd {
            let at = decoder.offset
            let section = try MessageSection(from: &decoder)
            guard let (rank, name) = Self.place(of: section) else {
                throw AMQPDecodingError(.unexpectedDescriptor, at: at, "\(section) is not a message section")
            }
            if let previous, rank < previous.rank || (rank == previous.rank && !Self.repeats(section)) {
                throw AMQPDecodingError(.unexpectedDescriptor, at: at, "message section \(name) cannot follow \(previous.name)")
            }
            if rank == Self.bodyRank, let previous, previous.rank == Self.bodyRank, previous.name != name {
                throw AMQPDecodingError(.unexpectedDescriptor, at: at, "message body mixes \(previous.name) and \(name) sections")
            }
            previous = (rank, name)
            switch section {
            case .header(let s): header = s
            case .deliveryAnnotations(let s): deliveryAnnotations = s
            case .messageAnnotations(let s): messageAnnotations = s
            case .properties(let s): properties = s
            case .applicationProperties(let s): applicationProperties = s
            case .data(let s): dataSections.append(s)
            case .amqpSequence(let s): sequenceSections.append(s)
            case .amqpValue(let s): value = s
            case .footer(let s): footer = s
            case .unknown: break  // place(of:) is nil for these
            }
        }
        if let value {
            body = .value(value)
        } else if !sequenceSections.isEmpty {
            body = .sequence(sequenceSections)
        } else {
            body = .data(dataSections)
        }
    }

    static let bodyRank = 5

    /// A section's place in the order of §3.2 and its spec name; `nil` for a described value that
    /// is not a section.
    static func place(of section: MessageSection) -> (rank: Int, name: String)? {
        switch section {
        case .header: return (0, "header")
        case .deliveryAnnotations: return (1, "delivery-annotations")
        case .messageAnnotations: return (2, "message-annotations")
        case .properties: return (3, "properties")
        case .applicationProperties: return (4, "application-properties")
        case .data: return (bodyRank, "data")
        case .amqpSequence: return (bodyRank, "amqp-sequence")
        case .amqpValue: return (bodyRank, "amqp-value")
        case .footer: return (6, "footer")
        case .unknown: return nil
        }
    }

    /// Only data and amqp-sequence sections may follow one of their own kind.
    static func repeats(_ section: MessageSection) -> Bool {
        switch section {
        case .data, .amqpSequence: return true
        default: return false
        }
    }
}
