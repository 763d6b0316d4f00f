import AMQPCodec
import AMQPTypes

extension ConnectionEngine {
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
        // Only what is needed is read: a copy of the link kept while its partial delivery grows
        // would copy the payload with every frame.
        guard let local = session.remoteHandles[transfer.handle],
              let (id, name, isSender, phase, partialNumber, hasCredit) = session.links[local].map({
                  ($0.id, $0.name, $0.isSender, $0.phase, $0.partial?.deliveryNumber, $0.credit > 0 || $0.creditBudget > 0)
              })
        else {
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
            session.modifyLink(local) { link in
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
            let number = session.modifyLink(local) { link -> DeliveryNumber in
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
        enum Step { case tooLarge(MessageSizeLimit), more, complete(PartialDelivery) }
        let step = session.modifyLink(local) { link -> Step in
            if transfer.settled == true { link.partial!.settled = true }
            if let state = transfer.state { link.partial!.state = state }
            // Append without copying the first frame until a second one arrives.
            let size = (link.partial!.firstFrame?.count ?? link.partial!.payload.count) + payload.count
            if !link.localMaxMessageSize.admits(size) { return .tooLarge(link.localMaxMessageSize) }
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
        case .more:
            replenishIncomingWindow(channel)
        case .complete(let partial):
            let delivery = IncomingDelivery(
                deliveryID: partial.deliveryNumber, tag: partial.tag, messageFormat: partial.messageFormat,
                isSettled: partial.settled, state: partial.state,
                payload: partial.firstFrame ?? partial.payload[...]
            )
            if !partial.settled {
                session.unsettledIncoming[partial.deliveryNumber] = local
            }
            events.append(.delivery(id, delivery))
            replenishIncomingWindow(channel)
        }
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
        guard let session = sessions[channel], session.phase == .mapped, isOpen else { return }
        var progressed = true
        while progressed && session.remoteIncomingWindow > 0 {
            progressed = false
            for handle in session.linkOrder {
                guard session.remoteIncomingWindow > 0 else { break }
                let ready = session.links[handle].map {
                    $0.isSender && $0.phase == .attached && !$0.queue.isEmpty && ($0.queue.first?.deliveryNumber != nil || $0.credit > 0)
                } ?? false
                guard ready else { continue }
                if session.modifyLink(handle, { writeNextFrames(of: &$0, in: session, channel: channel) }) == true { progressed = true }
            }
        }
    }

    /// Writes the frames of the link's first queued delivery that the window allows. Returns
    /// whether a frame was written.
    mutating func writeNextFrames(of link: inout LinkState, in session: SessionState, channel: UInt16) -> Bool {
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
