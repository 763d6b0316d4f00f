import AMQPCodec
import AMQPProtocol
import AMQPTypes

/// Reads an engine's output as its peer would, with its own parsing (not ``FrameDecoder``), and
/// checks what any peer may rely on: the output comes in whole protocol headers and frames; every
/// frame body decodes; SASL frames fit 512 bytes and AMQP frames the peer's max-frame-size;
/// session frames sit on a channel where we began a session and have not ended it; nothing
/// follows our `close`.
struct OutputChecker {
    /// Channels on which we wrote `begin` and not yet `end`.
    var begun: Set<UInt16> = []
    var closeWritten = false
    var failedSASLOutcomeWritten = false
    var frames = 0
    var tracing = false

    mutating func append(_ bytes: [UInt8], peerMaxFrameSize: UInt32) throws(FuzzFinding) {
        var index = 0
        while index < bytes.count {
            let rest = bytes[index...]
            if rest.starts(with: ProtocolHeader.amqp.bytes.prefix(4)) {
                try expect(rest.count >= 8, "output ends inside a protocol header")
                try expect(ProtocolHeader(bytes: rest.prefix(8)) != nil, "output holds an invalid protocol header \(HexEncoding.string(rest.prefix(8)))")
                try expect(!closeWritten && !failedSASLOutcomeWritten, "a protocol header after our close or failed SASL outcome")
                index += 8
                continue
            }
            try expect(rest.count >= 8, "output ends inside a frame header: \(HexEncoding.string(rest))")
            let size = Int(rest[index]) << 24 | Int(rest[index + 1]) << 16 | Int(rest[index + 2]) << 8 | Int(rest[index + 3])
            try expect(size >= 8 && size <= rest.count, "output frame size \(size) with \(rest.count) bytes left")
            try expect(rest[index + 4] == 2, "output frame with data offset \(rest[index + 4])")
            let channel = UInt16(rest[index + 6]) << 8 | UInt16(rest[index + 7])
            let body = Array(bytes[(index + 8)..<(index + size)])
            switch rest[index + 5] {
            case FrameType.sasl.rawValue:
                try expect(size <= Int(Frame.minimumMaxFrameSize), "a \(size)-byte SASL frame (at most 512)")
                try checkSASL(body)
            case FrameType.amqp.rawValue:
                try expect(size <= max(Int(peerMaxFrameSize), Int(Frame.minimumMaxFrameSize)),
                           "a \(size)-byte frame, over the peer's max-frame-size \(peerMaxFrameSize)")
                try checkAMQP(body, channel: channel)
            default:
                throw FuzzFinding("output frame of type \(rest[index + 5])")
            }
            frames += 1
            index += size
        }
    }

    mutating func checkSASL(_ body: [UInt8]) throws(FuzzFinding) {
        try expect(!closeWritten && !failedSASLOutcomeWritten, "a SASL frame after the exchange ended")
        let performative: SASLPerformative
        do {
            performative = try AMQPDecoder.decode(SASLPerformative.self, from: body)
        } catch {
            throw FuzzFinding("our SASL frame does not decode: \(error); body \(HexEncoding.string(body))")
        }
        if case .saslOutcome(let outcome) = performative, outcome.code != .ok { failedSASLOutcomeWritten = true }
    }

    mutating func checkAMQP(_ body: [UInt8], channel: UInt16) throws(FuzzFinding) {
        try expect(!closeWritten, "a frame after our close")
        try expect(!failedSASLOutcomeWritten, "an AMQP frame after a failed SASL outcome")
        guard !body.isEmpty else { return }  // heartbeat
        var decoder = AMQPDecoder(body)
        let performative: Performative
        do {
            performative = try decoder.decode(Performative.self)
        } catch {
            throw FuzzFinding("our frame does not decode: \(error); body \(HexEncoding.string(body))")
        }
        if tracing { printError("  wrote on \(channel): \(ValueOracle.brief(performative))") }
        switch performative {
        case .open, .close:
            try expect(channel == 0, "\(performative) on channel \(channel)")
            if case .close = performative { closeWritten = true }
        case .begin:
            try expect(!begun.contains(channel), "begin on channel \(channel), where our session is not ended")
            begun.insert(channel)
        case .end:
            try expect(begun.remove(channel) != nil, "end on channel \(channel), where we began no session")
        case .attach, .flow, .transfer, .disposition, .detach:
            try expect(begun.contains(channel), "\(ValueOracle.brief(performative)) on channel \(channel), where no session of ours is begun")
        case .unknown:
            throw FuzzFinding("we wrote an unknown performative: \(ValueOracle.brief(performative))")
        }
        var isTransfer = false
        if case .transfer = performative { isTransfer = true }
        try expect(decoder.isAtEnd || isTransfer, "a payload after \(ValueOracle.brief(performative))")
    }
}
