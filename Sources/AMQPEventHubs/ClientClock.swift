import Foundation

/// The Event Hubs client's one source of time, made from ``EventHubsClientOptions/clock``:
/// every retry delay, request timeout and token renewal waits on it, and the wall-clock times
/// the client signs tokens with are read from it.
///
/// Instants are the time elapsed since the client was made, so that they compare whatever the
/// clock's own instant type is. Wall-clock time is the date the client was made plus that
/// elapsed time: with the default `ContinuousClock` it follows the system's time (and keeps
/// counting while the machine sleeps); with a test clock it moves only when the test says.
struct ClientClock: Sendable {
    private let elapsed: @Sendable () -> Duration
    private let sleeper: @Sendable (Duration) async throws -> Void
    /// The wall-clock time when the client was made.
    let startDate: Date

    init<C: Clock<Duration>>(_ clock: C, startDate: Date = Date()) {
        let start = clock.now
        self.startDate = startDate
        self.elapsed = { start.duration(to: clock.now) }
        self.sleeper = { offset in try await clock.sleep(until: start.advanced(by: offset), tolerance: nil) }
    }

    /// Now: the time elapsed since the client was made.
    var now: Duration { elapsed() }

    /// The wall-clock time now.
    var date: Date { startDate.addingTimeInterval(now.timeInterval) }

    /// The instant at which wall-clock time reaches `date`.
    func instant(at date: Date) -> Duration {
        .seconds(date.timeIntervalSince(startDate))
    }

    /// Waits until `instant`; throws `CancellationError` when the task is cancelled.
    func sleep(until instant: Duration) async throws {
        try await sleeper(instant)
    }

    /// Waits for `duration`.
    func sleep(for duration: Duration) async throws {
        try await sleeper(now + duration)
    }

    /// Runs `operation`, failing with a transient ``EventHubsError/Kind/timeout`` error when it
    /// takes longer than `timeout` on this clock. The operation is cancelled then, and must
    /// respond to cancellation.
    func withTimeout<T: Sendable>(
        _ timeout: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await self.sleep(for: timeout)
                throw EventHubsError(.timeout, detail: "\(what) took longer than \(timeout)", isTransient: true)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

extension Duration {
    /// The duration in seconds, as `TimeInterval`.
    var timeInterval: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
