import AMQPFuzzing

// libFuzzer's entry points; scripts/fuzz.sh builds them with -DFUZZING and -sanitize=fuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.message.fuzzOneInput(data, size)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    FuzzTarget.message.fuzzInitialize()
}

#if !FUZZING
// A plain build replays files: `swift run fuzz-message FILE...`.
@main enum Replay {
    static func main() { FuzzTarget.message.replayMain() }
}
#endif
