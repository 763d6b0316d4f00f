import AMQPCodec
import AMQPProtocol
import Testing

@Suite("Frame decoder (§2.2, §2.3)")
struct FrameDecoderTests {

    @Test("protocol headers and frames, fed whole, byte by byte and concatenated")
    func feeding() throws {
        let stream = ProtocolHeader.sasl.bytes + heartbeat() + frame(channel: 3, type: .sasl, body: [0x40]) + ProtocolHeader.amqp.bytes
        // whole
        var decoder = FrameDecoder()
        decoder.append(stream)
        var events = [FrameDecoder.Event]()
        while let e = try decoder.next() {
            events.append(e)
            if case .frame(let f) = e, f.type == .sasl { decoder.expectProtocolHeader() }
        }
        #expect(events == [
            .protocolHeader(.sasl), .frame(Frame(type: .amqp, channel: 0, body: [])),
            .frame(Frame(type: .sasl, channel: 3, body: [0x40])), .protocolHeader(.amqp),
        ])
        // byte by byte
        var slow = FrameDecoder()
        var slowEvents = [FrameDecoder.Event]()
        for byte in stream {
            slow.append([byte])
            while let e = try slow.next() {
                slowEvents.append(e)
                if case .frame(let f) = e, f.type == .sasl { slow.expectProtocolHeader() }
            }
        }
        #expect(slowEvents == events)
        #expect(slow.bufferedCount == 0)
    }

    @Test("extended frame header bytes are skipped (data offset > 2)")
    func extendedHeader() throws {
        var decoder = FrameDecoder()
        decoder.append(ProtocolHeader.amqp.bytes + [0, 0, 0, 13, 3, 0, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD, 0x40])
        _ = try decoder.next()
        #expect(try decoder.next() == .frame(Frame(type: .amqp, channel: 1, body: [0x40])))
    }

    @Test("a frame size below 8 is a framing error")
    func tooSmall() {
        var decoder = FrameDecoder()
        decoder.append(ProtocolHeader.amqp.bytes + [0, 0, 0, 7, 2, 0, 0, 0])
        _ = try? decoder.next()
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test("a frame above max-frame-size is refused from its first four bytes")
    func tooLarge() throws {
        var decoder = FrameDecoder(maxFrameSize: 512)
        decoder.append(ProtocolHeader.amqp.bytes)
        _ = try decoder.next()
        decoder.append([0x00, 0x00, 0x02, 0x01])  // 513, nothing else yet
        do {
            _ = try decoder.next()
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .frameTooLarge)
            #expect(error.streamOffset == 8)
            #expect(error.condition == "amqp:connection:framing-error")
        }
        #expect(try decoder.next() == nil)  // stays failed
    }

    @Test("a 4 GiB frame size is refused without buffering")
    func hugeSize() {
        var decoder = FrameDecoder(maxFrameSize: 1 << 20)
        decoder.append(ProtocolHeader.amqp.bytes + [0xFF, 0xFF, 0xFF, 0xFF])
        _ = try? decoder.next()
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test("data offset below 2 or past the frame, and unknown frame types, are framing errors")
    func badHeaderFields() {
        for header: [UInt8] in [[0, 0, 0, 8, 1, 0, 0, 0], [0, 0, 0, 8, 3, 0, 0, 0], [0, 0, 0, 8, 2, 7, 0, 0]] {
            var decoder = FrameDecoder()
            decoder.append(ProtocolHeader.amqp.bytes + header)
            _ = try? decoder.next()
            #expect(throws: FramingError.self) { try decoder.next() }
        }
    }

    @Test("bytes that are not AMQP are rejected at the first wrong byte")
    func notAMQP() {
        var decoder = FrameDecoder()
        decoder.append(Array("GET / HTTP/1.1\r\n".utf8))
        do {
            _ = try decoder.next()
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .invalidProtocolHeader)
            #expect(error.streamOffset == 0)
        }
        var other = FrameDecoder()
        other.append([0x41, 0x4D, 0x51, 0x50, 0x09, 1, 0, 0])
        #expect(throws: FramingError.self) { try other.next() }
    }

    @Test("the encoder writes what the decoder reads")
    func encoderRoundTrip() throws {
        var encoder = AMQPEncoder()
        FrameEncoder.write(AMQPValue.list([.string("x")]), payload: [1, 2, 3] as [UInt8], channel: 7, into: &encoder)
        FrameEncoder.writeHeartbeat(into: &encoder)
        var decoder = FrameDecoder()
        decoder.append(ProtocolHeader.amqp.bytes + encoder.bytes)
        _ = try decoder.next()
        guard case .frame(let f)? = try decoder.next() else { Issue.record("no frame"); return }
        #expect(f.channel == 7)
        var body = AMQPDecoder(f.body)
        #expect(try body.decodeValue() == .list([.string("x")]))
        #expect(Array(f.body.suffix(3)) == [1, 2, 3])
        #expect(try decoder.next() == .frame(Frame(type: .amqp, channel: 0, body: [])))
    }
}

func heartbeat() -> [UInt8] { [0, 0, 0, 8, 2, 0, 0, 0] }

func frame(channel: UInt16, type: FrameType, body: [UInt8]) -> [UInt8] {
    let size = UInt32(8 + body.count)
    return [UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16), UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size),
            2, type.rawValue, UInt8(channel >> 8), UInt8(truncatingIfNeeded: channel)] + body
}
