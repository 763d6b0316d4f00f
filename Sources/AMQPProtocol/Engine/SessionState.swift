import AMQPCodec
import AMQPTypes

/// A message we were asked to send, until its last frame is written.
struct OutgoingDelivery: Sendable {
    let id: OutgoingDeliveryID
    let payload: ArraySlice<UInt8>
    let tag: DeliveryTag
    let settled: Bool
    let messageFormat: MessageFormat
    /// Payload bytes already written in earlier frames.
    var offset = 0
    /// Assigned when the first frame is written.
    var deliveryNumber: DeliveryNumber? = nil
}

/// A delivery being received over several frames.
struct PartialDelivery: Sendable {
    let deliveryNumber: DeliveryNumber
    let tag: DeliveryTag
    let messageFormat: MessageFormat
    var settled: Bool
    var state: DeliveryState?
    var payload: [UInt8]
    /// The first frame's payload, kept as a slice until a second frame proves it must be copied.
    var firstFrame: ArraySlice<UInt8>?
}

/// What an engine's sessions and links hold, kept as they change so that
/// ``ConnectionEngine/footprint`` costs the same with one link or thousands: the fuzz drivers read
/// it after every step, and walking every session and link there took 40% of their time.
///
/// Each session and link adds its changes as they happen and takes back what it still holds when
/// it is freed, so the counts are always those of the states alive.
final class HeldCounts: @unchecked Sendable {
    var links = 0
    var unsettledDeliveries = 0
    var queuedDeliveries = 0
    var partialDeliveryBytes = 0
}

/// The state of one link (§2.6), as seen from our end.
///
/// A value kept in its session's `links` and changed in place through
/// ``SessionState/modifyLink(_:_:)``, which also keeps the footprint counts of what it holds.
struct LinkState: Sendable {
    enum Phase: Sendable, Hashable {
        /// We sent attach and wait for the peer's.
        case attachSent
        /// The peer attached; we have not answered yet (server side).
        case attachReceived
        case attached
        /// We sent detach and wait for the peer's.
        case detachSent
    }

    let id: LinkID
    let name: String
    /// Our role on the link.
    let role: Role
    let localHandle: Handle
    var remoteHandle: Handle?
    var phase: Phase
    /// Whether the application heard of the link; one the engine refused on its own (an attach
    /// it cannot work with) reports no detach either.
    var isReported = true
    var senderSettleMode: SenderSettleMode
    var receiverSettleMode: ReceiverSettleMode
    /// The peer's `max-message-size` (for a sender, the most we may send in one message).
    var remoteMaxMessageSize = MessageSizeLimit.none
    /// Our `max-message-size` (for a receiver, the most we accept).
    var localMaxMessageSize = MessageSizeLimit.none
    /// `delivery-count` (§2.6.7): the sender's count of deliveries sent, mirrored by the receiver.
    var deliveryCount: SequenceNumber = 0
    /// `link-credit` as this end sees it.
    var credit: UInt32 = 0
    /// Receiver: how many more transfers we take before calling it a credit violation. At least
    /// `credit`; a grant adds to what was left of it, because a sender may read our link-credit
    /// as added to its own: RabbitMQ 3.10 sends, after our flow, the deliveries already on their
    /// way inside it and then the whole new credit. What is carried over is limited to twice the
    /// largest grant, so a peer can never get far beyond what we asked for. A sender that was
    /// never granted credit has none.
    var creditBudget: UInt32 = 0
    /// Receiver: the largest link-credit we granted, the measure of ``creditBudget``.
    var largestGrant: UInt32 = 0
    var drain = false
    /// Receiver: who grants credit, the application or the engine's top-up rule.
    var creditMode: CreditMode = .manual
    /// Receiver: deliveries started on the link that the application has not reported consumed.
    var heldDeliveries: UInt32 = 0
    /// Receiver: deliveries started on the link over its life, for ``CreditMode``'s total limit.
    var deliveriesReceived: UInt64 = 0
    /// Our attach was answered without the terminus we asked for: the peer's detach, which must
    /// follow, is reported as ``ConnectionEvent/linkRefused(_:error:)``.
    var refusedByPeer = false
    /// The peer's answer to our attach, until the next frame shows whether it keeps the link.
    var attachReply: Attach?
    /// Whether our detach closes the link (rather than only detaching it).
    var closing = false
    var localError: AMQPError?

    // Sender side
    var queue = FIFO<OutgoingDelivery>()
    // Receiver side
    var partial: PartialDelivery?

    /// Payload bytes of the delivery being reassembled, for the footprint.
    var partialBytes: Int { partial.map { $0.payload.count + ($0.firstFrame?.count ?? 0) } ?? 0 }

    var isSender: Bool { role == .sender }

