/// How operations are retried when they fail for a transient reason (a busy or restarting
/// service, a lost connection): the same policy as Microsoft's SDKs, exponential backoff from
/// ``delay`` with at most ``maxRetries`` retries, plus jitter so that many clients failing
/// together do not retry together.
public struct EventHubsRetryOptions: Sendable, Hashable {
    /// How the delay grows from one retry to the next.
    public enum Mode: Sendable, Hashable {
        /// `delay × 2^retry`, capped by ``EventHubsRetryOptions/maxDelay``.
        case exponential
        /// ``EventHubsRetryOptions/delay`` every time.
        case fixed
    }

    /// Retries after the first attempt; 0 never retries.
    public var maxRetries: Int
    /// The delay before the first retry.
    public var delay: Duration
    /// No delay is longer than this.
    public var maxDelay: Duration
    /// Exponential (the default) or fixed delays.
    public var mode: Mode
    /// Each delay is scaled by a random factor in `1 ± jitter` (0 turns jitter off).
    public var jitter: Double
    /// How long one request to `$cbs` or `$management`, or one connection attempt, may take.
    public var tryTimeout: Duration

    /// Microsoft's SDK defaults: 3 retries, 0.8 s doubling, at most 60 s, 20 % jitter.
    public init(
        maxRetries: Int = 3, delay: Duration = .milliseconds(800), maxDelay: Duration = .seconds(60),
        mode: Mode = .exponential, jitter: Double = 0.2, tryTimeout: Duration = .seconds(60)
    ) {
        self.maxRetries = maxRetries
        self.delay = delay
        self.maxDelay = maxDelay
        self.mode = mode
        self.jitter = jitter
        self.tryTimeout = tryTimeout
    }

    /// The delay before retry number `retry` (0 for the first), jitter included.
    public func delay(beforeRetry retry: Int) -> Duration {
        var base = delay
        if mode == .exponential {
            base = delay * Double(1 << min(max(retry, 0), 30))
        }
        base = min(base, maxDelay)
        guard jitter > 0 else { return base }
        let factor = Double.random(in: (1 - jitter)...(1 + jitter))
        return min(base * factor, maxDelay)
    }

    /// Runs `operation` until it succeeds, fails for good, or the retries are spent; throws
    /// the classified ``EventHubsError`` of the last failure. `onFailure` sees every failure
    /// first, to drop a broken link before the next attempt.
    func run<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> T,
        onFailure: (any Error) async -> Void = { _ in }
    ) async throws(EventHubsError) -> T {
        var retry = 0
        while true {
            do {
                return try await operation()
            } catch {
                await onFailure(error)
                let classified = FailureClassification.classify(error)
                guard classified.isTransient, retry < maxRetries, !Task.isCancelled else { throw classified }
                do {
                    try await Task.sleep(for: delay(beforeRetry: retry))
                } catch {
                    throw EventHubsError(.clientClosed, detail: "cancelled while waiting to retry: \(classified.detail)")
                }
                retry += 1
            }
        }
    }
}
