import AMQPCodec
import AMQPTypes

/// Identifies a session for the lifetime of its ``ConnectionEngine`` (never reused).
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    /// A counter value, unique within one engine; not the channel number.
    public let rawValue: UInt64
    init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `session#N`.
    public var description: String { "session#\(rawValue)" }
}

/// Identifies a link for the lifetime of its ``ConnectionEngine`` (never reused, unlike handles).
public struct LinkID: Hashable, Sendable, CustomStringConvertible {
    /// A counter value, unique within one engine; not the link handle.
    public let rawValue: UInt64
    init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `link#N`.
    public var description: String { "link#\(rawValue)" }
}

/// Identifies a delivery we send, from ``ConnectionEngine/send(on:payload:tag:settled:messageFormat:)``
/// until its outcome. The session's delivery-id is only assigned when its first frame is written.
public struct OutgoingDeliveryID: Hashable, Sendable, CustomStringConvertible {
    /// A counter value, unique within one engine; not the session's delivery-id.
    public let rawValue: UInt64
    init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `delivery#N`.
    public var description: String { "delivery#\(rawValue)" }
}

/// A complete message received on a link: every transfer frame of the delivery reassembled.
public struct IncomingDelivery: Hashable, Sendable {
    /// The session's delivery-id, used to settle it.
    public var deliveryID: DeliveryNumber
    /// The sender's delivery-tag (§2.8.7), up to 32 bytes.
    public var tag: DeliveryTag
    /// The `message-format` of the first transfer (§2.7.5); 0 for the standard AMQP message format.
    public var messageFormat: MessageFormat
    /// Whether the sender settled it already (pre-settled, "at most once").
    public var isSettled: Bool
    /// The sender's delivery state when it sent one (resumed or transactional deliveries).
    public var state: DeliveryState?
    /// The encoded message: the concatenated payloads of the delivery's transfer frames. For a
    /// single-frame delivery this is a slice of the frame (no copy).
    public var payload: ArraySlice<UInt8>
}

/// Something that happened on a connection, for the layer above the engine.
public enum ConnectionEvent: Sendable {
    /// The peer asked for in-band TLS (`AMQP 2 1 0 0`) or agreed to it: start the TLS handshake on
    /// the socket, then call ``ConnectionEngine/tlsEstablished()``.
    case startTLS
    /// Server: the client authenticated with SASL as `identity`.
    case authenticated(identity: String, mechanism: Symbol)
    /// The peer's `open` arrived: the connection is open.
    case opened(Open)
    /// A session is mapped on both sides: ours was answered, or (server) the peer began one and
    /// we answered.
    case sessionBegun(SessionID, Begin)
    /// The peer attached a link we did not ask for: answer with
    /// ``ConnectionEngine/acceptLink(_:source:target:maxMessageSize:enforcedMaxMessageSize:senderSettleMode:properties:offeredCapabilities:creditMode:)``
    /// or ``ConnectionEngine/refuseLink(_:error:source:target:)``.
    case linkAttachRequested(SessionID, LinkID, Attach)
    /// The peer answered our `attach` and kept the link.
    case linkAttached(LinkID, Attach)
    /// The peer refused our `attach` (§2.6.3): it answered without the terminus we asked for
    /// (a source for a receiver, a target for a sender) and detached, or answered with it and
    /// detached in the very next frame (Azure's way, which some clients need). `error` is the
    /// detach's. Neither `linkAttached` nor `linkDetached` is reported for the link.
    case linkRefused(LinkID, error: AMQPError?)
    /// Sender: the peer granted credit (or asked to drain). `credit` is what we may send now.
    /// With `drain`, send what is available now; ``ConnectionEngine/answerDrains()`` then gives
    /// back the rest.
    case creditGranted(LinkID, credit: UInt32, drain: Bool)
    /// Receiver: a complete delivery.
    case delivery(LinkID, IncomingDelivery)
    /// Receiver: a multi-frame delivery was aborted by the sender; nothing was delivered.
    case deliveryAborted(LinkID, DeliveryNumber)
    /// Sender: the peer's disposition for a delivery we sent (its state, and whether it is settled).
    /// A delivery queued before the peer's attach answered ours and larger than the peer's
    /// max-message-size is never sent: the engine reports it settled and `rejected` with
    /// `amqp:link:message-size-exceeded`.
    case outcome(LinkID, OutgoingDeliveryID, DeliveryState?, settled: Bool)
    /// Receiver: the sender settled deliveries we had not settled (receiver-settle-mode second).
    case settledByPeer(LinkID, DeliveryNumber)
    /// Receiver: a drain we asked for is complete; the sender has used up or given back all credit.
    case drained(LinkID)
    /// The link is detached on both sides (or, `byPeer`, the peer detached and we answered).
    case linkDetached(LinkID, error: AMQPError?, closed: Bool, byPeer: Bool)
    /// The session is ended.
    case sessionEnded(SessionID, error: AMQPError?, byPeer: Bool)
    /// The connection is closed on both sides or the peer closed it. `error` is the peer's error,
    /// or ours when we closed because of a protocol violation.
    case closed(error: AMQPError?, byPeer: Bool)
    /// The connection cannot continue and no AMQP `close` can be exchanged (a bad protocol
    /// header, a SASL failure, bytes that are not frames): close the socket.
    case failed(ConnectionFailure)
}

/// Why a connection failed outside the AMQP `close` exchange.
public enum ConnectionFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer's protocol header is not one we can answer (another version, or a layer we did
    /// not configure).
    case protocolHeaderMismatch(received: ProtocolHeader, expected: ProtocolHeader)
    /// Bytes that are not a frame stream.
    case framing(FramingError)
    /// SASL did not authenticate: a refusal (`code`), a mechanism problem, or a bad SASL frame.
    case sasl(SASLError)
    /// The peer sent something that cannot be answered with `close` (for instance an AMQP frame
    /// during SASL).
    case protocolViolation(String)
    /// Our idle timeout passed without a frame from the peer.
    case idleTimeout

    /// A one-line explanation for logs.
    public var description: String {
        switch self {
        case .protocolHeaderMismatch(let received, let expected): return "peer sent protocol header \(received), expected \(expected)"
        case .framing(let e): return "framing error: \(e)"
        case .sasl(let e): return "SASL: \(e)"
        case .protocolViolation(let s): return "protocol violation: \(s)"
        case .idleTimeout: return "idle timeout"
        }
    }
}
