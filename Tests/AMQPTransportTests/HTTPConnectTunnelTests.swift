import NIOCore
import NIOEmbedded
import Testing

@testable import AMQPTransport

/// The `CONNECT` handshake on an in-memory channel: what the proxy is sent, and every kind of
/// answer it may give, whole or in pieces.
@Suite("HTTP CONNECT tunnel handshake")
struct HTTPConnectTunnelTests {
    final class Outcome {
        var result: Result<Void, AMQPHTTPProxy.TunnelError>?
    }

    static func channel(_ proxy: AMQPHTTPProxy = AMQPHTTPProxy(host: "proxy", port: 3128),
                        host: String = "broker.example.com", port: Int = 5671) throws -> (EmbeddedChannel, Outcome) {
        let outcome = Outcome()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPConnectTunnelHandler(proxy: proxy, targetHost: host, targetPort: port) {
            outcome.result = $0
        })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3128)).wait()
        return (channel, outcome)
    }

    static func request(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { out += buffer.readString(length: buffer.readableBytes) ?? "" }
        return out
    }

    @Test("the request names the target and carries Basic credentials; IPv6 targets in brackets")
    func request() throws {
        let (plain, _) = try Self.channel()
        #expect(try Self.request(plain) == "CONNECT broker.example.com:5671 HTTP/1.1\r\nHost: broker.example.com:5671\r\n\r\n")
        // RFC 7617's own example: Aladdin / open sesame.
        let (authenticated, _) = try Self.channel(AMQPHTTPProxy(host: "proxy", port: 3128, credentials: .init(username: "Aladdin", password: "open sesame")),
                                                  host: "::1", port: 5672)
        #expect(try Self.request(authenticated)
                == "CONNECT [::1]:5672 HTTP/1.1\r\nHost: [::1]:5672\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n")
    }

    @Test("a 200 answer in pieces opens the tunnel, and the bytes after it are passed on")
    func established() throws {
        let (channel, outcome) = try Self.channel()
        _ = try Self.request(channel)
        for piece in ["HTTP/1.1 200 Conn", "ection established\r\nProxy-Agent: x\r", "\n\r\nAMQP"] {
            #expect(outcome.result == nil)
            try channel.writeInbound(channel.allocator.buffer(string: piece))
        }
        #expect(throws: Never.self) { try outcome.result?.get() }
        var rest = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(rest.readString(length: rest.readableBytes) == "AMQP")
        // The handler is gone: later bytes pass straight through.
        try channel.writeInbound(channel.allocator.buffer(string: "more"))
        var more = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(more.readString(length: more.readableBytes) == "more")
    }

    @Test("refusals, garbage, an endless head and a closed connection each fail with a reason naming the proxy",
          arguments: [
            ("HTTP/1.0 407 Proxy Authentication Required\r\n\r\n", 407 as Int?, "407 Proxy Authentication Required"),
            ("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 502, "502 Bad Gateway"),
            ("SSH-2.0-OpenSSH_9.2\r\n\r\n", nil, "not HTTP"),
            ("HTTP/1.1 2000 OK\r\n\r\n", nil, "not HTTP"),
          ])
    func refused(_ answer: String, _ status: Int?, _ reason: String) throws {
        let (channel, outcome) = try Self.channel()
        try channel.writeInbound(channel.allocator.buffer(string: answer))
        guard case .failure(let error)? = outcome.result else {
            Issue.record("no failure: \(String(describing: outcome.result))")
            return
        }
        #expect(error.status == status)
        #expect(error.description.hasPrefix("HTTP proxy proxy:3128: "), "\(error)")
        #expect(error.description.contains(reason), "\(error)")
        #expect(!channel.isActive)
    }

    @Test("an answer head over 16 KiB is refused, not buffered without end")
    func endlessHead() throws {
        let (channel, outcome) = try Self.channel()
        try channel.writeInbound(channel.allocator.buffer(string: "HTTP/1.1 200 OK\r\n"))
        for _ in 0..<20 {
            guard channel.isActive else { break }
            try channel.writeInbound(channel.allocator.buffer(string: "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n"))
        }
        guard case .failure(let error)? = outcome.result else {
            Issue.record("no failure")
            return
        }
        #expect(error.description.contains("longer than 16384 bytes"))
    }

    @Test("the proxy closing before it answers fails the tunnel")
    func closedEarly() throws {
        let (channel, outcome) = try Self.channel()
        try channel.close().wait()
        guard case .failure(let error)? = outcome.result else {
            Issue.record("no failure")
            return
        }
        #expect(error.description.contains("closed the connection before answering CONNECT"))
    }
}
