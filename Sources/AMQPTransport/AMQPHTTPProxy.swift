import Foundation
import NIOCore

/// An HTTP proxy that a connection tunnels through with `CONNECT` (RFC 9110 §9.3.6), for networks
/// where only a proxy reaches the outside: the proxy opens TCP to the broker and relays bytes, and
/// TLS, the WebSocket binding and AMQP run inside the tunnel as they would over a direct
/// connection (TLS is end to end: the proxy sees only ciphertext).
///
/// ```swift
/// var options = try AMQPConnectionOptions(url: "amqps://broker.example.com")
/// options.proxy = AMQPHTTPProxy(host: "proxy.internal", port: 3128, credentials: .init(username: "me", password: secret))
/// ```
public struct AMQPHTTPProxy: Sendable, Hashable, CustomStringConvertible {
    /// `Proxy-Authorization: Basic` credentials (RFC 7617).
    public struct Credentials: Sendable, Hashable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public var host: String
    public var port: Int
    /// Sent with the `CONNECT` request when set. Basic authentication sends the password readable
    /// by anyone between us and the proxy: use it with a proxy on a network you trust.
    public var credentials: Credentials?
    /// How long the proxy may take to answer `CONNECT`.
    public var handshakeTimeout: TimeAmount

    public init(host: String, port: Int, credentials: Credentials? = nil, handshakeTimeout: TimeAmount = .seconds(30)) {
        self.host = host
        self.port = port
        self.credentials = credentials
        self.handshakeTimeout = handshakeTimeout
    }

    /// `HTTP proxy host:port`: names the proxy, never the credentials.
    public var description: String { "HTTP proxy \(AMQPHTTPProxy.authority(host: host, port: port))" }

    /// `host:port` as a request target and `Host` header take it, IPv6 addresses in brackets.
    static func authority(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why a tunnel could not be opened.
    public struct TunnelError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The proxy's answer, when it gave one (407: it wants credentials or refused them; 502 or
        /// 504: it could not reach the broker; 403: it does not allow that port).
        public var status: Int?
        public var description: String
    }
}

/// Asks the proxy for a tunnel as soon as the channel is active and reads its answer; on a 2xx
/// status it hands the channel on (`ready`), removes itself and passes on any bytes that followed
/// the answer. Everything else (another status, a malformed or oversized answer, silence, a
/// closed connection) fails `ready` and closes the channel.
final class HTTPConnectTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A proxy's answer is a status line and a few headers; more than this is not a proxy answering.
    static let maxResponseHeadBytes = 16 * 1024

    let proxy: AMQPHTTPProxy
    let target: String
    let ready: (Result<Void, AMQPHTTPProxy.TunnelError>) -> Void
    private var received: [UInt8] = []
    private var requested = false
    private var finished = false
    private var timer: Scheduled<Void>?

    init(proxy: AMQPHTTPProxy, targetHost: String, targetPort: Int, ready: @escaping (Result<Void, AMQPHTTPProxy.TunnelError>) -> Void) {
        self.proxy = proxy
        self.target = AMQPHTTPProxy.authority(host: targetHost, port: targetPort)
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { request(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        request(context: context)
        context.fireChannelActive()
    }

    private func request(context: ChannelHandlerContext) {
        guard !requested else { return }
        requested = true
        var head = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let credentials = proxy.credentials {
            let token = Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
            head += "Proxy-Authorization: Basic \(token)\r\n"
        }
        head += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: proxy.handshakeTimeout) {
            let (handler, context) = bound.value
            handler.fail(context, status: nil, "no answer to CONNECT within \(handler.proxy.handshakeTimeout)")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else {
            context.fireChannelRead(data)
            return
        }
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let end = Self.endOfHead(received) else {
            if received.count > Self.maxResponseHeadBytes {
                fail(context, status: nil, "an answer to CONNECT longer than \(Self.maxResponseHeadBytes) bytes")
            }
            return
        }
        let statusLine = String(decoding: received.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            fail(context, status: nil, "an answer to CONNECT that is not HTTP: \(statusLine.prefix(80).debugDescription)")
            return
        }
        guard (200..<300).contains(status) else {
            let reason = parts.count > 2 ? " \(parts[2])" : ""
            fail(context, status: status, "CONNECT \(target) answered \(status)\(reason)")
            return
        }
        finished = true
        timer?.cancel()
        let rest = Array(received[end...])
        received = []
        // The handlers of the tunnel's content go in behind this one; then the bytes that came
        // after the answer reach them, and this handler leaves.
        ready(.success(()))
        if !rest.isEmpty {
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: rest)))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished { fail(context, status: nil, "the proxy closed the connection before answering CONNECT") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !finished else { return context.fireErrorCaught(error) }
        fail(context, status: nil, "\(error)")
    }

    private func fail(_ context: ChannelHandlerContext, status: Int?, _ reason: String) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        ready(.failure(AMQPHTTPProxy.TunnelError(status: status, description: "\(proxy): \(reason)")))
        context.close(promise: nil)
    }

    /// The index after the blank line that ends the response head, if it has arrived.
    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 3..<bytes.count where bytes[i] == 0x0A && bytes[i - 1] == 0x0D && bytes[i - 2] == 0x0A && bytes[i - 3] == 0x0D {
            return i + 1
        }
        return nil
    }
}

@available(*, unavailable)
extension HTTPConnectTunnelHandler: Sendable {}
