import AMQPCodec
import AMQPTypes

/// A link's `max-message-size` (§2.7.3) as a limit: the one place that reads the field ("absent
/// or 0 means no limit") and that holds a message against it, for senders and receivers alike.
public struct MessageSizeLimit: Sendable, Hashable, CustomStringConvertible {
    /// The most bytes a message may have; `nil` for no limit.
    public let bytes: UInt64?

    /// No limit.
    public static let none = MessageSizeLimit(advertised: nil)

    /// The limit a `max-message-size` field says: absent or 0 is no limit.
    public init(advertised maxMessageSize: UInt64?) {
        bytes = maxMessageSize.flatMap { $0 == 0 ? nil : $0 }
    }

    /// Whether a message of `count` bytes is within the limit.
    public func admits(_ count: Int) -> Bool {
        guard let bytes else { return true }
        return UInt64(clamping: count) <= bytes
    }

    /// The error for a message of `count` bytes over the limit (`amqp:link:message-size-exceeded`).
    public func exceeded(by count: Int, whose: String = "the peer's") -> AMQPError {
        AMQPError(condition: .link(.messageSizeExceeded),
                  description: "a message of \(count) bytes exceeds \(whose) max-message-size \(bytes.map(String.init) ?? "unlimited")")
    }

    /// The byte count, or `unlimited`.
    public var description: String { bytes.map(String.init) ?? "unlimited" }
}

extension Attach {
    /// The sender of this attach's `max-message-size` as a limit.
    public var messageSizeLimit: MessageSizeLimit { MessageSizeLimit(advertised: maxMessageSize) }
}
