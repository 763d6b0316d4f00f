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
package struct RetrySchedule: Sendable {
    /// The options it follows.
    let options: EventHubsRetryOptions
    /// The retries handed out so far.
    private(set) var retries = 0
    /// A number in `0..<1` for each delay's jitter.
    private let randomFraction: @Sendable () -> Double

    /// A schedule that has handed out no retry yet. `randomFraction` is for tests that need
    /// exact delays.
    package init(_ options: EventHubsRetryOptions, randomFraction: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.options = options
        self.randomFraction = randomFraction
    }

    /// How long one attempt of a request may take.
    var tryTimeout: Duration { options.tryTimeout }

    /// The delay before the next attempt after `error`, counting it as a retry; `nil` when the
    /// error is not retried or the retries are spent.
    mutating func next(after error: any Error) -> Duration? {
        guard FailureClassification.isRetried(FailureClassification.classify(error)) else { return nil }
        return nextDelay()
    }

    /// The delay before the next attempt after a failure the caller decided is worth retrying,
    /// counting it as a retry; `nil` when the retries are spent.
    package mutating func nextDelay() -> Duration? {
        guard retries < options.maxRetries else { return nil }
        let delay = options.delay(beforeRetry: retries, randomFraction: randomFraction())
        retries += 1
        return delay
    }

    /// The package's one retry loop: runs `operation` until it succeeds, fails in a way that
    /// `isRetried` says is not worth another attempt, or the schedule gives up, waiting with
    /// `sleep` between attempts, and rethrows the last failure. `onFailure` sees every failure
    /// first, to drop a broken link (or log) before the next attempt. With `earlierFailure`, an
    /// attempt made elsewhere already failed so: the loop starts by waiting the first delay.
    /// Cancellation while waiting throws `CancellationError`.
    package mutating func retrying<T>(
        isolation: isolated (any Actor)? = #isolation,
        after earlierFailure: (any Error)? = nil,
        isRetried: (any Error) -> Bool,
        sleep: (Duration) async throws -> Void,
        _ operation: () async throws -> T,
        onFailure: (any Error) async -> Void = { _ in }
    ) async throws -> T {
        var lastFailure = earlierFailure
        while true {
            if let lastFailure {
                guard !Task.isCancelled, isRetried(lastFailure), let delay = nextDelay() else { throw lastFailure }
                try await sleep(delay)
            }
            do {
                return try await operation()
            } catch {
                lastFailure = error
                await onFailure(error)
            }
        }
    }

    /// ``retrying(isolation:after:isRetried:sleep:_:onFailure:)`` for Event Hubs operations, on
    /// the client's clock: which failures are retried is ``FailureClassification``'s decision,
    /// and the classified ``EventHubsError`` of the last failure is thrown. When the retries
    /// were spent, that error is marked so that an enclosing loop does not retry it again (a
    /// reconnect that gave up is not attempted once more for every operation waiting on it).
    mutating func run<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        on clock: ClientClock,
        after earlierFailure: (any Error)? = nil,
        _ operation: () async throws -> T,
        onFailure: (any Error) async -> Void = { _ in }
    ) async throws(EventHubsError) -> T {
        var lastFailure: (any Error)?
        do {
            return try await retrying(
                after: earlierFailure,
                isRetried: { FailureClassification.isRetried(FailureClassification.classify($0)) },
                sleep: { delay in
                    do {
                        try await clock.sleep(for: delay)
                    } catch {
                        let detail = lastFailure.map { FailureClassification.classify($0).detail } ?? "an earlier failure"
                        throw EventHubsError(.clientClosed, detail: "cancelled while waiting to retry: \(detail)")
                    }
                },
                operation,
                onFailure: { error in
                    lastFailure = error
                    await onFailure(error)
                })
        } catch {
            // A failure still worth retrying when the loop stopped means the retries are spent
            // (cancellation aside).
            var failure = FailureClassification.classify(error)
            if !Task.isCancelled, FailureClassification.isRetried(failure) { failure.retriesSpent = true }
            throw failure
        }
    }
}
