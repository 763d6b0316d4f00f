import AMQPCodec

/// The two frame types of AMQP 1.0 (§2.3.1, §5.3.1).
public enum FrameType: UInt8, Hashable, Sendable {
    case amqp = 0x00
    case sasl = 0x01
}

/// One frame: its type, channel and body. The body holds the performative followed by any payload
/// (message bytes of a transfer); an empty body is a heartbeat (§2.4.5).
public struct Frame: Hashable, Sendable {
    /// AMQP or SASL; it selects how the body is read.
    public var type: FrameType
    /// The session channel for AMQP frames; ignored in SASL frames (§5.3.1).
    public var channel: UInt16
    /// The bytes after the extended header: the encoded performative, then any payload.
    public var body: ArraySlice<UInt8>

    /// A frame with `body` as is; an empty body makes a heartbeat.
    @inlinable
    public init(type: FrameType, channel: UInt16, body: ArraySlice<UInt8>) {
        self.type = type
        self.channel = channel
        self.body = body
    }

    /// Whether the frame is a heartbeat: no performative at all.
    @inlinable
    public var isEmpty: Bool { body.isEmpty }

    /// The smallest legal frame: the 8-byte header alone.
    public static let headerSize = 8
    /// Before the peers agree on one in `open`, frames may be no larger than this (§2.7.1,
    /// `MIN-MAX-FRAME-SIZE`).
    public static let minimumMaxFrameSize: UInt32 = 512
}

/// Bytes that cannot be an AMQP frame stream. A connection answers them by closing with
/// `amqp:connection:framing-error` (§2.8.15), or, before the protocol header is agreed, by
/// sending its own header and disconnecting (§2.2).
public struct FramingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of framing problem it is. New kinds may be added without breaking source.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable {
            case invalidProtocolHeader, frameTooSmall, frameTooLarge, invalidDataOffset, unknownFrameType
        }
        let base: Base
        /// Eight bytes that are not an AMQP protocol header.
        public static let invalidProtocolHeader = Kind(base: .invalidProtocolHeader)
        /// A frame size below the 8 bytes of the frame header.
        public static let frameTooSmall = Kind(base: .frameTooSmall)
        /// A frame size above the negotiated maximum.
        public static let frameTooLarge = Kind(base: .frameTooLarge)
        /// A data offset below 2 words, or pointing past the frame's end.
        public static let invalidDataOffset = Kind(base: .invalidDataOffset)
        /// A frame type other than AMQP (0) and SASL (1).
        public static let unknownFrameType = Kind(base: .unknownFrameType)

        /// A short phrase for messages, e.g. `frame too large`.
        public var description: String {
            switch base {
            case .invalidProtocolHeader: return "invalid protocol header"
            case .frameTooSmall: return "frame too small"
            case .frameTooLarge: return "frame too large"
            case .invalidDataOffset: return "invalid data offset"
            case .unknownFrameType: return "unknown frame type"
            }
        }
    }

    /// What went wrong.
    public var kind: Kind
    /// The offset in the byte stream where the bad field starts.
    public var streamOffset: Int
    /// The values found, for messages.
    public var detail: String

    /// An error of `kind` at byte `streamOffset` of the stream.
    public init(_ kind: Kind, at streamOffset: Int, _ detail: String) {
        self.kind = kind
        self.streamOffset = streamOffset
        self.detail = detail
    }

    /// `amqp:connection:framing-error`.
    public var condition: Symbol { "amqp:connection:framing-error" }

    /// Kind, stream offset and detail.
    public var description: String { "\(kind) at stream offset \(streamOffset): \(detail)" }
}

/// Splits a byte stream into protocol headers and frames (§2.2, §2.3), validating each length
/// the moment it is read: a frame larger than ``maxFrameSize`` is refused from its first four
/// bytes, before anything is buffered for it.
///
/// It is driven from outside: ``append(_:)`` bytes as they arrive, then call ``next()`` until it
/// returns `nil` (more bytes needed). The same decoder serves a socket and a file of captured bytes.
public struct FrameDecoder: Sendable {
    /// What the stream holds next.
    public enum Event: Hashable, Sendable {
        case protocolHeader(ProtocolHeader)
        case frame(Frame)
    }

