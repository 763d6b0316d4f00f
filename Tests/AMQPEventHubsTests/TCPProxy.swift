import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A loopback TCP proxy in front of the emulator that can hold back everything the emulator
/// answers and cut every connection: the network failing at the worst moment, after the service
/// stored a batch and before the producer heard so.
final class TCPProxy: Sendable {
    let port: Int
    private let server: any Channel
    private let state = NIOLockedValueBox(State())

    private struct State {
        var connections: [any Channel] = []
        var holdingReplies = false
        var heldBytes = 0
    }

    private init(server: any Channel) throws {
        self.server = server
        guard let port = server.localAddress?.port else { throw ProxyError() }
        self.port = port
    }

    struct ProxyError: Error {}

    static func start(to targetPort: Int) async throws -> TCPProxy {
        let box = NIOLockedValueBox<TCPProxy?>(nil)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { outbound in
                        outbound.eventLoop.makeCompletedFuture {
                            try outbound.pipeline.syncOperations.addHandler(Forwarder(partner: inbound, replies: true, proxy: box))
                        }
                    }
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMapThrowing { outbound in
                        try inbound.pipeline.syncOperations.addHandler(Forwarder(partner: outbound, replies: false, proxy: box))
                        box.withLockedValue { $0 }?.track(inbound, outbound)
                        inbound.setOption(.autoRead, value: true).whenComplete { _ in }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = try TCPProxy(server: server)
        box.withLockedValue { $0 = proxy }
        return proxy
    }

    private func track(_ channels: any Channel...) {
        state.withLockedValue { $0.connections += channels }
    }

    /// From now on, bytes from the emulator are dropped: requests reach it, answers do not come back.
    func holdReplies() {
        state.withLockedValue { $0.holdingReplies = true }
    }

    /// How many bytes of answers were held back since ``holdReplies()``.
    var heldBytes: Int { state.withLockedValue { $0.heldBytes } }

    fileprivate func shouldHold(_ bytes: Int) -> Bool {
        state.withLockedValue {
            if $0.holdingReplies { $0.heldBytes += bytes }
            return $0.holdingReplies
        }
    }

    /// Closes every connection through the proxy and stops holding answers back; new
    /// connections are proxied as before.
    func cutAll() async {
        let connections = state.withLockedValue { state -> [any Channel] in
            state.holdingReplies = false
            defer { state.connections = [] }
            return state.connections
        }
        for channel in connections { try? await channel.close() }
    }

    func close() async {
        await cutAll()
        try? await server.close()
    }
}

private final class Forwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let partner: any Channel
    let replies: Bool
    let proxy: NIOLockedValueBox<TCPProxy?>

    init(partner: any Channel, replies: Bool, proxy: NIOLockedValueBox<TCPProxy?>) {
        self.partner = partner
        self.replies = replies
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if replies, proxy.withLockedValue({ $0 })?.shouldHold(buffer.readableBytes) == true { return }
        partner.writeAndFlush(buffer, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
