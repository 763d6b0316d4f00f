import AMQPCodec
import AMQPTypes

/// A received message whose sections are decoded only when they are read.
///
/// Creating one finds where each section lies (its descriptor and declared size) and checks the
/// order of §3.2, exactly as ``Message/init(from:)`` does; what is inside a section is decoded, as
/// strictly as ``Message`` decodes it, by the accessor that reads it. A consumer that looks at one
/// annotation and the body skips the cost of the properties and application properties it never
/// reads. A malformed section is an error when it is read, not before; ``validate()`` decodes
/// every section at once for those who want all errors up front, and returns the ``Message``.
///
/// The message holds the bytes it came from (a slice, not a copy), so `data` sections are slices
/// of them too. Each accessor decodes its section anew: keep what it returns rather than call it
/// twice. Error offsets count from the start of the message's bytes.
public struct LazyMessage: Sendable, Hashable {
    /// The encoded message: its sections, in order.
    public let bytes: ArraySlice<UInt8>
    /// The limits its sections are decoded with.
    public let limits: AMQPDecoder.Limits

    /// Where each section lies in ``bytes`` (absolute indices), descriptor included.
    var headerRange: Range<Int>?
    var deliveryAnnotationsRange: Range<Int>?
    var messageAnnotationsRange: Range<Int>?
    var propertiesRange: Range<Int>?
    var applicationPropertiesRange: Range<Int>?
    /// The body sections, all of one kind (``bodyKind``), in order: the first apart, so that
    /// the usual message of one body section allocates no array for it.
    var firstBodyRange: Range<Int>?
    var moreBodyRanges: [Range<Int>]
    var bodyRanges: [Range<Int>] { firstBodyRange.map { [$0] + moreBodyRanges } ?? [] }
    var bodyKind: Message.SectionKind?
    var footerRange: Range<Int>?

    /// Finds the sections of a message that spans all of `bytes`, checking their kinds and order
    /// (not their contents).
    public init(decoding bytes: ArraySlice<UInt8>, limits: AMQPDecoder.Limits = .default) throws(AMQPDecodingError) {
        self.bytes = bytes
        self.limits = limits
        self.moreBodyRanges = []
        try findSections()
    }

    /// Finds the sections of a message that spans all of `bytes`.
    public init(decoding bytes: [UInt8], limits: AMQPDecoder.Limits = .default) throws(AMQPDecodingError) {
        try self.init(decoding: bytes[...], limits: limits)
    }

    /// Takes the rest of the decoder's input as the message (a transfer's payload after its
    /// performative) and finds its sections. The bytes are kept as a slice, not copied.
    public init(from decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        self.limits = decoder.limits
        self.bytes = decoder.readRemainingBytes()
        self.moreBodyRanges = []
        try findSections()
    }

    /// Finds where each section lies, checking kinds and order.
    private mutating func findSections() throws(AMQPDecodingError) {
        let bytes = self.bytes
        let limits = self.limits
        var order = Message.SectionOrder()
        var position = bytes.startIndex
        while position < bytes.endIndex {
            let kind: Message.SectionKind
            let end: Int
            if let (fastKind, length) = Self.usualSection(bytes, at: position, limits: limits) {
                kind = fastKind
                end = position &+ length
            } else {
                var scanner = AMQPDecoder(bytes, range: position..<bytes.endIndex, limits: limits)
                kind = try Message.readSectionKind(from: &scanner, at: scanner.offset)
                try scanner.enterDescribedBody()
                try scanner.skipValueBySize()
                scanner.leaveDescribedBody()
                end = scanner.index
            }
            try order.admit(kind, at: position &- bytes.startIndex)
            let range = position..<end
            switch kind {
            case .header: headerRange = range
            case .deliveryAnnotations: deliveryAnnotationsRange = range
            case .messageAnnotations: messageAnnotationsRange = range
            case .properties: propertiesRange = range
            case .applicationProperties: applicationPropertiesRange = range
            case .data, .amqpSequence, .amqpValue:
                bodyKind = kind
                if firstBodyRange == nil { firstBodyRange = range } else { moreBodyRanges.append(range) }
            case .footer: footerRange = range
            }
            position = end
        }
    }

