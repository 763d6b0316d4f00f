import NIOConcurrencyHelpers
import NIOCore

/// Failed SASL logins counted per peer address: after ``Policy/maxFailures`` within
/// ``Policy/window``, that address's connections are refused for ``Policy/lockout``, the moment
/// they are accepted (no handshake, nothing to try a password on). Other addresses are not
/// affected, so one client guessing passwords cannot lock anyone else out.
///
/// Configured with ``AMQPListener/Configuration/loginThrottle``. A value with the time passed in,
/// so that its rule is tested without sockets or clocks.
public struct LoginThrottle: Sendable {
    /// When an address is throttled, and how many addresses are remembered.
    public struct Policy: Sendable, Hashable {
        /// Failed logins within ``window`` that lock an address out (10 by default).
        public var maxFailures: Int
        /// How far back failures count (1 minute by default).
        public var window: TimeAmount
        /// How long a locked-out address is refused (5 minutes by default).
        public var lockout: TimeAmount
        /// The most addresses remembered at once (10,000 by default): past it the entries that
        /// block nothing go first, so that a client with many addresses cannot grow memory.
        public var maxTrackedAddresses: Int

        /// 10 failures within a minute lock an address out for 5 minutes; 10,000 addresses tracked.
        public init(maxFailures: Int = 10, window: TimeAmount = .seconds(60), lockout: TimeAmount = .minutes(5),
                    maxTrackedAddresses: Int = 10_000) {
            self.maxFailures = maxFailures
            self.window = window
            self.lockout = lockout
            self.maxTrackedAddresses = maxTrackedAddresses
        }
    }

    struct Record {
        /// Uptime (ns) of the failures still inside the window, oldest first; at most maxFailures.
        var failures: [UInt64] = []
        /// Refused until this uptime (ns).
        var lockedUntil: UInt64?
        var lastSeen: UInt64 = 0
    }

    let policy: Policy
    private(set) var records: [String: Record] = [:]

    init(policy: Policy) {
        self.policy = policy
    }

    private var window: UInt64 { UInt64(clamping: policy.window.nanoseconds) }
    private var lockout: UInt64 { UInt64(clamping: policy.lockout.nanoseconds) }

    /// Whether a connection from `address` is refused at `now` (uptime, ns).
    func isLockedOut(_ address: String, now: UInt64) -> Bool {
        guard let lockedUntil = records[address]?.lockedUntil else { return false }
        return now < lockedUntil
    }

    /// Counts a failed login from `address`; returns true when this failure locks it out.
    @discardableResult
    mutating func loginFailed(_ address: String, now: UInt64) -> Bool {
        var record = records.removeValue(forKey: address) ?? Record()
        if let lockedUntil = record.lockedUntil, now >= lockedUntil { record.lockedUntil = nil }
        record.failures.removeAll { now &- $0 >= window }
        record.failures.append(now)
        record.lastSeen = now
        var lockedNow = false
        if record.failures.count >= max(1, policy.maxFailures), record.lockedUntil == nil {
            record.lockedUntil = now.addingReportingOverflow(lockout).overflow ? .max : now + lockout
            record.failures.removeAll()
            lockedNow = true
        }
        if record.failures.count > policy.maxFailures { record.failures.removeFirst(record.failures.count - policy.maxFailures) }
        records[address] = record
        if records.count > policy.maxTrackedAddresses { forgetOld(now: now) }
        return lockedNow
    }

    /// Over the address budget: drop what no longer counts (lockouts over, failures out of the
    /// window), then, if still over, the addresses not locked out that were seen longest ago.
    /// Lockouts go last, so that flooding the table does not free the address being throttled.
    private mutating func forgetOld(now: UInt64) {
        records = records.filter { _, record in
            if let lockedUntil = record.lockedUntil, now < lockedUntil { return true }
            return record.failures.contains { now &- $0 < window }
        }
        let excess = records.count - policy.maxTrackedAddresses
        guard excess > 0 else { return }
        let oldest = records.sorted { lhs, rhs in
            let lhsLocked = lhs.value.lockedUntil != nil, rhsLocked = rhs.value.lockedUntil != nil
            if lhsLocked != rhsLocked { return !lhsLocked }
            return lhs.value.lastSeen < rhs.value.lastSeen
        }
        for (address, _) in oldest.prefix(excess) { records.removeValue(forKey: address) }
    }
}

/// The listener's throttle, shared by its event loops.
final class SharedLoginThrottle: Sendable {
    private let throttle: NIOLockedValueBox<LoginThrottle>
    let policy: LoginThrottle.Policy
    /// Uptime in nanoseconds; tests pass a clock of their own.
    let now: @Sendable () -> UInt64

    init(policy: LoginThrottle.Policy, now: @escaping @Sendable () -> UInt64) {
        throttle = NIOLockedValueBox(LoginThrottle(policy: policy))
        self.policy = policy
        self.now = now
    }

    /// The part of a peer's address that is throttled: its IP, not its port (each connection
    /// comes from a new port).
    static func key(_ address: SocketAddress?) -> String? {
        address?.ipAddress
    }

    func isLockedOut(_ address: SocketAddress?) -> Bool {
        guard let key = Self.key(address) else { return false }
        let now = now()
        return throttle.withLockedValue { $0.isLockedOut(key, now: now) }
    }

    /// Returns true when this failure locked the address out.
    func loginFailed(_ address: SocketAddress?) -> Bool {
        guard let key = Self.key(address) else { return false }
        let now = now()
        return throttle.withLockedValue { $0.loginFailed(key, now: now) }
    }
}
