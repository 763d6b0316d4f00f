import AMQPCodec
import AMQPMessage
import AMQPTypes

/// The oracles of the decoding targets: whatever decodes must encode, under both policies, to
/// bytes that decode to an equal value; the typed decoders must agree with the untyped one; and
/// nothing decoded may be out of proportion to the bytes it came from.
enum ValueOracle {
    static let policies: [(name: String, policy: EncodingPolicy)] = [("compact", .compact), ("full", .full)]

    /// How much larger than its input a compact re-encoding may be. The only encodings that grow
    /// are zero-width array elements (`uint0`, `list0`, `true` as an array's constructor), which
    /// the encoder writes one or two bytes wide; the decoder bounds how many one input may declare.
    static func compactSizeBound(consumed: Int) -> Int {
        consumed + 2 * AMQPDecoder.Limits.default.maxZeroWidthArrayCount
    }

    // MARK: Values

    /// Decodes `bytes` as a sequence of values (Proton's interop vectors are such sequences).
    static func checkValues(_ bytes: [UInt8]) throws(FuzzFinding) {
        var decoder = AMQPDecoder(bytes)
        // Skips the same values in step: its limits (depth, zero-width elements per input) must
        // trip where the decoder's do.
        var skipper = AMQPDecoder(bytes)
        var nodes = 0
        while !decoder.isAtEnd {
            let start = decoder.offset
            let value: AMQPValue
            do {
                value = try decoder.decodeValue()
            } catch {
                try checkError(error, inputCount: bytes.count)
                try checkSkip(&skipper, agreesWithFailure: error)
                return
            }
            let end = decoder.offset
            let slice = bytes[start..<end]
            try checkSkip(&skipper, agreesWithSuccessUntil: end)
            try checkTypedDecoders(value, slice)
            try roundTrip(value, consumed: end - start)
            nodes += nodeCount(value)
            // Every node takes at least one byte, except elements of zero-width arrays.
            try expect(nodes <= end + AMQPDecoder.Limits.default.maxZeroWidthArrayCount,
                       "\(end) bytes decoded into \(nodes) values")
        }
    }

    /// `skipValue` checks structure but not string contents: it must accept whatever
    /// `decodeValue` accepts, ending at the same byte.
    static func checkSkip(_ skipper: inout AMQPDecoder, agreesWithSuccessUntil end: Int) throws(FuzzFinding) {
        do {
            try skipper.skipValue()
        } catch {
            throw FuzzFinding("skipValue fails on a value decodeValue read: \(error)")
        }
        try expect(skipper.offset == end, "skipValue ends at \(skipper.offset), decodeValue at \(end)")
    }

    /// …and where `decodeValue` failed, `skipValue` may only succeed when the problem was inside a
    /// string or symbol, which it does not read.
    static func checkSkip(_ skipper: inout AMQPDecoder, agreesWithFailure failure: AMQPDecodingError) throws(FuzzFinding) {
        do {
            try skipper.skipValue()
        } catch {
            return
        }
        let kind = failure.rootCause.kind
        try expect(kind == .invalidUTF8 || kind == .invalidSymbol,
                   "skipValue accepts a value decodeValue refused with \(failure)")
    }

    typealias TypedReader = @Sendable (inout AMQPDecoder) throws(AMQPDecodingError) -> AMQPValue