    /// The kind and length of the section at `position` when it has the usual shape: a small
    /// ulong descriptor (`0x00 0x53 0x70`…`0x78`) and a value whose constructor gives its size,
    /// which fits what remains and the limits. `nil` for anything else, which the general path
    /// (``Message/readSectionKind(from:at:)``, ``AMQPDecoder/skipValueBySize()``) reads, and
    /// refuses with the decoder's own errors: this one only ever accepts what that path accepts.
    static func usualSection(_ bytes: ArraySlice<UInt8>, at position: Int, limits: AMQPDecoder.Limits) -> (Message.SectionKind, Int)? {
        let remaining = bytes.endIndex &- position
        guard remaining >= 4, limits.maxDepth >= 1 else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> (Message.SectionKind, Int)? in
            let p = buffer.baseAddress.unsafelyUnwrapped + (position &- bytes.startIndex)
            guard p[0] == 0x00, p[1] == 0x53, let kind = Message.sectionKind(code: UInt64(p[2])) else { return nil }
            let size: Int
            let header: Int
            switch p[3] {
            case 0x40...0x45:  // null, booleans, uint0, ulong0, list0
                return (kind, 4)
            case 0xA0, 0xA1, 0xA3, 0xC0, 0xC1, 0xE0:  // 8-bit sizes: binary, string, symbol, list, map, array
                guard remaining >= 5 else { return nil }
                size = Int(p[4])
                header = 5
                if p[3] >= 0xC0 && size < 1 { return nil }
            case 0xB0, 0xB1, 0xB3, 0xD0, 0xD1, 0xF0:  // 32-bit sizes
                guard remaining >= 8 else { return nil }
                size = Int(UInt32(p[4]) << 24 | UInt32(p[5]) << 16 | UInt32(p[6]) << 8 | UInt32(p[7]))
                header = 8
                if p[3] >= 0xC0 && size < 4 { return nil }
            default:
                return nil
            }
            guard size <= remaining &- header, size <= limits.maxValueSize else { return nil }
            return (kind, header &+ size)
        }
    }

    /// Decodes the one section of type `T` at `range`, which must fill it exactly.
    func decode<T: AMQPDescribedType>(_: T.Type, at range: Range<Int>?) throws(AMQPDecodingError) -> T? {
        guard let range else { return nil }
        var decoder = AMQPDecoder(bytes, range: range, limits: limits)
        // Finding the sections checked that this descriptor names `T`; read past it without
        // comparing it again (that loads `T.descriptor`, a lazily initialized global).
        _ = try decoder.readDescriptor()
        try decoder.enterDescribedBody()
        let value = try T(describedBodyFrom: &decoder)
        decoder.leaveDescribedBody()
        try decoder.expectEnd()
        return value
    }

    /// The header, decoded now; `nil` when the message has none.
    public func decodeHeader() throws(AMQPDecodingError) -> Header? {
        try decode(Header.self, at: headerRange)
    }

    /// The delivery annotations, decoded now.
    public func decodeDeliveryAnnotations() throws(AMQPDecodingError) -> DeliveryAnnotations? {
        try decode(DeliveryAnnotations.self, at: deliveryAnnotationsRange)
    }

    /// The message annotations, decoded now.
    public func decodeMessageAnnotations() throws(AMQPDecodingError) -> MessageAnnotations? {
        try decode(MessageAnnotations.self, at: messageAnnotationsRange)
    }

    /// The value of the (first) message annotation `key`, or `nil`.
    ///
    /// Reads the annotations in order up to the one asked for: every key on the way is decoded
    /// and checked, the values before the one found are skipped by their structure (sizes,
    /// counts, constructors: `AMQPDecoder/skipValue()`), and the value found is decoded as
    /// ``decodeMessageAnnotations()`` decodes it. What is after it is not read, and a string
    /// skipped on the way is not checked for UTF-8: ``decodeMessageAnnotations()`` and
    /// ``validate()`` check every entry.
    public func messageAnnotation(_ key: Symbol) throws(AMQPDecodingError) -> AMQPValue? {
        guard let range = messageAnnotationsRange else { return nil }
        var decoder = AMQPDecoder(bytes, range: range, limits: limits)
        _ = try decoder.readDescriptor()  // checked when the sections were found
        try decoder.enterDescribedBody()
        let scope = try decoder.beginMap()
        for _ in 0..<(scope.count / 2) {
            if try decoder.decodeKey(matching: key) { return try decoder.decodeValue() }
            try decoder.skipValue()
        }
        try decoder.endCompound(scope)
        decoder.leaveDescribedBody()
        try decoder.expectEnd()
        return nil
    }

    /// The properties, decoded now.
    public func decodeProperties() throws(AMQPDecodingError) -> Properties? {
        try decode(Properties.self, at: propertiesRange)
    }

    /// The application properties, decoded now.
    public func decodeApplicationProperties() throws(AMQPDecodingError) -> ApplicationProperties? {
        try decode(ApplicationProperties.self, at: applicationPropertiesRange)
    }

    /// The body, decoded now: `data` sections are slices of ``bytes``.
    public func decodeBody() throws(AMQPDecodingError) -> Message.Body {
        switch bodyKind {
        case .amqpValue?:
            // `SectionOrder` admits one amqp-value section at most.
            return .value(try decode(AMQPValueSection.self, at: firstBodyRange)!)
        case .amqpSequence?:
            let ranges = bodyRanges
            var sections: [AMQPSequenceSection] = []
            sections.reserveCapacity(ranges.count)
            for range in ranges { sections.append(try decode(AMQPSequenceSection.self, at: range)!) }
            return .sequence(sections)
        default:
            let ranges = bodyRanges
            var sections: [DataSection] = []
            sections.reserveCapacity(ranges.count)
            for range in ranges { sections.append(try decode(DataSection.self, at: range)!) }
            return .data(sections)
        }
    }

    /// The payload of a body of one `data` section, as a slice of ``bytes``; `nil` for any other
    /// body (several data sections, amqp-value, amqp-sequence, none).
    public func decodeSingleDataBody() throws(AMQPDecodingError) -> Binary? {
        guard bodyKind == .data, moreBodyRanges.isEmpty else { return nil }
        return try decode(DataSection.self, at: firstBodyRange)?.value
    }

    /// The footer, decoded now.
    public func decodeFooter() throws(AMQPDecodingError) -> Footer? {
        try decode(Footer.self, at: footerRange)
    }

    /// Decodes every section, as ``Message/init(decoding:limits:)`` does, and returns the
    /// message: the first malformed section, if any, is the error.
    public func validate() throws(AMQPDecodingError) -> Message {
        var decoder = AMQPDecoder(bytes, limits: limits)
        return try Message(from: &decoder)
    }

    /// Two lazy messages are equal when their bytes are (not when they decode to equal messages:
    /// the same message may have several encodings).
    public static func == (lhs: LazyMessage, rhs: LazyMessage) -> Bool {
        lhs.bytes.elementsEqual(rhs.bytes)
    }

    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

extension LazyMessage: AMQPEncodable {
    /// Writes the message's bytes as they came: a lazy message forwards without re-encoding.
    public func encode(to encoder: inout AMQPEncoder) {
        encoder.writeBytes(bytes)
    }
}
