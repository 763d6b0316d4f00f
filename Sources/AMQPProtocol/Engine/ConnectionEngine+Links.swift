import AMQPCodec
import AMQPTypes

extension ConnectionEngine {
    // MARK: Links (§2.6)

    mutating func receiveAttach(_ attach: Attach, channel: UInt16) {
        guard let (phase, handleInUse, handleMax) = sessions[channel].map({
            ($0.phase, $0.remoteHandles[attach.handle] != nil, $0.handleMax)
        }), phase == .mapped else { return }
        guard !handleInUse else {
            endSessionForViolation(channel, .session(.handleInUse), "handle \(attach.handle) is already attached")
            return
        }
        guard attach.handle <= handleMax else {
            endSessionForViolation(channel, .connection(.framingError), "handle \(attach.handle) exceeds handle-max \(handleMax)")
            return
        }
        let ourRole: Role = attach.role == .sender ? .receiver : .sender
        if let local = sessions[channel]!.unansweredLink(named: attach.name, role: ourRole) {
            receiveAttachReply(attach, channel: channel, local: local, ourRole: ourRole)
            return
        }
        // The peer attaches a link we did not ask for.
        guard let local = sessions[channel]!.freeHandle() else {
            endSessionForViolation(channel, .amqp(.resourceLimitExceeded), "no free handle for link \(attach.name)")
            return
        }
        let id = LinkID(nextLinkSerial)
        nextLinkSerial += 1
        var link = LinkState(
            id: id, name: attach.name, role: ourRole, localHandle: local, remoteHandle: attach.handle,
            phase: .attachReceived, senderSettleMode: attach.senderSettleMode, receiverSettleMode: attach.receiverSettleMode
        )
        let initialDeliveryCount = attach.initialDeliveryCount
        if ourRole == .receiver {
            if let initialDeliveryCount {
                link.deliveryCount = initialDeliveryCount
                link.localMaxMessageSize = MessageSizeLimit(advertised: configuration.maxMessageSize)
            } else {
                // Answered, then detached below: the link cannot work without a delivery count.
                link.isReported = false
            }
        } else {
            link.remoteMaxMessageSize = attach.messageSizeLimit
        }
        sessions.modify(channel) { session in
            session.insertLink(link)
            session.remoteHandles[attach.handle] = local
        }
        linkLocations[id] = (channel, local)
        guard ourRole == .sender || initialDeliveryCount != nil else {
            refuseLink(id, error: AMQPError(condition: .amqp(.invalidField), description: "a sender's attach must carry initial-delivery-count"))
            return
        }
        events.append(.linkAttachRequested(sessions[channel]!.id, id, attach))
    }

    /// The peer answers the attach of our link on `local`.
    mutating func receiveAttachReply(_ attach: Attach, channel: UInt16, local: Handle, ourRole: Role) {
        if sessions[channel]!.links[local]!.phase == .detachSent {
            // We detached meanwhile: the peer's detach answering ours follows on this handle.
            sessions.modify(channel) { session in
                session.modifyLink(local) { $0.remoteHandle = attach.handle }
                session.remoteHandles[attach.handle] = local
            }
            return
        }
        // A reply without the terminus we asked for refuses the link (§2.6.3); its detach follows.
        let kept = ourRole == .sender ? attach.target != nil : attach.source != nil
        let answered = modifyLink(channel, local) { link -> LinkID? in
            link.remoteHandle = attach.handle
            link.phase = .attached
            if ourRole == .receiver {
                guard let initial = attach.initialDeliveryCount else { return nil }
                link.deliveryCount = initial
            } else {
                link.remoteMaxMessageSize = attach.messageSizeLimit
            }
            link.senderSettleMode = attach.senderSettleMode
            link.receiverSettleMode = attach.receiverSettleMode
            if kept {
                link.attachReply = attach
            } else {
                link.refusedByPeer = true
            }
            return link.id
        }
        guard let id = answered ?? nil else {
            detachForViolation(channel, local, .amqp(.invalidField), "a sender's attach must carry initial-delivery-count")
            return
        }
        sessions.modify(channel) { $0.remoteHandles[attach.handle] = local }
        if kept { pendingAttachReply = id }
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
        guard !closeSent, !isFinished, let (channel, handle) = linkLocations[id],
              let (attach, isSender) = modifyLink(channel, handle, { link -> (Attach, Bool)? in
                  defer { link.attachReply = nil }
                  return link.attachReply.map { ($0, link.isSender) }
              }) ?? nil
        else { return }
        events.append(.linkAttached(id, attach))
        if isSender {
            refuseOversizedQueuedDeliveries(channel, handle)
        } else {
            topUpCredit(channel, handle)
        }
    }

