import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore

/// The client side of one connection: turns engine events into completed promises and buffered
/// deliveries for the async API. Every member is touched on `eventLoop` only; the public types
/// hop there before calling in.
final class ClientCore: ConnectionEventSink, @unchecked Sendable {
    let eventLoop: EventLoop
    var handler: ConnectionHandler?
    var openPromise: EventLoopPromise<Open>
    var closePromise: EventLoopPromise<Void>?
    /// Whether the peer's open arrived.
    var isOpened = false
    /// Set once the connection is over; every later call fails with it.
    var terminalError: AMQPClientError?
    var sessions: [SessionID: SessionRecord] = [:]
    var links: [LinkID: LinkRecord] = [:]
    /// Senders with ``LinkRecord/flushWaiters``, checked at the end of every engine step.
    var flushingLinks: Set<LinkID> = []
    /// Senders with deliveries in the engine's queue, whose ``SendQueue`` is told at the end of
    /// every engine step how many are left.
    var sendingLinks: Set<LinkID> = []

    struct SessionRecord {
        var begun: EventLoopPromise<Void>?
        var ended: EventLoopPromise<Void>?
        var links: Set<LinkID> = []
    }

    final class LinkRecord {
        let role: Role
        let address: String?
        var attached: EventLoopPromise<Attach>?
        var detached: EventLoopPromise<Void>?
        var error: AMQPClientError?
        // Sender
        var outcomes: [OutgoingDeliveryID: OutcomeCell] = [:]
        /// Outcomes that arrived while `send` was still inside the engine (pre-settled deliveries
        /// complete as they are written), before their promise was registered.
        var earlyOutcomes: [OutgoingDeliveryID: DeliveryState?] = [:]
        weak var sendQueue: SendQueue?
        weak var settleQueue: SettleQueue?
        /// `close()` calls waiting for everything enqueued to be written and settled.
        var flushWaiters: [EventLoopPromise<Void>] = []
        // Receiver
        /// Deliveries not yet taken; shared with the ``AMQPReceiver``, which takes from it directly.
        let inbound = InboundDeliveries()
        var receiveWaiter: EventLoopPromise<AMQPDelivery?>?
        var drainWaiters: [EventLoopPromise<Void>] = []
        weak var receiver: AMQPReceiver.Reference?

