import AMQPProtocol
import AMQPTransport
import AMQPTypes

/// Why an Event Hubs operation failed, after whatever retries the ``EventHubsRetryOptions``
/// allowed.
///
/// ``kind`` says what went wrong in terms a caller acts on; ``condition`` is the AMQP error
/// condition the service sent, when it sent one (`com.microsoft:server-busy`,
/// `amqp:link:stolen`, …). Neither ever contains a key, a signature or a token.
public struct EventHubsError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. New kinds may be added; switch with a `default`.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Code: Hashable, Sendable {
            case connection, authentication, notFound, ownershipLost, serviceBusy, timeout, messageTooLarge,
                 invalidArgument, rejected, clientClosed, service
        }
        let code: Code

        /// The connection could not be established or was lost, and retrying did not help.
        public static let connection = Kind(code: .connection)
        /// The credentials were refused: a wrong key, an expired or foreign token
        /// (`amqp:unauthorized-access`, `com.microsoft:auth-failed`, CBS status 401).
        public static let authentication = Kind(code: .authentication)
        /// The event hub, partition or consumer group does not exist (`amqp:not-found`).
        public static let notFound = Kind(code: .notFound)
        /// A receiver with a higher owner level took the partition (`amqp:link:stolen`), or a
        /// producer with a higher epoch took the producer id (`com.microsoft:producer-epoch-stolen`).
        public static let ownershipLost = Kind(code: .ownershipLost)
        /// The service stayed busy through every retry (`com.microsoft:server-busy`).
        public static let serviceBusy = Kind(code: .serviceBusy)
        /// The operation or the service timed out through every retry.
        public static let timeout = Kind(code: .timeout)
        /// An event or batch is larger than the link's `max-message-size`.
        public static let messageTooLarge = Kind(code: .messageTooLarge)
        /// A call that cannot work as made: bad options, an argument the service refused.
        public static let invalidArgument = Kind(code: .invalidArgument)
        /// The service refused an event for a reason not covered by another kind.
        public static let rejected = Kind(code: .rejected)
        /// The client (or the producer or receiver) was closed.
        public static let clientClosed = Kind(code: .clientClosed)
        /// Any other failure of the service.
        public static let service = Kind(code: .service)

        /// The kind's name, as it appears in ``EventHubsError/description``.
        public var description: String {
            switch code {
            case .connection: return "connection"
            case .authentication: return "authentication"
            case .notFound: return "not found"
            case .ownershipLost: return "ownership lost"
            case .serviceBusy: return "service busy"
            case .timeout: return "timeout"
            case .messageTooLarge: return "message too large"
            case .invalidArgument: return "invalid argument"
            case .rejected: return "rejected"
            case .clientClosed: return "client closed"
            case .service: return "service"
            }
        }
    }

    /// What went wrong.
    public var kind: Kind
    /// The AMQP error condition the service sent, if any.
    public var condition: String?
    /// What happened, for people.
    public var detail: String
    /// Whether another attempt could succeed (see ``EventHubsRetryOptions``); errors thrown to
    /// callers after retries keep the classification of their last cause.
    public var isTransient: Bool
    /// The error underneath, usually an `AMQPClientError`.
    public var underlying: (any Error & Sendable)?
    /// Set when a retry loop gave up on this error because its retries were spent, so that an
    /// enclosing loop does not start over (see ``FailureClassification/isRetried(_:)``).
    var retriesSpent = false

    /// An error of `kind`; `isTransient` says whether a retry may succeed.
    public init(_ kind: Kind, condition: String? = nil, detail: String, isTransient: Bool = false, underlying: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.condition = condition
        self.detail = detail
        self.isTransient = isTransient
        self.underlying = underlying
    }

    /// Kind, condition and detail; never a key or token.
    public var description: String {
        var parts = ["Event Hubs \(kind) error"]
        if let condition { parts.append(condition) }
        if !detail.isEmpty { parts.append(detail) }
        return parts.joined(separator: ": ")
    }
}

// MARK: - The retry classification

/// The one place that decides which failures are retried (the conditions Microsoft's SDKs retry),
/// and what each becomes for the caller.
enum FailureClassification {
    /// Conditions the service uses for passing trouble: retried with backoff, re-attaching the
    /// link (and reconnecting when the connection went with it).
    static let transientConditions: Set<String> = [
        "com.microsoft:server-busy",
        "com.microsoft:timeout",
        "com.microsoft:operation-cancelled",
        "com.microsoft:container-close",
        "amqp:link:detach-forced",
        "amqp:connection:forced",
        "amqp:internal-error",
    ]

