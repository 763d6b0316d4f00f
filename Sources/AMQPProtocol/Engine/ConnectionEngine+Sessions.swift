import AMQPCodec
import AMQPTypes

extension ConnectionEngine {
    // MARK: Sessions (§2.5)

    mutating func receiveBegin(_ begin: Begin, channel: UInt16) {
        guard remoteChannels[channel] == nil else {
            closeForViolation(.connection(.framingError), "begin on channel \(channel), which already has a session")
            return
        }
        endedRemoteChannels.remove(channel)
        guard channel <= configuration.channelMax else {
            closeForViolation(.connection(.framingError), "channel \(channel) exceeds channel-max \(configuration.channelMax)")
            return
        }
        let local: UInt16
        if let answered = begin.remoteChannel {
            // The peer answers a begin of ours, perhaps one we have ended since: its end follows.
            guard let session = sessions[answered], session.phase != .mapped, session.remoteChannel == nil else {
                closeForViolation(.amqp(.illegalState), "begin answers channel \(answered), where no begin of ours waits")
                return
            }
            local = answered
        } else {
            guard let free = freeChannel() else {
                closeForViolation(.amqp(.resourceLimitExceeded), "no free channel for a new session")
                return
            }
            local = free
            let id = SessionID(nextSessionSerial)
            nextSessionSerial += 1
            let session = SessionState(id: id, localChannel: local, incomingWindow: configuration.sessionIncomingWindow, handleMax: configuration.handleMax, held: held)
            session.phase = .mapped
            addSession(session, on: local)
            sessionChannels[id] = local
        }
        remoteChannels[channel] = local
        sessions[local]!.remoteChannel = channel
        // Mapped only to take the peer's end, which completes ours (receiveEnd).
        if sessions[local]!.phase == .endSent { return }
        sessions[local]!.phase = .mapped
        sessions[local]!.nextIncomingID = begin.nextOutgoingID
        sessions[local]!.remoteOutgoingWindow = begin.outgoingWindow
        sessions[local]!.remoteHandleMax = begin.handleMax
        // §2.5.6: remote-incoming-window = next-incoming-id(peer) + incoming-window(peer) - next-outgoing-id(ours);
        // at begin the peer has seen none of our transfers.
        sessions[local]!.remoteIncomingWindow = begin.incomingWindow
        if begin.remoteChannel == nil {
            writeBegin(local)
        }
        events.append(.sessionBegun(sessions[local]!.id, begin))
        pump(local)
    }

    /// The lowest channel no session uses, or `nil` when `channel-max` (ours and the peer's) is
    /// reached. The search starts at ``firstChannelMaybeFree``, so opening n sessions costs O(n),
    /// not O(n²).
    func freeChannel() -> UInt16? {
        let limit = Int(min(configuration.channelMax, remoteChannelMax))
        var channel = firstChannelMaybeFree
        while channel <= limit {
            if sessions[UInt16(channel)] == nil { return UInt16(channel) }
            channel += 1
        }
        return nil
    }

    /// Maps a new session to `channel`, which ``freeChannel()`` returned.
    mutating func addSession(_ session: SessionState, on channel: UInt16) {
        sessions[channel] = session
        firstChannelMaybeFree = Int(channel) + 1
    }

    mutating func writeBegin(_ channel: UInt16) {
        guard let session = sessions[channel] else { return }
        write(
            Begin(
                remoteChannel: session.remoteChannel,
                nextOutgoingID: session.nextOutgoingID,
                incomingWindow: session.incomingWindow,
                outgoingWindow: .max,
                handleMax: session.handleMax
            ),
            channel: channel
        )
    }

    mutating func receiveEnd(_ end: End, channel: UInt16) {
        guard let local = remoteChannels[channel], let session = sessions[local] else {
            closeForViolation(.connection(.framingError), "end on channel \(channel), which has no session")
            return
        }
        if session.phase != .endSent {
            write(End(), channel: local)
        }
        endedRemoteChannels.insert(channel)
        removeSession(local, error: end.error ?? session.localError, byPeer: session.phase != .endSent)
    }

