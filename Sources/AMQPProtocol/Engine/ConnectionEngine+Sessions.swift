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
            guard sessions[answered].map({ $0.phase != .mapped && $0.remoteChannel == nil }) == true else {
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
            addSession(SessionState(id: id, localChannel: local, phase: .mapped, incomingWindow: configuration.sessionIncomingWindow,
                                    handleMax: configuration.handleMax))
            sessionChannels[id] = local
        }
        remoteChannels[channel] = local
        let endSent = sessions.modify(local) { session -> Bool in
            session.remoteChannel = channel
            // Mapped only to take the peer's end, which completes ours (receiveEnd).
            if session.phase == .endSent { return true }
            session.phase = .mapped
            session.nextIncomingID = begin.nextOutgoingID
            session.remoteOutgoingWindow = begin.outgoingWindow
            session.remoteHandleMax = begin.handleMax
            // §2.5.6: remote-incoming-window = next-incoming-id(peer) + incoming-window(peer) - next-outgoing-id(ours);
            // at begin the peer has seen none of our transfers.
            session.remoteIncomingWindow = begin.incomingWindow
            return false
        }!
        if endSent { return }
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

    /// Maps a new session to its channel, which ``freeChannel()`` returned.
    mutating func addSession(_ session: SessionState) {
        sessions.insert(session)
        firstChannelMaybeFree = Int(session.localChannel) + 1
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
        guard let local = remoteChannels[channel], let (phase, localError) = sessions[local].map({ ($0.phase, $0.localError) }) else {
            closeForViolation(.connection(.framingError), "end on channel \(channel), which has no session")
            return
        }
        if phase != .endSent {
            write(End(), channel: local)
        }
        endedRemoteChannels.insert(channel)
        removeSession(local, error: end.error ?? localError, byPeer: phase != .endSent)
    }

    mutating func removeSession(_ local: UInt16, error: AMQPError?, byPeer: Bool) {
        guard let session = sessions.remove(local) else { return }
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
    mutating func refuseOversizedQueuedDeliveries(_ channel: UInt16, _ local: Handle) {
        var refused: [ConnectionEvent] = []
        modifyLink(channel, local) { link in
            let limit = link.remoteMaxMessageSize
            guard link.queue.elements.contains(where: { !limit.admits($0.payload.count) }) else { return }
            let queued = link.queue.elements
            link.queue.removeAll()
            for delivery in queued {
                // Nothing of a delivery is written before the peer's attach (it grants no credit before).
                if delivery.offset == 0, !limit.admits(delivery.payload.count) {
                    let error = limit.exceeded(by: delivery.payload.count)
                    refused.append(.outcome(link.id, delivery.id, .rejected(Rejected(error: error)), settled: true))
                } else {
                    link.queue.append(delivery)
                }
            }
        }
        events.append(contentsOf: refused)
    }

    /// Ends a session because the peer broke a session-level rule (§2.5.5).
    mutating func endSessionForViolation(_ local: UInt16, _ condition: ErrorCondition, _ description: String) {
        guard let phase = sessions[local]?.phase, phase != .endSent else { return }
        let error = AMQPError(condition: condition, description: description)
        sessions.modify(local) { session in
            session.phase = .endSent
            session.localError = error
        }
        write(fitted(error) { End(error: $0) }, channel: local)
    }
}