    /// Conditions that no retry fixes, and the kind each is reported as. A condition in neither
    /// list is not retried either: a send retried blindly may store an event twice.
    static let permanentConditions: [String: EventHubsError.Kind] = [
        "amqp:link:stolen": .ownershipLost,
        "amqp:not-found": .notFound,
        "amqp:unauthorized-access": .authentication,
        "com.microsoft:auth-failed": .authentication,
        "amqp:not-allowed": .invalidArgument,
        "amqp:link:message-size-exceeded": .messageTooLarge,
        "com.microsoft:argument-out-of-range": .invalidArgument,
        "com.microsoft:argument-error": .invalidArgument,
        "com.microsoft:entity-disabled": .service,
        "com.microsoft:precondition-failed": .service,
        // Idempotent publishing: the producer's state is not the service's; the producer resets it.
        "com.microsoft:out-of-order-sequence": .rejected,
        "com.microsoft:producer-epoch-stolen": .ownershipLost,
    ]

    /// The kind a transient condition is reported as once retries are spent.
    static func kind(ofTransient condition: String) -> EventHubsError.Kind {
        switch condition {
        case "com.microsoft:server-busy": return .serviceBusy
        case "com.microsoft:timeout", "com.microsoft:operation-cancelled": return .timeout
        case "amqp:connection:forced": return .connection
        default: return .service
        }
    }

    /// Whether a classified failure is worth another attempt: a transient one whose retries were
    /// not already spent by the loop it came out of. ``RetrySchedule`` asks this, and nothing else.
    static func isRetried(_ failure: EventHubsError) -> Bool {
        failure.isTransient && !failure.retriesSpent
    }

    /// Classifies any error an operation threw.
    static func classify(_ error: any Error) -> EventHubsError {
        switch error {
        case let error as EventHubsError:
            return error
        case let error as AMQPClientError:
            return classify(error)
        case is CancellationError:
            return EventHubsError(.clientClosed, detail: "cancelled")
        default:
            return EventHubsError(.service, detail: "\(error)", underlying: error)
        }
    }

    static func classify(_ error: AMQPClientError) -> EventHubsError {
        let detail = error.amqpError?.description.flatMap { $0.isEmpty ? nil : $0 } ?? error.detail
        if let condition = error.condition?.rawValue.stringValue {
            if transientConditions.contains(condition) {
                return EventHubsError(kind(ofTransient: condition), condition: condition, detail: detail, isTransient: true, underlying: error)
            }
            return EventHubsError(permanentConditions[condition] ?? .service, condition: condition, detail: detail, underlying: error)
        }
        if case .sasl(let failure)? = error.underlying as? ConnectionFailure {
            // The credentials were refused at SASL: no retry changes that.
            return EventHubsError(.authentication, detail: "SASL: \(failure)", underlying: error)
        }
        switch error.kind {
        case .connectionFailed, .connectionClosed, .sessionEnded:
            // A lost connection, or a session ended under us: reconnect and try again.
            return EventHubsError(.connection, detail: error.description, isTransient: true, underlying: error)
        case .linkDetached, .linkRefused:
            return EventHubsError(.service, detail: error.description, isTransient: true, underlying: error)
        case .timedOut:
            return EventHubsError(.timeout, detail: error.description, isTransient: true, underlying: error)
        case .released:
            // The service gave the event back unprocessed: it may take it on another try.
            return EventHubsError(.rejected, detail: error.description, isTransient: true, underlying: error)
        case .invalidArgument:
            return EventHubsError(.invalidArgument, detail: error.description, underlying: error)
        default:
            return EventHubsError(.rejected, detail: error.description, underlying: error)
        }
    }

    /// Whether the failure leaves the link (or the connection under it) unusable, so the next
    /// attempt must attach a new one. A `rejected` outcome leaves the link as it was.
    static func invalidatesLink(_ error: any Error) -> Bool {
        guard let error = error as? AMQPClientError else { return !(error is EventHubsError) }
        switch error.kind {
        case .rejected, .released, .modified, .invalidArgument: return false
        default: return true
        }
    }
}
