import AMQPCodec
import AMQPTypes

/// One protocol header or frame of a byte stream, decoded for people to read: what
/// `amqp inspect` prints from a capture and what the live frame trace prints as a connection runs.
public struct FrameDescription: Sendable {
    /// Where in the stream the header or frame starts.
    public var streamOffset: Int
    public var content: Content

    public enum Content: Sendable {
        case protocolHeader(ProtocolHeader)
        /// An empty frame: a heartbeat (§2.4.5).
        case heartbeat(type: FrameType, channel: UInt16)
        case frame(type: FrameType, channel: UInt16, performative: AMQPValue, payload: Payload?)
    }

    /// What a frame carries after its performative (a transfer's slice of a message).
    public enum Payload: Sendable {
        /// The delivery continues in later frames (`more` is true); sections are described with its last frame.
        case partial(byteCount: Int)
        /// The delivery is complete: its whole message, decoded section by section.
        case sections([AMQPValue])
        /// The delivery is complete, shown by length only.
        case length(Int)
        /// The delivery is complete but its bytes are not message sections.
        case undecodable(byteCount: Int, error: String)
    }
}

/// Turns one direction of an AMQP byte stream into ``FrameDescription``s, bytes appended as they
/// arrive: a file of captured bytes or a live connection.
///
/// A client's AMQP header follows its last SASL frame, and the header after an in-band TLS
/// handshake follows the TLS header, with nothing in that direction to announce them; the describer
/// recognises them by their `"AMQP"` magic.
public struct FrameStreamDescriber: Sendable {
    /// Whether message sections are decoded or shown by length only. Sections hold application
    /// data (and a CBS `put-token` request holds a token), so a live trace shows lengths unless asked.
    public enum Payloads: Sendable, Hashable {
        case lengthOnly
        case sections
    }

    public let payloads: Payloads
    /// When false, SASL responses (which carry passwords and SCRAM proofs) are shown by length only.
    public let revealsSASLResponses: Bool
    private var decoder = FrameDecoder()
    /// Payloads of multi-frame deliveries by channel and handle, until their last frame.
    private var partial: [PartialKey: PartialPayload] = [:]
    /// Set after a SASL frame or a TLS header: the next bytes may be a protocol header.
    private var headerMayFollow = false
    /// The most payload bytes kept per delivery: a trace must not hold a large message in memory
    /// twice. Longer payloads are described by length.
    public var maxPayloadBytes: Int = 1 << 20

    private struct PartialKey: Hashable, Sendable {
        var channel: UInt16
        var handle: UInt32
    }

    private struct PartialPayload: Sendable {
        var bytes: [UInt8] = []
        var byteCount = 0
    }

    public init(payloads: Payloads, revealsSASLResponses: Bool) {
        self.payloads = payloads
        self.revealsSASLResponses = revealsSASLResponses
    }

    /// How many bytes are buffered that do not yet form a whole header or frame.
    public var bufferedCount: Int { decoder.bufferedCount }

    /// Adds bytes as they arrive.
    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        decoder.append(bytes)
    }

    /// The next complete header or frame, or `nil` when more bytes are needed.
    public mutating func next() throws(FramingError) -> FrameDescription? {
        if headerMayFollow {
            guard let isHeader = decoder.nextBytesAreProtocolHeader else { return nil }
            if isHeader { decoder.expectProtocolHeader() }
            headerMayFollow = false
        }
        let offset = decoder.streamOffset
        guard let event = try decoder.next() else { return nil }
        switch event {
        case .protocolHeader(let header):
            headerMayFollow = header.id == .tls
            return FrameDescription(streamOffset: offset, content: .protocolHeader(header))
        case .frame(let frame):
            headerMayFollow = frame.type == .sasl
            if frame.isEmpty {
                return FrameDescription(streamOffset: offset, content: .heartbeat(type: frame.type, channel: frame.channel))
            }
            var bodyDecoder = AMQPDecoder(frame.body)
            let performative: AMQPValue
            do {
                performative = try bodyDecoder.decodeValue()
            } catch {
                let text = "\(error)"
                return FrameDescription(
                    streamOffset: offset,
                    content: .frame(type: frame.type, channel: frame.channel,
                                    performative: .string("undecodable performative: \(text)"), payload: nil))
            }
            let payload = frame.body.dropFirst(bodyDecoder.offset)
            return FrameDescription(
                streamOffset: offset,
                content: .frame(type: frame.type, channel: frame.channel,
                                performative: shown(performative, type: frame.type),
                                payload: payload.isEmpty ? nil : describe(payload, of: performative, channel: frame.channel)))
        }
    }

    private mutating func describe(_ payload: ArraySlice<UInt8>, of transfer: AMQPValue, channel: UInt16) -> FrameDescription.Payload {
        let handle: UInt32
        if case .uint(let h)? = Self.field(0, of: transfer) { handle = h } else { handle = UInt32.max }
        let key = PartialKey(channel: channel, handle: handle)
        var whole = partial.removeValue(forKey: key) ?? PartialPayload()
        whole.byteCount += payload.count
        if payloads == .sections, whole.byteCount <= maxPayloadBytes {
            whole.bytes += payload
        } else {
            whole.bytes = []
        }
        if case .boolean(true)? = Self.field(5, of: transfer) {
            partial[key] = whole
            return .partial(byteCount: payload.count)
        }
        guard payloads == .sections, whole.byteCount <= maxPayloadBytes else { return .length(whole.byteCount) }
        var sectionDecoder = AMQPDecoder(whole.bytes)
        var sections: [AMQPValue] = []
        do {
            while !sectionDecoder.isAtEnd { sections.append(try sectionDecoder.decodeValue()) }
        } catch {
            return .undecodable(byteCount: whole.byteCount, error: "\(error)")
        }
        return .sections(sections)
    }

    /// A SASL response's bytes replaced by their length, unless they may be shown.
    private func shown(_ performative: AMQPValue, type: FrameType) -> AMQPValue {
        guard type == .sasl, !revealsSASLResponses,
              case .described(let descriptor, .list(var fields)) = performative,
              let code = Self.descriptorValue(descriptor)
        else { return performative }
        // sasl-init's initial-response is field 1, sasl-response's response field 0 (§5.3.3.2, §5.3.3.4).
        let index: Int
        switch code {
        case .code(0x41), .symbol("amqp:sasl-init:list"): index = 1
        case .code(0x43), .symbol("amqp:sasl-response:list"): index = 0
        default: return performative
        }
        guard index < fields.count, case .binary(let secret) = fields[index] else { return performative }
        fields[index] = .string("<\(secret.count) bytes hidden>")
        return .described(descriptor: descriptor, value: .list(fields))
    }

    static func field(_ index: Int, of value: AMQPValue) -> AMQPValue? {
        guard case .described(_, .list(let fields)) = value, index < fields.count else { return nil }
        return fields[index]
    }

    /// A descriptor as the generated types' registry keys it.
    public static func descriptorValue(_ value: AMQPValue) -> DescriptorValue? {
        switch value {
        case .ulong(let c): return .code(c)
        case .symbol(let s): return .symbol(s)
        default: return nil
        }
    }
}

