import AMQPEventHubsEmulator
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs an Event Hubs emulator in this process until SIGINT or SIGTERM, then stops it cleanly:
/// scripts/bench.sh measures its peak RSS with `/usr/bin/time`, which needs a normal exit, and
/// its partition files are closed as in real use.
func emulator(_ arguments: Arguments) async throws {
    let hubs = arguments.hubs.isEmpty ? [(name: "eh", partitions: 4)] : arguments.hubs
    var configuration = EmulatorConfiguration(
        host: "127.0.0.1", port: arguments.port,
        hubs: hubs.map { EmulatorConfiguration.Hub(name: $0.name, partitionCount: $0.partitions) })
    configuration.dataDirectory = arguments.dataDirectory
    configuration.syncPolicy = arguments.fsync == "never" ? .never : .always
    let emulator = try await EventHubsEmulator.start(configuration)
    // The pid lets the script read this process's /proc status while /usr/bin/time is its parent.
    FileHandle.standardOutput.write(Data("port=\(emulator.port)\npid=\(getpid())\n".utf8))
    await waitForTermination()
    try await emulator.stop()
}

/// Suspends until SIGINT or SIGTERM arrives.
func waitForTermination() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let queue = DispatchQueue(label: "amqp-bench-e2e.signals")
        let resumed = LockedFlag()
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if resumed.set() { continuation.resume() }
            }
            source.resume()
            SignalSources.keep(source)
        }
    }
}

/// True from `set()` only the first time: two signals must not resume a continuation twice.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var isSet = false

    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if isSet { return false }
        isSet = true
        return true
    }
}

/// Keeps the signal sources alive for the life of the process (a released source stops).
enum SignalSources {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var all: [DispatchSourceSignal] = []

    static func keep(_ source: DispatchSourceSignal) {
        lock.lock()
        all.append(source)
        lock.unlock()
    }
}
