import AMQPCodec
import AMQPTypes

/// An AMQP message as it travels in transfers (§3.2 of the messaging specification): the bare
/// message (properties, application properties, body) with the annotations and header a sender
/// or intermediary adds around it.
///
/// Each part is a generated section type (`Header`, `Properties`, `DataSection`, …). On the
/// wire the sections follow one another in a fixed order; ``init(decoding:limits:)`` checks that order and
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
    /// `AMQPDecodingError/Kind/unexpectedDescriptor` error.
    ///
    /// Each section is decoded straight into its place, not through a
    /// `MessageSection` (an enum as large as its largest case, moved on every step).
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        // Sections go into locals and the message is initialized once at the end: assigning to
        // the fields of a `self.init()` copied the whole message twice per decode.
        var header: Header?
        var deliveryAnnotations: DeliveryAnnotations?
        var messageAnnotations: MessageAnnotations?
        var properties: Properties?
        var applicationProperties: ApplicationProperties?
        var footer: Footer?
        var order = SectionOrder()
        var dataSections: [DataSection] = []
        var sequenceSections: [AMQPSequenceSection] = []
        var value: AMQPValueSection?
        while !decoder.isAtEnd {
            let at = decoder.offset
            let kind = try Self.readSectionKind(from: &decoder, at: at)
            try order.admit(kind, at: at)
            try decoder.enterDescribedBody()
            switch kind {
            case .header: header = try Header(describedBodyFrom: &decoder)
            case .deliveryAnnotations: deliveryAnnotations = try DeliveryAnnotations(describedBodyFrom: &decoder)
            case .messageAnnotations: messageAnnotations = try MessageAnnotations(describedBodyFrom: &decoder)
            case .properties: properties = try Properties(describedBodyFrom: &decoder)
            case .applicationProperties: applicationProperties = try ApplicationProperties(describedBodyFrom: &decoder)
            case .data: dataSections.append(try DataSection(describedBodyFrom: &decoder))
            case .amqpSequence: sequenceSections.append(try AMQPSequenceSection(describedBodyFrom: &decoder))
            case .amqpValue: value = try AMQPValueSection(describedBodyFrom: &decoder)
            case .footer: footer = try Footer(describedBodyFrom: &decoder)
            }
            decoder.leaveDescribedBody()
        }
        let body: Body
        if let value {
            body = .value(value)
        } else if !sequenceSections.isEmpty {
            body = .sequence(sequenceSections)
        } else {
            body = .data(dataSections)
        }
        self.init(
            header: header, deliveryAnnotations: deliveryAnnotations, messageAnnotations: messageAnnotations,
            properties: properties, applicationProperties: applicationProperties, body: body, footer: footer)
    }

    /// The section kind of a numeric descriptor of §3.2, 0x70 (header) to 0x78 (footer); the
    /// tests check it against the generated descriptors.
    static func sectionKind(code: UInt64) -> SectionKind? {
        switch code {
        case 0x70: return .header
        case 0x71: return .deliveryAnnotations
        case 0x72: return .messageAnnotations
        case 0x73: return .properties
        case 0x74: return .applicationProperties
        case 0x75: return .data
        case 0x76: return .amqpSequence
        case 0x77: return .amqpValue
        case 0x78: return .footer
        default: return nil
        }
    }

    /// The kinds of message section, in the order of §3.2 (the three body kinds share a place).
    enum SectionKind: Sendable {
        case header, deliveryAnnotations, messageAnnotations, properties, applicationProperties
        case data, amqpSequence, amqpValue
        case footer

        /// The section's place in the order of §3.2.
        var rank: Int {
            switch self {
            case .header: return 0
            case .deliveryAnnotations: return 1
            case .messageAnnotations: return 2
            case .properties: return 3
            case .applicationProperties: return 4
            case .data, .amqpSequence, .amqpValue: return 5
            case .footer: return 6
            }
        }

        /// The specification's name for the section.
        var name: String {
            switch self {
            case .header: return "header"
            case .deliveryAnnotations: return "delivery-annotations"
            case .messageAnnotations: return "message-annotations"
            case .properties: return "properties"
            case .applicationProperties: return "application-properties"
            case .data: return "data"
            case .amqpSequence: return "amqp-sequence"
            case .amqpValue: return "amqp-value"
            case .footer: return "footer"
            }
        }

        /// Only data and amqp-sequence sections may follow one of their own kind.
        var repeats: Bool { self == .data || self == .amqpSequence }
    }

    /// Reads the `0x00` and descriptor of the section at `at` and names its kind. A described
    /// value that is not a section is read to its end (so malformed bytes report as such first)
    /// and refused.
    static func readSectionKind(from decoder: inout AMQPDecoder, at: Int) throws(AMQPDecodingError) -> SectionKind {
        let descriptor = try decoder.readDescriptor()
        // The usual numeric descriptor by its literal code (`sectionKind(code:)`): the switch
        // below loads each generated descriptor (a lazily initialized global holding a symbol)
        // until one matches.
        if case .code(let code) = descriptor, let kind = sectionKind(code: code) { return kind }
        switch descriptor {
        case .code(Header.descriptor.code), .symbol(Header.descriptor.symbol): return .header
        case .code(DeliveryAnnotations.descriptor.code), .symbol(DeliveryAnnotations.descriptor.symbol):
            return .deliveryAnnotations
        case .code(MessageAnnotations.descriptor.code), .symbol(MessageAnnotations.descriptor.symbol):
            return .messageAnnotations
        case .code(Properties.descriptor.code), .symbol(Properties.descriptor.symbol): return .properties
        case .code(ApplicationProperties.descriptor.code), .symbol(ApplicationProperties.descriptor.symbol):
            return .applicationProperties
        case .code(DataSection.descriptor.code), .symbol(DataSection.descriptor.symbol): return .data
        case .code(AMQPSequenceSection.descriptor.code), .symbol(AMQPSequenceSection.descriptor.symbol):
            return .amqpSequence
        case .code(AMQPValueSection.descriptor.code), .symbol(AMQPValueSection.descriptor.symbol): return .amqpValue
        case .code(Footer.descriptor.code), .symbol(Footer.descriptor.symbol): return .footer
        default:
            try decoder.enterDescribedBody()
            let value = try decoder.decodeValue()
            decoder.leaveDescribedBody()
            let section = MessageSection.unknown(descriptor: descriptor, value: value)
            throw AMQPDecodingError(.unexpectedDescriptor, at: at, "\(section) is not a message section")
        }
    }

    /// The rule of §3.2 for the order of sections, checked one section at a time: the one place
    /// both ``Message/init(from:)`` and ``LazyMessage`` enforce it.
    struct SectionOrder: Sendable {
        var previous: SectionKind?

        mutating func admit(_ kind: SectionKind, at: Int) throws(AMQPDecodingError) {
            if let previous, kind.rank < previous.rank || (kind.rank == previous.rank && (!kind.repeats || kind != previous)) {
                throw Self.misplaced(kind, after: previous, at: at)
            }
            previous = kind
        }

        /// The error for `kind` after `previous`; out of line, so that admitting stays a compare.
        @inline(never)
        static func misplaced(_ kind: SectionKind, after previous: SectionKind, at: Int) -> AMQPDecodingError {
            if kind.rank == SectionKind.data.rank, previous.rank == kind.rank, kind.repeats {
                return AMQPDecodingError(.unexpectedDescriptor, at: at, "message body mixes \(previous.name) and \(kind.name) sections")
            }
            return AMQPDecodingError(.unexpectedDescriptor, at: at, "message section \(kind.name) cannot follow \(previous.name)")
        }
    }
}
