import CMallocCounter

/// How long and how many heap allocations one operation takes.
struct Measurement {
    var nanoseconds: Int
    var allocations: Int
}

enum Measure {
    /// Allocations per call of `body`: counted by the malloc interposer over `rounds` calls after
    /// one warm-up call, rounded up (every operation here allocates the same each time).
    static func allocations(rounds: Int = 16, _ body: () throws -> Int) rethrows -> (Int, Int) {
        var sink = try body()
        let before = amqp_malloc_counter_allocations()
        for _ in 0..<rounds { sink &+= try body() }
        let total = Int(amqp_malloc_counter_allocations() - before)
        return ((total + rounds - 1) / rounds, sink)
    }

    /// Nanoseconds per call of `body`: the fastest of `batches` batches, each long enough
    /// (`batchDuration`) for the clock's resolution not to matter. The minimum is the figure least
    /// disturbed by other work on a shared machine.
    static func nanoseconds(batches: Int, batchDuration: Duration, _ body: () throws -> Int) rethrows -> (Int, Int) {
        let clock = ContinuousClock()
        var sink = 0
        // Calibrate: double the iterations until a batch takes long enough.
        var iterations = 1
        while true {
            let elapsed = try clock.measure {
                for _ in 0..<iterations { sink &+= try body() }
            }
            if elapsed >= batchDuration || iterations >= 1 << 30 { break }
            iterations &*= 2
        }
        var best = Int.max
        for _ in 0..<batches {
            let elapsed = try clock.measure {
                for _ in 0..<iterations { sink &+= try body() }
            }
            best = min(best, Int(elapsed.nanoseconds / Int64(iterations)))
        }
        return (best, sink)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