    init(id: LinkID, name: String, role: Role, localHandle: Handle, remoteHandle: Handle?, phase: Phase,
         senderSettleMode: SenderSettleMode, receiverSettleMode: ReceiverSettleMode) {
        self.id = id
        self.name = name
        self.role = role
        self.localHandle = localHandle
        self.remoteHandle = remoteHandle
        self.phase = phase
        self.senderSettleMode = senderSettleMode
        self.receiverSettleMode = receiverSettleMode
    }

}

/// The state of one session (§2.5), as seen from our end. Still a class: its unsettled maps and
/// links change in place while the engine writes frames.
final class SessionState: @unchecked Sendable {
    enum Phase: Sendable, Hashable {
        /// We sent begin and wait for the peer's.
        case beginSent
        case mapped
        /// We sent end and wait for the peer's.
        case endSent
    }

    let id: SessionID
    let localChannel: UInt16
    var remoteChannel: UInt16?
    var phase: Phase

    // Outgoing transfers (§2.5.6)
    let initialOutgoingID: TransferNumber
    var nextOutgoingID: TransferNumber
    var remoteIncomingWindow: UInt32 = 0
    var nextDeliveryNumber: DeliveryNumber = 0

    // Incoming transfers
    var nextIncomingID: TransferNumber = 0
    var incomingWindow: UInt32
    let configuredIncomingWindow: UInt32
    var remoteOutgoingWindow: UInt32 = 0

    let handleMax: Handle
    var remoteHandleMax: Handle = .max
    /// Changed only through ``insertLink(_:)``, ``modifyLink(_:_:)`` and ``removeLink(_:)``, which
    /// keep the footprint counts.
    private(set) var links: [Handle: LinkState] = [:]
    /// Links in the order they were attached, for fair round-robin sending.
    var linkOrder: [Handle] = []
    var remoteHandles: [Handle: Handle] = [:]

    /// Our deliveries the peer has not settled: delivery-id → (link handle, our id).
    var unsettledOutgoing: [DeliveryNumber: (handle: Handle, id: OutgoingDeliveryID)] = [:] {
        didSet { countUnsettled() }
    }
    /// Deliveries we received and have not settled: delivery-id → link handle.
    var unsettledIncoming: [DeliveryNumber: Handle] = [:] {
        didSet { countUnsettled() }
    }

    var localError: AMQPError?

    let held: HeldCounts
    private var countedUnsettled = 0

    init(id: SessionID, localChannel: UInt16, incomingWindow: UInt32, handleMax: Handle, held: HeldCounts) {
        self.held = held
        self.id = id
        self.localChannel = localChannel
        self.phase = .beginSent
        self.initialOutgoingID = 0
        self.nextOutgoingID = 0
        self.incomingWindow = incomingWindow
        self.configuredIncomingWindow = incomingWindow
        self.handleMax = handleMax
    }

    deinit {
        held.unsettledDeliveries -= countedUnsettled
        for link in links.values { uncount(link) }
    }

    func insertLink(_ link: LinkState) {
        // Callers take a free handle; were it in use, the counts stay those of the link kept.
        if let replaced = links.updateValue(link, forKey: link.localHandle) { uncount(replaced) }
        held.links += 1
        held.queuedDeliveries += link.queue.count
        held.partialDeliveryBytes += link.partialBytes
    }

    /// Changes the link on `handle` in place and returns what `body` returns, or `nil` without
    /// calling it when there is no such link. Callers hold no copy of the link meanwhile: its
    /// queue or partial delivery would then be copied on the first change.
    @discardableResult
    func modifyLink<R>(_ handle: Handle, _ body: (inout LinkState) throws -> R) rethrows -> R? {
        guard links[handle] != nil else { return nil }
        return try Self.counting(&links[handle]!, held, body)
    }

    private static func counting<R>(_ link: inout LinkState, _ held: HeldCounts, _ body: (inout LinkState) throws -> R) rethrows -> R {
        let queued = link.queue.count
        let partialBytes = link.partialBytes
        defer {
            held.queuedDeliveries += link.queue.count - queued
            held.partialDeliveryBytes += link.partialBytes - partialBytes
        }
        return try body(&link)
    }

    @discardableResult
    func removeLink(_ handle: Handle) -> LinkState? {
        guard let link = links.removeValue(forKey: handle) else { return nil }
        uncount(link)
        return link
    }

    private func uncount(_ link: LinkState) {
        held.links -= 1
        held.queuedDeliveries -= link.queue.count
        held.partialDeliveryBytes -= link.partialBytes
    }

    private func countUnsettled() {
        let count = unsettledOutgoing.count + unsettledIncoming.count
        held.unsettledDeliveries += count - countedUnsettled
        countedUnsettled = count
    }

    /// The lowest handle not in use, or `nil` when `handle-max` (ours and the peer's) is reached.
    func freeHandle() -> Handle? {
        let limit = min(handleMax, remoteHandleMax)
        var h: Handle = 0
        while links[h] != nil {
            if h == limit { return nil }
            h += 1
        }
        return h <= limit ? h : nil
    }
}