    mutating func removeSession(_ local: UInt16, error: AMQPError?, byPeer: Bool) {
        guard let session = sessions.removeValue(forKey: local) else { return }
        firstChannelMaybeFree = min(firstChannelMaybeFree, Int(local))
        if let remote = session.remoteChannel { remoteChannels.removeValue(forKey: remote) }
        sessionChannels.removeValue(forKey: session.id)
        // Ending a session detaches its links (§2.6.1); report each.
        for handle in session.linkOrder {
            guard let link = session.links[handle] else { continue }
            linkLocations.removeValue(forKey: link.id)
            guard link.isReported else { continue }
            if link.refusedByPeer {
                events.append(.linkRefused(link.id, error: error))
            } else {
                events.append(.linkDetached(link.id, error: error, closed: false, byPeer: byPeer))
            }
        }
        events.append(.sessionEnded(session.id, error: error, byPeer: byPeer))
    }

    /// Sender: `send` refuses a message larger than the peer's max-message-size, but it can only
    /// know the limit once the peer's attach has answered ours. Deliveries queued before that and
    /// larger than the limit are never written (the peer would detach the link with
    /// `message-size-exceeded`): each is reported as settled and `rejected` with that condition,
    /// which is what sending it would have earned.
    mutating func refuseOversizedQueuedDeliveries(_ link: LinkState) {
        let limit = link.remoteMaxMessageSize
        guard link.queue.elements.contains(where: { !limit.admits($0.payload.count) }) else { return }
        let queued = link.queue.elements
        link.queue.removeAll()
        for delivery in queued {
            // Nothing of a delivery is written before the peer's attach (it grants no credit before).
            if delivery.offset == 0, !limit.admits(delivery.payload.count) {
                let error = limit.exceeded(by: delivery.payload.count)
                events.append(.outcome(link.id, delivery.id, .rejected(Rejected(error: error)), settled: true))
            } else {
                link.queue.append(delivery)
            }
        }
    }

    /// Ends a session because the peer broke a session-level rule (§2.5.5).
    mutating func endSessionForViolation(_ local: UInt16, _ condition: ErrorCondition, _ description: String) {
        guard let session = sessions[local], session.phase != .endSent else { return }
        let error = AMQPError(condition: condition, description: description)
        session.phase = .endSent
        session.localError = error
        write(fitted(error) { End(error: $0) }, channel: local)
    }

    // MARK: Links (§2.6)

    mutating func receiveAttach(_ attach: Attach, channel: UInt16) {
        guard let session = sessions[channel], session.phase == .mapped else { return }
        guard session.remoteHandles[attach.handle] == nil else {
            endSessionForViolation(channel, .session(.handleInUse), "handle \(attach.handle) is already attached")
            return
        }
        guard attach.handle <= session.handleMax else {
            endSessionForViolation(channel, .connection(.framingError), "handle \(attach.handle) exceeds handle-max \(session.handleMax)")
            return
        }
        let ourRole: Role = attach.role == .sender ? .receiver : .sender
        if let local = session.linkOrder.first(where: {
            let link = session.links[$0]!
            // Ours and not yet answered: attaching, or detached before the answer came.
            let unanswered = link.phase == .attachSent || (link.phase == .detachSent && link.remoteHandle == nil)
            return unanswered && link.name == attach.name && link.role == ourRole
        }) {
            // The peer answers our attach.
            let link = session.links[local]!
            if link.phase == .detachSent {
                // We detached meanwhile: the peer's detach answering ours follows on this handle.
                link.remoteHandle = attach.handle
                session.remoteHandles[attach.handle] = local
                return
            }
            link.remoteHandle = attach.handle
            link.phase = .attached
            if ourRole == .receiver {
                guard let initial = attach.initialDeliveryCount else {
                    detachForViolation(channel, local, .amqp(.invalidField), "a sender's attach must carry initial-delivery-count")
                    return
                }
                link.deliveryCount = initial
            } else {
                link.remoteMaxMessageSize = attach.messageSizeLimit
            }
            link.senderSettleMode = attach.sndSettleMode
            link.receiverSettleMode = attach.rcvSettleMode
            session.links[local] = link
            session.remoteHandles[attach.handle] = local
            // A reply without the terminus we asked for refuses the link (§2.6.3); its detach follows.
            let kept = ourRole == .sender ? attach.target != nil : attach.source != nil
            if kept {
                link.attachReply = attach
                pendingAttachReply = link.id
            } else {
                link.refusedByPeer = true
            }
            return
        }
        // The peer attaches a link we did not ask for.
        guard let local = session.freeHandle() else {
            endSessionForViolation(channel, .amqp(.resourceLimitExceeded), "no free handle for link \(attach.name)")
            return
        }
        let id = LinkID(nextLinkSerial)
        nextLinkSerial += 1
        let link = LinkState(
            id: id, name: attach.name, role: ourRole, localHandle: local, remoteHandle: attach.handle,
            phase: .attachReceived, senderSettleMode: attach.sndSettleMode, receiverSettleMode: attach.rcvSettleMode, held: held
        )
        if ourRole == .receiver {
            guard let initial = attach.initialDeliveryCount else {
                // Answer, then detach: the link cannot work without a delivery count.
                link.isReported = false
                session.links[local] = link
                session.linkOrder.append(local)
                session.remoteHandles[attach.handle] = local
                linkLocations[id] = (channel, local)
                refuseLink(id, error: AMQPError(condition: .amqp(.invalidField), description: "a sender's attach must carry initial-delivery-count"))
                return
            }
            link.deliveryCount = initial
            link.localMaxMessageSize = MessageSizeLimit(advertised: configuration.maxMessageSize)
        } else {
            link.remoteMaxMessageSize = attach.messageSizeLimit
        }
        session.links[local] = link
        session.linkOrder.append(local)
        session.remoteHandles[attach.handle] = local
        linkLocations[id] = (channel, local)
        events.append(.linkAttachRequested(session.id, id, attach))
    }

