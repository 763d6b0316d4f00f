/// A line diff for `amqp-gen --check` and the drift test: what a person needs to see why
/// committed output is stale, not a patch to apply.
public enum LineDiff {
    /// One changed line, with its 1-based line number.
    public enum Line: Hashable, Sendable {
        /// A line only in the old text, numbered in the old text.
        case removed(Int, String)
        /// A line only in the new text, numbered in the new text.
        case added(Int, String)
    }

    /// The lines only in `old` (with their line number in `old`) and only in `new` (numbered in
    /// `new`), from a longest common subsequence of the two.
    public static func changes(from old: String, to new: String) -> [Line] {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Common prefix and suffix first: generated files usually differ in a few places.
        var start = 0
        while start < a.count && start < b.count && a[start] == b[start] { start += 1 }
        var endA = a.count, endB = b.count
        while endA > start && endB > start && a[endA - 1] == b[endB - 1] { endA -= 1; endB -= 1 }
        let n = endA - start, m = endB - start
        var lengths = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        let width = m + 1
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lengths[i * width + j] = a[start + i] == b[start + j]
                        ? lengths[(i + 1) * width + j + 1] + 1
                        : max(lengths[(i + 1) * width + j], lengths[i * width + j + 1])
                }
            }
        }
        var result: [Line] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n && j < m && a[start + i] == b[start + j] {
                i += 1; j += 1
            } else if i < n && (j == m || lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
                result.append(.removed(start + i + 1, a[start + i])); i += 1
            } else {
                result.append(.added(start + j + 1, b[start + j])); j += 1
            }
        }
        return result
    }

    /// A readable summary: the number of changed lines and the first `limit` of them.
    public static func summary(from old: String, to new: String, limit: Int = 12) -> String {
        let lines = changes(from: old, to: new)
        var text = "\(lines.count) line(s) differ"
        for line in lines.prefix(limit) {
            switch line {
            case .removed(let n, let s): text += "\n    -\(n): \(s)"
            case .added(let n, let s): text += "\n    +\(n): \(s)"
            }
        }
        if lines.count > limit { text += "\n    … \(lines.count - limit) more" }
        return text
    }
}