    enum State: Hashable, Sendable {
        case expectingProtocolHeader
        case expectingFrame
        case failed
    }

    /// The largest frame the peer may send us: what we advertise in `open`.
    public var maxFrameSize: UInt32
    private var state: State = .expectingProtocolHeader
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Bytes consumed before `buffer[0]`, for error offsets.
    private var discarded = 0

    /// - Parameters:
    ///   - maxFrameSize: the largest frame accepted; a larger size field is an error as soon as it
    ///     is read.
    ///   - startsWithProtocolHeader: false to read frames from the middle of a stream (a capture
    ///     that starts after the headers).
    public init(maxFrameSize: UInt32 = UInt32.max, startsWithProtocolHeader: Bool = true) {
        self.maxFrameSize = maxFrameSize
        self.state = startsWithProtocolHeader ? .expectingProtocolHeader : .expectingFrame
    }

    /// How many bytes are buffered and not yet returned.
    public var bufferedCount: Int { buffer.count - readIndex }

    /// The offset in the stream of the next unread byte.
    public var streamOffset: Int { discarded + readIndex }

    /// Buffers bytes as they arrive; call ``next()`` afterwards to take out what is complete.
    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            discarded += readIndex
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Whether the buffered bytes start with `"AMQP"`: a protocol header comes next. Lets a reader
    /// of one direction of a capture find the header a client sends after SASL, which that
    /// direction gives no other sign of. `nil` until four bytes are buffered.
    public var nextBytesAreProtocolHeader: Bool? {
        guard buffer.count - readIndex >= 4 else { return nil }
        return buffer[readIndex] == 0x41 && buffer[readIndex + 1] == 0x4D && buffer[readIndex + 2] == 0x51 && buffer[readIndex + 3] == 0x50
    }

    /// After a SASL outcome (or a TLS handshake) the stream starts again with a protocol header.
    public mutating func expectProtocolHeader() {
        if state != .failed { state = .expectingProtocolHeader }
    }

    /// The next header or frame, or `nil` when more bytes are needed. After an error, the decoder
    /// stays failed: the connection must close.
    public mutating func next() throws(FramingError) -> Event? {
        switch state {
        case .failed:
            return nil
        case .expectingProtocolHeader:
            let available = buffer.count - readIndex
            // Reject a stream that is not AMQP as soon as its first bytes say so.
            let magic: [UInt8] = [0x41, 0x4D, 0x51, 0x50]
            for i in 0..<min(available, 4) where buffer[readIndex + i] != magic[i] {
                state = .failed
                throw FramingError(.invalidProtocolHeader, at: streamOffset + i, "expected \"AMQP\", found byte \(buffer[readIndex + i])")
            }
            guard available >= 8 else { return nil }
            guard let header = ProtocolHeader(bytes: buffer[readIndex..<(readIndex + 8)]) else {
                state = .failed
                throw FramingError(.invalidProtocolHeader, at: streamOffset + 4, "unknown protocol id \(buffer[readIndex + 4])")
            }
            readIndex += 8
            state = .expectingFrame
            return .protocolHeader(header)
        case .expectingFrame:
            let available = buffer.count - readIndex
            guard available >= 4 else { return nil }
            let size = UInt32(buffer[readIndex]) << 24 | UInt32(buffer[readIndex + 1]) << 16
                | UInt32(buffer[readIndex + 2]) << 8 | UInt32(buffer[readIndex + 3])
            guard size >= 8 else {
                state = .failed
                throw FramingError(.frameTooSmall, at: streamOffset, "frame size \(size) is below the 8-byte header")
            }
            guard size <= maxFrameSize else {
                state = .failed
                throw FramingError(.frameTooLarge, at: streamOffset, "frame size \(size) exceeds max-frame-size \(maxFrameSize)")
            }
            guard available >= 6 else { return nil }
            let dataOffset = Int(buffer[readIndex + 4]) * 4
            guard dataOffset >= 8, dataOffset <= Int(size) else {
                state = .failed
                throw FramingError(.invalidDataOffset, at: streamOffset + 4, "data offset \(dataOffset / 4) words for a \(size)-byte frame")
            }
            guard let type = FrameType(rawValue: buffer[readIndex + 5]) else {
                state = .failed
                throw FramingError(.unknownFrameType, at: streamOffset + 5, "frame type \(buffer[readIndex + 5])")
            }
            guard let length = Int(exactly: size), available >= length else { return nil }
            let channel = UInt16(buffer[readIndex + 6]) << 8 | UInt16(buffer[readIndex + 7])
            // Each frame body gets its own storage, so values decoded from it (which share it)
            // do not pin the stream buffer or force it to copy on the next append.
            let body = Array(buffer[(readIndex + dataOffset)..<(readIndex + length)])
            readIndex += length
            return .frame(Frame(type: type, channel: channel, body: body[...]))
        }
    }
}

