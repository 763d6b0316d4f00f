#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written only at its end, as a log segment is: every call checks its result, and a
/// failed or short append can be undone with ``truncate(to:)`` so that the file ends with its
/// last whole record again. Blocking: call it off event loops and the cooperative pool. Not
/// Appends are serialised by the owner; reads (`pread`) may run beside them from any thread, and
/// the descriptor is closed when the last reference goes, so a read never meets a reused one.
package final class AppendOnlyFile: Sendable {
    package let path: String
    package let descriptor: Int32

    /// Opens `path` for appending and reading, creating it when `create` is set.
    package init(path: String, create: Bool) throws(DurableFile.Failure) {
        self.path = path
        let flags = O_RDWR | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw DurableFile.Failure(operation: create ? "create" : "open", path: path, code: errno) }
        descriptor = fd
    }

    /// The file's size now.
    package func size() throws(DurableFile.Failure) -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw DurableFile.Failure(operation: "stat", path: path, code: errno) }
        return Int64(info.st_size)
    }

    /// Writes all of `bytes` at the end. On failure some of them may have been written: the
    /// caller truncates back to the size it knew.
    package func append(_ bytes: [UInt8]) throws(DurableFile.Failure) {
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { DurableFile.systemWrite(descriptor, $0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DurableFile.Failure(operation: "write", path: path, code: errno)
            }
            // A write that takes nothing without an error would loop forever; it means no space.
            guard n > 0 else { throw DurableFile.Failure(operation: "write", path: path, code: ENOSPC) }
            written += n
        }
    }

    /// `fsync`: the appended bytes (and the size) survive power loss once this returns. A failure
    /// means they may not, whatever the page cache holds now.
    package func sync() throws(DurableFile.Failure) {
        while fsync(descriptor) != 0 {
            if errno == EINTR { continue }
            throw DurableFile.Failure(operation: "sync", path: path, code: errno)
        }
    }

    /// Cuts the file back to `length` bytes and checks that it took.
    package func truncate(to length: Int64) throws(DurableFile.Failure) {
        while ftruncate(descriptor, off_t(length)) != 0 {
            if errno == EINTR { continue }
            throw DurableFile.Failure(operation: "truncate", path: path, code: errno)
        }
        let now = try size()
        guard now == length else {
            throw DurableFile.Failure(description: "cannot truncate \(path) to \(length) bytes: it still has \(now)")
        }
    }

    /// `length` bytes from `position`, or `nil` if the file is shorter or the read fails.
    package func read(at position: Int64, length: Int) -> [UInt8]? {
        guard length >= 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, length - done, off_t(position) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return bytes
    }

    /// The whole file.
    package func readAll() throws(DurableFile.Failure) -> [UInt8] {
        let count = try size()
        guard let length = Int(exactly: count), let bytes = read(at: 0, length: length) else {
            throw DurableFile.Failure(operation: "read", path: path, code: errno)
        }
        return bytes
    }

    deinit { close(descriptor) }
}

extension DurableFile.Failure {
    /// "cannot write PATH: No space left on device (errno 28)": the system's text, so that a
    /// rejected publish tells the client why.
    package init(operation: String, path: String, code: Int32) {
        self.init(description: "cannot \(operation) \(path): \(DurableFile.describe(code)) (errno \(code))")
    }
}

extension DurableFile {
    /// The system's text for an errno.
    package static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// Removes a file; a missing one is not an error.
    package static func remove(_ path: String) throws(Failure) {
        guard unlink(path) == 0 || errno == ENOENT else { throw Failure(operation: "remove", path: path, code: errno) }
    }
}
