import AMQPCodec
import AMQPTypes

/// A call the engine cannot carry out in its current state.
public struct ConnectionUsageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was asked and why it cannot be done now.
    public var description: String
    init(_ description: String) { self.description = description }
}

extension ConnectionEngine {
    /// What we ask for when attaching a link.
    public struct LinkOptions: Sendable {
        /// The link name (`attach.name`); unique per direction between the two containers (§2.6.1).
        public var name: String
        /// Our end of the link: sender or receiver.
        public var role: Role
        /// The source terminus (§3.5.3), e.g. the node a receiver reads from.
        public var source: LinkSource?
        /// The target terminus (§3.5.4), e.g. the node a sender writes to.
        public var target: LinkTarget?
        /// How the sender settles (§2.8.2); `mixed` by default.
        public var senderSettleMode: SenderSettleMode
        /// When the receiver settles (§2.8.3); `first` by default.
        public var receiverSettleMode: ReceiverSettleMode
        /// For a receiver: the largest message we accept (defaults to the configuration's).
        public var maxMessageSize: UInt64?
        /// Link properties sent in `attach.properties`.
        public var properties: Fields?
        /// Extensions we support on this link (`attach.offered-capabilities`).
        public var offeredCapabilities: [Symbol]
        /// Extensions we would like the peer to support on this link (`attach.desired-capabilities`).
        public var desiredCapabilities: [Symbol]
        /// For a receiver: who grants credit once the peer answers (``CreditMode/manual`` by default).
        public var creditMode: CreditMode

        /// Options for attaching `name` as `role`; everything else defaults to the specification's
        /// defaults.
        public init(
            name: String, role: Role, source: LinkSource? = nil, target: LinkTarget? = nil,
            senderSettleMode: SenderSettleMode = .mixed, receiverSettleMode: ReceiverSettleMode = .first,
            maxMessageSize: UInt64? = nil, properties: Fields? = nil,
            offeredCapabilities: [Symbol] = [], desiredCapabilities: [Symbol] = [],
            creditMode: CreditMode = .manual
        ) {
            self.creditMode = creditMode
            self.name = name
            self.role = role
            self.source = source
            self.target = target
            self.senderSettleMode = senderSettleMode
            self.receiverSettleMode = receiverSettleMode
            self.maxMessageSize = maxMessageSize
            self.properties = properties
            self.offeredCapabilities = offeredCapabilities
            self.desiredCapabilities = desiredCapabilities
        }
    }

    var canStartEndpoints: Bool {
        !closeSent && !closeReceived && !isFinished
    }

    /// Begins a session. A client may call this before the connection is open: the `begin` is
    /// written right after our `open` (pipelining, §2.4.1).
    public mutating func beginSession() throws(ConnectionUsageError) -> SessionID {
        guard canStartEndpoints else { throw ConnectionUsageError("the connection is closing") }
        guard let channel = freeChannel() else { throw ConnectionUsageError("no free channel (channel-max reached)") }
        let id = SessionID(nextSessionSerial)
        nextSessionSerial += 1
        addSession(SessionState(id: id, localChannel: channel, incomingWindow: configuration.sessionIncomingWindow, handleMax: configuration.handleMax))
        sessionChannels[id] = channel
        writeBegin(channel)
        return id
    }

    /// Attaches a link on a session (ours or the peer's). Pipelining is allowed: the session's
    /// `begin` need not be answered yet.
    public mutating func attachLink(on sessionID: SessionID, _ options: LinkOptions) throws(ConnectionUsageError) -> LinkID {
        guard canStartEndpoints else { throw ConnectionUsageError("the connection is closing") }
        guard let channel = sessionChannels[sessionID], let phase = sessions[channel]?.phase, phase != .endSent else {
            throw ConnectionUsageError("\(sessionID) is not open")
        }
        guard let handle = sessions[channel]!.freeHandle() else { throw ConnectionUsageError("no free handle on \(sessionID)") }
        if sessions[channel]!.links.values.contains(where: { $0.name == options.name && $0.role == options.role }) {
            throw ConnectionUsageError("a \(options.role) link named \(options.name) is already attached on \(sessionID)")
        }
        let localMaxMessageSize = options.role == .receiver ? options.maxMessageSize ?? configuration.maxMessageSize : nil
        let attach = Attach(
            name: options.name, handle: handle, role: options.role,
            senderSettleMode: options.senderSettleMode, receiverSettleMode: options.receiverSettleMode,
            source: options.source, target: options.target,
            initialDeliveryCount: options.role == .sender ? 0 : nil,
            maxMessageSize: localMaxMessageSize,
            offeredCapabilities: options.offeredCapabilities, desiredCapabilities: options.desiredCapabilities,
            properties: options.properties
        )
        // Once the peer's open told us its frame size, an attach it could not read is refused
        // here rather than by the peer closing the connection with framing-error. A pipelined
        // attach, before that open, is sent as it is: its limit is not known yet.
        if remoteOpen != nil, case let excess = bytesOverPeerFrameSize(attach), excess > 0 {
            throw ConnectionUsageError("the attach of \(options.name) exceeds the peer's max-frame-size \(remoteMaxFrameSize) by \(excess) bytes")
        }
        let id = LinkID(nextLinkSerial)
        nextLinkSerial += 1
        var link = LinkState(
            id: id, name: options.name, role: options.role, localHandle: handle, remoteHandle: nil, phase: .attachSent,
            senderSettleMode: options.senderSettleMode, receiverSettleMode: options.receiverSettleMode
        )
        link.localMaxMessageSize = MessageSizeLimit(advertised: localMaxMessageSize)
        if options.role == .receiver { link.creditMode = options.creditMode }
        sessions.modify(channel) { $0.insertLink(link) }
        linkLocations[id] = (channel, handle)
        writeOnSession(attach, channel: channel)
        return id
    }

