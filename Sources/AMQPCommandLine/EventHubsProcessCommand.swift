import AMQPEventHubs
import AMQPEventHubsBlobCheckpointStore
import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// `--checkpoint-store`: `file:DIR` or `blob:STORAGE-CONNECTION-STRING`.
struct CheckpointStoreLocation: ExpressibleByArgument, CustomStringConvertible {
    enum Kind {
        case file(String)
        case blob(String)
    }

    var kind: Kind

    init?(argument: String) {
        if argument.hasPrefix("file:"), argument.count > 5 {
            kind = .file(String(argument.dropFirst(5)))
        } else if argument.hasPrefix("blob:"), argument.count > 5 {
            kind = .blob(String(argument.dropFirst(5)))
        } else {
            return nil
        }
    }

    /// Never the connection string: it holds the account key.
    var description: String {
        switch kind {
        case .file(let directory): return "file:\(directory)"
        case .blob: return "blob:(connection string redacted)"
        }
    }
}

extension LoadBalancingStrategy: ExpressibleByArgument {}

/// `amqp eventhubs process`: an event processor until interrupted.
struct EventHubsProcessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Process every partition with an event processor, sharing them with the other processors of the consumer group.",
        discussion: """
            Runs until SIGINT or SIGTERM, then finishes the events in hand, writes their checkpoints and gives its \
            partitions up, so another processor takes them at once. Processors of any Azure SDK that use the same \
            checkpoint store, consumer group and layout share the partitions with it (a Blob container, as Python's \
            azure-eventhub-checkpointstoreblob, Go's checkpoints.BlobStore and .NET's BlobCheckpointStore use it; or a \
            directory that processes on one machine share). Each event is printed on standard output (--json: one \
            object per line, as `amqp eventhubs receive --json` prints it) and checkpointed; claims and releases of \
            partitions are printed on standard error.
            """
    )

    @OptionGroup var connection: EventHubsConnectionOptions
    @Option(name: .customLong("checkpoint-store"),
            help: ArgumentHelp("file:DIR, or blob:STORAGE-CONNECTION-STRING (DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;BlobEndpoint=…)",
                               valueName: "STORE"))
    var checkpointStore: CheckpointStoreLocation
    @Option(name: .customLong("checkpoint-container"), help: "The Blob container of a blob: store.") var checkpointContainer = "checkpoints"
    @Flag(name: .customLong("create-checkpoint-container"), help: "Create the Blob container when it does not exist.") var createContainer = false
    @Option(name: .customLong("consumer-group"), help: "The consumer group.") var consumerGroup = EventHubsNames.defaultConsumerGroup
    @Option(name: .customLong("from"), help: ArgumentHelp("Where a partition without a checkpoint starts: earliest, latest, offset:O, sequence:S or time:MS.", valueName: "POSITION"))
    var from = StartPosition(argument: "earliest")!
    @Option(help: "balanced (one more partition per round) or greedy (all it lacks at once).") var strategy = LoadBalancingStrategy.balanced
    @Option(name: .customLong("balancing-interval"), help: "Seconds between balancing rounds.") var balancingInterval: Double = 10
    @Option(name: .customLong("ownership-expiration"), help: "Seconds after which an unrenewed claim is free to take.") var ownershipExpiration: Double = 30
    @Option(name: .customLong("checkpoint-every"), help: "Checkpoint after every Nth event of a partition.") var checkpointEvery = 1
    @Option(help: "This processor's name in ownership records (default: a fresh UUID).") var identifier: String?
    @Flag(help: "One JSON object per event.") var json = false

    func validate() throws {
        if balancingInterval <= 0 { throw ValidationError("--balancing-interval must be positive") }
        if ownershipExpiration <= balancingInterval { throw ValidationError("--ownership-expiration must be longer than --balancing-interval") }
        if checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be positive") }
    }

    func makeStore() async throws -> any CheckpointStore {
        switch checkpointStore.kind {
        case .file(let directory):
            return try FileCheckpointStore(directory: URL(fileURLWithPath: directory))
        case .blob(let connectionString):
            let store: BlobCheckpointStore
            do {
                store = try BlobCheckpointStore(connectionString: connectionString, containerName: checkpointContainer)
            } catch {
                throw ValidationError("--checkpoint-store: \(error)")
            }
            if createContainer { try await store.createContainerIfNotExists() }
            return store
        }
    }

    func run() async throws {
        connection.log.bootstrap()
        let store = try await makeStore()
        var options = EventProcessor.Options(
            loadBalancingInterval: .milliseconds(Int64(balancingInterval * 1000)),
            ownershipExpiration: .milliseconds(Int64(ownershipExpiration * 1000)),
            startingPosition: from.position(inclusive: false), loadBalancingStrategy: strategy)
        if let identifier { options.identifier = identifier }
        let json = self.json, every = self.checkpointEvery
        let output = LockedOutput()
        let counts = NIOLockedValueBox<[String: Int]>([:])
        try await withEventHubsClient(connection) { client in
            let processor = EventProcessor(
                client: client, consumerGroup: consumerGroup, checkpointStore: store, options: options,
                partitionInitializing: { context in
                    printError("claimed partition \(context.partitionID)")
                },
                partitionClosing: { context, reason in
                    printError("released partition \(context.partitionID) (\(reason == .shutdown ? "shutdown" : "ownership lost"))")
                },
                processError: { failure in
                    printError("error\(failure.partitionID.map { " on partition \($0)" } ?? ""): \(failure.error)")
                }
            ) { event, context in
                output.line(json ? EventHubsReceiveCommand.jsonLine(event) : EventHubsReceiveCommand.textLine(event))
                let count = counts.withLockedValue { counts -> Int in
                    counts[event.partitionID, default: 0] += 1
                    return counts[event.partitionID]!
                }
                if count % every == 0 { try await context.updateCheckpoint(event) }
            }
            printError("processing \(client.eventHubName) as consumer group \(consumerGroup), checkpoints in \(checkpointStore), processor \(options.identifier)")
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: processor)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "swift-amqp.cli.process")))
            try await group.run()
        }
    }
}

/// Whole lines to standard output from several tasks, each written (and flushed) at once so
/// that a reader sees events as they are processed.
final class LockedOutput: Sendable {
    private let lock = NIOLock()

    func line(_ text: String) {
        lock.withLock {
            let bytes = Array((text + "\n").utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { writeStandardOutput($0) }
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
