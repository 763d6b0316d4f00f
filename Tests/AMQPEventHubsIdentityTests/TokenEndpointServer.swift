import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A local token endpoint that answers as Microsoft Entra ID's and the managed identity
/// endpoints do (the documented request and response shapes), records every request, and can be
/// told to answer with garbage or an error.
final class TokenEndpointServer: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var query: [String: String]
        var headers: [String: String]
        var form: [String: String]
    }

    enum Answer: Sendable {
        /// `{"token_type":"Bearer","expires_in":…,"access_token":…}`
        case token(String, expiresIn: Int)
        /// The managed-identity shape: `expires_on` as a string of seconds since 1970.
        case managedIdentityToken(String, expiresOn: Int)
        case status(Int, body: String)
    }

    private let channel: any Channel
    let port: Int
    private let state = NIOLockedValueBox<(requests: [Request], answer: Answer, byPath: [String: Answer])>(([], .token("t", expiresIn: 3600), [:]))

    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [Request] { state.withLockedValue { $0.requests } }
    func answer(_ answer: Answer) { state.withLockedValue { $0.answer = answer } }
    /// Answers requests for `path` with `answer`, the others as before.
    func answer(_ answer: Answer, forPath path: String) { state.withLockedValue { $0.byPath[path] = answer } }

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    static func start() async throws -> TokenEndpointServer {
        let box = NIOLockedValueBox<TokenEndpointServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = TokenEndpointServer(channel: channel)
        box.withLockedValue { $0 = server }
        return server
    }

    func stop() async { try? await channel.close() }

    fileprivate func handle(_ request: Request) -> (Int, String) {
        state.withLockedValue { state in
            state.requests.append(request)
            switch state.byPath[request.path] ?? state.answer {
            case .token(let token, let expiresIn):
                return (200, #"{"token_type":"Bearer","expires_in":\#(expiresIn),"ext_expires_in":\#(expiresIn),"access_token":"\#(token)"}"#)
            case .managedIdentityToken(let token, let expiresOn):
                return (200, #"{"access_token":"\#(token)","expires_on":"\#(expiresOn)","resource":"https://eventhubs.azure.net","token_type":"Bearer"}"#)
            case .status(let code, let body):
                return (code, body)
            }
        }
    }

    static func decodeForm(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            if parts.count == 2 { result[parts[0]] = parts[1] }
        }
        return result
    }
}

private final class Handler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let server: NIOLockedValueBox<TokenEndpointServer?>
    var head: HTTPRequestHead?
    var body = ""

    init(server: NIOLockedValueBox<TokenEndpointServer?>) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard let head, let server = server.withLockedValue({ $0 }) else { return }
            let parts = head.uri.split(separator: "?", maxSplits: 1).map(String.init)
            let request = TokenEndpointServer.Request(
                method: head.method.rawValue, path: parts[0],
                query: parts.count > 1 ? TokenEndpointServer.decodeForm(parts[1]) : [:],
                headers: Dictionary(head.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { $1 }),
                form: TokenEndpointServer.decodeForm(body))
            let (status, text) = server.handle(request)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
