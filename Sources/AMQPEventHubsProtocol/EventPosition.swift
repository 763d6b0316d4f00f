import AMQPCodec

/// Where a partition receiver starts reading: the selector filter of its link's source.
public enum EventPosition: Sendable, Hashable, CustomStringConvertible {
    /// The first event still retained.
    case earliest
    /// Only events enqueued after the receiver attaches.
    case latest
    /// After (or at, when inclusive) the event with this offset.
    case offset(String, inclusive: Bool = false)
    /// After (or at) the event with this sequence number.
    case sequenceNumber(Int64, inclusive: Bool = false)
    /// After (or at) this enqueued time (milliseconds since 1970).
    case enqueuedTime(Int64, inclusive: Bool = false)

    /// The selector expression Event Hubs reads, e.g. `amqp.annotation.x-opt-offset > '-1'`.
    public var selectorExpression: String {
        switch self {
        case .earliest: return "amqp.annotation.x-opt-offset > '-1'"
        case .latest: return "amqp.annotation.x-opt-offset > '@latest'"
        case .offset(let o, let inclusive): return "amqp.annotation.x-opt-offset \(inclusive ? ">=" : ">") '\(o)'"
        case .sequenceNumber(let n, let inclusive): return "amqp.annotation.x-opt-sequence-number \(inclusive ? ">=" : ">") '\(n)'"
        case .enqueuedTime(let ms, let inclusive): return "amqp.annotation.x-opt-enqueued-time \(inclusive ? ">=" : ">") '\(ms)'"
        }
    }

    /// Parses a selector expression of the three forms above (whitespace-tolerant); `nil` when it
    /// is not one of them.
    public init?(selectorExpression text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        let op = parts[1]
        guard op == ">" || op == ">=" else { return nil }
        let inclusive = op == ">="
        var value = Substring(parts[2])
        guard value.count >= 2, value.first == "'", value.last == "'" else { return nil }
        value = value.dropFirst().dropLast()
        switch parts[0] {
        case "amqp.annotation.x-opt-offset":
            if value == "-1" {
                self = inclusive ? .offset("-1", inclusive: true) : .earliest
            } else if value == "@latest" {
                self = .latest
            } else {
                guard !value.isEmpty else { return nil }
                self = .offset(String(value), inclusive: inclusive)
            }
        case "amqp.annotation.x-opt-sequence-number":
            guard let n = Int64(value) else { return nil }
            self = .sequenceNumber(n, inclusive: inclusive)
        case "amqp.annotation.x-opt-enqueued-time":
            guard let ms = Int64(value) else { return nil }
            self = .enqueuedTime(ms, inclusive: inclusive)
        default:
            return nil
        }
    }

    /// The source filter entry carrying this position, with the symbolic descriptor (as the
    /// Python SDK sends it).
    public var filterEntry: AMQPMap.Entry {
        AMQPMap.Entry(key: .symbol(EventHubsNames.selectorFilter),
                      value: .described(descriptor: .symbol(EventHubsNames.selectorFilter), value: .string(selectorExpression)))
    }

    /// The position a link source's filter asks for: the selector filter's expression, whose
    /// descriptor is the symbol `apache.org:selector-filter:string` (Python) or the code
    /// `0x0000468C00000004` (Go). `nil` when the filter has no selector (a receiver then reads
    /// from the earliest event); throws ``UnreadableSelector`` for a selector that is not one of
    /// the forms ``init(selectorExpression:)`` reads. The last selector wins.
    public init?(sourceFilter filter: AMQPMap) throws(UnreadableSelector) {
        var position: EventPosition? = nil
        for entry in filter.entries {
            guard case .described(let descriptor, .string(let expression)) = entry.value,
                  descriptor == .symbol(EventHubsNames.selectorFilter) || descriptor == .ulong(EventHubsNames.selectorFilterCode)
            else { continue }
            guard let parsed = EventPosition(selectorExpression: expression) else { throw UnreadableSelector(expression: expression) }
            position = parsed
        }
        guard let position else { return nil }
        self = position
    }

    /// A selector filter whose expression is not a position.
    public struct UnreadableSelector: Error, Hashable, Sendable, CustomStringConvertible {
        /// The expression as sent.
        public var expression: String
        /// `cannot read the selector <expression>`.
        public var description: String { "cannot read the selector \(expression)" }
    }

    /// The position in words (`offset > 42`), for logs.
    public var description: String {
        switch self {
        case .earliest: return "earliest"
        case .latest: return "latest"
        case .offset(let o, let i): return "offset \(i ? ">=" : ">") \(o)"
        case .sequenceNumber(let n, let i): return "sequence number \(i ? ">=" : ">") \(n)"
        case .enqueuedTime(let ms, let i): return "enqueued time \(i ? ">=" : ">") \(ms) ms"
        }
    }
}
