/// How operations are retried when they fail for a transient reason (a busy or restarting
/// service, a lost connection): the policy of Microsoft's SDKs, exponential backoff from
/// ``delay`` with at most ``maxRetries`` retries, plus jitter so that many clients failing
/// together do not retry together.
///
/// One operation follows one schedule of these delays from its first failure to its last
/// attempt, wherever the attempts are made; which failures are retried is decided by the
/// error's classification (``EventHubsError/isTransient``).
public struct EventHubsRetryOptions: Sendable, Hashable {
    /// How the delay grows from one retry to the next.
    public enum Mode: Sendable, Hashable {
        /// `delay × 2^retry` (the first retry waits ``EventHubsRetryOptions/delay``), capped by
        /// ``EventHubsRetryOptions/maxDelay``.
        case exponential
        /// ``EventHubsRetryOptions/delay`` every time.
        case fixed
    }

    /// Retries after the first attempt; 0 never retries.
    public var maxRetries: Int
    /// The delay before the first retry.
    public var delay: Duration
    /// No delay is longer than this, jitter included.
    public var maxDelay: Duration
    /// Exponential (the default) or fixed delays.
    public var mode: Mode
    /// Each delay is lengthened by a random part of up to `jitter × delay` (0 turns jitter off).
    /// Jitter only ever adds, so that no retry comes sooner than the schedule says.
    public var jitter: Double
    /// How long one attempt may take: a request to `$cbs` or `$management`, or establishing the
    /// connection's TCP (and TLS) stream.
    public var tryTimeout: Duration

    /// Microsoft's SDK defaults: 3 retries, 0.8 s doubling, at most 60 s, jitter of up to 8 % of
    /// the base delay, 60 s per attempt.
    public init(
        maxRetries: Int = 3, delay: Duration = .milliseconds(800), maxDelay: Duration = .seconds(60),
        mode: Mode = .exponential, jitter: Double = 0.08, tryTimeout: Duration = .seconds(60)
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
        delay(beforeRetry: retry, randomFraction: Double.random(in: 0..<1))
    }

    /// The delay before retry number `retry` with `randomFraction` (in `0..<1`) of the jitter.
    ///
    /// The jitter follows .NET's `BasicRetryPolicy` (Azure.Messaging.EventHubs,
    /// `CalculateExponentialDelay`/`CalculateFixedDelay`): a random part of `jitter × delay` is
    /// added to the base and the sum is capped by ``maxDelay``. The exponent counts retries from
    /// 0, as Python's `_get_backoff_time` does (azure-eventhub `_client_base.py`: `backoff_factor
    /// * 2 ** retried_times`), so that the first retry waits ``delay`` as it does in Python and in
    /// Go (`calcDelay` in azeventhubs `internal/utils/retrier.go`), where .NET waits twice that.
    func delay(beforeRetry retry: Int, randomFraction: Double) -> Duration {
        var base = delay
        if mode == .exponential {
            base = delay * Double(1 << min(max(retry, 0), 30))
        }
        let fraction = min(max(randomFraction, 0), 1)
        let jittered = jitter > 0 ? base + delay * (jitter * fraction) : base
        return min(jittered, maxDelay)
    }
}