    /// Whether `detach`, read on the peer's `remoteChannel`, detaches `link`.
    func detaches(_ detach: Detach, onRemoteChannel remoteChannel: UInt16, link: LinkID) -> Bool {
        guard let (local, handle) = linkLocations[link], remoteChannels[remoteChannel] == local,
              let remoteHandle = sessions[local]?.links[handle]?.remoteHandle
        else { return false }
        return detach.handle == remoteHandle
    }

    /// Reports the link whose attach reply was the last frame read as attached, now that the next
    /// frame (or the end of the bytes read) shows the peer keeps it; then what waited for it:
    /// refusing oversized queued deliveries (sender), the first credit window (receiver).
    mutating func reportPendingAttach() {
        guard let id = pendingAttachReply else { return }
        pendingAttachReply = nil
        guard !closeSent, !isFinished, let (channel, handle) = linkLocations[id], let link = sessions[channel]?.links[handle],
              let attach = link.attachReply
        else { return }
        link.attachReply = nil
        events.append(.linkAttached(id, attach))
        if link.isSender {
            refuseOversizedQueuedDeliveries(link)
        } else {
            topUpCredit(channel, handle)
        }
    }

    mutating func receiveDetach(_ detach: Detach, channel: UInt16) {
        guard let session = sessions[channel] else { return }
        guard let local = session.remoteHandles[detach.handle], let link = session.links[local] else {
            endSessionForViolation(channel, .session(.unattachedHandle), "detach of handle \(detach.handle), which is not attached")
            return
        }
        let byPeer = link.phase != .detachSent
        if byPeer {
            if link.phase == .attachReceived {
                // The peer detaches a link before our application answered its attach.
                writeAnsweringAttach(link, handle: local, channel: channel)
            }
            writeOnSession(Detach(handle: local, closed: detach.closed), channel: channel)
        }
        removeLink(channel, local, error: byPeer ? detach.error : (detach.error ?? link.localError), closed: detach.closed, byPeer: byPeer)
    }

    mutating func removeLink(_ channel: UInt16, _ local: Handle, error: AMQPError?, closed: Bool, byPeer: Bool) {
        guard let session = sessions[channel], let link = session.links.removeValue(forKey: local) else { return }
        if let remote = link.remoteHandle { session.remoteHandles.removeValue(forKey: remote) }
        session.linkOrder.removeAll { $0 == local }
        // Deliveries of this link can no longer be settled through it.
        session.unsettledOutgoing = session.unsettledOutgoing.filter { $0.value.handle != local }
        session.unsettledIncoming = session.unsettledIncoming.filter { $0.value != local }
        linkLocations.removeValue(forKey: link.id)
        guard link.isReported else { return }
        if link.refusedByPeer {
            events.append(.linkRefused(link.id, error: error))
        } else {
            events.append(.linkDetached(link.id, error: error, closed: closed, byPeer: byPeer))
        }
    }

