import AMQPEmulatorFuzzing
import AMQPTestSupport
import Foundation
import Testing

/// `fuzz-emulator`'s oracle in the ordinary test run: its seeds (which must reach what they were
/// recorded for, or the fuzzer would start from nothing), the seeds cut short at many points (a
/// client gone mid-session), and every input that once failed.
@Suite("fuzz-emulator replay", .timeLimit(.minutes(3)))
struct EmulatorFuzzReplayTests {
    @Test("the recorded sessions get through SASL, CBS, $management, producers and consumers")
    func seedsReachTheEmulator() throws {
        let seeds = try EmulatorFuzzSeeds.sessions()
        let cbs = try #require(seeds.first { $0.name == "cbs-produce-consume-manage" })
        // The two events sent to partition 0 (the keyed one may hash elsewhere).
        #expect(cbs.eventsReceived >= 2)
        // One put-token reply and two $management replies.
        #expect(cbs.repliesReceived == 3)
        let plain = try #require(seeds.first { $0.name == "plain-produce-consume" })
        #expect(plain.eventsReceived == 3)
        for seed in seeds { try EmulatorFuzzDriver.check(seed.bytes) }
    }

    @Test("a session cut short anywhere leaves nothing registered")
    func truncatedSessions() throws {
        for seed in try EmulatorFuzzSeeds.sessions() {
            for end in stride(from: 0, to: seed.bytes.count, by: 61) {
                try EmulatorFuzzDriver.check(Array(seed.bytes[..<end]))
            }
        }
    }

    @Test("every input that once failed passes now")
    func regressions() throws {
        let folder = TestPaths.packageRoot.appendingPathComponent("Tests/FuzzRegressions/fuzz-emulator")
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        for file in try TestPaths.files(in: folder) {
            try EmulatorFuzzDriver.check([UInt8](try Data(contentsOf: file)))
        }
    }
}