/// Writes frames into an encoder's buffer: the 8-byte header with a back-patched size, the
/// performative, then the payload, with no intermediate copies.
public enum FrameEncoder {
    /// Appends one frame holding `performative` (and `payload`, for a transfer).
    @inlinable
    public static func write<Performative: AMQPEncodable, Payload: Collection>(
        _ performative: Performative, payload: Payload, channel: UInt16, type: FrameType = .amqp,
        into encoder: inout AMQPEncoder
    ) where Payload.Element == UInt8 {
        let start = beginFrame(channel: channel, type: type, into: &encoder)
        performative.encode(to: &encoder)
        encoder.writeBytes(payload)
        endFrame(start: start, into: &encoder)
    }

    /// Appends one frame holding `performative` followed by `payload` encoded in place (a
    /// transfer and its message): the payload needs no buffer of its own.
    @inlinable
    public static func write<Performative: AMQPEncodable, Payload: AMQPEncodable>(
        _ performative: Performative, encoding payload: Payload, channel: UInt16, type: FrameType = .amqp,
        into encoder: inout AMQPEncoder
    ) {
        let start = beginFrame(channel: channel, type: type, into: &encoder)
        performative.encode(to: &encoder)
        payload.encode(to: &encoder)
        endFrame(start: start, into: &encoder)
    }

    /// Appends one frame holding `performative` and no payload.
    @inlinable
    public static func write<Performative: AMQPEncodable>(
        _ performative: Performative, channel: UInt16, type: FrameType = .amqp, into encoder: inout AMQPEncoder
    ) {
        let start = beginFrame(channel: channel, type: type, into: &encoder)
        performative.encode(to: &encoder)
        endFrame(start: start, into: &encoder)
    }

    /// Appends an empty frame: the heartbeat that keeps an idle connection open (§2.4.5).
    @inlinable
    public static func writeHeartbeat(into encoder: inout AMQPEncoder) {
        encoder.writeBigEndian(UInt64(0x0000_0008_0200_0000))
    }

    /// Writes the frame header with a placeholder size; returns where the frame starts.
    @inlinable
    public static func beginFrame(channel: UInt16, type: FrameType, into encoder: inout AMQPEncoder) -> Int {
        let start = encoder.count
        // size (patched by `endFrame`), data offset 2 words, type, channel
        encoder.writeBigEndian(UInt64(0x0200_0000) | UInt64(type.rawValue) << 16 | UInt64(channel))
        return start
    }

    /// Patches the size of the frame that started at `start`.
    @inlinable
    public static func endFrame(start: Int, into encoder: inout AMQPEncoder) {
        let size = encoder.count - start
        precondition(size <= Int(UInt32.max), "a frame cannot exceed 4 GiB")
        encoder.patchBigEndian(UInt32(truncatingIfNeeded: size), at: start)
    }
}
