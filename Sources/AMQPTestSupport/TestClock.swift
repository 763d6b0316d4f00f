import Foundation

/// A clock for tests, on which time moves only when the test says: ``advance(by:)`` wakes the
/// sleepers whose deadline has come. With `advancesWhenSleeping`, every sleep instead moves the
/// clock to its deadline at once, so that code which waits (retry backoff) runs in no real
/// time while the test reads what it waited for in ``sleeps``.
///
/// It also keeps a wall-clock time, starting at the real time it was made, for the parts of a
/// test that count in dates (token expiry on an emulator, tokens signed by a test's provider).
public final class TestClock: Clock, @unchecked Sendable {
    /// An instant: the time since the clock was made.
    public struct Instant: InstantProtocol, Hashable, Sendable {
        /// Time since the clock was made.
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
        var sleeps: [Duration] = []
    }

    // A lock rather than an actor: `now` is read synchronously, as `Clock` requires.
    private let lock = NSLock()
    private var state = State()
    private let advancesWhenSleeping: Bool
    /// The real time when the clock was made: its wall-clock time at offset zero.
    public let startDate: Date

    /// A clock at offset zero. With `advancesWhenSleeping`, sleeping moves it forward instead of
    /// waiting.
    public init(advancesWhenSleeping: Bool = false, startDate: Date = Date()) {
        self.advancesWhenSleeping = advancesWhenSleeping
        self.startDate = startDate
    }

    private func locked<T>(_ body: (inout State) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }

    public var now: Instant { locked { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// The wall-clock time now: ``startDate`` plus the time the clock has moved.
    public var date: Date {
        let offset = now.offset.components
        return startDate.addingTimeInterval(TimeInterval(offset.seconds) + TimeInterval(offset.attoseconds) / 1e18)
    }

    /// ``date`` in milliseconds since 1970, the form the Event Hubs emulator's clock takes.
    public var millisecondsSince1970: Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// How long each sleep asked to wait, in the order they started (sleeps already due count as zero).
    public var sleeps: [Duration] { locked { $0.sleeps } }

    /// How many tasks are waiting on the clock now.
    public var sleeperCount: Int { locked { $0.sleepers.count } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let id: UInt64? = locked { state in
            state.sleeps.append(max(state.now.duration(to: deadline), .zero))
            if deadline <= state.now { return nil }
            if advancesWhenSleeping {
                state.now = deadline
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else {
            if advancesWhenSleeping { wakeDueSleepers() }
            return
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let wakeNow: Bool = locked { state in
                    if deadline <= state.now { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if wakeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled: Sleeper? = locked { state in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by duration: Duration) {
        locked { $0.now = $0.now.advanced(by: duration) }
        wakeDueSleepers()
    }

    private func wakeDueSleepers() {
        let due: [Sleeper] = locked { state in
            let due = state.sleepers.filter { $0.deadline <= state.now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= state.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