    /// The typed decoders of the codec, each with the type it reads.
    static let typedReaders: [(type: AMQPType, name: String, read: TypedReader)] = [
        (.null, "decodeNull", { d throws(AMQPDecodingError) in
            guard d.decodeNull() else { throw AMQPDecodingError(.unexpectedType, at: 0, "not null") }
            return .null
        }),
        (.boolean, "decodeBool", { d throws(AMQPDecodingError) in .boolean(try d.decodeBool()) }),
        (.ubyte, "decodeUByte", { d throws(AMQPDecodingError) in .ubyte(try d.decodeUByte()) }),
        (.ushort, "decodeUShort", { d throws(AMQPDecodingError) in .ushort(try d.decodeUShort()) }),
        (.uint, "decodeUInt", { d throws(AMQPDecodingError) in .uint(try d.decodeUInt()) }),
        (.ulong, "decodeULong", { d throws(AMQPDecodingError) in .ulong(try d.decodeULong()) }),
        (.byte, "decodeByte", { d throws(AMQPDecodingError) in .byte(try d.decodeByte()) }),
        (.short, "decodeShort", { d throws(AMQPDecodingError) in .short(try d.decodeShort()) }),
        (.int, "decodeInt", { d throws(AMQPDecodingError) in .int(try d.decodeInt()) }),
        (.long, "decodeLong", { d throws(AMQPDecodingError) in .long(try d.decodeLong()) }),
        (.float, "decodeFloat", { d throws(AMQPDecodingError) in .float(try d.decodeFloat()) }),
        (.double, "decodeDouble", { d throws(AMQPDecodingError) in .double(try d.decodeDouble()) }),
        (.decimal32, "decodeDecimal32", { d throws(AMQPDecodingError) in .decimal32(try d.decodeDecimal32()) }),
        (.decimal64, "decodeDecimal64", { d throws(AMQPDecodingError) in .decimal64(try d.decodeDecimal64()) }),
        (.decimal128, "decodeDecimal128", { d throws(AMQPDecodingError) in .decimal128(try d.decodeDecimal128()) }),
        (.char, "decodeChar", { d throws(AMQPDecodingError) in .char(try d.decodeChar()) }),
        (.timestamp, "decodeTimestamp", { d throws(AMQPDecodingError) in .timestamp(try d.decodeTimestamp()) }),
        (.uuid, "decodeUUID", { d throws(AMQPDecodingError) in .uuid(try d.decodeUUID()) }),
        (.binary, "decodeBinary", { d throws(AMQPDecodingError) in .binary(try d.decodeBinary()) }),
        (.string, "decodeString", { d throws(AMQPDecodingError) in .string(try d.decodeString()) }),
        (.string, "decodeStringBytes", { d throws(AMQPDecodingError) in .string(String(decoding: try d.decodeStringBytes(), as: UTF8.self)) }),
        (.symbol, "decodeSymbol", { d throws(AMQPDecodingError) in .symbol(try d.decodeSymbol()) }),
        (.list, "decodeList", { d throws(AMQPDecodingError) in .list(try d.decodeList()) }),
        (.map, "AMQPMap(from:)", { d throws(AMQPDecodingError) in .map(try AMQPMap(from: &d)) }),
        (.array, "decodeArray", { d throws(AMQPDecodingError) in .array(try d.decodeArray()) }),
    ]

    /// Typed decoders on the bytes of one decoded value: the one for its type must return it and
    /// consume every byte; another one (a different one for each length of input, to keep runs
    /// fast) must refuse with `unexpectedType` at offset 0.
    static func checkTypedDecoders(_ value: AMQPValue, _ slice: ArraySlice<UInt8>) throws(FuzzFinding) {
        var isDescribed = false
        if case .described = value { isDescribed = true }
        let otherIndex = slice.count % typedReaders.count
        for (index, reader) in typedReaders.enumerated() {
            let matches = !isDescribed && value.type == reader.type
            guard matches || index == otherIndex else { continue }
            var decoder = AMQPDecoder(slice)
            let name = reader.name
            switch Result(catching: { () throws(AMQPDecodingError) in try reader.read(&decoder) }) {
            case .success(let result):
                try expect(matches, "\(name) read \(brief(result)) from \(brief(value))")
                try expect(result == value, "\(name) read \(brief(result)), decodeValue \(brief(value))")
                try expect(decoder.isAtEnd, "\(name) left \(decoder.remainingCount) bytes of \(brief(value))")
            case .failure(let error):
                try expect(!matches, "\(name) refused \(brief(value)): \(error)")
                try expect(error.kind == .unexpectedType && error.offset == 0, "\(name) on \(brief(value)): \(error)")
            }
        }

        if case .described(let descriptor, let inner) = value {
            var decoder = AMQPDecoder(slice)
            let read: DescriptorValue
            let body: AMQPValue
            do {
                read = try decoder.readDescriptor()
                body = try decoder.decodeValue()
            } catch {
                throw FuzzFinding("readDescriptor and decodeValue refuse \(brief(value)): \(error)")
            }
            try expect(read.value == descriptor, "readDescriptor read \(read), decodeValue \(brief(descriptor))")
            try expect(body == inner, "the described body reads as \(brief(body)), decodeValue \(brief(inner))")
        }
    }

    /// The values in a value, counting itself: what decoding it allocated, roughly.
    static func nodeCount(_ value: AMQPValue) -> Int {
        switch value {
        case .list(let items): return items.reduce(1) { $0 + nodeCount($1) }
        case .map(let map): return map.entries.reduce(1) { $0 + nodeCount($1.key) + nodeCount($1.value) }
        case .array(let array): return array.elements.reduce(1 + (array.descriptor.map(nodeCount) ?? 0)) { $0 + nodeCount($1) }
        case .described(let descriptor, let inner): return 1 + nodeCount(descriptor) + nodeCount(inner)
        default: return 1
        }
    }

    // MARK: Messages

