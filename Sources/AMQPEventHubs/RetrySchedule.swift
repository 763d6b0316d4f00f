/// The retry driver of one operation: after each failure, how long to wait before the next
/// attempt, or `nil` to give up.
///
/// It is made from ``EventHubsRetryOptions`` when an operation starts and lasts as long as the
/// operation, so that an attempt made elsewhere (a ``PendingSend``'s first, whose outcome comes
/// later) counts as the schedule's first failure and the backoff continues instead of starting over. Whether a failure is
/// worth another attempt is ``FailureClassification``'s decision, not this type's.
///
/// Like Microsoft's SDKs it stops after ``EventHubsRetryOptions/maxRetries`` retries (counted
/// as .NET's `BasicRetryPolicy.CalculateRetryDelay` and Python's `_backoff` count them), and
/// hands out delays from ``EventHubsRetryOptions/delay(beforeRetry:)``.
struct RetrySchedule: Sendable {
    /// The options it follows.
    let options: EventHubsRetryOptions
    /// The retries handed out so far.
    private(set) var retries = 0
    /// A number in `0..<1` for each delay's jitter.
    private let randomFraction: @Sendable () -> Double

    /// A schedule that has handed out no retry yet. `randomFraction` is for tests that need
    /// exact delays.
    init(_ options: EventHubsRetryOptions, randomFraction: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.options = options
        self.randomFraction = randomFraction
    }

    /// How long one attempt of a request may take.
    var tryTimeout: Duration { options.tryTimeout }

    /// The delay before the next attempt after `error`, counting it as a retry; `nil` when the
    /// error is not retried or the retries are spent.
    mutating func next(after error: any Error) -> Duration? {
        guard FailureClassification.isRetried(FailureClassification.classify(error)), retries < options.maxRetries else { return nil }
        let delay = options.delay(beforeRetry: retries, randomFraction: randomFraction())
        retries += 1
        return delay
    }

    /// The package's one retry loop: runs `operation` until it succeeds, fails in a way that is
    /// not retried, or the schedule gives up, waiting on `clock` between attempts. Throws the
    /// classified ``EventHubsError`` of the last failure; when the retries were spent, that
    /// error is marked so that an enclosing loop does not retry it again (a reconnect that gave
    /// up is not attempted once more for every operation waiting on it). `onFailure` sees every
    /// failure first, to drop a broken link before the next attempt. With `earlierFailure`, an
    /// attempt made elsewhere already failed so: the loop starts by waiting the first delay.
    mutating func run<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        on clock: ClientClock,
        after earlierFailure: (any Error)? = nil,
        _ operation: () async throws -> T,
        onFailure: (any Error) async -> Void = { _ in }
    ) async throws(EventHubsError) -> T {
        var lastFailure = earlierFailure
        while true {
            if let lastFailure {
                var failure = FailureClassification.classify(lastFailure)
                guard !Task.isCancelled else { throw failure }
                guard let delay = next(after: failure) else {
                    if FailureClassification.isRetried(failure) { failure.retriesSpent = true }
                    throw failure
                }
                do {
                    try await clock.sleep(for: delay)
                } catch {
                    throw EventHubsError(.clientClosed, detail: "cancelled while waiting to retry: \(failure.detail)")
                }
            }
            do {
                return try await operation()
            } catch {
                await onFailure(error)
                lastFailure = error
            }
        }
    }
}
