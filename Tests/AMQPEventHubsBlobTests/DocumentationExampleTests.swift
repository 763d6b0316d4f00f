import AMQPEventHubs
import AMQPEventHubsBlobCheckpointStore
import Logging
import ServiceLifecycle

/// The README's processor with the Blob checkpoint store, as a region (AMQPDocumentationTests
/// checks that the README's block equals it). Compiled, not run: it runs until SIGTERM;
/// CrossLanguageTests and ServiceLifecycleTests run processors like it against the emulator.
enum BlobProcessorDocumentationExample {
    static func run(
        client: EventHubsClient, storageConnectionString: String, logger: Logger,
        handle: @escaping @Sendable (ReceivedEventData) async throws -> Void
    ) async throws {
        // snippet: blob processor
        let store = try BlobCheckpointStore(connectionString: storageConnectionString, containerName: "checkpoints")
        let processor = EventProcessor(client: client, consumerGroup: "$Default", checkpointStore: store,
                                       options: .init(loadBalancingStrategy: .balanced),
                                       partitionClosing: { context, reason in print("closed", context.partitionID, reason) }) { event, context in
            try await handle(event)
            try await context.updateCheckpoint(event)
        }
        try await ServiceGroup(services: [processor], gracefulShutdownSignals: [.sigterm], logger: logger).run()
        // snippet end
    }
}
