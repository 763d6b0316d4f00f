import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replacing a small file so that the new contents survive power loss once the call returns,
/// and a crash at any point leaves either the old file or the new one, whole: write a temporary
/// file beside it, `fsync` it, rename it over the old one, `fsync` the folder. The file checkpoint
/// store and the emulator's Blob endpoint both write this way. Blocking: call it off the
/// cooperative thread pool.
package enum DurableFile {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    package static func write(_ bytes: [UInt8], to path: String) throws(Failure) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw Failure(operation: "create", path: temporary, code: errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { systemWrite(fd, $0) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                unlink(temporary)
                throw Failure(operation: "write", path: temporary, code: code)
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            unlink(temporary)
            throw Failure(operation: "sync", path: temporary, code: code)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw Failure(description: "cannot rename \(temporary) to \(path): \(describe(code)) (errno \(code))")
        }
        try syncFolder((path as NSString).deletingLastPathComponent)
    }

    /// A rename or an unlink is durable once its folder is synced.
    package static func syncFolder(_ path: String) throws(Failure) {
        let fd = open(path.isEmpty ? "." : path, O_RDONLY)
        guard fd >= 0 else { throw Failure(operation: "open", path: path, code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure(operation: "sync", path: path, code: errno) }
    }

    package static func systemWrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, bytes.baseAddress, bytes.count)
        #else
        return Darwin.write(fd, bytes.baseAddress, bytes.count)
        #endif
    }

    /// Whether `name` is a temporary file a crashed write left behind.
    package static func isLeftover(_ name: String) -> Bool { name.contains(".tmp-") }
}
