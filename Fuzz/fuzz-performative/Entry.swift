import AMQPFuzzing

// libFuzzer's entry point (scripts/fuzz.sh builds with -DFUZZING and -sanitize=fuzzer); a plain
// build replays files instead: `swift run fuzz-performative FILE...`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { FuzzTarget.performative.fuzzOneInput(data, size) }

#if !FUZZING
@main enum Replay { static func main() { FuzzTarget.performative.replayMain() } }
#endif
