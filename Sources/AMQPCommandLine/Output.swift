#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered standard output: one `write` per 64 KiB rather than per line, which matters when a
/// command prints a million lines.
final class StandardOutput {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Writes one line to standard error (file descriptor 2; Swift 6 rejects the `stderr` global).
func printError(_ text: String) {
    writeError(text + "\n")
}

/// Writes `text` to standard error as it is (a progress line redrawn with `\r` has no newline).
func writeError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Reads standard input line by line, without a length limit.
func standardInputLines() -> AnyIterator<String> {
    AnyIterator { readLine(strippingNewline: true) }
}

/// One `write` of `bytes` to standard output; what it wrote, or -1.
func writeStandardOutput(_ bytes: UnsafeRawBufferPointer) -> Int {
    write(1, bytes.baseAddress, bytes.count)
}