    /// Answers a peer's attach that our application has not answered, by default without termini
    /// (a refusal, §2.6.3). Any detach we write for such a link must follow it: a detach may only
    /// name a handle our own attach established.
    mutating func writeAnsweringAttach(_ link: LinkState, handle: Handle, channel: UInt16,
                                       source: LinkSource? = nil, target: LinkTarget? = nil) {
        func answer(_ source: LinkSource?, _ target: LinkTarget?) -> Attach {
            Attach(name: link.name, handle: handle, role: link.role, sndSettleMode: link.senderSettleMode,
                   rcvSettleMode: link.receiverSettleMode, source: source, target: target,
                   initialDeliveryCount: link.role == .sender ? link.deliveryCount : nil)
        }
        var attach = answer(source, target)
        if bytesOverPeerFrameSize(attach) > 0 {
            // A refusal needs no termini; without them only a name longer than the peer's frames
            // can be too large, and then there is no answering it (§2.7.1 has no room for it).
            attach = answer(nil, nil)
            let excess = bytesOverPeerFrameSize(attach)
            guard excess <= 0 else {
                closeConnection(AMQPError(
                    condition: .amqp(.frameSizeTooSmall),
                    description: "the attach answering link \(link.id) would exceed the peer's max-frame-size \(remoteMaxFrameSize) by \(excess) bytes"))
                return
            }
        }
        writeOnSession(attach, channel: channel)
    }

    /// Detaches a link because the peer broke a link-level rule (§2.6).
    mutating func detachForViolation(_ channel: UInt16, _ local: Handle, _ condition: ErrorCondition, _ description: String) {
        guard let session = sessions[channel], let link = session.links[local], link.phase != .detachSent else { return }
        let error = AMQPError(condition: condition, description: description)
        // Transfers on a link our application has not answered yet: answer before detaching.
        if link.phase == .attachReceived { writeAnsweringAttach(link, handle: local, channel: channel) }
        link.phase = .detachSent
        link.localError = error
        link.closing = true
        link.partial = nil
        writeOnSession(fitted(error) { Detach(handle: local, closed: true, error: $0) }, channel: channel)
    }

    // MARK: Flow (§2.6.7, §2.7.4)

    mutating func receiveFlow(_ flow: Flow, channel: UInt16) {
        guard let session = sessions[channel] else { return }
        // §2.5.6: remote-incoming-window = next-incoming-id(flow) + incoming-window(flow) - next-outgoing-id(ours).
        let theirNextIncoming = flow.nextIncomingID ?? session.initialOutgoingID
        let window = (theirNextIncoming + flow.incomingWindow).rawValue &- session.nextOutgoingID.rawValue
        session.remoteIncomingWindow = window <= flow.incomingWindow ? window : 0
        session.remoteOutgoingWindow = flow.outgoingWindow

        guard let remoteHandle = flow.handle else {
            if flow.echo { writeSessionFlow(channel) }
            pump(channel)
            return
        }
        guard let local = session.remoteHandles[remoteHandle], let link = session.links[local] else {
            endSessionForViolation(channel, .session(.unattachedHandle), "flow for handle \(remoteHandle), which is not attached")
            return
        }
        // A peer may send its flow right after its attach, before we answered it (pipelining):
        // the credit is kept and reported once the application accepts the link.
        let awaitingOurAttach = link.phase == .attachReceived
        guard link.phase == .attached || link.phase == .detachSent || awaitingOurAttach else { return }
        if link.isSender {
            // §2.6.7: link-credit(sender) = delivery-count(flow) + link-credit(flow) - delivery-count(sender).
            // RabbitMQ 3.10 omits delivery-count: then the receiver has seen all we sent.
            let theirCount = flow.deliveryCount ?? link.deliveryCount
            let credit = flow.linkCredit ?? 0
            let limit = (theirCount + credit).rawValue &- link.deliveryCount.rawValue
            link.credit = limit <= credit ? limit : 0
            link.drain = flow.drain
            if awaitingOurAttach { return }
            events.append(.creditGranted(link.id, credit: link.credit, drain: link.drain))
            pump(channel)
            // Answered in answerDrains(), once the application has seen the credit and sent what it has.
            if link.drain { pendingDrains.insert(link.id) }
            if flow.echo { writeLinkFlow(channel, local) }
        } else {
            // The sender reports its delivery-count and what it has available; a drain it
            // completed shows as credit consumed (§2.6.7).
            if let count = flow.deliveryCount {
                let consumed = link.deliveryCount.distance(to: count)
                link.credit = consumed <= link.credit ? link.credit - consumed : 0
                link.creditBudget = consumed <= link.creditBudget ? link.creditBudget - consumed : 0
                link.deliveryCount = count
            }
            let drained = link.drain && flow.drain && (flow.linkCredit ?? 0) == 0
            if drained {
                link.drain = false
                link.credit = 0
                link.creditBudget = 0
            }
            if drained { events.append(.drained(link.id)) }
            if flow.echo && !awaitingOurAttach { writeLinkFlow(channel, local) }
        }
    }

