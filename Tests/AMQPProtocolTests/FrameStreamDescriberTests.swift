import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Testing

/// The describer behind `amqp inspect` and the live frame trace, fed real engine traffic.
@Suite("Frame stream describer")
struct FrameStreamDescriberTests {
    static func lines(_ bytes: [UInt8], payloads: FrameStreamDescriber.Payloads = .sections, reveals: Bool = false,
                      chunk: Int? = nil) throws -> [String] {
        var describer = FrameStreamDescriber(payloads: payloads, revealsSASLResponses: reveals)
        var out: [String] = []
        var start = 0
        repeat {
            let end = chunk.map { min(bytes.count, start + $0) } ?? bytes.count
            describer.append(bytes[start..<end])
            while let description = try describer.next() { out.append(description.description) }
            start = end
        } while start < bytes.count
        #expect(describer.bufferedCount == 0)
        return out
    }

    /// A PLAIN-authenticated connection that sends one message in three frames and one in one.
    static func conversation() throws -> EnginePair {
        var pair = EnginePair.plain(
            clientSASL: .client([PlainMechanism(username: "user", password: "hunter2-secret")]),
            serverSASL: .server([PlainServerMechanism { $0 == "user" && $1 == "hunter2-secret" }], required: true),
            clientMaxFrameSize: 512, serverMaxFrameSize: 512)
        pair.serverPolicy = CreditModeTests.windowServer(10)
        let (sender, _) = try pair.openSenderLink()
        let big = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string(String(repeating: "m", count: 1000))))
        let small = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string("hello \"quoted\"")))
        try pair.client.send(on: sender, payload: big[...])
        try pair.client.send(on: sender, payload: small[...])
        pair.run()
        return pair
    }

    @Test("every header and frame, both directions, fields named as the specification names them")
    func bothDirections() throws {
        let pair = try Self.conversation()
        let c2s = try Self.lines(pair.clientToServer)
        #expect(c2s[0] == "SASL 3-1.0.0")
        #expect(c2s[1].hasPrefix("@0 sasl-init(mechanism=:PLAIN"))
        // The client's AMQP header follows its last SASL frame with nothing to announce it.
        #expect(c2s[2] == "AMQP 0-1.0.0")
        #expect(c2s[3].hasPrefix("@0 open(container-id=\"client\", hostname=\"localhost\", max-frame-size=512"))
        #expect(c2s.contains { $0.hasPrefix("@0 begin(") })
        #expect(c2s.contains { $0.hasPrefix("@0 attach(name=\"sender-queue\", handle=0, role=false") })
        let transfers = c2s.filter { $0.hasPrefix("@0 transfer(") }
        #expect(transfers.count == 4, "\(transfers)")
        #expect(transfers[0].hasSuffix("more to come)"))
        #expect(transfers[2].hasSuffix("amqp-value(\"\(String(repeating: "m", count: 1000))\")"))
        #expect(transfers[3].hasSuffix(#"amqp-value("hello \"quoted\"")"#))
        let s2c = try Self.lines(pair.serverToClient)
        #expect(s2c[1].hasPrefix("@0 sasl-mechanisms(sasl-server-mechanisms=@symbol[:PLAIN])") || s2c[1].hasPrefix("@0 sasl-mechanisms(sasl-server-mechanisms=:PLAIN)"), "\(s2c[1])")
        #expect(s2c[2] == "@0 sasl-outcome(code=0)")
        #expect(s2c[3] == "AMQP 0-1.0.0")
        #expect(s2c.contains { $0.hasPrefix("@0 attach(name=\"sender-queue\", handle=0, role=true") })
        #expect(s2c.contains { $0.hasPrefix("@0 flow(") && $0.contains("link-credit=10") })
        #expect(s2c.contains { $0.hasPrefix("@0 disposition(role=true") })
    }

    @Test("bytes as they arrive, one at a time, give the same lines as all at once")
    func byteAtATime() throws {
        let pair = try Self.conversation()
        for stream in [pair.clientToServer, pair.serverToClient] {
            #expect(try Self.lines(stream, chunk: 1) == Self.lines(stream))
            #expect(try Self.lines(stream, chunk: 7) == Self.lines(stream))
        }
    }

    @Test("a SASL response is shown by its length unless asked; the password never appears")
    func saslResponseHidden() throws {
        let pair = try Self.conversation()
        let hidden = try Self.lines(pair.clientToServer).joined(separator: "\n")
        #expect(!hidden.contains("hunter2"))
        // PLAIN's response is NUL user NUL password: 1 + 4 + 1 + 14 bytes (RFC 4616).
        #expect(hidden.contains("initial-response=\"<20 bytes hidden>\""))
        let shown = try Self.lines(pair.clientToServer, reveals: true).joined(separator: "\n")
        // Shown as the bytes they are: NUL, "user", NUL, "hunter2-secret" in hexadecimal.
        let hex = ([0] + Array("user".utf8) + [0] + Array("hunter2-secret".utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(shown.contains("initial-response=0x\(hex)"))
    }

    @Test("payloads by length only: a message's sections are not decoded")
    func lengthOnly() throws {
        let pair = try Self.conversation()
        let transfers = try Self.lines(pair.clientToServer, payloads: .lengthOnly).filter { $0.hasPrefix("@0 transfer(") }
        #expect(!transfers.joined().contains("amqp-value"))
        #expect(!transfers.joined().contains("hello"))
        let small = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string("hello \"quoted\"")))
        #expect(transfers[3].hasSuffix("(payload: \(small.count) bytes)"))
        #expect(transfers[2].contains("(payload: "))
    }

    @Test("after the TLS header, the next header is found (in-band TLS, §5.2)")
    func afterTLSHeader() throws {
        let stream = ProtocolHeader.tls.bytes + ProtocolHeader.amqp.bytes + [0, 0, 0, 8, 2, 0, 0, 0]
        #expect(try Self.lines(stream) == ["TLS 2-1.0.0", "AMQP 0-1.0.0", "@0 (heartbeat)"])
        #expect(try Self.lines(stream, chunk: 3) == ["TLS 2-1.0.0", "AMQP 0-1.0.0", "@0 (heartbeat)"])
    }

    @Test("bytes that are not AMQP are a framing error, not a crash")
    func notAMQP() {
        var describer = FrameStreamDescriber(payloads: .sections, revealsSASLResponses: false)
        describer.append(Array("HTTP/1.1 200 OK\r\n".utf8))
        #expect(throws: FramingError.self) { try describer.next() }
    }
}
