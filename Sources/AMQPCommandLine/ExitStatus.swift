import AMQPEventHubs
import AMQPProtocol
import AMQPTransport
import ArgumentParser

/// The exit status of every `amqp` command, one per kind of failure, so that scripts can tell a
/// wrong password from a missing queue from a slow network without reading the message.
enum ExitStatus: Int32, CaseIterable, CustomStringConvertible {
    /// Everything asked for was done.
    case success = 0
    /// The command ran but not everything went through: a message not accepted, an event that
    /// failed, or another failure with no status of its own.
    case failure = 1
    /// No connection: the host, the port or TLS failed, or the connection was lost.
    case connection = 2
    /// The credentials were refused (SASL, or `amqp:unauthorized-access`).
    case authentication = 3
    /// The address, hub, partition or consumer group does not exist (`amqp:not-found`).
    case notFound = 4
    /// Something did not arrive in time: the connection, an answer, or the messages asked for.
    case timeout = 5
    /// The peer broke the protocol (bytes that are not AMQP, a decode or framing error).
    case protocolError = 6
    /// The command line itself is wrong (ArgumentParser's usage status, `EX_USAGE`).
    case usage = 64

    var exitCode: ExitCode { ExitCode(rawValue) }

    var description: String {
        switch self {
        case .success: return "success"
        case .failure: return "not everything went through (a message or event not accepted)"
        case .connection: return "cannot connect, or the connection was lost"
        case .authentication: return "credentials refused"
        case .notFound: return "address, hub or partition not found"
        case .timeout: return "timed out"
        case .protocolError: return "the peer broke the protocol"
        case .usage: return "bad command line"
        }
    }

    /// The table `amqp --help` shows.
    static var help: String {
        allCases.map { "  \($0.rawValue)\($0.rawValue < 10 ? " " : "")  \($0)" }.joined(separator: "\n")
    }

    /// Conditions that mean the peer found our frames unreadable or out of order.
    private static let protocolConditions: Set<String> = [
        "amqp:decode-error", "amqp:invalid-field", "amqp:not-implemented", "amqp:frame-size-too-small",
        "amqp:connection:framing-error", "amqp:session:window-violation", "amqp:session:errant-link",
        "amqp:session:handle-in-use", "amqp:session:unattached-handle", "amqp:link:transfer-limit-exceeded",
    ]

    /// The status for a transport error: the peer's condition first, then what failed.
    static func of(_ error: AMQPClientError) -> ExitStatus {
        if let condition = error.condition?.rawValue.stringValue {
            switch condition {
            case "amqp:unauthorized-access": return .authentication
            case "amqp:not-found": return .notFound
            case _ where protocolConditions.contains(condition): return .protocolError
            default: break
            }
        }
        switch error.underlying as? ConnectionFailure {
        case .sasl?: return .authentication
        case .framing?, .protocolHeaderMismatch?, .protocolViolation?: return .protocolError
        case .idleTimeout?: return .timeout
        case nil: break
        }
        switch error.kind {
        case .timedOut: return .timeout
        case .decodeFailed: return .protocolError
        case .connectionFailed, .connectionClosed, .sessionEnded: return .connection
        default: return .failure
        }
    }

    /// The status for an Event Hubs error: its code, or the transport error under it.
    static func of(_ error: EventHubsError) -> ExitStatus {
        switch error.kind {
        case .authentication: return .authentication
        case .notFound: return .notFound
        case .timeout: return .timeout
        case .connection: return .connection
        default:
            if let underlying = error.underlying as? AMQPClientError { return of(underlying) }
            return .failure
        }
    }
}
