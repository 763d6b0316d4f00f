import AMQPProtocol
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore

/// The way from ``AMQPSender/enqueue(encoded:settled:messageFormat:)`` to the engine.
///
/// A caller appends its message under a lock and goes on; one task on the event loop hands what
/// has been appended to the engine, whose queue is the link's one backlog (written as credit and
/// the session window allow). Per message that costs a lock, where awaiting the event loop cost two thread switches
/// (there and back), which held a sender in an ordinary task to a few thousand messages a second.
/// Messages keep the order in which `enqueue` appended them, across tasks.
///
/// Backpressure: a caller waits while more than ``limit`` messages are appended and not yet
/// written (here or in the engine's queue), and goes on once no more than half of that is left (or
/// the link is gone).
final class SendQueue: Sendable {
    struct Submission {
        var payload: [UInt8]
        var settled: Bool
        var messageFormat: MessageFormat
        var outcome: OutcomeCell
    }

    private struct State {
        var submitted = LoopHandoff<Submission>()
        /// Appended and not yet handed to the engine.
        var submittedCount = 0
        /// Handed to the engine and not yet written, as of the end of its last step.
        var inEngine = 0
        /// What callers wait on: appended and not yet written.
        var outstanding: Int { submittedCount + inEngine }
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Set once the link is gone; later messages fail with it at once.
        var failure: AMQPClientError?
    }

    /// How many messages may wait to be written (here and in the engine) before callers wait.
    static let limit = 512

    private let state = NIOLockedValueBox(State())
    let link: LinkID
    let core: ClientCore

    init(link: LinkID, core: ClientCore) {
        self.link = link
        self.core = core
    }

