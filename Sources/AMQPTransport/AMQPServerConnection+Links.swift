import AMQPCodec
import AMQPProtocol
import AMQPTypes

/// What every server application (the in-memory broker, the Event Hubs emulator) decides the
/// same way about the links its peers attach: the node a link names, how a link the peer sends on
/// gets credit, and how many deliveries a link the peer receives on may be handed now.
extension Attach {
    /// The node a peer's attach names: its target's address when the peer sends, its source's
    /// when it receives; `nil` when that terminus has no string address or an empty one.
    public var nodeAddress: String? {
        let address: Address?
        if role == .sender {
            guard case .target(let target)? = target else { return nil }
            address = target.address
        } else {
            guard case .source(let source)? = source else { return nil }
            address = source.address
        }
        guard case .string(let text)? = address, !text.isEmpty else { return nil }
        return text
    }
}

extension AMQPServerConnection {
    /// Accepts a link the peer attached. A link the peer sends on is given `creditWindow`, which
    /// the engine grants right after the accepting attach and tops up as deliveries arrive (the
    /// application handles each delivery before the next event, so none is held); `nil` leaves
    /// credit to the application. With `heldUntilConsumed`, each delivery keeps its credit until
    /// the application gives it back with `ConnectionEngine.consumed(_:on:)` (a bounded queue
    /// that is full holds its producers back this way). The other parameters are the engine's
    /// (`ConnectionEngine/acceptLink(_:source:target:maxMessageSize:enforcedMaxMessageSize:senderSettleMode:properties:offeredCapabilities:creditMode:)`).
    public func acceptLink(
        _ link: LinkID, answering attach: Attach, creditWindow: UInt32?, source: LinkSource? = nil, target: LinkTarget? = nil,
        maxMessageSize: UInt64? = nil, enforcedMaxMessageSize: UInt64? = nil, senderSettleMode: SenderSettleMode? = nil,
        properties: Fields? = nil, offeredCapabilities: [Symbol] = [], heldUntilConsumed: Bool = false
    ) {
        let creditMode: CreditMode = attach.role == .sender ? creditWindow.map { .window($0, heldUntilConsumed: heldUntilConsumed) } ?? .manual : .manual
        withEngine { engine in
            try? engine.acceptLink(
                link, source: source ?? attach.source, target: target ?? attach.target, maxMessageSize: maxMessageSize,
                enforcedMaxMessageSize: enforcedMaxMessageSize, senderSettleMode: senderSettleMode,
                properties: properties, offeredCapabilities: offeredCapabilities, creditMode: creditMode)
        }
    }

    /// Sender: how many more deliveries to hand the engine now — the peer's credit not already
    /// taken by deliveries queued in the engine, and none while the socket is not writable
    /// (``isWritable``). A server that reads a queue or a log asks this before every batch, and
    /// again on ``AMQPServerConnectionDelegate/connectionWritabilityChanged(_:)``.
    public func deliveriesWanted(on link: LinkID) -> Int {
        guard isWritable else { return 0 }
        let engine = handler.engine
        return max(0, Int(engine.credit(of: link) ?? 0) - (engine.queuedDeliveries(on: link) ?? 0))
    }
}
