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

/// What sessions and links hold, kept as they change so that ``ConnectionEngine/footprint`` costs
/// the same with one link or thousands: the fuzz drivers read it after every step, and walking
/// every session and link there took 40% of their time.
///
/// A session keeps its links' counts (``SessionState/modifyLink(_:_:)``); the engine's
/// ``SessionTable`` keeps the sum over its sessions, adding what each change of a session made
/// differ (``SessionTable/modify(_:_:)``) and taking back what a session held when it goes.
struct HeldCounts: Hashable, Sendable {
    var links = 0
    var unsettledDeliveries = 0
    var queuedDeliveries = 0
    var partialDeliveryBytes = 0

    static func + (a: HeldCounts, b: HeldCounts) -> HeldCounts {
        HeldCounts(links: a.links + b.links, unsettledDeliveries: a.unsettledDeliveries + b.unsettledDeliveries,
                   queuedDeliveries: a.queuedDeliveries + b.queuedDeliveries,
                   partialDeliveryBytes: a.partialDeliveryBytes + b.partialDeliveryBytes)
    }

    static func - (a: HeldCounts, b: HeldCounts) -> HeldCounts {
        HeldCounts(links: a.links - b.links, unsettledDeliveries: a.unsettledDeliveries - b.unsettledDeliveries,
                   queuedDeliveries: a.queuedDeliveries - b.queuedDeliveries,
                   partialDeliveryBytes: a.partialDeliveryBytes - b.partialDeliveryBytes)
    }

    static func += (a: inout HeldCounts, b: HeldCounts) { a = a + b }
    static func -= (a: inout HeldCounts, b: HeldCounts) { a = a - b }
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

    /// Sender: whether a frame can be written now (the rest of a delivery under way needs no
    /// more credit; a new one needs credit).
    var isReadyToSend: Bool {
        isSender && phase == .attached && !queue.isEmpty && (queue.first?.deliveryNumber != nil || credit > 0)
    }

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

/// The state of one session (§2.5), as seen from our end: a value kept in the engine's
/// ``SessionTable`` under its local channel and changed in place through
/// ``SessionTable/modify(_:_:)``. Its links are values keyed by our handle, changed in place
/// through ``modifyLink(_:_:)``.
struct SessionState: Sendable {
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
    /// keep ``linkOrder`` and the counts of what the links hold.
    private(set) var links: [Handle: LinkState] = [:]
    /// Links in the order they were attached, for fair round-robin sending.
    private(set) var linkOrder: [Handle] = []
    /// The peer's handle → ours.
    var remoteHandles: [Handle: Handle] = [:]

    /// Our deliveries the peer has not settled: delivery-id → (link handle, our id).
    var unsettledOutgoing: [DeliveryNumber: (handle: Handle, id: OutgoingDeliveryID)] = [:]
    /// Deliveries we received and have not settled: delivery-id → link handle.
    var unsettledIncoming: [DeliveryNumber: Handle] = [:]

    var localError: AMQPError?

    /// Deliveries queued on the links, and payload bytes of the deliveries they reassemble.
    private var queuedDeliveries = 0
    private var partialDeliveryBytes = 0

    /// What the session and its links hold now.
    var held: HeldCounts {
        HeldCounts(links: links.count, unsettledDeliveries: unsettledOutgoing.count + unsettledIncoming.count,
                   queuedDeliveries: queuedDeliveries, partialDeliveryBytes: partialDeliveryBytes)
    }

    init(id: SessionID, localChannel: UInt16, phase: Phase = .beginSent, incomingWindow: UInt32, handleMax: Handle) {
        self.id = id
        self.localChannel = localChannel
        self.phase = phase
        self.initialOutgoingID = 0
        self.nextOutgoingID = 0
        self.incomingWindow = incomingWindow
        self.configuredIncomingWindow = incomingWindow
        self.handleMax = handleMax
    }

    /// Adds `link` on its local handle, last in the sending order.
    mutating func insertLink(_ link: LinkState) {
        // Callers take a free handle; were it in use, the counts stay those of the link kept.
        if let replaced = links.updateValue(link, forKey: link.localHandle) {
            uncount(replaced)
        } else {
            linkOrder.append(link.localHandle)
        }
        queuedDeliveries += link.queue.count
        partialDeliveryBytes += link.partialBytes
    }

    /// Changes the link on `handle` in place and returns what `body` returns, or `nil` without
    /// calling it when there is no such link. Callers hold no copy of the link meanwhile: its
    /// queue or partial delivery would then be copied on the first change.
    @discardableResult
    mutating func modifyLink<R>(_ handle: Handle, _ body: (inout LinkState) throws -> R) rethrows -> R? {
        // Through `values[index]`, which lends the stored value itself: `links[handle]!` would
        // move it out into an optional and back (a copy and a heap-allocated accessor frame each time).
        guard let index = links.index(forKey: handle) else { return nil }
        return try Self.counting(&links.values[index], &queuedDeliveries, &partialDeliveryBytes, body)
    }

