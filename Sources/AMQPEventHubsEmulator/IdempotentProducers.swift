import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPProtocol
import AMQPTransport
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore

/// The service side of idempotent publishing: per partition and producer id, the epoch that owns
/// the id and the last sequence number stored for it. Shared by all connections, so locked; kept
/// in memory only (a restart forgets producers, and clients then start a new producer id).
final class IdempotentProducerRegistry: Sendable {
    struct Key: Hashable {
        let hub: String
        let partition: Int
        let producerID: Int64
    }

    struct Entry {
        var epoch: Int16
        /// The last sequence number accepted for storing: writes still in flight included, so
        /// that the next delivery is checked against them.
        var lastSequenceNumber: Int32
        /// The last sequence number whose write completed: what a re-attach is answered with.
        var storedSequenceNumber: Int32
        /// A write failed: what was accepted after the stored number may not be in the log, so
        /// the producer must attach again (and hear the stored number) before it publishes.
        var needsReattach = false

        init(epoch: Int16, lastSequenceNumber: Int32) {
            self.epoch = epoch
            self.lastSequenceNumber = lastSequenceNumber
            self.storedSequenceNumber = lastSequenceNumber
        }
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var nextProducerID: Int64 = 1
    }

    private let state = NIOLockedValueBox(State())

    /// The state to answer a producer's attach with: a new producer id when it asked for none, its
    /// stored state when it names a known id and epoch, a fresh one for a higher epoch. A lower
    /// epoch than the stored one is refused with `com.microsoft:producer-epoch-stolen`.
    enum AttachAnswer {
        case accepted(IdempotentProducerState)
        case refused(AMQPError)
    }

    func attach(hub: String, partition: Int, requested: IdempotentProducerState) -> AttachAnswer {
        state.withLockedValue { state in
            let id: Int64
            if let requestedID = requested.producerID {
                id = requestedID
                state.nextProducerID = max(state.nextProducerID, requestedID &+ 1)
            } else {
                id = state.nextProducerID
                state.nextProducerID += 1
            }
            let key = Key(hub: hub.lowercased(), partition: partition, producerID: id)
            var entry = state.entries[key] ?? Entry(epoch: requested.epoch ?? 0, lastSequenceNumber: requested.lastSequenceNumber ?? -1)
            // After a failed write the producer learns where the log really ends.
            if entry.needsReattach {
                entry.lastSequenceNumber = entry.storedSequenceNumber
                entry.needsReattach = false
            }
            if let epoch = requested.epoch {
                if epoch < entry.epoch {
                    return .refused(AMQPError(condition: .unknown(EventHubsNames.producerEpochStolen),
                                              description: "producer \(id) has epoch \(entry.epoch) on partition \(partition); epoch \(epoch) is stale"))
                }
                if epoch > entry.epoch {
                    entry = Entry(epoch: epoch, lastSequenceNumber: requested.lastSequenceNumber ?? -1)
                }
            }
            state.entries[key] = entry
            return .accepted(IdempotentProducerState(producerID: id, epoch: entry.epoch, lastSequenceNumber: entry.lastSequenceNumber))
        }
    }

    /// What to do with a delivery of idempotent events.
    enum Decision: Equatable {
        /// Store the events from this index on (the ones before it were stored already).
        case store(from: Int)
        /// Every event was stored already: accept without storing.
        case duplicate
        case refuse(AMQPError)
    }

    /// Checks the events' annotations against the producer's state. When some are new, the
    /// accepted sequence number moves on at once, so the next delivery (which may arrive before
    /// this one's write completes) is checked against it; the caller writes the events and reports
    /// with ``completed(_:succeeded:)``, which moves the stored number or, on failure, makes the
    /// producer attach again before it publishes more.
    func publish(hub: String, partition: Int, link: IdempotentProducerState,
                 events: [(producerID: Int64?, epoch: Int16?, sequenceNumber: Int32?)]) -> (Decision, PendingWrite?) {
        state.withLockedValue { state -> (Decision, PendingWrite?) in
            guard let id = events.first?.producerID ?? link.producerID else {
                return (.refuse(Self.outOfOrder("the events carry no producer id")), nil)
            }
            let key = Key(hub: hub.lowercased(), partition: partition, producerID: id)
            guard var entry = state.entries[key] else {
                return (.refuse(Self.outOfOrder("producer \(id) is not known on partition \(partition)")), nil)
            }
            guard !entry.needsReattach else {
                return (.refuse(Self.outOfOrder("a write for producer \(id) failed; attach again to learn the last stored sequence number")), nil)
            }
            var sequences: [Int32] = []
            sequences.reserveCapacity(events.count)
            for event in events {
                guard (event.producerID ?? id) == id else { return (.refuse(Self.outOfOrder("one delivery carries two producer ids")), nil) }
                let epoch = event.epoch ?? link.epoch ?? entry.epoch
                if epoch < entry.epoch {
                    return (.refuse(AMQPError(condition: .unknown(EventHubsNames.producerEpochStolen),
                                              description: "producer \(id) has epoch \(entry.epoch); events of epoch \(epoch) are refused")), nil)
                }
                if epoch > entry.epoch {
                    return (.refuse(Self.outOfOrder("epoch \(epoch) was not attached for producer \(id)")), nil)
                }
                guard let sequence = event.sequenceNumber else { return (.refuse(Self.outOfOrder("an event carries no producer sequence number")), nil) }
                if let previous = sequences.last, sequence != IdempotentProducerState.next(after: previous) {
                    return (.refuse(Self.outOfOrder("sequence number \(sequence) does not follow \(previous)")), nil)
                }
                sequences.append(sequence)
            }
            guard let first = sequences.first else { return (.duplicate, nil) }
            let expected = IdempotentProducerState.next(after: entry.lastSequenceNumber)
            // Stored already: every number up to the last one (resends of a batch the producer
            // never heard the answer to). New: from the expected one on. Beyond it: a gap.
            let alreadyStored = Int(Int64(entry.lastSequenceNumber) - Int64(first) + 1)
            if first != expected && alreadyStored <= 0 {
                return (.refuse(Self.outOfOrder("sequence number \(first) is not the expected \(expected)")), nil)
            }
            let from = max(alreadyStored, 0)
            guard from < sequences.count else { return (.duplicate, nil) }
            let last = sequences[sequences.count - 1]
            entry.lastSequenceNumber = last
            state.entries[key] = entry
            return (.store(from: from), PendingWrite(key: key, epoch: entry.epoch, lastSequenceNumber: last))
        }
    }

