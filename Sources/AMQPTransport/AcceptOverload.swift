#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore

/// The process's file-descriptor limit.
enum FileDescriptorLimit {
    /// The soft `RLIMIT_NOFILE`, or `nil` when it is unlimited or unknown.
    static var soft: Int? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        // Glibc's RLIM_INFINITY is `(rlim_t) -1`, which Swift cannot import.
        let unlimited = rlim_t.max
        #else
        let resource = RLIMIT_NOFILE
        let unlimited = RLIM_INFINITY
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != unlimited else { return nil }
        return Int(clamping: limit.rlim_cur)
    }
}

/// One file descriptor held back for the moment the process has none left.
///
/// When `accept` fails with `EMFILE`/`ENFILE`, the waiting connection stays in the kernel's
/// backlog and the listening socket stays readable, so the event loop retries at once, forever:
/// a core at 100 % and clients that hang (NIO's channel keeps its read pending after a failed
/// accept, so delaying the next read, as `AcceptBackoffHandler` does, does not stop it). Closing
/// the reserve lets the next `accept` succeed; that connection is closed at once, and the reserve
/// taken again. Each waiting client costs one accept and close, the backlog drains, and clients
/// see their connection refused instead of hanging. The classic remedy of libev and nginx.
final class DescriptorReserve: Sendable {
    private struct State {
        var descriptor: Int32
        var shedding = false
    }

    private let state: NIOLockedValueBox<State>

    init() {
        state = NIOLockedValueBox(State(descriptor: Self.open()))
    }

    deinit {
        let descriptor = state.withLockedValue { $0.descriptor }
        if descriptor >= 0 { _ = close(descriptor) }
    }

    private static func open() -> Int32 {
        #if canImport(Glibc)
        return Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
        #else
        return Darwin.open("/dev/null", O_RDONLY | O_CLOEXEC)
        #endif
    }

    /// `accept` ran out of descriptors: free the reserve for the connection that waits.
    func release() {
        state.withLockedValue { state in
            if state.descriptor >= 0 {
                _ = close(state.descriptor)
                state.descriptor = -1
            }
            state.shedding = true
        }
    }

    /// Whether a newly accepted connection must be closed because descriptors ran out. While
    /// shedding, it takes the reserve back first: if that works there are descriptors again, the
    /// connection is served and shedding ends; if not, this connection holds the last one.
    func acceptedWhileShedding() -> Bool {
        state.withLockedValue { state in
            guard state.shedding else { return false }
            if state.descriptor < 0 { state.descriptor = Self.open() }
            guard state.descriptor >= 0 else { return true }
            state.shedding = false
            return false
        }
    }
}

/// On the listening channel: turns `accept`'s "no descriptors left" into releasing the reserve.
final class AcceptOverloadHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Channel
    let reserve: DescriptorReserve

    init(reserve: DescriptorReserve) {
        self.reserve = reserve
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError, error.errnoCode == EMFILE || error.errnoCode == ENFILE {
            reserve.release()
            return
        }
        context.fireErrorCaught(error)
    }
}