    /// Appends a message; its cell gets the receiver's outcome (or, pre-settled, completes when
    /// the message is written). Waits only while the queue is over ``limit``.
    func enqueue(_ payload: [UInt8], settled: Bool, messageFormat: MessageFormat) async throws -> OutcomeCell {
        let outcome = OutcomeCell()
        let appended: Result<(scheduleMove: Bool, mustWait: Bool), AMQPClientError> = state.withLockedValue { state in
            if let failure = state.failure { return .failure(failure) }
            let scheduleMove = state.submitted.append(Submission(payload: payload, settled: settled, messageFormat: messageFormat, outcome: outcome))
            state.submittedCount += 1
            return .success((scheduleMove, state.outstanding > Self.limit))
        }
        let (scheduleMove, mustWait) = try appended.get()
        if scheduleMove {
            core.eventLoop.execute { self.moveToBacklog() }
        }
        if mustWait {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state in
                    guard state.failure == nil, state.outstanding > Self.limit / 2 else { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        return outcome
    }

    /// On the event loop: everything appended so far goes to the engine.
    private func moveToBacklog() {
        core.handToEngine(state.withLockedValue { $0.submitted.take() }, queue: self)
    }

    /// The event loop handed `count` messages to the engine (or failed them), which holds
    /// `inEngine` of this link's deliveries not yet written.
    func handedOver(_ count: Int, inEngine: Int) {
        update { state in
            state.submittedCount -= count
            state.inEngine = inEngine
        }
    }

    /// After an engine step: the engine holds `inEngine` of this link's deliveries not yet written.
    func engineHolds(_ inEngine: Int) {
        update { $0.inEngine = inEngine }
    }

    private func update(_ change: (inout State) -> Void) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            // After `fail` nothing is outstanding any more (the link failed what it held).
            guard state.failure == nil else { return [] }
            change(&state)
            guard state.outstanding <= Self.limit / 2, !state.waiters.isEmpty else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The link is gone: messages not yet handed over fail with `error`, and so do later ones.
    func fail(_ error: AMQPClientError) {
        let (submitted, waiters) = state.withLockedValue { state in
            if state.failure == nil { state.failure = error }
            let submitted = state.submitted.take()
            state.submittedCount = 0
            state.inEngine = 0
            defer { state.waiters.removeAll() }
            return (submitted, state.waiters)
        }
        for submission in submitted { submission.outcome.complete(.failure(error)) }
        for waiter in waiters { waiter.resume() }
    }
}

/// Settlements of a receiver's deliveries on their way to the engine, for the reason
/// ``SendQueue`` exists: `accept()` appends under a lock and returns; one task on the event loop
/// writes everything appended so far, in order, with runs of delivery ids in one disposition.
/// Settlements made before a `close` are written before its detach (the loop runs tasks in order).
final class SettleQueue: Sendable {
    private struct State {
        var pending = LoopHandoff<(deliveryID: DeliveryNumber, state: DeliveryState?)>()
        var failure: AMQPClientError?
    }

    private let state = NIOLockedValueBox(State())
    let link: LinkID
    let core: ClientCore

    init(link: LinkID, core: ClientCore) {
        self.link = link
        self.core = core
    }

    /// Queues a settlement; throws when the link is already gone.
    func settle(_ deliveryID: DeliveryNumber, state deliveryState: DeliveryState?) throws {
        let scheduleWrite: Result<Bool, AMQPClientError> = state.withLockedValue { state in
            if let failure = state.failure { return .failure(failure) }
            return .success(state.pending.append((deliveryID, deliveryState)))
        }
        if try scheduleWrite.get() {
            core.eventLoop.execute { self.write() }
        }
    }

    /// On the event loop: writes what is pending, one disposition per run of equal outcomes.
    private func write() {
        let pending = state.withLockedValue { $0.pending.take() }
        var start = pending.startIndex
        while start < pending.endIndex {
            var end = start + 1
            while end < pending.endIndex && pending[end].state == pending[start].state { end += 1 }
            let ids = pending[start..<end].map(\.deliveryID)
            let link = self.link
            do {
                _ = try core.linkRecord(link)
                try core.withEngine { try $0.settle(deliveryIDs: ids, on: link, state: pending[start].state) }
            } catch {
                // The link went away after these were queued: the sender redelivers them, as
                // after any connection loss before a disposition arrives.
                return
            }
            start = end
        }
    }

    /// The link is gone: later settlements throw `error`.
    func fail(_ error: AMQPClientError) {
        state.withLockedValue { state in
            if state.failure == nil { state.failure = error }
            _ = state.pending.take()
        }
    }
}

/// Items appended from any thread (under their owner's lock) for one task on the event loop to
/// take: the first append after a take asks its caller to schedule that task, later ones ride on
/// it. What ``SendQueue`` and ``SettleQueue`` share.
struct LoopHandoff<Item: Sendable>: Sendable {
    private var items: [Item] = []
    private var taskScheduled = false

    /// Appends `item`; `true` when the caller must schedule the task that takes it.
    mutating func append(_ item: Item) -> Bool {
        items.append(item)
        defer { taskScheduled = true }
        return !taskScheduled
    }

    /// Everything appended so far, in order; the next append schedules a new task.
    mutating func take() -> [Item] {
        taskScheduled = false
        var taken: [Item] = []
        swap(&taken, &items)
        return taken
    }
}

/// Where the outcome of one sent message lands. The event loop completes it; whoever awaits it
/// reads it under a lock, so an outcome that has already arrived costs no trip to the loop (an
/// `EventLoopFuture` always calls back on its loop).
final class OutcomeCell: Sendable {
    private enum State {
        case waiting([CheckedContinuation<DeliveryState?, any Error>])
        case done(Result<DeliveryState?, any Error>)
    }

    private let state = NIOLockedValueBox(State.waiting([]))

    /// The first completion counts; later ones are ignored.
    func complete(_ result: Result<DeliveryState?, any Error>) {
        let waiters: [CheckedContinuation<DeliveryState?, any Error>] = state.withLockedValue { state in
            guard case .waiting(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func get() async throws -> DeliveryState? {
        if case .done(let result) = state.withLockedValue({ $0 }) { return try result.get() }
        return try await withCheckedThrowingContinuation { continuation in
            let done: Result<DeliveryState?, any Error>? = state.withLockedValue { state in
                switch state {
                case .done(let result): return result
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                }
            }
            if let done { continuation.resume(with: done) }
        }
    }
}
