import ServiceLifecycle

/// The emulator runs as a swift-service-lifecycle `Service` (what `amqp emulator` does under a
/// `ServiceGroup`): ``run()`` serves until graceful shutdown or cancellation, then ``stop()``s —
/// no more connections or Blob requests, open connections dropped, partition files closed.
extension EventHubsEmulator: Service {
    /// Serves until graceful shutdown or cancellation, then stops.
    public func run() async throws {
        // Returns on graceful shutdown; throws CancellationError when cancelled. Both end here.
        try? await gracefulShutdown()
        try await stop()
    }
}
