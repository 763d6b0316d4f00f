#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The socket calls under names that the methods below do not shadow.
private func systemClose(_ fd: Int32) { _ = close(fd) }
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 { connect(fd, address, length) }
private typealias SystemTimeval = timeval

/// A blocking TCP client for tests that speak raw bytes to a listener (hostile peers): write
/// exactly the bytes given, read until the peer closes or a deadline passes.
public final class TCPTestSocket {
    let fd: Int32
    private var closed = false

    public init(host: String = "127.0.0.1", port: Int, timeout: Duration = .seconds(5)) throws {
        fd = try Self.open(host: host, port: port, timeout: timeout)
    }

    deinit { close() }

    /// Connects with a timeout and returns the socket.
    static func open(host: String, port: Int, timeout: Duration) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PeerError("socket(): errno \(errno)") }
        // Close-on-exec: a peer another test starts meanwhile must not inherit the socket, or
        // closing it here would not close the connection (the child still holds it open).
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var tv = Self.timeval(timeout)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<SystemTimeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<SystemTimeval>.size))
        var address = try LocalPort.socketAddress(host, port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            systemClose(fd)
            throw PeerError("connect(\(host):\(port)): errno \(code)")
        }
        return fd
    }

    private static func timeval(_ duration: Duration) -> SystemTimeval {
        let (seconds, attoseconds) = duration.components
        return SystemTimeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    /// Writes all of `bytes`. A peer that already closed makes this throw (EPIPE or ECONNRESET).
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw PeerError("send: errno \(errno)") }
            offset += n
        }
    }

    /// What the peer sent until it closed the connection, and whether it did close before
    /// `timeout` (false: the deadline passed with the connection still open).
    public func readUntilClosed(timeout: Duration = .seconds(10)) -> (bytes: [UInt8], closedByPeer: Bool) {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received += chunk[0..<n]
            } else if n == 0 {
                return (received, true)
            } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                continue
            } else {
                // A reset after the peer's last bytes also ends the connection.
                return (received, true)
            }
        }
        return (received, false)
    }

    /// Reads until at least `count` bytes arrived or the peer closed, within `timeout`.
    public func read(atLeast count: Int, timeout: Duration = .seconds(10)) -> [UInt8] {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var chunk = [UInt8](repeating: 0, count: 65536)
        while received.count < count && ContinuousClock.now < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received += chunk[0..<n]
            } else if n == 0 {
                break
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                break
            }
        }
        return received
    }

    public func close() {
        guard !closed else { return }
        closed = true
        systemClose(fd)
    }
}

@available(*, unavailable)
extension TCPTestSocket: Sendable {}
