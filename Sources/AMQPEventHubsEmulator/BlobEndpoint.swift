import AMQPBlobStorage
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The emulator's Blob endpoint over HTTP/1.1: reads each request whole (up to
/// ``BlobService/maxBodyBytes``), hands it to the ``BlobService`` on the service's own thread (its
/// file writes block, and requests must not interleave), and writes the answer. Bytes that are
/// not HTTP get a 400 and the connection is closed (NIO's `HTTPServerProtocolErrorHandler`); a
/// connection idle for a minute is closed; every other connection keeps being served.
enum BlobEndpoint {
    static let idleTimeout = TimeAmount.seconds(60)

    static func bind(host: String, port: Int, service: BlobService, thread: NIOThreadPool, connections: OpenConnections,
                     group: EventLoopGroup) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(BlobHTTPHandler(service: service, thread: thread))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// The open connections of a server, so that stopping it can close them (a client's pooled
/// keep-alive connections would otherwise stay open).
final class OpenConnections: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])

    func add(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = channels.withLockedValue { $0.removeValue(forKey: id) } }
    }

    func closeAll() async {
        for channel in channels.withLockedValue({ Array($0.values) }) { try? await channel.close() }
    }
}

/// One connection's requests, one at a time (NIO's pipelining handler holds back the next
/// request until this one is answered).
final class BlobHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let service: BlobService
    let thread: NIOThreadPool

    private enum State {
        case idle
        case reading(HTTPRequestHead, ByteBuffer)
        /// The body is over the limit: the rest is dropped, then 413 and close.
        case discarding(HTTPRequestHead)
    }

    private var state = State.idle

    init(service: BlobService, thread: NIOThreadPool) {
        self.service = service
        self.thread = thread
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            state = .reading(head, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .reading(let head, var body)):
            if body.readableBytes + chunk.readableBytes > BlobService.maxBodyBytes {
                state = .discarding(head)
            } else {
                body.writeBuffer(&chunk)
                state = .reading(head, body)
            }
        case (.body, .discarding):
            break
        case (.end, .reading(let head, let body)):
            state = .idle
            respond(context: context, head: head, body: body)
        case (.end, .discarding(let head)):
            state = .idle
            let failure = BlobResponse(status: 413, headers: [("x-ms-error-code", "RequestBodyTooLarge"), ("Content-Type", "application/xml")],
                                       body: Array(BlobXML.error(code: "RequestBodyTooLarge", message: "The request body is too large.").utf8))
            write(context: context, head: head, response: failure, keepAlive: false)
        case (.head, _), (.body, .idle), (.end, .idle):
            // NIO's HTTP decoder never produces these orders.
            context.close(promise: nil)
        }
    }

    /// Bytes that are not HTTP: NIO's error handler has answered 400 already; the connection
    /// cannot be read further, so it is closed.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        let request = BlobRequest(method: head.method.rawValue, uri: head.uri,
                                  headers: head.headers.map { ($0.name, $0.value) }, body: Array(body.readableBytesView))
        let service = self.service
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        thread.runIfActive(eventLoop: context.eventLoop) { service.handle(request) }.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let response):
                handler.write(context: context, head: head, response: response, keepAlive: head.isKeepAlive)
            case .failure:
                // The service's thread has stopped: the emulator is shutting down.
                context.close(promise: nil)
            }
        }
    }

    private func write(context: ChannelHandlerContext, head: HTTPRequestHead, response: BlobResponse, keepAlive: Bool) {
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        if !headers.contains(name: "Content-Length") {
            headers.add(name: "Content-Length", value: String(response.body.count))
        }
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD && !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
