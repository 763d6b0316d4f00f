import NIOCore
import NIOPosix

/// Runs a command's tasks on the event loop of its one connection.
///
/// The client API hops to the connection's event loop for every call (`enqueue`, `receive`,
/// `accept`). From Swift's global executor each hop is two thread wake-ups, which is where
/// `amqp send` spent most of its time (perf: futex waits and eventfd writes). With this task
/// executor the command's code runs on the loop thread itself, so a hop is a queued closure.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: EventLoop

    init(_ eventLoop: EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Runs `body` with its tasks (and the connection it opens) on one fresh event loop thread.
    static func run<T: Sendable>(_ body: @Sendable (EventLoop) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let eventLoop = group.next()
        defer { group.shutdownGracefully { _ in } }
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop)) {
            try await body(eventLoop)
        }
    }
}
