import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import AMQPTransport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Testing

/// A WebSocket server that upgrades `GET /$servicebus/websocket` with subprotocol `amqp` and
/// relays each connection's binary messages to a TCP port and back: the emulator speaks plain
/// TCP, this puts a WebSocket front on it as Azure's port 443 does.
final class WebSocketBridge: Sendable {
    let channel: Channel
    let upgrades: NIOLockedValueBox<Int>
    var port: Int { channel.localAddress!.port! }

    private init(channel: Channel, upgrades: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.upgrades = upgrades
    }

    static func start(targetPort: Int, path: String = "/$servicebus/websocket", subprotocol: String = "amqp") async throws -> WebSocketBridge {
        let upgrades = NIOLockedValueBox(0)
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 24,
                    shouldUpgrade: { channel, head in
                        let offered = head.headers["Sec-WebSocket-Protocol"].flatMap { $0.split(separator: ",") }
                            .map { $0.trimmingCharacters(in: .whitespaces) }
                        guard head.uri == path, offered.contains(subprotocol) else { return channel.eventLoop.makeSucceededFuture(nil) }
                        return channel.eventLoop.makeSucceededFuture(HTTPHeaders([("Sec-WebSocket-Protocol", subprotocol)]))
                    },
                    upgradePipelineHandler: { webSocket, _ in
                        upgrades.withLockedValue { $0 += 1 }
                        // Bytes after the upgrade must reach the frame decoder, not the HTTP responder.
                        if let responder = try? webSocket.pipeline.syncOperations.handler(type: NotFoundResponder.self) {
                            webSocket.pipeline.syncOperations.removeHandler(responder, promise: nil)
                        }
                        return ClientBootstrap(group: webSocket.eventLoop)
                            .channelInitializer { tcp in
                                tcp.eventLoop.makeCompletedFuture {
                                    try tcp.pipeline.syncOperations.addHandler(TCPToWebSocket(webSocket: webSocket))
                                }
                            }
                            .connect(host: "127.0.0.1", port: targetPort)
                            .flatMapThrowing { tcp in
                                try webSocket.pipeline.syncOperations.addHandler(WebSocketToTCP(tcp: tcp))
                            }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    try channel.pipeline.syncOperations.addHandler(NotFoundResponder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return WebSocketBridge(channel: channel, upgrades: upgrades)
    }

    func stop() async throws { try await channel.close() }
}

/// Answers any request that was not upgraded with 404.
final class NotFoundResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let head = HTTPResponseHead(version: .http1_1, status: .notFound, headers: ["Content-Length": "0", "Connection": "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

final class WebSocketToTCP: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    let tcp: Channel
    init(tcp: Channel) { self.tcp = tcp }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation: tcp.writeAndFlush(frame.unmaskedData, promise: nil)
        case .connectionClose: context.close(promise: nil)
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) { tcp.close(promise: nil) }
}

final class TCPToWebSocket: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let webSocket: Channel
    init(webSocket: Channel) { self.webSocket = webSocket }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        webSocket.writeAndFlush(WebSocketFrame(fin: true, opcode: .binary, data: unwrapInboundIn(data)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { webSocket.close(promise: nil) }
}

@Suite("WebSocket transport", .serialized, .timeLimit(.minutes(2)))
struct WebSocketTests {
    @Test("send, receive and management over /$servicebus/websocket with subprotocol amqp")
    func throughBridge() async throws {
        let fixture = try await EmulatorFixture.start()
        let bridge = try await WebSocketBridge.start(targetPort: fixture.port)
        var options = EventHubsClientOptions.fastRetries
        options.transport = .webSockets
        options.customEndpoint = ("127.0.0.1", bridge.port)
        let client = try fixture.client(options: options)
        let big = EventData(body: (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try await client.makeProducer().send([EventData("over websockets"), big], options: .partition("1"))
        let events = try await take(2, from: client.makePartitionReceiver(partitionID: "1", startingAt: .earliest))
        #expect(events.first?.text == "over websockets")
        #expect(events.last?.body == big.body)
        #expect(try await client.partitionIDs() == ["0", "1", "2", "3"])
        #expect(bridge.upgrades.withLockedValue { $0 } == 1)
        await client.close()
        try await bridge.stop()
        try await fixture.stop()
    }

    @Test("WebSockets through an HTTP proxy (tinyproxy): CONNECT, then the upgrade inside the tunnel")
    func throughProxy() async throws {
        let fixture = try await EmulatorFixture.start()
        let bridge = try await WebSocketBridge.start(targetPort: fixture.port)
        let (proxy, proxyPort) = try await TinyProxy.start(username: "eh", password: "tunnel-secret")
        defer { proxy.stop() }
        var options = EventHubsClientOptions.fastRetries
        options.transport = .webSockets
        options.customEndpoint = ("127.0.0.1", bridge.port)
        options.proxy = AMQPHTTPProxy(host: "127.0.0.1", port: proxyPort, credentials: .init(username: "eh", password: "tunnel-secret"))
        let client = try fixture.client(options: options)
        try await client.makeProducer().send([EventData("through a proxy")], options: .partition("2"))
        let events = try await take(1, from: client.makePartitionReceiver(partitionID: "2", startingAt: .earliest))
        #expect(events.first?.text == "through a proxy")
        #expect(bridge.upgrades.withLockedValue { $0 } >= 1)
        _ = try await proxy.waitForOutput("CONNECT 127.0.0.1:\(bridge.port) HTTP/1.1")
        await client.close()
        try await bridge.stop()
        try await fixture.stop()
    }

    @Test("a refused upgrade fails the connection with the HTTP status")
    func refusedUpgrade() async throws {
        let fixture = try await EmulatorFixture.start()
        let bridge = try await WebSocketBridge.start(targetPort: fixture.port, path: "/elsewhere")
        var options = EventHubsClientOptions.fastRetries
        options.transport = .webSockets
        options.customEndpoint = ("127.0.0.1", bridge.port)
        options.retry.maxRetries = 0
        let client = try fixture.client(options: options)
        let error = await eventHubsError { try await client.makeProducer().send(EventData("x")) }
        #expect(error?.kind == .connection)
        #expect(error.map { "\($0)".contains("HTTP 404") } == true, "\(String(describing: error))")
        #expect(bridge.upgrades.withLockedValue { $0 } == 0)
        await client.close()
        try await bridge.stop()
        try await fixture.stop()
    }
}