    mutating func receiveDetach(_ detach: Detach, channel: UInt16) {
        guard sessions[channel] != nil else { return }
        guard let link = sessions[channel]!.link(onRemoteHandle: detach.handle) else {
            endSessionForViolation(channel, .session(.unattachedHandle), "detach of handle \(detach.handle), which is not attached")
            return
        }
        let local = link.localHandle
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
        guard let link = sessions.modify(channel, { $0.removeLink(local) }) ?? nil else { return }
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
            Attach(name: link.name, handle: handle, role: link.role, senderSettleMode: link.senderSettleMode,
                   receiverSettleMode: link.receiverSettleMode, source: source, target: target,
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
        guard let link = sessions[channel]?.links[local], link.phase != .detachSent else { return }
        let error = AMQPError(condition: condition, description: description)
        // Transfers on a link our application has not answered yet: answer before detaching.
        if link.phase == .attachReceived { writeAnsweringAttach(link, handle: local, channel: channel) }
        modifyLink(channel, local) { link in
            link.phase = .detachSent
            link.localError = error
            link.closing = true
            link.partial = nil
        }
        writeOnSession(fitted(error) { Detach(handle: local, closed: true, error: $0) }, channel: channel)
    }

    // MARK: Flow (§2.6.7, §2.7.4)

    mutating func receiveFlow(_ flow: Flow, channel: UInt16) {
        // Only what is needed is read: a copy of the link kept while `pump` changes its queue
        // would copy the queue.
        let target = sessions.modify(channel) { session -> (local: Handle, id: LinkID, phase: LinkState.Phase, isSender: Bool)? in
            // §2.5.6: remote-incoming-window = next-incoming-id(flow) + incoming-window(flow) - next-outgoing-id(ours).
            let theirNextIncoming = flow.nextIncomingID ?? session.initialOutgoingID
            let window = (theirNextIncoming + flow.incomingWindow).rawValue &- session.nextOutgoingID.rawValue
            session.remoteIncomingWindow = window <= flow.incomingWindow ? window : 0
            session.remoteOutgoingWindow = flow.outgoingWindow
            return flow.handle.flatMap { session.link(onRemoteHandle: $0) }.map { ($0.localHandle, $0.id, $0.phase, $0.isSender) }
        }
        guard let target else { return }
        guard let remoteHandle = flow.handle else {
            if flow.echo { writeSessionFlow(channel) }
            pump(channel)
            return
        }
        guard let (local, id, phase, isSender) = target else {
            endSessionForViolation(channel, .session(.unattachedHandle), "flow for handle \(remoteHandle), which is not attached")
            return
        }
        // A peer may send its flow right after its attach, before we answered it (pipelining):
        // the credit is kept and reported once the application accepts the link.
        let awaitingOurAttach = phase == .attachReceived
        guard phase == .attached || phase == .detachSent || awaitingOurAttach else { return }
        if isSender {
            // §2.6.7: link-credit(sender) = delivery-count(flow) + link-credit(flow) - delivery-count(sender).
            // RabbitMQ 3.10 omits delivery-count: then the receiver has seen all we sent.
            let link = modifyLink(channel, local) { link in
                let theirCount = flow.deliveryCount ?? link.deliveryCount
                let credit = flow.linkCredit ?? 0
                let limit = (theirCount + credit).rawValue &- link.deliveryCount.rawValue
                link.credit = limit <= credit ? limit : 0
                link.drain = flow.drain
                return (credit: link.credit, drain: link.drain)
            }!
            if awaitingOurAttach { return }
            events.append(.creditGranted(id, credit: link.credit, drain: link.drain))
            pump(channel)
            // Answered in answerDrains(), once the application has seen the credit and sent what it has.
            if link.drain { pendingDrains.insert(id) }
            if flow.echo { writeLinkFlow(channel, local) }
        } else {
            // The sender reports its delivery-count and what it has available; a drain it
            // completed shows as credit consumed (§2.6.7).
            let drained = modifyLink(channel, local) { link -> Bool in
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
                return drained
            }!
            if drained { events.append(.drained(id)) }
            if flow.echo && !awaitingOurAttach { writeLinkFlow(channel, local) }
        }
    }

    /// A sender asked to drain uses up its credit by advancing delivery-count and says so, once
    /// nothing is queued. Returns whether the link still has a drain to answer later.
    mutating func finishDrainIfNeeded(_ channel: UInt16, _ local: Handle) -> Bool {
        guard let link = sessions[channel]?.links[local], link.isSender, link.drain else { return false }
        guard link.queue.isEmpty else { return true }
        modifyLink(channel, local) { link in
            link.deliveryCount += link.credit
            link.credit = 0
            link.drain = false
        }
        writeLinkFlow(channel, local, drain: true)
        return false
    }

    /// Changes the link on `local` of session `channel` in place; `nil` without calling `body`
    /// when there is no such link. What the link holds stays counted in ``footprint``.
    @discardableResult
    mutating func modifyLink<R>(_ channel: UInt16, _ local: Handle, _ body: (inout LinkState) throws -> R) rethrows -> R? {
        try sessions.modify(channel) { try $0.modifyLink(local, body) } ?? nil
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
}
