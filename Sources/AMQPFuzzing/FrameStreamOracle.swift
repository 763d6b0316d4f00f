import AMQPCodec
import AMQPProtocol
import AMQPTypes

/// The frame stream target: the same bytes fed whole and in small pieces must split into the
/// same headers and frames (and fail at the same byte); a decoder with a smaller max-frame-size
/// sees a prefix of them; the frames written back with ``FrameEncoder`` read back the same; and
/// every frame body that decodes round-trips.
enum FrameStreamOracle {
    static let maxFrameSize: UInt32 = 1 << 16

    struct Outcome: Equatable {
        var events: [FrameDecoder.Event] = []
        var error: FramingError?
    }

    static func check(_ bytes: [UInt8]) throws(FuzzFinding) {
        let startsWithHeader = bytes.starts(with: ProtocolHeader.amqp.bytes.prefix(4))
        let whole = try split(bytes, maxFrameSize: maxFrameSize, startsWithHeader: startsWithHeader, pieces: [bytes.count])
        // Pieces of 1, 2, …, 7 bytes in turn: every field straddles a boundary somewhere.
        var pieces: [Int] = []
        var total = 0
        while total < bytes.count {
            let piece = min(pieces.count % 7 + 1, bytes.count - total)
            pieces.append(piece)
            total += piece
        }
        let piecewise = try split(bytes, maxFrameSize: maxFrameSize, startsWithHeader: startsWithHeader, pieces: pieces)
        try expect(piecewise == whole, "fed in pieces, the stream splits differently: \(describe(piecewise)) instead of \(describe(whole))")

        let small = try split(bytes, maxFrameSize: Frame.minimumMaxFrameSize, startsWithHeader: startsWithHeader, pieces: [bytes.count])
        if let error = small.error, error != whole.error {
            try expect(error.kind == .frameTooLarge && whole.events.starts(with: small.events),
                       "with max-frame-size 512 the stream reads \(describe(small)), without it \(describe(whole))")
        } else {
            try expect(small == whole, "with max-frame-size 512 the stream reads \(describe(small)), without it \(describe(whole))")
        }

        for event in whole.events {
            guard case .frame(let frame) = event else { continue }
            switch frame.type {
            case .amqp where !frame.isEmpty: try ValueOracle.checkPerformativeFrame(frame.body)
            case .sasl: try ValueOracle.roundTripTyped(SASLPerformative.self, frame.body, wholeInput: true)
            default: break
            }
        }

        // Written again with FrameEncoder (data offset 2, no extended header), the frames read back
        // unchanged.
        var encoder = AMQPEncoder()
        for event in whole.events {
            switch event {
            case .protocolHeader(let header): encoder.writeBytes(header.bytes)
            case .frame(let frame):
                let start = FrameEncoder.beginFrame(channel: frame.channel, type: frame.type, into: &encoder)
                encoder.writeBytes(frame.body)
                FrameEncoder.endFrame(start: start, into: &encoder)
            }
        }
        let rewritten = try split(encoder.bytes, maxFrameSize: maxFrameSize, startsWithHeader: startsWithHeader, pieces: [encoder.bytes.count])
        try expect(rewritten == Outcome(events: whole.events), "frames written back read as \(describe(rewritten)) instead of \(describe(whole))")
    }

    /// Feeds `pieces` of `bytes` in turn and collects what the decoder reads, as a connection
    /// would: after a SASL outcome the stream starts again with a protocol header.
    static func split(_ bytes: [UInt8], maxFrameSize: UInt32, startsWithHeader: Bool, pieces: [Int]) throws(FuzzFinding) -> Outcome {
        var decoder = FrameDecoder(maxFrameSize: maxFrameSize, startsWithProtocolHeader: startsWithHeader)
        var outcome = Outcome()
        var offset = 0
        for piece in pieces {
            decoder.append(bytes[offset..<(offset + piece)])
            offset += piece
            while true {
                let event: FrameDecoder.Event?
                do {
                    event = try decoder.next()
                } catch {
                    try expect(error.streamOffset >= 0 && error.streamOffset <= bytes.count,
                               "framing error outside the \(bytes.count)-byte stream: \(error)")
                    outcome.error = error
                    return outcome
                }
                guard let event else { break }
                outcome.events.append(event)
                if case .frame(let frame) = event, frame.type == .sasl,
                   case .saslOutcome? = try? AMQPDecoder.decode(SASLPerformative.self, from: Array(frame.body)) {
                    decoder.expectProtocolHeader()
                }
            }
            // What stays buffered is at most one frame that has not fully arrived.
            try expect(decoder.bufferedCount < max(Int(maxFrameSize), ProtocolHeader.amqp.bytes.count),
                       "\(decoder.bufferedCount) bytes buffered with max-frame-size \(maxFrameSize)")
        }
        return outcome
    }

    static func describe(_ outcome: Outcome) -> String {
        let events = outcome.events.map { event -> String in
            switch event {
            case .protocolHeader(let header): return "\(header)"
            case .frame(let frame): return "\(frame.type) frame on \(frame.channel) of \(frame.body.count) bytes"
            }
        }
        return "[\(events.joined(separator: ", "))]" + (outcome.error.map { " then \($0)" } ?? "")
    }
}
