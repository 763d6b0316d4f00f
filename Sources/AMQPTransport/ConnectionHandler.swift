import AMQPCodec
import AMQPProtocol
import AMQPTypes
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// What the layer above a ``ConnectionHandler`` does with engine events: the client API or a
/// listener's application. Called on the channel's event loop.
protocol ConnectionEventSink: AnyObject {
    func handle(_ event: ConnectionEvent, handler: ConnectionHandler)
    /// The socket closed (after the engine finished, or abruptly).
    func channelClosed(handler: ConnectionHandler, error: (any Error & Sendable)?)
    /// Every event of one engine step has been handled (one read from the socket, one call).
    func eventBatchEnded(handler: ConnectionHandler)
    /// The socket's writability changed (``ConnectionHandler/isWritable``): producers pause while
    /// it is false and resume when it turns true.
    func writabilityChanged(handler: ConnectionHandler)
}

extension ConnectionEventSink {
    func eventBatchEnded(handler: ConnectionHandler) {}
    func writabilityChanged(handler: ConnectionHandler) {}
}

/// The one channel handler of an AMQP connection: bytes from the socket go into the
/// ``ConnectionEngine``, its output goes to the socket, its events go to the sink, and a timer
/// drives heartbeats and the idle timeout. Everything here runs on the channel's event loop.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var engine: ConnectionEngine
    let eventLoop: EventLoop
    var logger: Logger
    weak var sink: (any ConnectionEventSink)?
    private var context: ChannelHandlerContext?
    private var tickTask: Scheduled<Void>?
    private var closing = false
    /// How the socket becomes TLS when the engine asks (in-band TLS, §5.2.1); `nil` when this
    /// connection does not negotiate TLS that way.
    let inBandTLS: InBandTLS?
    /// The live frame trace, when asked for; a connection without one pays a nil check per read and write.
    private var tracer: FrameTracer?

    /// The TLS side this connection takes after the TLS protocol headers.
    enum InBandTLS {
        /// A client: it sends the TLS header first, then handshakes with `serverHostname` (SNI
        /// and verification).
        case client(NIOSSLContext, serverHostname: String?)
        /// A listener that answers the TLS header.
        case server(NIOSSLContext)
    }

    init(engine: ConnectionEngine, eventLoop: EventLoop, sink: (any ConnectionEventSink)?, logger: Logger, inBandTLS: InBandTLS? = nil,
         frameTrace: AMQPFrameTrace? = nil) {
        self.engine = engine
        self.eventLoop = eventLoop
        self.sink = sink
        self.logger = logger
        self.inBandTLS = inBandTLS
        self.tracer = frameTrace.map { FrameTracer($0, label: "connection") }
    }

    var channel: Channel? { context?.channel }

    /// Whether the socket takes more now: false once NIO buffers more than the channel's
    /// high-water mark of unsent bytes. Credit and the session window say what the peer may
    /// receive; this says what the socket can take. Whoever produces deliveries (a server
    /// reading a queue or a partition log) checks both.
    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// `host:port` of the peer, as the trace prefixes its lines.
    static func traceLabel(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress {
            logger[metadataKey: "amqp.peer"] = "\(remote)"
            tracer?.label = Self.traceLabel(remote)
        }
        if context.channel.isActive { start() }
    }

    /// The context holds this handler and this handler the context: without letting go of it
    /// here, every closed connection (handler, engine, context, channel) stays in memory.
    func handlerRemoved(context: ChannelHandlerContext) {
        tickTask?.cancel()
        tickTask = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start()
        context.fireChannelActive()
    }

    private var started = false

    private func start() {
        guard !started else { return }
        started = true
        // A client's handler is added before it connects: the peer is known only now.
        if let remote = context?.channel.remoteAddress { tracer?.label = Self.traceLabel(remote) }
        var startsWithTLS = false
        if case .client = inBandTLS { startsWithTLS = true }
        engine.start(now: Self.now(), inBandTLS: startsWithTLS)
        afterEngineStep()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { raw in
            tracer?.traceReceived(raw)
            engine.receive(raw, now: Self.now())
        }
        afterEngineStep()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        sink?.writabilityChanged(handler: self)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        tickTask?.cancel()
        tickTask = nil
        // Events the engine produced before the socket went away still matter.
        deliverEvents()
        sink?.channelClosed(handler: self, error: firstError)
        context.fireChannelInactive()
    }

    /// The first error the pipeline reported (a failed TLS handshake, a reset), for the sink.
    private var firstError: (any Error & Sendable)?

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("channel error: \(error)")
        // A broken pipe after the peer's abrupt close (the Python SDK drops TCP right after its
        // close frame) is an ordinary end; anything else closes the connection too.
        if firstError == nil { firstError = Self.sendable(error) }
        context.close(promise: nil)
    }

    /// The errors a pipeline raises, as they are (they are all Sendable); anything else by its
    /// description.
    static func sendable(_ error: Error) -> any Error & Sendable {
        switch error {
        case let error as NIOSSLError: return error
        case let error as NIOSSLExtraError: return error
        case let error as BoringSSLError: return error
        case let error as IOError: return error
        case let error as ChannelError: return error
        default: return TransportError(description: String(describing: error))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            engine.tlsEstablished()
            afterEngineStep()
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Running the engine

    /// Runs `body` on the engine, then flushes output and delivers events. Must be called on
    /// the event loop.
    @discardableResult
    func withEngine<T>(_ body: (inout ConnectionEngine) throws -> T) rethrows -> T {
        eventLoop.preconditionInEventLoop()
        let result = try body(&engine)
        afterEngineStep()
        return result
    }

    private var steppingDepth = 0

    private func afterEngineStep() {
        // Sinks may call back into the engine while handling events; flush once at the end.
        steppingDepth += 1
        deliverEvents()
        steppingDepth -= 1
        guard steppingDepth == 0 else { return }
        // The sink has reacted to every event (sent what it had for a drain): answer drains now.
        engine.answerDrains()
        flushOutput()
        if engine.isFinished {
            closeChannelAfterFlush()
        } else {
            scheduleTick()
        }
    }

    private func deliverEvents() {
        var events = engine.takeEvents()
        while !events.isEmpty {
            for event in events {
                logger.log(level: event.logLevel, "\(event.logSummary)")
                if case .startTLS = event {
                    startInBandTLS()
                    continue
                }
                sink?.handle(event, handler: self)
            }
            events = engine.takeEvents()
        }
        sink?.eventBatchEnded(handler: self)
    }

    private func flushOutput() {
        guard let context, engine.hasOutput else { return }
        let buffer = engine.consumeOutput { raw -> ByteBuffer in
            tracer?.traceSent(raw)
            var buffer = context.channel.allocator.buffer(capacity: raw.count)
            buffer.writeBytes(raw)
            return buffer
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func closeChannelAfterFlush() {
        guard !closing, let context else { return }
        closing = true
        tickTask?.cancel()
        // Writes are ordered: closing after an empty write closes after everything queued.
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { _ in boundContext.value.close(promise: nil) }
    }

    private func scheduleTick() {
        guard tickTask == nil else { return }
        let deadline = engine.tick(now: Self.now())
        afterTick()
        guard let deadline, !engine.isFinished else { return }
        let delay = deadline &- Self.now()
        // Wake at the deadline, at least every 10 ms, at most every 30 s.
        let nanoseconds = Int64(clamping: min(max(delay, 10_000_000), 30_000_000_000))
        let boundSelf = NIOLoopBound(self, eventLoop: eventLoop)
        tickTask = eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            let handler = boundSelf.value
            handler.tickTask = nil
            _ = handler.engine.tick(now: ConnectionHandler.now())
            handler.afterEngineStep()
        }
    }

    private func afterTick() {
        // A tick may have produced a heartbeat or a close.
        deliverEvents()
        if engine.hasOutput { flushOutput() }
        if engine.isFinished { closeChannelAfterFlush() }
    }

    /// Closes the socket at once (after a failure the engine cannot express).
    func closeNow() {
        context?.close(promise: nil)
    }

    // MARK: In-band TLS

    private func startInBandTLS() {
        guard let context, let inBandTLS else {
            // The engine asks only when this connection was set up for in-band TLS.
            context?.close(promise: nil)
            return
        }
        // Our TLS header (a server's answer) must go out in the clear, ahead of the handshake.
        flushOutput()
        do {
            let tls: any ChannelHandler
            switch inBandTLS {
            case .client(let sslContext, let serverHostname):
                tls = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
            case .server(let sslContext):
                tls = NIOSSLServerHandler(context: sslContext)
            }
            try context.pipeline.syncOperations.addHandler(tls, position: .before(self))
        } catch {
            if firstError == nil { firstError = Self.sendable(error) }
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}

/// An error from the channel pipeline of a type this package does not know, by its description.
struct TransportError: Error, Sendable, CustomStringConvertible {
    var description: String
}