    /// A sender asked to drain uses up its credit by advancing delivery-count and says so, once
    /// nothing is queued. Returns whether the link still has a drain to answer later.
    mutating func finishDrainIfNeeded(_ channel: UInt16, _ local: Handle) -> Bool {
        guard let session = sessions[channel], let link = session.links[local], link.isSender, link.drain else { return false }
        guard link.queue.isEmpty else { return true }
        link.deliveryCount += link.credit
        link.credit = 0
        link.drain = false
        writeLinkFlow(channel, local, drain: true)
        return false
    }

    mutating func writeSessionFlow(_ channel: UInt16) {
        guard let session = sessions[channel] else { return }
        writeOnSession(
            Flow(nextIncomingID: session.nextIncomingID, incomingWindow: session.incomingWindow,
                 nextOutgoingID: session.nextOutgoingID, outgoingWindow: .max),
            channel: channel
        )
    }

    mutating func writeLinkFlow(_ channel: UInt16, _ local: Handle, drain: Bool? = nil, echo: Bool = false) {
        guard let session = sessions[channel], let link = session.links[local] else { return }
        writeOnSession(
            Flow(nextIncomingID: session.remoteChannel == nil ? nil : session.nextIncomingID, incomingWindow: session.incomingWindow,
                 nextOutgoingID: session.nextOutgoingID, outgoingWindow: .max, handle: local,
                 deliveryCount: link.deliveryCount, linkCredit: link.credit, available: link.isSender ? UInt32(clamping: link.queue.count) : nil,
                 drain: drain ?? link.drain, echo: echo),
            channel: channel
        )
    }

    // MARK: Transfers (§2.6.12, §2.7.5)

