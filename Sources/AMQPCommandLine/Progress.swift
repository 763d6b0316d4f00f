import AMQPTypedJSON
import Foundation

/// Counts messages and bytes, shows progress on standard error, and gives the summary at the end.
///
/// On a terminal the progress is one line redrawn in place, ten times a second: a bar, the
/// count, the rate and the time left when the total is known. When standard error is a file or
/// a pipe (a log, CI) it is one line per second, so the log stays readable.
final class RateMeter {
    let verb: String
    let total: Int?
    let start = ContinuousClock.now
    private let drawsInPlace: Bool
    private var lastReport = ContinuousClock.now
    private var drewLine = false
    private(set) var messages = 0
    private(set) var bytes = 0

    init(verb: String, total: Int?, terminal: Bool = isatty(2) != 0) {
        self.verb = verb
        self.total = total
        self.drawsInPlace = terminal
    }

    func add(bytes: Int) {
        messages += 1
        self.bytes += bytes
        let now = ContinuousClock.now
        if now - lastReport >= (drawsInPlace ? .milliseconds(100) : .seconds(1)) {
            lastReport = now
            report(elapsed: now - start)
        }
    }

    private func report(elapsed: Duration) {
        guard drawsInPlace else {
            let of = total.map { "/\($0)" } ?? ""
            printError("\(verb) \(messages)\(of) messages, \(Self.rate(messages, elapsed)) msgs/s")
            return
        }
        // `\r` back to the start of the line, `ESC [ K` clears what a longer line left behind.
        writeError("\r" + Self.progressLine(verb: verb, done: messages, total: total, elapsed: elapsed) + "\u{1B}[K")
        drewLine = true
    }

    /// `sent  45000/100000 [=========>          ]  45%  23456 msgs/s  ETA 2s`; without a total,
    /// the count and the rate only.
    static func progressLine(verb: String, done: Int, total: Int?, elapsed: Duration, width: Int = 24) -> String {
        let rate = Double(done) / max(seconds(elapsed), 1e-9)
        guard let total, total > 0 else { return "\(verb) \(done) messages  \(Int(rate.rounded())) msgs/s" }
        let fraction = min(1, Double(done) / Double(total))
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" + String(repeating: " ", count: width - filled - 1) : "")
        let left = rate > 0 ? Double(total - done) / rate : .infinity
        let eta = left.isFinite ? "ETA \(Self.duration(left))" : "ETA -"
        return "\(verb) \(done)/\(total) [\(bar)] \(Int((fraction * 100).rounded(.down)))%  \(Int(rate.rounded())) msgs/s  \(eta)"
    }

    /// `42s`, `3m05s`, `2h07m`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    static func rate(_ count: Int, _ duration: Duration) -> String {
        let s = seconds(duration)
        return s > 0 ? String(Int((Double(count) / s).rounded())) : "-"
    }

    /// What a finished run did, for `--json`.
    struct Summary {
        var messages: Int
        var bytes: Int
        var seconds: Double
        var outcomes: [(String, Int)]

        var json: String {
            let rate = seconds > 0 ? Double(messages) / seconds : 0
            return JSON.object([
                ("messages", .number(String(messages))),
                ("bytes", .number(String(bytes))),
                ("seconds", .number(String(seconds))),
                ("messages_per_second", .number(String(Int(rate.rounded())))),
                ("outcomes", .object(outcomes.map { (key: $0.0, value: JSON.number(String($0.1))) })),
            ]).serialized
        }
    }

    /// The summary line on standard error, replacing the progress line:
    /// `sent 1000 messages, 1032000 bytes in 0.412 s: 2427 msgs/s (accepted 1000)`.
    @discardableResult
    func finish(detail: String = "", outcomes: [(String, Int)] = []) -> Summary {
        let elapsed = ContinuousClock.now - start
        let seconds = (Self.seconds(elapsed) * 1000).rounded() / 1000
        if drewLine { writeError("\r\u{1B}[K") }
        printError("\(verb) \(messages) messages, \(bytes) bytes in \(seconds) s: \(Self.rate(messages, elapsed)) msgs/s\(detail.isEmpty ? "" : " (\(detail))")")
        return Summary(messages: messages, bytes: bytes, seconds: seconds, outcomes: outcomes)
    }
}
