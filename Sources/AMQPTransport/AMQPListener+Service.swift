import NIOCore
import ServiceLifecycle

/// A listener runs as a swift-service-lifecycle `Service`: ``run()`` returns when the listener
/// is closed; graceful shutdown (or cancellation) stops accepting and then drops the open
/// connections, as ``close()`` and ``closeConnections()`` do.
extension AMQPListener: Service {
    /// Serves until graceful shutdown, cancellation or ``close()``.
    public func run() async throws {
        let channel = self.channel
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
        await closeConnections()
    }
}