extension FrameDescription: CustomStringConvertible {
    /// The AMQP type name and field names of a described value's descriptor, or `nil` for one it
    /// does not know: the core's (`AMQPDescribedTypes.specNames(for:)`) by default, a vendor's too
    /// where a caller knows them.
    public typealias Naming = (DescriptorValue) -> (type: String, fields: [String])?

    /// One line: `@0 open(container-id="a", max-frame-size=65536)`, the message sections of a
    /// complete transfer after it.
    public var description: String { formatted(naming: AMQPDescribedTypes.specNames(for:)) }

    /// ``description`` with described values named by `naming`.
    public func formatted(naming: Naming) -> String {
        func format(_ value: AMQPValue) -> String { Self.format(value, naming: naming) }
        switch content {
        case .protocolHeader(let header):
            return "\(header)"
        case .heartbeat(_, let channel):
            return "@\(channel) (heartbeat)"
        case .frame(_, let channel, let performative, let payload):
            var line = "@\(channel) " + format(performative)
            switch payload {
            case nil: break
            case .sections(let sections)?: line += " " + sections.map(format).joined(separator: " ")
            case .partial(let count)?: line += " (payload: \(count) bytes, more to come)"
            case .length(let count)?: line += " (payload: \(count) bytes)"
            case .undecodable(let count, let error)?: line += " (payload: \(count) bytes that are not message sections: \(error))"
            }
            return line
        }
    }

    /// A compact, readable form of a value: strings quoted, symbols as `:name`, binary as `b"…"`
    /// or hexadecimal, described values the specification knows by name with their fields named.
    public static func format(_ value: AMQPValue, naming: Naming = AMQPDescribedTypes.specNames(for:)) -> String {
        func format(_ value: AMQPValue) -> String { Self.format(value, naming: naming) }
        switch value {
        case .described(let descriptor, let body):
            if let d = FrameStreamDescriber.descriptorValue(descriptor), let names = naming(d) {
                if case .list(let fields) = body {
                    let shown = fields.enumerated().compactMap { i, f -> String? in
                        f == .null ? nil : "\(i < names.fields.count ? names.fields[i] : "field-\(i)")=\(format(f))"
                    }
                    return "\(names.type)(\(shown.joined(separator: ", ")))"
                }
                return "\(names.type)(\(format(body)))"
            }
            return "\(format(descriptor))(\(format(body)))"
        case .string(let s): return "\"" + escaped(s) + "\""
        case .symbol(let s): return ":\(s)"
        case .binary(let b):
            if b.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "b\"" + String(decoding: b, as: UTF8.self) + "\"" }
            return "0x\(b.hexString)"
        case .list(let items): return "[" + items.map(format).joined(separator: ", ") + "]"
        case .map(let map): return "{" + map.entries.map { "\(format($0.key))=\(format($0.value))" }.joined(separator: ", ") + "}"
        case .array(let a):
            let d = a.descriptor.map { "\(format($0)) " } ?? ""
            return "\(d)@\(a.elementType)[" + a.elements.map(format).joined(separator: ", ") + "]"
        case .boolean(let b): return b ? "true" : "false"
        case .uint(let v): return "\(v)"
        case .ulong(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .long(let v): return "\(v)"
        case .ubyte(let v): return "\(v)"
        case .ushort(let v): return "\(v)"
        case .timestamp(let t): return "\(t.millisecondsSince1970)ms"
        case .uuid(let u): return u.uuidString
        case .null: return "null"
        default: return value.description
        }
    }

    private static func escaped(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "\"") }) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            if c == "\"" { out += "\\\"" } else { out.unicodeScalars.append(c) }
        }
        return out
    }
}
