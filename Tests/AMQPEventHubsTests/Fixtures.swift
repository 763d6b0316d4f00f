import AMQPCodec
import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// An emulator started in this process for one test, on a free loopback port.
struct EmulatorFixture {
    let emulator: EventHubsEmulator

    static func start(
        hubs: [EmulatorConfiguration.Hub] = [.init(name: "eh1", partitionCount: 4, consumerGroups: ["cg1"])],
        configure: (inout EmulatorConfiguration) -> Void = { _ in },
        clock: (@Sendable () -> Int64)? = nil
    ) async throws -> EmulatorFixture {
        var configuration = EmulatorConfiguration(port: 0, hubs: hubs)
        configuration.healthPort = nil
        configure(&configuration)
        let emulator: EventHubsEmulator
        if let clock {
            emulator = try await EventHubsEmulator.start(configuration, clock: clock)
        } else {
            emulator = try await EventHubsEmulator.start(configuration)
        }
        return EmulatorFixture(emulator: emulator)
    }

    /// An emulator on a port that can be bound again after ``stop()``, for tests that restart it.
    ///
    /// The port is below the kernel's ephemeral range (32768 and up by default), so that while the
    /// emulator is down no client socket of a test running beside this one can be given it.
    static func startRestartable(configure: (inout EmulatorConfiguration) -> Void = { _ in }) async throws -> EmulatorFixture {
        var lastError: (any Error)?
        for _ in 0..<50 {
            let port = Int.random(in: 20_000..<32_000)
            do {
                return try await start(configure: { configure(&$0); $0.port = port })
            } catch let error as IOError where error.errnoCode == EADDRINUSE {
                lastError = error
            }
        }
        throw lastError!
    }

    /// Starts an emulator on `port` again after ``stop()``, waiting while the old connections'
    /// sockets let go of it.
    static func restart(on port: Int, configure: (inout EmulatorConfiguration) -> Void = { _ in }) async throws -> EmulatorFixture {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                return try await start(configure: { configure(&$0); $0.port = port })
            } catch let error as IOError where error.errnoCode == EADDRINUSE && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    var port: Int { emulator.port }

    func connectionString(_ hub: String = "eh1") -> EventHubsConnectionString {
        emulator.connectionString(eventHub: hub)
    }

    /// A client with fast retries, so that tests of failures do not wait long.
    func client(_ hub: String = "eh1", options: EventHubsClientOptions = .fastRetries) throws -> EventHubsClient {
        try EventHubsClient(connectionString: connectionString(hub), options: options)
    }

    func stop() async throws { try await emulator.stop() }
}

extension EventHubsClientOptions {
    static var fastRetries: EventHubsClientOptions {
        EventHubsClientOptions(retry: EventHubsRetryOptions(maxRetries: 3, delay: .milliseconds(50), maxDelay: .seconds(1), tryTimeout: .seconds(20)))
    }
}

/// Runs `body` with an emulator and a client, and stops both whatever happens.
func withEmulator(
    hubs: [EmulatorConfiguration.Hub] = [.init(name: "eh1", partitionCount: 4, consumerGroups: ["cg1"])],
    configure: (inout EmulatorConfiguration) -> Void = { _ in },
    options: EventHubsClientOptions = .fastRetries,
    _ body: (EmulatorFixture, EventHubsClient) async throws -> Void
) async throws {
    let fixture = try await EmulatorFixture.start(hubs: hubs, configure: configure)
    let client = try fixture.client(hubs[0].name, options: options)
    do {
        try await body(fixture, client)
    } catch {
        await client.close()
        try await fixture.stop()
        throw error
    }
    await client.close()
    try await fixture.stop()
}

/// Reads `count` events from a receiver, failing when they do not come within `timeout`.
func take<S: AsyncSequence & Sendable>(_ count: Int, from sequence: S, timeout: Duration = .seconds(20)) async throws -> [ReceivedEventData]
where S.Element == ReceivedEventData {
    try await withThrowingTaskGroup(of: [ReceivedEventData].self) { group in
        group.addTask {
            var events: [ReceivedEventData] = []
            var iterator = sequence.makeAsyncIterator()
            while events.count < count, let event = try await iterator.next() { events.append(event) }
            return events
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut(description: "fewer than \(count) events within \(timeout)")
        }
        let events = try await group.next()!
        group.cancelAll()
        return events
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(20), _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(description: "\(what) did not happen within \(timeout)")
}

/// A counter shared with `@Sendable` closures.
final class Counter: Sendable {
    private let box = NIOLockedValueBox(0)
    @discardableResult func increment() -> Int { box.withLockedValue { $0 += 1; return $0 } }
    var value: Int { box.withLockedValue { $0 } }
}

extension ReceivedEventData {
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// The ``EventHubsError`` that `body` throws; `nil` (and a recorded issue) when it throws
/// nothing or something else.
func eventHubsError(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> EventHubsError? {
    do {
        try await body()
        Issue.record("expected an EventHubsError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as EventHubsError {
        return error
    } catch {
        Issue.record("expected an EventHubsError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