    static func checkMessage(_ bytes: ArraySlice<UInt8>) throws(FuzzFinding) {
        let message: Message
        var decoder = AMQPDecoder(bytes)
        do {
            message = try Message(from: &decoder)
        } catch {
            try checkError(error, inputCount: bytes.count)
            try checkLazyMessage(bytes, eager: .failure(error))
            return
        }
        try checkLazyMessage(bytes, eager: .success(message))
        for (name, policy) in policies {
            let encoded = message.encoded(policy: policy)
            let again: Message
            do {
                again = try Message(decoding: encoded)
            } catch {
                throw FuzzFinding("the \(name) encoding of a message does not decode: \(error)\nencoding: \(HexEncoding.string(encoded))")
            }
            try expect(again == message, "\(name) round trip changed the message \(brief(message)) into \(brief(again))")
            try expect(again.encoded(policy: policy) == encoded, "\(name) message encoding is not stable")
            if name == "compact" {
                try expect(encoded.count <= compactSizeBound(consumed: bytes.count),
                           "a \(bytes.count)-byte message re-encodes to \(encoded.count) bytes")
            }
        }
    }

    /// A lazily decoded message is as strict as the eager decoder: the same bytes give the same
    /// sections, or the same first error from `validate()`, and a message the eager decoder
    /// refuses is refused when created or by reading one of its sections.
    static func checkLazyMessage(_ bytes: ArraySlice<UInt8>, eager: Result<Message, AMQPDecodingError>) throws(FuzzFinding) {
        let lazy: LazyMessage
        do {
            lazy = try LazyMessage(decoding: bytes)
        } catch {
            try checkError(error, inputCount: bytes.count)
            if case .success(let message) = eager {
                throw FuzzFinding("a lazy message refuses what the eager decoder reads as \(brief(message)): \(error)")
            }
            return
        }
        switch eager {
        case .success(let message):
            do {
                try expect(try lazy.decodeHeader() == message.header, "lazy header differs")
                try expect(try lazy.decodeDeliveryAnnotations() == message.deliveryAnnotations, "lazy delivery annotations differ")
                try expect(try lazy.decodeMessageAnnotations() == message.messageAnnotations, "lazy message annotations differ")
                try expect(try lazy.decodeProperties() == message.properties, "lazy properties differ")
                try expect(try lazy.decodeApplicationProperties() == message.applicationProperties, "lazy application properties differ")
                try expect(try lazy.decodeBody() == message.body, "lazy body differs")
                try expect(try lazy.decodeFooter() == message.footer, "lazy footer differs")
                try expect(try lazy.validate() == message, "lazy validate() differs")
                for entry in message.messageAnnotations?.value.entries ?? [] {
                    guard case .symbol(let key) = entry.key else { continue }
                    let first = message.messageAnnotations?.value.entries.first(where: { $0.key == entry.key })?.value
                    try expect(try lazy.messageAnnotation(key) == first, "lazy messageAnnotation(\(key)) differs")
                }
            } catch let finding as FuzzFinding {
                throw finding
            } catch {
                throw FuzzFinding("a lazy section of \(brief(message)) does not decode: \(error)")
            }
        case .failure(let error):
            do {
                _ = try lazy.validate()
                throw FuzzFinding("lazy validate() accepts a message the eager decoder refuses with \(error)")
            } catch let finding as FuzzFinding {
                throw finding
            } catch let other {
                try expect(other as? AMQPDecodingError == error, "lazy validate() throws \(other), the eager decoder \(error)")
            }
            var refused = false
            for read in [
                { () throws -> Void in _ = try lazy.decodeHeader() },
                { _ = try lazy.decodeDeliveryAnnotations() },
                { _ = try lazy.decodeMessageAnnotations() },
                { _ = try lazy.decodeProperties() },
                { _ = try lazy.decodeApplicationProperties() },
                { _ = try lazy.decodeBody() },
                { _ = try lazy.decodeFooter() },
            ] {
                do { try read() } catch { refused = true }
            }
            // The one exception: the bound on zero-width array elements counts per input, and
            // each lazy read is an input of its own (validate() counts them together, above).
            try expect(refused || error.kind == .limitExceeded,
                       "every lazy section reads although the eager decoder refuses the message: \(error)")
        }
    }

    // MARK: Frame bodies and described types

