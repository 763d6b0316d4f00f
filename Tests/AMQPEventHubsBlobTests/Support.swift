import AMQPBlobStorage
import AMQPEventHubs
import AMQPEventHubsBlobCheckpointStore
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An emulator with a Blob endpoint, for one test.
struct BlobFixture {
    let emulator: EventHubsEmulator
    let dataDirectory: String?

    static func start(dataDirectory: String? = nil, partitions: Int = 4,
                      configure: (inout EmulatorConfiguration) -> Void = { _ in }) async throws -> BlobFixture {
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: partitions, consumerGroups: ["cg1"])])
        configuration.healthPort = nil
        configuration.blobPort = 0
        configuration.dataDirectory = dataDirectory
        configure(&configuration)
        return BlobFixture(emulator: try await EventHubsEmulator.start(configuration), dataDirectory: dataDirectory)
    }

    var blobPort: Int { emulator.blobPort! }
    var storage: StorageConnectionString { emulator.blobConnectionString()! }
    var eventHubsConnectionString: String { emulator.connectionString(eventHub: "eh1").text }

    func store(_ container: String = "checkpoints", retry: EventHubsRetryOptions = .fastForTests) throws -> BlobCheckpointStore {
        try BlobCheckpointStore(connectionString: storage, containerName: container, options: .init(retry: retry))
    }

    func client() throws -> EventHubsClient {
        try EventHubsClient(connectionString: eventHubsConnectionString, options: EventHubsClientOptions(
            retry: EventHubsRetryOptions(maxRetries: 3, delay: .milliseconds(50), maxDelay: .seconds(1), tryTimeout: .seconds(20))))
    }

    func stop() async throws { try await emulator.stop() }
}

extension EventHubsRetryOptions {
    static var fastForTests: EventHubsRetryOptions {
        EventHubsRetryOptions(maxRetries: 2, delay: .milliseconds(20), maxDelay: .milliseconds(100), jitter: 0, tryTimeout: .seconds(10))
    }
}

/// Runs `body` with a fresh emulator and stops it whatever happens.
func withBlobEmulator(dataDirectory: String? = nil, partitions: Int = 4, configure: (inout EmulatorConfiguration) -> Void = { _ in },
                      _ body: (BlobFixture) async throws -> Void) async throws {
    let fixture = try await BlobFixture.start(dataDirectory: dataDirectory, partitions: partitions, configure: configure)
    do {
        try await body(fixture)
    } catch {
        try? await fixture.stop()
        throw error
    }
    try await fixture.stop()
}

/// `scripts/blob-sdk.py` in the venv of `scripts/install-test-deps.sh`: Microsoft's Blob
/// packages, unpatched. A missing venv or package fails the test.
enum BlobSDK {
    static var script: String { TestPaths.packageRoot.appendingPathComponent("scripts/blob-sdk.py").path }

    static func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> [String: Any] {
        let process = try await ExternalProcess.run(EventHubsSDK.python, [script] + arguments, name: "blob-sdk.py", timeout: timeout)
        guard process.exitStatus == 0, let line = process.output.split(separator: "\n").last,
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw PeerError("blob-sdk.py \(arguments.first ?? "") exited \(process.exitStatus ?? -1)\n\(process.outputTail)")
        }
        return json
    }

    /// A long-running command (`process`), its JSON lines read as they come.
    static func start(_ arguments: [String]) throws -> ExternalProcess {
        try ExternalProcess(EventHubsSDK.python, ["-u", script] + arguments, name: "blob-sdk.py")
    }
}

/// The JSON lines a process printed so far.
func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

func eventually(timeout: Duration = .seconds(60), _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(description: "\(what) did not happen within \(timeout)")
}

/// Events a processor handled: (who, partition, sequence number, body), in order.
final class Handled: Sendable {
    private let box = NIOLockedValueBox<[(who: String, partition: String, sequence: Int64, body: String)]>([])
    func add(_ who: String, _ event: ReceivedEventData) {
        box.withLockedValue { $0.append((who, event.partitionID, event.sequenceNumber, event.text)) }
    }
    var all: [(who: String, partition: String, sequence: Int64, body: String)] { box.withLockedValue { $0 } }
}

/// Publishes `perPartition` events to each partition, named `prefix-P-I`.
func publish(_ client: EventHubsClient, _ prefix: String, partitions: Int = 4, perPartition: Int) async throws {
    let producer = client.makeProducer()
    for p in 0..<partitions {
        try await producer.send((0..<perPartition).map { EventData("\(prefix)-\(p)-\($0)") }, options: .partition("\(p)"))
    }
    await producer.close()
}

extension ReceivedEventData {
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// SIGTERM — a graceful stop — and waits for the exit without blocking a thread of the
/// cooperative pool (the processes take a second or two to give their partitions up).
func terminate(_ process: ExternalProcess, within timeout: Duration = .seconds(30)) async throws {
    guard process.isRunning else { return }
    kill(process.pid, SIGTERM)
    _ = try await process.waitForExit(timeout: timeout)
}