    mutating func receiveTransfer(_ transfer: Transfer, payload: ArraySlice<UInt8>, channel: UInt16) {
        guard let session = sessions[channel] else { return }
        if session.phase == .endSent { return }
        guard session.incomingWindow > 0 else {
            endSessionForViolation(channel, .session(.windowViolation), "transfer beyond the incoming window")
            return
        }
        session.incomingWindow -= 1
        session.nextIncomingID += 1
        guard let local = session.remoteHandles[transfer.handle], let link = session.links[local] else {
            endSessionForViolation(channel, .session(.unattachedHandle), "transfer for handle \(transfer.handle), which is not attached")
            return
        }
        guard !link.isSender else {
            endSessionForViolation(channel, .amqp(.notAllowed), "transfer on link \(link.name), where we are the sender")
            return
        }
        guard link.phase == .attached else {
            // A detach of ours is on its way; frames in flight are dropped (§2.6.5).
            replenishIncomingWindow(channel)
            return
        }
        if link.partial == nil {
            guard let deliveryNumber = transfer.deliveryID, let tag = transfer.deliveryTag else {
                detachForViolation(channel, local, .amqp(.invalidField), "the first transfer of a delivery must carry delivery-id and delivery-tag")
                return
            }
            guard link.credit > 0 || link.creditBudget > 0 else {
                detachForViolation(channel, local, .link(.transferLimitExceeded), "transfer without link credit")
                return
            }
            if link.credit > 0 { link.credit -= 1 }
            link.creditBudget = max(link.creditBudget, 1) - 1
            link.deliveryCount += 1
            link.heldDeliveries += 1
            link.deliveriesReceived += 1
            link.partial = PartialDelivery(
                deliveryNumber: deliveryNumber, tag: tag, messageFormat: transfer.messageFormat ?? 0,
                settled: transfer.settled ?? false, state: transfer.state, payload: [], firstFrame: nil
            )
            topUpCredit(channel, local)
        } else if let id = transfer.deliveryID, id != link.partial!.deliveryNumber {
            detachForViolation(channel, local, .amqp(.invalidField), "delivery-id \(id) changed inside a multi-frame delivery")
            return
        }
        if transfer.aborted {
            let number = link.partial!.deliveryNumber
            link.partial = nil
            // Never surfaced, so never consumed: the application cannot give it back.
            link.heldDeliveries -= min(link.heldDeliveries, 1)
            topUpCredit(channel, local)
            events.append(.deliveryAborted(link.id, number))
            replenishIncomingWindow(channel)
            return
        }
        if transfer.settled == true { link.partial!.settled = true }
        if let state = transfer.state { link.partial!.state = state }
        // Append without copying the first frame until a second one arrives.
        let size = (link.partial!.firstFrame?.count ?? link.partial!.payload.count) + payload.count
        if !link.localMaxMessageSize.admits(size) {
            detachForViolation(channel, local, .link(.messageSizeExceeded), "message of more than \(link.localMaxMessageSize) bytes")
            return
        }
        if link.partial!.payload.isEmpty && link.partial!.firstFrame == nil {
            link.partial!.firstFrame = payload
        } else {
            if let first = link.partial!.firstFrame {
                link.partial!.payload.reserveCapacity(first.count + payload.count)
                link.partial!.payload.append(contentsOf: first)
                link.partial!.firstFrame = nil
            }
            link.partial!.payload.append(contentsOf: payload)
        }
        if transfer.more {
            replenishIncomingWindow(channel)
            return
        }
        let partial = link.partial!
        link.partial = nil
        let delivery = IncomingDelivery(
            deliveryID: partial.deliveryNumber, tag: partial.tag, messageFormat: partial.messageFormat,
            isSettled: partial.settled, state: partial.state,
            payload: partial.firstFrame ?? partial.payload[...]
        )
        if !partial.settled {
            session.unsettledIncoming[partial.deliveryNumber] = local
        }
        events.append(.delivery(link.id, delivery))
        replenishIncomingWindow(channel)
    }

    /// Grants the peer a fresh incoming window once half of it is used.
    mutating func replenishIncomingWindow(_ channel: UInt16) {
        guard let session = sessions[channel], session.incomingWindow <= session.configuredIncomingWindow / 2 else { return }
        session.incomingWindow = session.configuredIncomingWindow
        writeSessionFlow(channel)
    }

    // MARK: Dispositions (§2.7.6)

    mutating func receiveDisposition(_ disposition: Disposition, channel: UInt16) {
        guard let session = sessions[channel] else { return }
        let first = disposition.first
        let last = disposition.last ?? first
        guard first <= last else {
            endSessionForViolation(channel, .amqp(.invalidField), "disposition range \(first)...\(last) is reversed")
            return
        }
        // Visit only deliveries we track: a range may name up to 2³¹ ids.
        let span = UInt64(first.distance(to: last)) + 1
        func inRange(_ id: DeliveryNumber) -> Bool { id == first || id == last || (first < id && id < last) }
        if disposition.role == .receiver {
            var ids: [DeliveryNumber]
            if span <= UInt64(session.unsettledOutgoing.count) {
                ids = (0..<UInt32(span)).map { first + $0 }.filter { session.unsettledOutgoing[$0] != nil }
            } else {
                ids = session.unsettledOutgoing.keys.filter(inRange)
                ids.sort { $0 < $1 }
            }
            var toSettle: [DeliveryNumber] = []
            for id in ids {
                guard let entry = session.unsettledOutgoing[id], let link = session.links[entry.handle] else { continue }
                // We settle once the receiver reached a terminal outcome (receiver-settle-mode second
                // waits for this; in mode first the receiver settles itself).
                let terminal = disposition.state.map(Self.isTerminal) ?? false
                let settled = disposition.settled || terminal
                events.append(.outcome(link.id, entry.id, disposition.state, settled: settled))
                if settled {
                    session.unsettledOutgoing.removeValue(forKey: id)
                    if !disposition.settled { toSettle.append(id) }
                }
            }
            writeDispositions(channel, role: .sender, ids: toSettle, state: nil)
        } else {
            var ids: [DeliveryNumber]
            if span <= UInt64(session.unsettledIncoming.count) {
                ids = (0..<UInt32(span)).map { first + $0 }.filter { session.unsettledIncoming[$0] != nil }
            } else {
                ids = session.unsettledIncoming.keys.filter(inRange)
                ids.sort { $0 < $1 }
            }
            guard disposition.settled else { return }
            for id in ids {
                guard let handle = session.unsettledIncoming.removeValue(forKey: id), let link = session.links[handle] else { continue }
                events.append(.settledByPeer(link.id, id))
            }
        }
    }

