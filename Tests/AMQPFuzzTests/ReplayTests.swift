import AMQPFuzzing
import AMQPTestSupport
import Foundation
import Testing

/// The fuzz oracles in the ordinary test run: every input that ever failed (minimized, in
/// `Tests/FuzzRegressions/<target>/`), the seeds each target generates, and the captures and
/// Qpid Proton corpora of `../shared/corpora`, each through the same `FuzzTarget.check` that
/// libFuzzer calls.
@Suite("Fuzz replay")
struct ReplayTests {
    static let regressionFolder = TestPaths.packageRoot.appendingPathComponent("Tests/FuzzRegressions")

    /// One committed regression input.
    struct Regression: CustomTestStringConvertible, Sendable {
        let target: FuzzTarget
        let file: URL
        var testDescription: String { "\(target)/\(file.lastPathComponent)" }
    }

    static func regressions() throws -> [Regression] {
        var inputs: [Regression] = []
        // fuzz-emulator's inputs need the emulator, which this target does not build: the emulator's
        // tests replay them (EmulatorFuzzReplayTests).
        for folder in try FileManager.default.contentsOfDirectory(atPath: regressionFolder.path).sorted()
        where folder != "README.md" && folder != "fuzz-emulator" {
            guard let target = FuzzTarget(rawValue: folder) else {
                throw UnknownTarget(folder: folder)
            }
            for file in try TestPaths.files(in: regressionFolder.appendingPathComponent(folder)) {
                inputs.append(Regression(target: target, file: file))
            }
        }
        return inputs
    }

    struct UnknownTarget: Error, CustomStringConvertible {
        let folder: String
        var description: String { "Tests/FuzzRegressions/\(folder) does not name a fuzz target (\(FuzzTarget.allCases.map(\.rawValue)))" }
    }

    @Test("every input that once failed passes its target now", arguments: try regressions())
    func regression(_ input: Regression) throws {
        let bytes = try TestPaths.bytes(input.file)
        #expect(throws: Never.self, "\(input.testDescription)") { try input.target.check(bytes) }
    }

    @Test("the regression folder holds inputs")
    func regressionFolderIsNotEmpty() throws {
        #expect(try Self.regressions().count >= 1)
    }

    @Test("the seeds each target generates pass its oracle", arguments: FuzzTarget.allCases)
    func seeds(_ target: FuzzTarget) {
        let seeds = FuzzSeeds.seeds(for: target)
        #expect(seeds.count >= 2)
        for seed in seeds {
            #expect(throws: Never.self, "\(target) \(seed.name)") { try target.check(seed.bytes) }
        }
    }

    static let sharedFolders = [
        "proton-fuzz-connection-driver/corpus", "proton-fuzz-connection-driver/crash",
        "proton-fuzz-message-decode/corpus", "proton-fuzz-message-decode/crash",
        "proton-interop-vectors", "captures",
    ]

    /// Every file of Proton's corpora and the captures, through every byte-reading target: the
    /// decoders, the frame stream, and both connection drivers.
    @Test("Proton corpora and captures pass every target", arguments: FuzzTarget.allCases.filter { $0 != .specXML })
    func sharedCorpora(_ target: FuzzTarget) throws {
        var count = 0
        for folder in Self.sharedFolders {
            let files = try TestPaths.files(in: TestPaths.corpus(folder))
            #expect(!files.isEmpty, "\(folder) is empty")
            for file in files {
                let bytes = try TestPaths.bytes(file)
                count += 1
                #expect(throws: Never.self, "\(target) \(folder)/\(file.lastPathComponent)") { try target.check(bytes) }
            }
        }
        #expect(count >= 870)
    }

    /// The OASIS XML (which `.ci/run` installs) and our extension file through the XML target.
    @Test func specFilesPassTheXMLTarget() throws {
        let oasis = try TestPaths.files(in: URL(fileURLWithPath: "/usr/share/amqp/specs/1-0")).filter { $0.pathExtension == "xml" }
        let ours = try TestPaths.files(in: TestPaths.packageRoot.appendingPathComponent("spec")).filter { $0.pathExtension == "xml" }
        #expect(oasis.count >= 5 && ours.count >= 1)
        for file in oasis + ours {
            let bytes = try TestPaths.bytes(file)
            #expect(throws: Never.self, "\(file.lastPathComponent)") { try FuzzTarget.specXML.check(bytes) }
        }
    }
}