    /// A frame body: a performative (and, for a transfer, the message after it); the same bytes
    /// as a SASL frame; and, by its descriptor, as whichever described type of the registry it
    /// names, and as each archetype.
    static func checkFrameBody(_ bytes: [UInt8]) throws(FuzzFinding) {
        try checkPerformativeFrame(bytes[...])
        try roundTripTyped(SASLPerformative.self, bytes[...], wholeInput: true)

        var decoder = AMQPDecoder(bytes)
        if let descriptor = try? decoder.readDescriptor(), let type = AMQPDescribedTypes.type(for: descriptor) {
            try roundTripTyped(type, bytes[...], wholeInput: false)
        }
        try roundTripTyped(MessageSection.self, bytes[...], wholeInput: false)
        try roundTripTyped(DeliveryState.self, bytes[...], wholeInput: false)
        try roundTripTyped(Outcome.self, bytes[...], wholeInput: false)
        try roundTripTyped(LinkSource.self, bytes[...], wholeInput: false)
        try roundTripTyped(LinkTarget.self, bytes[...], wholeInput: false)
        try roundTripTyped(Filter.self, bytes[...], wholeInput: false)
        try roundTripTyped(LifetimePolicy.self, bytes[...], wholeInput: false)
        try roundTripTyped(MessageID.self, bytes[...], wholeInput: false)
        try roundTripTyped(Address.self, bytes[...], wholeInput: false)
        try roundTripTyped(TransactionID.self, bytes[...], wholeInput: false)
        try roundTripTyped(ErrorCondition.self, bytes[...], wholeInput: false)
    }

    /// The body of an AMQP frame as the connection reads it: a performative, then a payload only
    /// after a transfer.
    static func checkPerformativeFrame(_ body: ArraySlice<UInt8>) throws(FuzzFinding) {
        var decoder = AMQPDecoder(body)
        let performative: Performative
        do {
            performative = try decoder.decode(Performative.self)
        } catch {
            try checkError(error, inputCount: body.count)
            return
        }
        let consumed = decoder.offset
        try roundTrip(performative, consumed: consumed)
        if case .transfer(let transfer) = performative, !transfer.more, consumed < body.count {
            try checkMessage(body.dropFirst(consumed))
        }
    }

    /// Decodes a `T` from the start of `bytes` (all of them when `wholeInput`), and round-trips it.
    static func roundTripTyped<T: AMQPCodable & Hashable>(_ type: T.Type, _ bytes: ArraySlice<UInt8>, wholeInput: Bool) throws(FuzzFinding) {
        var decoder = AMQPDecoder(bytes)
        let value: T
        do {
            value = try T(from: &decoder)
            if wholeInput { try decoder.expectEnd() }
        } catch {
            try checkError(error, inputCount: bytes.count)
            return
        }
        try roundTrip(value, consumed: decoder.offset)
    }

    static func roundTrip<T: AMQPCodable & Hashable>(_ value: T, consumed: Int) throws(FuzzFinding) {
        let hash = value.hashValue
        for (name, policy) in policies {
            let encoded = AMQPEncoder.encode(value, policy: policy)
            let again: T
            do {
                again = try AMQPDecoder.decode(T.self, from: encoded)
            } catch {
                throw FuzzFinding("the \(name) encoding of \(T.self) \(brief(value)) does not decode: \(error)\nencoding: \(HexEncoding.string(encoded))")
            }
            try expect(again == value, "\(name) round trip changed \(T.self) \(brief(value)) into \(brief(again))")
            try expect(again.hashValue == hash, "equal \(T.self) values hash differently")
            try expect(AMQPEncoder.encode(again, policy: policy) == encoded, "\(name) encoding of \(T.self) is not stable")
            // Every encoding we write is a legal AMQP value (for an AMQPValue, the decode above says so).
            if T.self != AMQPValue.self {
                do {
                    _ = try AMQPDecoder.decode(AMQPValue.self, from: encoded)
                } catch {
                    throw FuzzFinding("the \(name) encoding of \(T.self) is not a valid AMQP value: \(error)")
                }
            }
            if name == "compact" {
                try expect(encoded.count <= compactSizeBound(consumed: consumed),
                           "\(consumed) bytes of \(T.self) re-encode to \(encoded.count) bytes")
            }
        }
    }

    // MARK: Errors

    /// An error must point into the input, and so must every error it wraps.
    static func checkError(_ error: AMQPDecodingError, inputCount: Int) throws(FuzzFinding) {
        var current: AMQPDecodingError? = error
        while let e = current {
            try expect(e.offset >= 0 && e.offset <= inputCount, "error offset \(e.offset) outside a \(inputCount)-byte input: \(error)")
            current = e.underlying?.error
        }
        try expect(!error.description.isEmpty, "an error without a description")
    }

    /// A description short enough for a finding.
    static func brief(_ value: some Any) -> String {
        let text = String(describing: value)
        return text.count <= 600 ? text : String(text.prefix(600)) + "…"
    }
}