    /// An accepted delivery's events on their way to the log.
    struct PendingWrite: Sendable {
        fileprivate let key: Key
        fileprivate let epoch: Int16
        fileprivate let lastSequenceNumber: Int32
    }

    /// The write of `write` ended. Writes of one partition complete in order, so the stored
    /// number only moves forward.
    func completed(_ write: PendingWrite, succeeded: Bool) {
        state.withLockedValue { state in
            guard var entry = state.entries[write.key], entry.epoch == write.epoch else { return }
            if succeeded {
                entry.storedSequenceNumber = write.lastSequenceNumber
            } else {
                entry.needsReattach = true
            }
            state.entries[write.key] = entry
        }
    }


    static func outOfOrder(_ description: String) -> AMQPError {
        AMQPError(condition: .unknown(EventHubsNames.outOfOrderSequence), description: description)
    }
}

extension EmulatorConnection {
    /// Whether an attaching producer asked to publish idempotently.
    static func wantsIdempotence(_ attach: Attach) -> Bool {
        attach.desiredCapabilities.contains(EventHubsNames.idempotentProducer)
    }

    /// Attaches an idempotent producer of one partition, answering with its state and capability.
    func attachIdempotentProducer(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection, hub: String, partition: Int?) {
        guard let partition else {
            refuse(link, attach, connection, .amqp(.notAllowed), "idempotent publishing needs a partition; send to \(hub)/Partitions/ID")
            return
        }
        switch store.idempotentProducers.attach(hub: hub, partition: partition, requested: IdempotentProducerState(properties: attach.properties)) {
        case .refused(let error):
            refuse(link, attach, connection, error)
        case .accepted(let state):
            links[link] = .producer(hub: hub, partition: partition)
            idempotentLinks[link] = state
            accept(link, attach, connection, credit: 1000, offeredCapabilities: [EventHubsNames.idempotentProducer], properties: state.properties)
        }
    }

    /// Stores the new events of an idempotent delivery, accepts a resent one without storing it
    /// again, and rejects one out of order or of a stale epoch with the service's conditions.
    func publishIdempotently(_ delivery: IncomingDelivery, on link: LinkID, state: IdempotentProducerState, events: [NewEvent],
                             hub: String, partition: Int, log: PartitionLog, _ connection: AMQPServerConnection) {
        var published: [(producerID: Int64?, epoch: Int16?, sequenceNumber: Int32?)] = []
        published.reserveCapacity(events.count)
        for event in events {
            guard let message = try? Message(decoding: event.message) else {
                settle(delivery, on: link, connection, .rejected(Rejected(error: AMQPError(condition: .amqp(.decodeError), description: "an event does not decode"))))
                return
            }
            published.append(IdempotentProducerState.published(in: message.messageAnnotations?.value))
        }
        let (decision, write) = store.idempotentProducers.publish(hub: hub, partition: partition, link: state, events: published)
        switch decision {
        case .duplicate:
            settle(delivery, on: link, connection, .accepted(Accepted()))
        case .refuse(let error):
            settle(delivery, on: link, connection, .rejected(Rejected(error: error)))
        case .store(let from):
            // Accepted only once the new events are written, as every publish is; the registry
            // hears how the write ended, so a failure cannot leave it counting events the log lacks.
            let registry = store.idempotentProducers
            let boundSelf = NIOLoopBound(self, eventLoop: connection.eventLoop)
            let boundConnection = NIOLoopBound(connection, eventLoop: connection.eventLoop)
            let eventLoop = connection.eventLoop
            log.append(Array(events[from...]), now: clock(), annotate: Self.annotate) { result in
                let outcome: DeliveryState
                switch result {
                case .success: outcome = .accepted(Accepted())
                case .failure(let failure): outcome = .rejected(Rejected(error: Self.error(for: failure)))
                }
                if let write { registry.completed(write, succeeded: outcome == .accepted(Accepted())) }
                if eventLoop.inEventLoop {
                    boundSelf.value.settle(delivery, on: link, boundConnection.value, outcome)
                } else {
                    eventLoop.execute { boundSelf.value.settle(delivery, on: link, boundConnection.value, outcome) }
                }
            }
        }
    }
}
