import AMQPFuzzing

// libFuzzer's entry points; scripts/fuzz.sh builds them with -DFUZZING and -sanitize=fuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.client.fuzzOneInput(data, size)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    FuzzTarget.client.fuzzInitialize()
}

#if !FUZZING
// A plain build replays files: `swift run fuzz-client FILE...`.
@main enum Replay {
    static func main() { FuzzTarget.client.replayMain() }
}
#endif
