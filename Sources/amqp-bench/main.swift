// amqp-bench: the codec micro-benchmarks (`amqp-bench codec`), built in release mode.
//
// Each line is exactly `<fixture> encode_ns=<n> decode_ns=<n> encode_allocs=<n> decode_allocs=<n>`
// so that scripts can compare runs (scripts/bench.sh, scripts/check-allocations.sh).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let usage = """
    usage: amqp-bench codec [--allocations-only] [--quick] [--fixture NAME]... [--loop N [encode|decode]]
      --allocations-only  count allocations, skip timing (encode_ns and decode_ns print 0)
      --quick             fewer, shorter timing batches
      --loop N OP         no measurement: run OP (encode or decode) once, then N times per
                          fixture in measuredLoop, for profilers (scripts/callgrind-codec.sh)
      --fixture NAME      only this fixture (repeatable); names: \(codecBenchmarks.map(\.name).joined(separator: ", "))
    """

func fail(_ message: String) -> Never {
    let line = "amqp-bench: \(message)\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}

var arguments = CommandLine.arguments.dropFirst()
guard arguments.first == "codec" else { fail(usage) }
arguments.removeFirst()
var allocationsOnly = false
var quick = false
var only: [String] = []
var loop: (count: Int, decode: Bool)? = nil
while let argument = arguments.popFirst() {
    switch argument {
    case "--allocations-only": allocationsOnly = true
    case "--quick": quick = true
    case "--loop":
        guard let n = arguments.popFirst().flatMap({ Int($0) }), let op = arguments.popFirst(), op == "encode" || op == "decode" else { fail(usage) }
        loop = (n, op == "decode")
    case "--fixture":
        guard let name = arguments.popFirst(), codecBenchmarks.contains(where: { $0.name == name }) else { fail(usage) }
        only.append(name)
    default: fail(usage)
    }
}

/// Measures one fixture and prints its line; generic so that the measured calls are direct.
func run<Benchmark: CodecBenchmark>(_ benchmark: Benchmark, allocationsOnly: Bool, quick: Bool) throws -> Int {
    guard try benchmark.verify() else { fail("\(benchmark.name): decoding does not give back the fixture") }
    let (encodeAllocations, s1) = Measure.allocations { benchmark.encode() }
    let (decodeAllocations, s2) = try Measure.allocations { try benchmark.decode() }
    var sink = s1 &+ s2
    var encodeNanoseconds = 0
    var decodeNanoseconds = 0
    if !allocationsOnly {
        let batches = quick ? 3 : 9
        let duration: Duration = quick ? .milliseconds(10) : .milliseconds(40)
        let (e, s3) = Measure.nanoseconds(batches: batches, batchDuration: duration) { benchmark.encode() }
        let (d, s4) = try Measure.nanoseconds(batches: batches, batchDuration: duration) { try benchmark.decode() }
        encodeNanoseconds = e
        decodeNanoseconds = d
        sink &+= s3 &+ s4
    }
    print("\(benchmark.name) encode_ns=\(encodeNanoseconds) decode_ns=\(decodeNanoseconds) encode_allocs=\(encodeAllocations) decode_allocs=\(decodeAllocations)")
    return sink
}

/// Runs one operation once (first-use costs: metadata, lazy globals), then `count` times in
/// ``measuredLoop(_:count:decode:)``, for a profiler to look at.
func runLoop<Benchmark: CodecBenchmark>(_ benchmark: Benchmark, count: Int, decode: Bool) throws -> Int {
    let first = decode ? try benchmark.decode() : benchmark.encode()
    return try first &+ measuredLoop(benchmark, count: count, decode: decode)
}

/// The only code `valgrind --tool=callgrind --toggle-collect='*measuredLoop*'` counts
/// (scripts/callgrind-codec.sh); never inlined so that the symbol exists.
@inline(never)
func measuredLoop<Benchmark: CodecBenchmark>(_ benchmark: Benchmark, count: Int, decode: Bool) throws -> Int {
    var sink = 0
    if decode {
        for _ in 0..<count { sink &+= try benchmark.decode() }
    } else {
        for _ in 0..<count { sink &+= benchmark.encode() }
    }
    return sink
}

var sink = 0
for benchmark in codecBenchmarks where only.isEmpty || only.contains(benchmark.name) {
    do {
        if let loop {
            sink &+= try runLoop(benchmark, count: loop.count, decode: loop.decode)
        } else {
            sink &+= try run(benchmark, allocationsOnly: allocationsOnly, quick: quick)
        }
    } catch {
        fail("\(benchmark.name): \(error)")
    }
}
// Keeps every result alive without printing it where scripts read.
if sink == 42 { fail("unlikely checksum") }
