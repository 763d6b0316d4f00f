import AMQPProtocol
import AMQPTypes

/// Why a connection, session, link or send did not succeed.
///
/// Errors that come from the peer carry its AMQP error (``condition`` and ``description``):
/// `amqp:not-found`, `amqp:unauthorized-access`, `amqp:link:stolen`, `com.microsoft:server-busy`, …
public struct AMQPClientError: Error, Sendable, CustomStringConvertible {
    /// The category of a client error; compare with the static members.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable {
            case connectionFailed, connectionClosed, sessionEnded, linkRefused, linkDetached, rejected, released, modified,
                 invalidArgument, timedOut, decodeFailed
        }
        let base: Base
        /// The connection could not be established: DNS, TCP, TLS, the protocol header or SASL.
        public static let connectionFailed = Kind(base: .connectionFailed)
        /// The connection was closed, by the peer (with its error) or by us.
        public static let connectionClosed = Kind(base: .connectionClosed)
        /// The session ended.
        public static let sessionEnded = Kind(base: .sessionEnded)
        /// The peer refused to attach the link (its detach carries why).
        public static let linkRefused = Kind(base: .linkRefused)
        /// The link was detached, by the peer (with its error) or by us.
        public static let linkDetached = Kind(base: .linkDetached)
        /// The peer rejected a message (the `rejected` outcome's error).
        public static let rejected = Kind(base: .rejected)
        /// The peer released a message without processing it.
        public static let released = Kind(base: .released)
        /// The peer modified a message instead of accepting it.
        public static let modified = Kind(base: .modified)
        /// A call that cannot work: a message over the peer's size limit, an unusable address.
        public static let invalidArgument = Kind(base: .invalidArgument)
        /// An operation did not finish in time.
        public static let timedOut = Kind(base: .timedOut)
        /// A received message could not be decoded.
        public static let decodeFailed = Kind(base: .decodeFailed)

        /// The kind in words (`link detached`).
        public var description: String {
            switch base {
            case .connectionFailed: return "connection failed"
            case .connectionClosed: return "connection closed"
            case .sessionEnded: return "session ended"
            case .linkRefused: return "link refused"
            case .linkDetached: return "link detached"
            case .rejected: return "rejected"
            case .released: return "released"
            case .modified: return "modified"
            case .invalidArgument: return "invalid argument"
            case .timedOut: return "timed out"
            case .decodeFailed: return "decode failed"
            }
        }
    }

    /// What kind of failure it is.
    public var kind: Kind
    /// The AMQP error the peer sent, if any.
    public var amqpError: AMQPError?
    /// More about what happened, for people.
    public var detail: String
    /// The error underneath (an I/O error, a TLS error, a `ConnectionFailure`).
    public var underlying: (any Error & Sendable)?

    /// An error of `kind`, with the peer's AMQP error and the error underneath when there are.
    public init(_ kind: Kind, amqpError: AMQPError? = nil, detail: String = "", underlying: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.amqpError = amqpError
        self.detail = detail
        self.underlying = underlying
    }

    /// The AMQP error condition, when the peer gave one.
    public var condition: ErrorCondition? { amqpError?.condition }

    /// Kind, the peer's condition and description, detail and underlying error; never credentials.
    public var description: String {
        var parts = ["\(kind)"]
        if let amqpError {
            parts.append(amqpError.condition.rawValue.stringValue)
            if let text = amqpError.description, !text.isEmpty { parts.append(text) }
        }
        if !detail.isEmpty { parts.append(detail) }
        if let underlying { parts.append("\(underlying)") }
        return parts.joined(separator: ": ")
    }
}
