import AMQPTransport
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// AMQP over WebSockets (the OASIS AMQP WebSocket binding, as Event Hubs serves it on port 443
/// at `/$servicebus/websocket`): an HTTP/1.1 upgrade asking for the subprotocol `amqp`, then AMQP
/// bytes in binary WebSocket messages, masked as a client's must be.
struct WebSocketStreamLayer: AMQPStreamLayer {
    /// The `Host` header: the namespace.
    var host: String
    var path: String
    var subprotocol: String
    /// The largest WebSocket frame accepted from the server (AMQP frames are at most 1 MiB;
    /// a server may pack several into one message).
    var maxFrameSize = 1 << 24
    var handshakeTimeout: TimeAmount = .seconds(30)

    var description: String { "WebSocket upgrade to \(path) (subprotocol \(subprotocol))" }

    struct HandshakeFailure: Error, CustomStringConvertible {
        var description: String
    }

    func addHandlers(to channel: Channel, ready: @escaping @Sendable (Result<Void, any Error>) -> Void) throws {
        let subprotocol = self.subprotocol
        let request = UpgradeRequestHandler(host: host, path: path, subprotocol: subprotocol, timeout: handshakeTimeout, ready: ready)
        let bytes = WebSocketByteStreamHandler()
        let boundBytes = NIOLoopBound(bytes, eventLoop: channel.eventLoop)
        let boundRequest = NIOLoopBound(request, eventLoop: channel.eventLoop)
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: maxFrameSize) { channel, response in
            channel.eventLoop.makeCompletedFuture {
                guard response.headers["Sec-WebSocket-Protocol"].first?.lowercased() == subprotocol else {
                    // A failed upgrade future is not reported anywhere else: report it here.
                    boundRequest.value.finish(.failure(HandshakeFailure(description: "the server did not accept the WebSocket subprotocol \(subprotocol)")))
                    channel.close(promise: nil)
                    return
                }
                try channel.pipeline.syncOperations.addHandler(boundBytes.value)
            }
        }
        try channel.pipeline.syncOperations.addHTTPClientHandlers(
            withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                // The HTTP handlers are gone, but the upgrade handler stays until its own cleanup
                // ends, and it fails writes until then: AMQP starts on the next loop turn.
                let pipeline = context.pipeline
                context.eventLoop.execute {
                    let request = boundRequest.value
                    guard !request.finished else { return }
                    _ = pipeline.syncOperations.removeHandler(request)
                    request.finish(.success(()))
                    boundBytes.value.startForwarding()
                }
            })
        )
        try channel.pipeline.syncOperations.addHandler(request)
    }
}

/// Sends the upgrade request once the channel is active and reports a refused or stalled
/// handshake.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let path: String
    let subprotocol: String
    let timeout: TimeAmount
    let ready: @Sendable (Result<Void, any Error>) -> Void
    private(set) var finished = false
    private var status: HTTPResponseStatus?
    private var timer: Scheduled<Void>?

    init(host: String, path: String, subprotocol: String, timeout: TimeAmount, ready: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        self.host = host
        self.path = path
        self.subprotocol = subprotocol
        self.timeout = timeout
        self.ready = ready
    }

    func finish(_ result: Result<Void, any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        ready(result)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private var sent = false

    private func sendRequest(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol)
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.finish(.failure(WebSocketStreamLayer.HandshakeFailure(description: "no WebSocket upgrade within \(handler.timeout)")))
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only a response that is not an upgrade reaches this far.
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        status = head.status
        finish(.failure(WebSocketStreamLayer.HandshakeFailure(
            description: "the server answered the WebSocket upgrade with HTTP \(head.status.code) \(head.status.reasonPhrase)")))
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let reason: String
        if let status {
            reason = "the server answered the WebSocket upgrade with HTTP \(status.code) \(status.reasonPhrase)"
        } else {
            reason = "the WebSocket upgrade failed: \(error)"
        }
        finish(.failure(WebSocketStreamLayer.HandshakeFailure(description: reason)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(WebSocketStreamLayer.HandshakeFailure(description: "the connection closed during the WebSocket upgrade")))
        context.fireChannelInactive()
    }
}

/// WebSocket messages ⇄ the AMQP byte stream: binary and continuation frames carry bytes,
/// pings are answered, a close is echoed and ends the connection. Inbound bytes wait until the
/// AMQP handler is in place.
final class WebSocketByteStreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var context: ChannelHandlerContext?
    private var forwarding = false
    private var pending: [ByteBuffer] = []
    private var closing = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func startForwarding() {
        guard !forwarding, let context else { return }
        forwarding = true
        let buffered = pending
        pending = []
        for bytes in buffered { context.fireChannelRead(wrapInboundOut(bytes)) }
        if !buffered.isEmpty { context.fireChannelReadComplete() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            let bytes = frame.unmaskedData
            if forwarding {
                context.fireChannelRead(wrapInboundOut(bytes))
            } else {
                pending.append(bytes)
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            guard !closing else {
                context.close(promise: nil)
                return
            }
            closing = true
            let echo = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: frame.unmaskedData)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(echo)).whenComplete { _ in bound.value.close(promise: nil) }
        case .pong:
            break
        default:
            // Text frames have no place in the AMQP binding.
            var data = context.channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: .unacceptableData)
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
            closing = true
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if forwarding { context.fireChannelReadComplete() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: bytes)), promise: promise)
    }
}

@available(*, unavailable)
extension UpgradeRequestHandler: Sendable {}

@available(*, unavailable)
extension WebSocketByteStreamHandler: Sendable {}
