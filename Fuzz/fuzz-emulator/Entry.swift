import AMQPEmulatorFuzzing

// libFuzzer's entry points (scripts/fuzz.sh builds with -DFUZZING and -sanitize=fuzzer); a plain
// build replays files instead: `swift run fuzz-emulator FILE...`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { EmulatorFuzzDriver.fuzzOneInput(data, size) }

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    EmulatorFuzzDriver.initialize()
}

#if !FUZZING
@main enum Replay { static func main() { EmulatorFuzzDriver.replayMain() } }
#endif