        init(role: Role, address: String?) {
            self.role = role
            self.address = address
        }
    }

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.openPromise = eventLoop.makePromise(of: Open.self)
    }

    // MARK: Calls from the API (on the event loop)

    func checkUsable() throws {
        if let terminalError { throw terminalError }
        guard handler != nil else { throw AMQPClientError(.connectionClosed, detail: "not connected") }
    }

    func withEngine<T>(_ body: (inout ConnectionEngine) throws -> T) throws -> T {
        try checkUsable()
        do {
            return try handler!.withEngine(body)
        } catch let error as ConnectionUsageError {
            throw AMQPClientError(.invalidArgument, detail: error.description)
        }
    }

    func beginSession() throws -> (SessionID, EventLoopFuture<Void>) {
        let id = try withEngine { try $0.beginSession() }
        let promise = eventLoop.makePromise(of: Void.self)
        sessions[id, default: SessionRecord()].begun = promise
        return (id, promise.futureResult)
    }

    func attach(on session: SessionID, _ options: ConnectionEngine.LinkOptions, address: String?) throws -> (LinkID, EventLoopFuture<Attach>) {
        guard sessions[session] != nil else { throw AMQPClientError(.sessionEnded, detail: "the session is not open") }
        let id = try withEngine { try $0.attachLink(on: session, options) }
        let record = LinkRecord(role: options.role, address: address)
        let promise = eventLoop.makePromise(of: Attach.self)
        record.attached = promise
        links[id] = record
        sessions[session]?.links.insert(id)
        return (id, promise.futureResult)
    }

    func linkRecord(_ id: LinkID) throws -> LinkRecord {
        try checkUsable()
        guard let record = links[id] else { throw AMQPClientError(.linkDetached, detail: "the link is detached") }
        if let error = record.error { throw error }
        return record
    }

    // MARK: Engine events

    func handle(_ event: ConnectionEvent, handler: ConnectionHandler) {
        switch event {
        case .opened(let open):
            isOpened = true
            openPromise.succeed(open)
        case .failed(let failure):
            finish(AMQPClientError(.connectionFailed, detail: failure.description, underlying: failure))
        case .closed(let error, let byPeer):
            if byPeer || error != nil {
                finish(AMQPClientError(.connectionClosed, amqpError: error, detail: byPeer ? "closed by the peer" : "closed"))
            } else {
                finish(AMQPClientError(.connectionClosed, detail: "closed"))
            }
            closePromise?.succeed(())
        case .sessionBegun(let id, _):
            if let promise = sessions[id]?.begun {
                sessions[id]?.begun = nil
                promise.succeed(())
            } else {
                // A session the peer began: clients do not serve them.
                handler.withEngine { $0.endSession(id, error: AMQPError(condition: .amqp(.notAllowed), description: "this client accepts no sessions")) }
            }
        case .sessionEnded(let id, let error, let byPeer):
            guard let record = sessions.removeValue(forKey: id) else { return }
            let failure = AMQPClientError(.sessionEnded, amqpError: error, detail: byPeer ? "ended by the peer" : "ended")
            record.begun?.fail(failure)
            for link in record.links { detachLink(link, failure) }
            record.ended?.succeed(())
        case .linkAttachRequested(_, let id, _):
            handler.withEngine { $0.refuseLink(id, error: AMQPError(condition: .amqp(.notAllowed), description: "this client accepts no links")) }
        case .linkAttached(let id, let attach):
            guard let record = links[id] else { return }
            record.attached?.succeed(attach)
            record.attached = nil
        case .linkRefused(let id, let error):
            let address = links[id]?.address
            detachLink(id, AMQPClientError(.linkRefused, amqpError: error, detail: "the peer refused the link\(address.map { " to \($0)" } ?? "")"))
        case .linkDetached(let id, let error, _, let byPeer):
            let failure: AMQPClientError
            if let record = links[id], record.attached != nil {
                // Detached before the peer answered our attach.
                failure = AMQPClientError(.linkRefused, amqpError: error, detail: "the peer refused the link\(record.address.map { " to \($0)" } ?? "")")
            } else {
                failure = AMQPClientError(.linkDetached, amqpError: error, detail: byPeer ? "detached by the peer" : "detached")
            }
            detachLink(id, failure)
        case .creditGranted(let id, _, _):
            if links[id]?.sendQueue != nil { sendingLinks.insert(id) }
        case .outcome(let id, let delivery, let state, let settled):
            guard settled, let record = links[id] else { return }
            if let outcome = record.outcomes.removeValue(forKey: delivery) {
                outcome.complete(.success(state))
            } else {
                record.earlyOutcomes[delivery] = state
            }
        case .delivery(let id, let delivery):
            receivedDelivery(delivery, on: id, handler: handler)
        case .drained(let id):
            guard let record = links[id] else { return }
            let waiters = record.drainWaiters
            record.drainWaiters = []
            for waiter in waiters { waiter.succeed(()) }
        case .deliveryAborted, .settledByPeer, .authenticated, .startTLS:
            break
        }
    }

    func eventBatchEnded(handler: ConnectionHandler) {
        if !sendingLinks.isEmpty { reportEngineBacklogs() }
        if !flushingLinks.isEmpty { completeFlushes() }
    }

    func channelClosed(handler: ConnectionHandler, error: (any Error & Sendable)?) {
        if isOpened {
            finish(AMQPClientError(.connectionClosed, detail: "the connection to the peer was lost", underlying: error))
        } else {
            // Before the peer's open: the connection was never established (a refused TLS
            // handshake, a peer that hung up during SASL).
            finish(AMQPClientError(.connectionFailed, detail: "the connection closed before the peer's open", underlying: error))
        }
        closePromise?.succeed(())
        self.handler = nil
    }

    /// Fails everything still waiting, once.
    func finish(_ error: AMQPClientError) {
        if terminalError == nil { terminalError = error }
        let error = terminalError!
        openPromise.fail(error)
        for (_, record) in sessions {
            record.begun?.fail(error)
            record.ended?.succeed(())
        }
        sessions.removeAll()
        for id in Array(links.keys) { detachLink(id, error) }
    }

    func detachLink(_ id: LinkID, _ error: AMQPClientError) {
        guard let record = links.removeValue(forKey: id) else { return }
        record.error = error
        record.attached?.fail(error)
        record.attached = nil
        for (_, outcome) in record.outcomes { outcome.complete(.failure(error)) }
        record.outcomes.removeAll()
        record.sendQueue?.fail(error)
        sendingLinks.remove(id)
        flushingLinks.remove(id)
        for waiter in record.flushWaiters { waiter.succeed(()) }
        record.flushWaiters.removeAll()
        record.settleQueue?.fail(error)
        for waiter in record.drainWaiters { waiter.fail(error) }
        record.drainWaiters.removeAll()
        record.inbound.finish(error)
        if let waiter = record.receiveWaiter {
            record.receiveWaiter = nil
            // A receiver that is simply closed ends its sequence; a detach with an error throws.
            if error.amqpError == nil && error.kind == .linkDetached {
                waiter.succeed(nil)
            } else {
                waiter.fail(error)
            }
        }
        record.detached?.succeed(())
        record.detached = nil
    }

    // MARK: Sending

    /// How many deliveries may wait in the engine for credit before `enqueue` suspends.
    /// Completes when everything enqueued on the sender `id` has been written and settled, or
    /// after `timeout`, whichever comes first.
    func flushed(_ id: LinkID, timeout: TimeAmount) -> EventLoopFuture<Void> {
        guard let record = links[id], !isFlushed(id, record) else { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        record.flushWaiters.append(promise)
        flushingLinks.insert(id)
        let timer = eventLoop.scheduleTask(in: timeout) {
            guard let record = self.links[id], let index = record.flushWaiters.firstIndex(where: { $0.futureResult === promise.futureResult }) else { return }
            record.flushWaiters.remove(at: index).succeed(())
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    private func isFlushed(_ id: LinkID, _ record: LinkRecord) -> Bool {
        (handler?.engine.queuedDeliveries(on: id) ?? 0) == 0 && record.outcomes.isEmpty
    }

    private func completeFlushes() {
        for id in flushingLinks {
            guard let record = links[id] else {
                flushingLinks.remove(id)
                continue
            }
            guard record.flushWaiters.isEmpty || isFlushed(id, record) else { continue }
            flushingLinks.remove(id)
            let waiters = record.flushWaiters
            record.flushWaiters.removeAll()
            for waiter in waiters { waiter.succeed(()) }
        }
    }

    /// Takes a batch of a sender's messages (on the loop, in the order they were enqueued) and
    /// hands as many to the engine as the link has room for.
    /// Hands what `queue` took from its callers to the engine, whose queue is the link's one
    /// backlog: it writes each delivery as credit and the session window allow. The sender's
    /// callers wait while that backlog is over ``SendQueue/limit`` (see ``reportEngineBacklogs()``).
    func handToEngine(_ batch: [SendQueue.Submission], queue: SendQueue) {
        guard !batch.isEmpty else { return }
        let record: LinkRecord
        do {
            record = try linkRecord(queue.link)
        } catch {
            let failure = error as? AMQPClientError ?? AMQPClientError(.linkDetached, detail: "\(error)")
            for submission in batch { submission.outcome.complete(.failure(failure)) }
            queue.fail(failure)
            return
        }
        record.sendQueue = queue
        for submission in batch {
            do {
                try send(submission.payload[...], on: queue.link, settled: submission.settled, messageFormat: submission.messageFormat,
                         outcome: submission.outcome)
            } catch {
                submission.outcome.complete(.failure(error))
            }
        }
        queue.handedOver(batch.count, inEngine: handler?.engine.queuedDeliveries(on: queue.link) ?? 0)
        sendingLinks.insert(queue.link)
    }

    /// After an engine step: tells each sender with deliveries in the engine how many are still
    /// there, so that callers waiting on a full backlog go on once it has drained.
    func reportEngineBacklogs() {
        for id in sendingLinks {
            guard let record = links[id], let queue = record.sendQueue else {
                sendingLinks.remove(id)
                continue
            }
            let held = handler?.engine.queuedDeliveries(on: id) ?? 0
            queue.engineHolds(held)
            if held == 0 { sendingLinks.remove(id) }
        }
    }

    /// Hands a message to the engine; `outcome` completes with the receiver's answer.
    func send(_ payload: ArraySlice<UInt8>, on id: LinkID, settled: Bool, messageFormat: MessageFormat, outcome: OutcomeCell) throws {
        let record = try linkRecord(id)
        let delivery = try withEngine { try $0.send(on: id, payload: payload, settled: settled, messageFormat: messageFormat) }
        if let early = record.earlyOutcomes.removeValue(forKey: delivery) {
            outcome.complete(.success(early))
        } else if let error = record.error {
            outcome.complete(.failure(error))
        } else {
            record.outcomes[delivery] = outcome
        }
    }

    // MARK: Receiving

    func receivedDelivery(_ delivery: IncomingDelivery, on id: LinkID, handler: ConnectionHandler) {
        guard let record = links[id] else { return }
        let message: Message
        do {
            var decoder = AMQPDecoder(delivery.payload)
            message = try Message(from: &decoder)
        } catch {
            // A message we cannot read is rejected with the reason, never surfaced half-decoded.
            if !delivery.isSettled {
                handler.withEngine {
                    try? $0.settle(delivery.deliveryID, on: id, state: .rejected(Rejected(error: AMQPError(condition: .amqp(.decodeError), description: "\(error)"))))
                }
            }
            reportConsumed(id, record, handedOver: 1)
            return
        }
        let received = AMQPDelivery(
            message: message, deliveryID: delivery.deliveryID, tag: delivery.tag, messageFormat: delivery.messageFormat,
            isSettled: delivery.isSettled, payload: delivery.payload, receiver: record.receiver
        )
        if let waiter = record.receiveWaiter {
            record.receiveWaiter = nil
            waiter.succeed(received)
            reportConsumed(id, record, handedOver: 1)
        } else {
            record.inbound.append(received)
        }
    }

    func nextDelivery(_ id: LinkID, record fallback: LinkRecord?) -> EventLoopFuture<AMQPDelivery?> {
        guard let record = links[id] ?? fallback else {
            return eventLoop.makeSucceededFuture(nil)
        }
        switch record.inbound.next() {
        case .delivery(let delivery):
            reportConsumed(id, record)
            return eventLoop.makeSucceededFuture(delivery)
        case .finished(let error):
            if let error { return eventLoop.makeFailedFuture(error) }
            return eventLoop.makeSucceededFuture(nil)
        case .empty:
            if record.receiveWaiter != nil {
                return eventLoop.makeFailedFuture(AMQPClientError(.invalidArgument, detail: "one task at a time may wait on a receiver"))
            }
            let promise = eventLoop.makePromise(of: AMQPDelivery?.self)
            record.receiveWaiter = promise
            return promise.futureResult
        }
    }

    /// Ends a pending `receive` without a delivery: with `nil` (a timeout) or an error (cancellation).
    func abandonWait(_ id: LinkID, record fallback: LinkRecord?, with error: (any Error)?) {
        guard let record = links[id] ?? fallback, let waiter = record.receiveWaiter else { return }
        record.receiveWaiter = nil
        if let error { waiter.fail(error) } else { waiter.succeed(nil) }
    }

    /// Every buffered delivery up to `maximum` at once; when none is buffered, the next one
    /// (waiting for it), or none once the link is closed.
    func nextDeliveries(_ id: LinkID, record fallback: LinkRecord?, maximum: Int) -> EventLoopFuture<[AMQPDelivery]> {
        guard let record = links[id] ?? fallback else {
            return eventLoop.makeSucceededFuture([])
        }
        var batch: [AMQPDelivery] = []
        while batch.count < maximum, case .delivery(let delivery) = record.inbound.next() {
            batch.append(delivery)
        }
        guard batch.isEmpty else {
            reportConsumed(id, record)
            return eventLoop.makeSucceededFuture(batch)
        }
        return nextDelivery(id, record: fallback).map { $0.map { [$0] } ?? [] }
    }

    /// Tells the engine how many deliveries the consumer has taken since the last report (those
    /// `inbound` handed out, plus `handedOver` that never went through it): with prefetch, its
    /// credit rule counts buffered deliveries against the window until they are taken.
    func reportConsumed(_ id: LinkID, _ record: LinkRecord, handedOver: Int = 0) {
        let taken = record.inbound.takeConsumedCount() + handedOver
        guard taken > 0, let handler else { return }
        handler.withEngine { $0.consumed(taken, on: id) }
    }
}

/// The deliveries of one receiving link that the consumer has not taken yet. The event loop adds
/// them; the consumer takes them under the lock, without a trip to the loop while some are waiting
/// (the loop is needed only to wait for the next one, and now and then to top credit up).
final class InboundDeliveries: Sendable {
    private struct State {
        var buffer = DeliveryBuffer()
        var replenishRequested = false
        /// Deliveries handed out and not yet reported to the engine as consumed.
        var taken = 0
    }

    private let state = NIOLockedValueBox(State())

    var count: Int { state.withLockedValue { $0.buffer.count } }

    func append(_ delivery: AMQPDelivery) { state.withLockedValue { $0.buffer.append(delivery) } }

    func finish(_ error: AMQPClientError) { state.withLockedValue { $0.buffer.finish(error) } }

    func next() -> DeliveryBuffer.Next {
        state.withLockedValue { state in
            let next = state.buffer.next()
            if case .delivery = next { state.taken += 1 }
            return next
        }
    }

    /// How many deliveries were handed out since the last call.
    func takeConsumedCount() -> Int {
        state.withLockedValue { state in
            defer { state.taken = 0 }
            return state.taken
        }
    }

    /// Up to `maximum` waiting deliveries; empty when none waits (then the caller asks the loop).
    func take(upTo maximum: Int) -> [AMQPDelivery] {
        state.withLockedValue { state in
            var batch: [AMQPDelivery] = []
            while batch.count < maximum, case .delivery(let delivery) = state.buffer.next() { batch.append(delivery) }
            state.taken += batch.count
            return batch
        }
    }

    /// After the consumer took deliveries: whether it should ask the loop to look at credit, at
    /// most one request in flight, and only once few enough are buffered for a top-up to be due.
    func requestsReplenish(prefetch: UInt32) -> Bool {
        state.withLockedValue { state in
            guard !state.replenishRequested, state.buffer.count <= Int(prefetch / 2) else { return false }
            state.replenishRequested = true
            return true
        }
    }

    /// The loop ran the requested top-up.
    func replenishRan() { state.withLockedValue { $0.replenishRequested = false } }
}

/// Deliveries received and not yet taken by the consumer, and whether the link has ended.
struct DeliveryBuffer {
    private var queue = FIFO<AMQPDelivery>()
    private var ending: (error: AMQPClientError?, done: Bool) = (nil, false)

    enum Next {
        case delivery(AMQPDelivery)
        case empty
        case finished(AMQPClientError?)
    }

    var count: Int { queue.count }

    mutating func append(_ delivery: AMQPDelivery) { queue.append(delivery) }

    mutating func finish(_ error: AMQPClientError) {
        ending = (error.amqpError == nil && error.kind == .linkDetached ? nil : error, true)
    }

    mutating func next() -> Next {
        if let delivery = queue.removeFirst() { return .delivery(delivery) }
        return ending.done ? .finished(ending.error) : .empty
    }
}
