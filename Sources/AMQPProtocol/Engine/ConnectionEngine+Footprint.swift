import AMQPCodec

extension ConnectionEngine {
    /// How much the engine holds because of what the peer sent: what the fuzz drivers compare with
    /// the bytes they fed in, to prove that no input makes the engine grow without bound.
    package struct Footprint: Hashable, Sendable {
        /// Bytes read but not yet decoded into frames (a frame still arriving).
        package var bufferedBytes: Int
        /// Bytes written and not yet taken with ``ConnectionEngine/takeOutput()``.
        package var pendingOutputBytes: Int
        /// Events not yet taken with ``ConnectionEngine/takeEvents()``.
        package var pendingEvents: Int
        package var sessions: Int
        package var links: Int
        /// Deliveries either side has not settled, over all sessions.
        package var unsettledDeliveries: Int
        /// Payload bytes of multi-frame deliveries being reassembled.
        package var partialDeliveryBytes: Int
        /// Deliveries our application queued that wait for credit or window.
        package var queuedDeliveries: Int

        /// Sessions, links and deliveries: each came from at least one frame, or one call.
        package var entries: Int { sessions + links + unsettledDeliveries + queuedDeliveries }
    }

    package var footprint: Footprint {
        Footprint(
            bufferedBytes: decoder.bufferedCount, pendingOutputBytes: output.count + deferred.count,
            pendingEvents: events.count, sessions: sessions.count, links: sessions.held.links,
            unsettledDeliveries: sessions.held.unsettledDeliveries, partialDeliveryBytes: sessions.held.partialDeliveryBytes,
            queuedDeliveries: sessions.held.queuedDeliveries)
    }

    /// ``footprint`` found by walking every session and link: what the fuzz drivers compare the
    /// kept counts with at the end of each input.
    package var walkedFootprint: Footprint {
        var footprint = Footprint(
            bufferedBytes: decoder.bufferedCount, pendingOutputBytes: output.count + deferred.count,
            pendingEvents: events.count, sessions: sessions.count, links: 0, unsettledDeliveries: 0,
            partialDeliveryBytes: 0, queuedDeliveries: 0)
        for session in sessions.byChannel.values {
            footprint.links += session.links.count
            footprint.unsettledDeliveries += session.unsettledIncoming.count + session.unsettledOutgoing.count
            for link in session.links.values {
                footprint.queuedDeliveries += link.queue.count
                if let partial = link.partial {
                    footprint.partialDeliveryBytes += partial.payload.count + (partial.firstFrame?.count ?? 0)
                }
            }
        }
        return footprint
    }
}