    static func isTerminal(_ state: DeliveryState) -> Bool {
        switch state {
        case .accepted, .rejected, .released, .modified: return true
        case .received, .declared, .transactionalState, .unknown: return false
        }
    }

    /// Writes dispositions for `ids`, one frame per run of consecutive ids.
    mutating func writeDispositions(_ channel: UInt16, role: Role, ids: [DeliveryNumber], state: DeliveryState?, settled: Bool = true) {
        var index = 0
        while index < ids.count {
            let first = ids[index]
            var last = first
            while index + 1 < ids.count && ids[index + 1] == last + 1 {
                index += 1
                last = ids[index]
            }
            writeOnSession(Disposition(role: role, first: first, last: last == first ? nil : last, settled: settled, state: state), channel: channel)
            index += 1
        }
    }

    // MARK: Sending

    /// Writes as many queued transfers of the session as the peer's incoming window and each
    /// link's credit allow, taking links in turn.
    mutating func pump(_ channel: UInt16) {
        guard var session = sessions[channel], session.phase == .mapped, isOpen else { return }
        var progressed = true
        while progressed && session.remoteIncomingWindow > 0 {
            progressed = false
            for handle in session.linkOrder {
                guard session.remoteIncomingWindow > 0 else { break }
                guard var link = session.links[handle], link.isSender, link.phase == .attached, !link.queue.isEmpty else { continue }
                let started = link.queue.first?.deliveryNumber != nil
                guard started || link.credit > 0 else { continue }
                if writeNextFrames(of: &link, in: &session, channel: channel) { progressed = true }
            }
        }
    }

    /// Writes the frames of the link's first queued delivery that the window allows. Returns
    /// whether a frame was written.
    mutating func writeNextFrames(of link: inout LinkState, in session: inout SessionState, channel: UInt16) -> Bool {
        guard var delivery = link.queue.first else { return false }
        var wrote = false
        let frameLimit = Int(min(remoteMaxFrameSize, UInt32(Int32.max)))
        while session.remoteIncomingWindow > 0 {
            let isFirst = delivery.deliveryNumber == nil
            if isFirst {
                delivery.deliveryNumber = session.nextDeliveryNumber
                session.nextDeliveryNumber += 1
                link.credit -= 1
                link.deliveryCount += 1
            }
            let remaining = delivery.payload.count - delivery.offset
            var transfer = Transfer(
                handle: link.localHandle,
                deliveryID: isFirst ? delivery.deliveryNumber : nil,
                deliveryTag: isFirst ? delivery.tag : nil,
                messageFormat: isFirst ? delivery.messageFormat : nil,
                settled: isFirst ? delivery.settled : nil,
                more: false
            )
            let start = FrameEncoder.beginFrame(channel: channel, type: .amqp, into: &output)
            transfer.encode(to: &output)
            var room = frameLimit - (output.count - start)
            if remaining > room {
                // Does not fit: write it again with more=true, then fill the frame.
                output.truncate(to: start + 8)
                transfer.more = true
                transfer.encode(to: &output)
                room = frameLimit - (output.count - start)
            }
            let chunk = min(remaining, max(room, 0))
            let from = delivery.payload.startIndex + delivery.offset
            output.writeBytes(delivery.payload[from..<(from + chunk)])
            FrameEncoder.endFrame(start: start, into: &output)
            noteOutput()
            wrote = true
            delivery.offset += chunk
            session.nextOutgoingID += 1
            session.remoteIncomingWindow -= 1
            if !transfer.more { break }
        }
        if delivery.offset == delivery.payload.count && wrote {
            _ = link.queue.removeFirst()
            if delivery.settled {
                events.append(.outcome(link.id, delivery.id, nil, settled: true))
            } else {
                session.unsettledOutgoing[delivery.deliveryNumber!] = (link.localHandle, delivery.id)
            }
        } else {
            link.queue.withFirst { $0 = delivery }
        }
        return wrote
    }
}
