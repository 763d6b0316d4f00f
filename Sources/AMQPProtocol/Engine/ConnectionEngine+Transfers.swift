import AMQPCodec
import AMQPTypes

extension ConnectionEngine {
    // MARK: Transfers (§2.6.12, §2.7.5)

    mutating func receiveTransfer(_ transfer: Transfer, payload: ArraySlice<UInt8>, channel: UInt16) {
        // The window is taken and the link read in one visit to the session. Only what is needed
        // is read, in place: a copy of the link kept while its partial delivery grows would copy
        // the payload with every frame.
        typealias Receiving = (id: LinkID, name: String, isSender: Bool, phase: LinkState.Phase, partialNumber: DeliveryNumber?, hasCredit: Bool)
        enum Window { case ended, exceeded, taken(local: Handle, Receiving?) }
        let window = sessions.modify(channel) { session -> Window in
            if session.phase == .endSent { return .ended }
            guard session.incomingWindow > 0 else { return .exceeded }
            session.incomingWindow -= 1
            session.nextIncomingID += 1
            guard let local = session.remoteHandles[transfer.handle] else { return .taken(local: 0, nil) }
            return .taken(local: local, session.modifyLink(local) { link -> Receiving in
                (link.id, link.name, link.isSender, link.phase, link.partial?.deliveryNumber, link.credit > 0 || link.creditBudget > 0)
            })
        }
        let local: Handle
        let receiving: Receiving?
        switch window {
        case nil, .ended?: return
        case .exceeded?:
            endSessionForViolation(channel, .session(.windowViolation), "transfer beyond the incoming window")
            return
        case .taken(let handle, let link)?:
            local = handle
            receiving = link
        }
        guard let (id, name, isSender, phase, partialNumber, hasCredit) = receiving else {
            endSessionForViolation(channel, .session(.unattachedHandle), "transfer for handle \(transfer.handle), which is not attached")
            return
        }
        guard !isSender else {
            endSessionForViolation(channel, .amqp(.notAllowed), "transfer on link \(name), where we are the sender")
            return
        }
        guard phase == .attached else {
            // A detach of ours is on its way; frames in flight are dropped (§2.6.5).
            replenishIncomingWindow(channel)
            return
        }
        if let partialNumber {
            if let number = transfer.deliveryID, number != partialNumber {
                detachForViolation(channel, local, .amqp(.invalidField), "delivery-id \(number) changed inside a multi-frame delivery")
                return
            }
        } else {
            guard let deliveryNumber = transfer.deliveryID, let tag = transfer.deliveryTag else {
                detachForViolation(channel, local, .amqp(.invalidField), "the first transfer of a delivery must carry delivery-id and delivery-tag")
                return
            }
            guard hasCredit else {
                detachForViolation(channel, local, .link(.transferLimitExceeded), "transfer without link credit")
                return
            }
            modifyLink(channel, local) { link in
                if link.credit > 0 { link.credit -= 1 }
                link.creditBudget = max(link.creditBudget, 1) - 1
                link.deliveryCount += 1
                link.heldDeliveries += 1
                link.deliveriesReceived += 1
                link.partial = PartialDelivery(
                    deliveryNumber: deliveryNumber, tag: tag, messageFormat: transfer.messageFormat ?? 0,
                    settled: transfer.settled ?? false, state: transfer.state, payload: [], firstFrame: nil
                )
            }
            topUpCredit(channel, local)
        }
        if transfer.aborted {
            let number = modifyLink(channel, local) { link -> DeliveryNumber in
                let number = link.partial!.deliveryNumber
                link.partial = nil
                // Never surfaced, so never consumed: the application cannot give it back.
                link.heldDeliveries -= min(link.heldDeliveries, 1)
                return number
            }!
            topUpCredit(channel, local)
            events.append(.deliveryAborted(id, number))
            replenishIncomingWindow(channel)
            return
        }
        enum Step { case tooLarge(MessageSizeLimit), overConnectionLimit(UInt64), more, complete(PartialDelivery) }
        let incompleteBytes = sessions.held.partialDeliveryBytes
        let incompleteLimit = configuration.maxIncompleteDeliveryBytes
        let step = modifyLink(channel, local) { link -> Step in
            if transfer.settled == true { link.partial!.settled = true }
            if let state = transfer.state { link.partial!.state = state }
            // Append without copying the first frame until a second one arrives.
            let size = (link.partial!.firstFrame?.count ?? link.partial!.payload.count) + payload.count
            if !link.localMaxMessageSize.admits(size) { return .tooLarge(link.localMaxMessageSize) }
            // The one check of the connection's total: what all links reassemble, with this frame.
            if transfer.more, let limit = incompleteLimit,
               UInt64(incompleteBytes) + UInt64(payload.count) > limit {
                return .overConnectionLimit(limit)
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
            if transfer.more { return .more }
            let partial = link.partial!
            link.partial = nil
            return .complete(partial)
        }!
        switch step {
        case .tooLarge(let limit):
            detachForViolation(channel, local, .link(.messageSizeExceeded), "message of more than \(limit) bytes")
        case .overConnectionLimit(let limit):
            closeForViolation(.amqp(.resourceLimitExceeded),
                              "incomplete multi-frame deliveries would hold more than \(limit) bytes on this connection (maxIncompleteDeliveryBytes)")
        case .more:
            replenishIncomingWindow(channel)
        case .complete(let partial):
            let delivery = IncomingDelivery(
                deliveryID: partial.deliveryNumber, tag: partial.tag, messageFormat: partial.messageFormat,
                isSettled: partial.settled, state: partial.state,
                payload: partial.firstFrame ?? partial.payload[...]
            )
            if !partial.settled {
                sessions.modify(channel) { $0.unsettledIncoming[partial.deliveryNumber] = local }
            }
            events.append(.delivery(id, delivery))
            replenishIncomingWindow(channel)
        }
    }

    /// Grants the peer a fresh incoming window once half of it is used.
    mutating func replenishIncomingWindow(_ channel: UInt16) {
        guard sessions.modify(channel, { session -> Bool in
            guard session.incomingWindow <= session.configuredIncomingWindow / 2 else { return false }
            session.incomingWindow = session.configuredIncomingWindow
            return true
        }) == true else { return }
        writeSessionFlow(channel)
    }

    // MARK: Dispositions (§2.7.6)

    mutating func receiveDisposition(_ disposition: Disposition, channel: UInt16) {
        guard sessions[channel] != nil else { return }
        let first = disposition.first
        let last = disposition.last ?? first
        guard first <= last else {
            endSessionForViolation(channel, .amqp(.invalidField), "disposition range \(first)...\(last) is reversed")
            return
        }
        // Visit only deliveries we track: a range may name up to 2³¹ ids.
        let span = UInt64(first.distance(to: last)) + 1
        func inRange(_ id: DeliveryNumber) -> Bool { id == first || id == last || (first < id && id < last) }
        func tracked<Value>(_ unsettled: [DeliveryNumber: Value]) -> [DeliveryNumber] {
            guard span > UInt64(unsettled.count) else {
                return (0..<UInt32(span)).map { first + $0 }.filter { unsettled[$0] != nil }
            }
            return unsettled.keys.filter(inRange).sorted { $0 < $1 }
        }
        if disposition.role == .receiver {
            // We settle once the receiver reached a terminal outcome (receiver-settle-mode second
            // waits for this; in mode first the receiver settles itself).
            let terminal = disposition.state.map(Self.isTerminal) ?? false
            let settled = disposition.settled || terminal
            let toSettle = sessions.modify(channel) { session -> [DeliveryNumber] in
                var toSettle: [DeliveryNumber] = []
                for id in tracked(session.unsettledOutgoing) {
                    guard let entry = session.unsettledOutgoing[id], let link = session.links[entry.handle]?.id else { continue }
                    events.append(.outcome(link, entry.id, disposition.state, settled: settled))
                    if settled {
                        session.unsettledOutgoing.removeValue(forKey: id)
                        if !disposition.settled { toSettle.append(id) }
                    }
                }
                return toSettle
            }!
            writeDispositions(channel, role: .sender, ids: toSettle, state: nil)
        } else {
            guard disposition.settled else { return }
            sessions.modify(channel) { session in
                for id in tracked(session.unsettledIncoming) {
                    guard let handle = session.unsettledIncoming.removeValue(forKey: id), let link = session.links[handle]?.id else { continue }
                    events.append(.settledByPeer(link, id))
                }
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
        guard isOpen, sessions[channel]?.phase == .mapped else { return }
        let frameLimit = Int(min(remoteMaxFrameSize, UInt32(Int32.max)))
        let frames = sessions.modify(channel) { session in
            session.writeQueuedTransfers(channel: channel, frameLimit: frameLimit, into: &output, events: &events)
        } ?? 0
        outputBytesTotal &+= frames
    }
}

extension LinkState {
    /// What ``writeNextFrames(channel:frameLimit:nextDeliveryNumber:nextOutgoingID:remoteIncomingWindow:unsettled:into:events:)``
    /// did.
    struct FramesWritten {
        var frames = 0
        /// Whether the last frame of the first queued delivery went out, taking it off the queue.
        var finishedDelivery = false
    }

    /// Writes the frames of the link's first queued delivery that the session's window allows,
    /// advancing the session's counters passed in: its part of the session (§2.5.6) is changed
    /// in place beside the link, which the session holds.
    mutating func writeNextFrames(
        channel: UInt16, frameLimit: Int, nextDeliveryNumber: inout DeliveryNumber, nextOutgoingID: inout TransferNumber,
        remoteIncomingWindow: inout UInt32, unsettled: inout [DeliveryNumber: (handle: Handle, id: OutgoingDeliveryID)],
        into output: inout AMQPEncoder, events: inout [ConnectionEvent]
    ) -> FramesWritten {
        var written = FramesWritten()
        guard var delivery = queue.first else { return written }
        while remoteIncomingWindow > 0 {
            let isFirst = delivery.deliveryNumber == nil
            if isFirst {
                delivery.deliveryNumber = nextDeliveryNumber
                nextDeliveryNumber += 1
                credit -= 1
                deliveryCount += 1
            }
            let remaining = delivery.payload.count - delivery.offset
            var transfer = Transfer(
                handle: localHandle,
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
            written.frames += 1
            delivery.offset += chunk
            nextOutgoingID += 1
            remoteIncomingWindow -= 1
            if !transfer.more { break }
        }
        if delivery.offset == delivery.payload.count && written.frames > 0 {
            _ = queue.removeFirst()
            written.finishedDelivery = true
            if delivery.settled {
                events.append(.outcome(id, delivery.id, nil, settled: true))
            } else {
                unsettled[delivery.deliveryNumber!] = (localHandle, delivery.id)
            }
        } else {
            queue.withFirst { $0 = delivery }
        }
        return written
    }
}
