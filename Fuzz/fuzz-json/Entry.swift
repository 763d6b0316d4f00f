import AMQPFuzzing

// libFuzzer's entry point (scripts/fuzz.sh builds with -DFUZZING and -sanitize=fuzzer); a plain
// build replays files instead: `swift run fuzz-json FILE...`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { FuzzTarget.json.fuzzOneInput(data, size) }

#if !FUZZING
@main enum Replay { static func main() { FuzzTarget.json.replayMain() } }
#endif