    private static func counting<R>(_ link: inout LinkState, _ queuedDeliveries: inout Int, _ partialDeliveryBytes: inout Int,
                                    _ body: (inout LinkState) throws -> R) rethrows -> R {
        let queued = link.queue.count
        let partialBytes = link.partialBytes
        defer {
            queuedDeliveries += link.queue.count - queued
            partialDeliveryBytes += link.partialBytes - partialBytes
        }
        return try body(&link)
    }

    /// Removes the link on `handle` with what refers to it: its place in the sending order and
    /// its deliveries not yet settled, which can no longer be settled through it.
    @discardableResult
    mutating func removeLink(_ handle: Handle) -> LinkState? {
        guard let link = links.removeValue(forKey: handle) else { return nil }
        uncount(link)
        linkOrder.removeAll { $0 == handle }
        if let remote = link.remoteHandle { remoteHandles.removeValue(forKey: remote) }
        if unsettledOutgoing.values.contains(where: { $0.handle == handle }) {
            unsettledOutgoing = unsettledOutgoing.filter { $0.value.handle != handle }
        }
        if unsettledIncoming.values.contains(handle) {
            unsettledIncoming = unsettledIncoming.filter { $0.value != handle }
        }
        return link
    }

    private mutating func uncount(_ link: LinkState) {
        queuedDeliveries -= link.queue.count
        partialDeliveryBytes -= link.partialBytes
    }

    /// The link the peer calls `remoteHandle`.
    func link(onRemoteHandle remoteHandle: Handle) -> LinkState? {
        remoteHandles[remoteHandle].flatMap { links[$0] }
    }

    /// Writes as many queued transfers as the peer's incoming window and each link's credit
    /// allow, taking links in turn (fair round-robin). Returns how many frames were written.
    mutating func writeQueuedTransfers(channel: UInt16, frameLimit: Int, into output: inout AMQPEncoder,
                                       events: inout [ConnectionEvent]) -> Int {
        var frames = 0
        var progressed = true
        while progressed && remoteIncomingWindow > 0 {
            progressed = false
            for handle in linkOrder {
                guard remoteIncomingWindow > 0 else { break }
                guard let index = links.index(forKey: handle), links.values[index].isReadyToSend else { continue }
                let written = links.values[index].writeNextFrames(
                    channel: channel, frameLimit: frameLimit, nextDeliveryNumber: &nextDeliveryNumber,
                    nextOutgoingID: &nextOutgoingID, remoteIncomingWindow: &remoteIncomingWindow,
                    unsettled: &unsettledOutgoing, into: &output, events: &events)
                if written.finishedDelivery { queuedDeliveries -= 1 }
                if written.frames > 0 {
                    frames += written.frames
                    progressed = true
                }
            }
        }
        return frames
    }

    /// Our link named `name` in `role` whose attach the peer has not answered: attaching, or
    /// detached before the answer came.
    func unansweredLink(named name: String, role: Role) -> Handle? {
        linkOrder.first { handle in
            let link = links[handle]!
            let unanswered = link.phase == .attachSent || (link.phase == .detachSent && link.remoteHandle == nil)
            return unanswered && link.name == name && link.role == role
        }
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

/// The sessions of a connection, keyed by our channel, with the sum of what they hold: every
/// change goes through here, so the sum cannot drift from the sessions.
struct SessionTable: Sendable {
    private(set) var byChannel: [UInt16: SessionState] = [:]
    /// What the sessions in the table and their links hold.
    private(set) var held = HeldCounts()

    subscript(channel: UInt16) -> SessionState? { byChannel[channel] }

    var count: Int { byChannel.count }

    /// Adds `session` on its local channel, which must be free.
    mutating func insert(_ session: SessionState) {
        if let replaced = byChannel.updateValue(session, forKey: session.localChannel) { held -= replaced.held }
        held += session.held
    }

    /// Removes the session on `channel` and what it held from the sum.
    mutating func remove(_ channel: UInt16) -> SessionState? {
        guard let session = byChannel.removeValue(forKey: channel) else { return nil }
        held -= session.held
        return session
    }

    /// Changes the session on `channel` in place and returns what `body` returns, or `nil`
    /// without calling it when there is no such session; the sum follows what `body` changed.
    @discardableResult
    mutating func modify<R>(_ channel: UInt16, _ body: (inout SessionState) throws -> R) rethrows -> R? {
        // In place through `values[index]`, as ``SessionState/modifyLink(_:_:)`` does.
        guard let index = byChannel.index(forKey: channel) else { return nil }
        return try Self.counting(&byChannel.values[index], &held, body)
    }

    private static func counting<R>(_ session: inout SessionState, _ held: inout HeldCounts,
                                    _ body: (inout SessionState) throws -> R) rethrows -> R {
        let before = session.held
        defer { held += session.held - before }
        return try body(&session)
    }
}