    /// Answers a ``ConnectionEvent/linkAttachRequested(_:_:_:)``: the link is attached with these
    /// termini (usually the ones the peer asked for).
    ///
    /// An answer larger than the peer's max-frame-size could not be read there (an attach is one
    /// frame): the link is refused instead with `amqp:frame-size-too-small`, and a
    /// ``ConnectionEvent/linkDetached(_:error:closed:byPeer:)`` follows.
    ///
    /// - Parameters:
    ///   - id: the link of the attach request.
    ///   - source: the source terminus of our answering attach.
    ///   - target: the target terminus of our answering attach.
    ///   - maxMessageSize: for a receiving link, the `max-message-size` we advertise (the
    ///     configuration's by default); for a sending link, informative only.
    ///   - enforcedMaxMessageSize: for a receiving link, where reassembly stops and the link is
    ///     detached with `amqp:link:message-size-exceeded`; the advertised size by default. A
    ///     larger value lets the application reject an oversized message instead (as Event Hubs does).
    ///   - senderSettleMode: for a sending link, the mode we use (the peer's request by default),
    ///     e.g. `.settled` to send pre-settled whatever the receiver asked.
    ///   - properties: link properties of our attach (`attach.properties`).
    ///   - offeredCapabilities: extensions we support on this link (`attach.offered-capabilities`).
    ///   - creditMode: for a receiving link, who grants credit; with a window the first grant
    ///     follows the accepting attach at once.
    public mutating func acceptLink(
        _ id: LinkID, source: LinkSource?, target: LinkTarget?, maxMessageSize: UInt64? = nil,
        enforcedMaxMessageSize: UInt64? = nil, senderSettleMode: SenderSettleMode? = nil,
        properties: Fields? = nil, offeredCapabilities: [Symbol] = [], creditMode: CreditMode = .manual
    ) throws(ConnectionUsageError) {
        // After a close nothing is written, and no event may follow (credit the peer pipelined
        // with its attach would otherwise be reported after `closed`).
        guard canStartEndpoints else { throw ConnectionUsageError("the connection is closing; \(id) cannot be accepted") }
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle], link.phase == .attachReceived
        else { throw ConnectionUsageError("\(id) is not waiting for an answer") }
        var advertised = maxMessageSize
        if link.role == .receiver {
            advertised = maxMessageSize ?? configuration.maxMessageSize
        }
        let attach = Attach(
            name: link.name, handle: handle, role: link.role,
            senderSettleMode: link.role == .sender ? senderSettleMode ?? link.senderSettleMode : link.senderSettleMode,
            receiverSettleMode: link.receiverSettleMode,
            source: source, target: target,
            initialDeliveryCount: link.role == .sender ? link.deliveryCount : nil,
            maxMessageSize: advertised,
            offeredCapabilities: offeredCapabilities, properties: properties
        )
        let excess = bytesOverPeerFrameSize(attach)
        if excess > 0 {
            // The peer could not read this answer: refuse the link instead, saying why.
            refuseLink(id, error: AMQPError(
                condition: .amqp(.frameSizeTooSmall),
                description: "the attach accepting this link exceeds the peer's max-frame-size \(remoteMaxFrameSize) by \(excess) bytes"))
            return
        }
        modifyLink(channel, handle) { link in
            link.phase = .attached
            if link.role == .receiver {
                link.localMaxMessageSize = MessageSizeLimit(advertised: enforcedMaxMessageSize ?? advertised)
                link.creditMode = creditMode
            } else if let senderSettleMode {
                link.senderSettleMode = senderSettleMode
            }
        }
        writeOnSession(attach, channel: channel)
        topUpCredit(channel, handle)
        // Credit the peer granted together with its attach (pipelined) is usable now.
        if link.isSender && (link.credit > 0 || link.drain) {
            events.append(.creditGranted(id, credit: link.credit, drain: link.drain))
            if link.drain { pendingDrains.insert(id) }
            pump(channel)
        }
    }

    /// Refuses a ``ConnectionEvent/linkAttachRequested(_:_:_:)``: answers with an `attach`, then
    /// detaches with `error` (§2.6.3).
    ///
    /// By default the answering `attach` carries no terminus, which is how the specification says
    /// "refused". Some clients (Microsoft's Python `pyamqp`) cannot read an `attach` without both
    /// termini and would retry for ever instead of reporting the error; pass the peer's termini
    /// to answer them the way Azure does.
    public mutating func refuseLink(_ id: LinkID, error: AMQPError, source: LinkSource? = nil, target: LinkTarget? = nil) {
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle], link.phase == .attachReceived
        else { return }
        writeAnsweringAttach(link, handle: handle, channel: channel, source: source, target: target)
        modifyLink(channel, handle) { link in
            link.phase = .detachSent
            link.closing = true
            link.localError = error
        }
        writeOnSession(fitted(error) { Detach(handle: handle, closed: true, error: $0) }, channel: channel)
    }

    /// Receiver: sets the link's credit to `credit` (not adds), optionally asking the sender to
    /// drain: use it up or give it back (§2.6.7). On a link in ``CreditMode/window(_:heldUntilConsumed:totalLimit:)``
    /// mode the engine's top-up rule goes on from what this sets, except while a drain is under way.
    public mutating func setCredit(_ credit: UInt32, drain: Bool = false, on id: LinkID) throws(ConnectionUsageError) {
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle] else {
            throw ConnectionUsageError("\(id) is not attached")
        }
        guard !link.isSender else { throw ConnectionUsageError("\(id) is a sender; credit is the receiver's to give") }
        guard link.phase == .attached || link.phase == .attachSent else { return }
        grantCredit(credit, drain: drain, channel, handle)
    }

    /// The credit a link has now: for a sender, how many deliveries it may start.
    public func credit(of id: LinkID) -> UInt32? {
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle] else { return nil }
        return link.credit
    }

    /// Sender: how many deliveries wait for credit or window.
    public func queuedDeliveries(on id: LinkID) -> Int? {
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle] else { return nil }
        return link.queue.count
    }

    /// The peer's `max-message-size` for a sender link, once attached (`nil`: no limit).
    public func peerMaxMessageSize(of id: LinkID) -> UInt64? {
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle] else { return nil }
        return link.remoteMaxMessageSize.bytes
    }

    /// Sender: queues a delivery of `payload` (an encoded message). It is written as soon as the
    /// link has credit and the session window allows, split into frames at the peer's
    /// max-frame-size. Its outcome arrives as ``ConnectionEvent/outcome(_:_:_:settled:)``; a
    /// pre-settled delivery reports `settled: true` once written. A payload larger than the
    /// peer's max-message-size is refused here once the peer's attach has told it; one queued
    /// before that is reported `rejected` (`amqp:link:message-size-exceeded`) instead of sent.
    ///
    /// - Parameters:
    ///   - id: the sending link.
    ///   - payload: the encoded message.
    ///   - tag: the delivery tag; by default the engine numbers deliveries.
    ///   - settled: for `mixed` links, whether to send pre-settled; `nil` follows the link's
    ///     sender-settle-mode.
    ///   - messageFormat: the transfer's `message-format` (0, the standard format, by default).
    @discardableResult
    public mutating func send(
        on id: LinkID, payload: ArraySlice<UInt8>, tag: DeliveryTag? = nil, settled: Bool? = nil,
        messageFormat: MessageFormat = 0
    ) throws(ConnectionUsageError) -> OutgoingDeliveryID {
        // Only what is needed is read: a copy of the link kept while its queue grows would copy
        // the queue with every message.
        guard let (channel, handle) = linkLocations[id],
              let (isSender, phase, remoteMaxMessageSize, senderSettleMode) = sessions[channel]?.links[handle].map({
                  ($0.isSender, $0.phase, $0.remoteMaxMessageSize, $0.senderSettleMode)
              })
        else {
            throw ConnectionUsageError("\(id) is not attached")
        }
        guard isSender else { throw ConnectionUsageError("\(id) is a receiver") }
        guard phase == .attached || phase == .attachSent else { throw ConnectionUsageError("\(id) is detaching") }
        guard remoteMaxMessageSize.admits(payload.count) else {
            throw ConnectionUsageError(remoteMaxMessageSize.exceeded(by: payload.count).description ?? "message-size-exceeded")
        }
        let serial = nextDeliverySerial
        nextDeliverySerial += 1
        let deliveryTag = tag ?? Binary(withUnsafeBytes(of: serial.bigEndian) { Array($0) })
        guard deliveryTag.count <= 32 else { throw ConnectionUsageError("delivery tags are at most 32 bytes") }
        let isSettled: Bool
        switch senderSettleMode {
        case .settled: isSettled = true
        case .unsettled: isSettled = false
        case .mixed: isSettled = settled ?? false
        }
        let deliveryID = OutgoingDeliveryID(serial)
        modifyLink(channel, handle) {
            $0.queue.append(OutgoingDelivery(id: deliveryID, payload: payload, tag: deliveryTag, settled: isSettled, messageFormat: messageFormat))
        }
        pump(channel)
        return deliveryID
    }

    /// Answers the drains peers asked for on our sending links (§2.6.7): a link with nothing
    /// queued uses up its remaining credit by advancing delivery-count and says so in a `flow`; a
    /// link with queued deliveries is answered once they are written.
    ///
    /// Call it after the events of a step have been handled, so that an application that sends
    /// in response to ``ConnectionEvent/creditGranted(_:credit:drain:)`` does so before the drain
    /// is answered (answering at once would give the credit back while the application still
    /// had messages for it). The SwiftNIO transport calls it before every flush.
    public mutating func answerDrains() {
        guard !pendingDrains.isEmpty, !isFinished else { return }
        for id in pendingDrains {
            let stillPending = linkLocations[id].map { finishDrainIfNeeded($0.channel, $0.handle) } ?? false
            if !stillPending { pendingDrains.remove(id) }
        }
    }

    /// Receiver: settles (and/or sets the state of) a delivery we received (§2.7.6).
    public mutating func settle(_ deliveryID: DeliveryNumber, on id: LinkID, state: DeliveryState?, settled: Bool = true) throws(ConnectionUsageError) {
        try settle(deliveryIDs: [deliveryID], on: id, state: state, settled: settled)
    }

    /// Receiver: settles several deliveries with one state, in as few `disposition` frames as
    /// their ids allow.
    public mutating func settle(deliveryIDs: [DeliveryNumber], on id: LinkID, state: DeliveryState?, settled: Bool = true) throws(ConnectionUsageError) {
        guard let (channel, _) = linkLocations[id], sessions[channel] != nil else {
            throw ConnectionUsageError("\(id) is not attached")
        }
        let ids = deliveryIDs.sorted()
        if settled {
            sessions.modify(channel) { session in
                for deliveryID in ids { session.unsettledIncoming.removeValue(forKey: deliveryID) }
            }
        }
        writeDispositions(channel, role: .receiver, ids: ids, state: state, settled: settled)
    }

    /// Detaches a link (closing it unless `closed` is false); ``ConnectionEvent/linkDetached(_:error:closed:byPeer:)``
    /// follows when the peer answers.
    public mutating func detachLink(_ id: LinkID, closed: Bool = true, error: AMQPError? = nil) {
        guard let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle], link.phase != .detachSent
        else { return }
        // A link the peer attached and we never answered: our detach needs our attach first.
        if link.phase == .attachReceived { writeAnsweringAttach(link, handle: handle, channel: channel) }
        modifyLink(channel, handle) { link in
            link.phase = .detachSent
            link.closing = closed
            link.localError = error
            link.queue.removeAll()
        }
        writeOnSession(fitted(error) { Detach(handle: handle, closed: closed, error: $0) }, channel: channel)
    }

    /// Ends a session; ``ConnectionEvent/sessionEnded(_:error:byPeer:)`` follows when the peer answers.
    public mutating func endSession(_ id: SessionID, error: AMQPError? = nil) {
        guard let channel = sessionChannels[id], let phase = sessions[channel]?.phase, phase != .endSent else { return }
        sessions.modify(channel) { session in
            session.phase = .endSent
            session.localError = error
        }
        write(fitted(error) { End(error: $0) }, channel: channel)
    }

    /// Closes the connection; ``ConnectionEvent/closed(error:byPeer:)`` follows when the peer answers.
    public mutating func close(error: AMQPError? = nil) {
        if openSent {
            closeConnection(error)
        } else {
            // Nothing AMQP was said yet: there is nothing to close but the socket.
            phase = .finished
        }
    }
}
