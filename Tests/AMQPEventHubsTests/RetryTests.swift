import AMQPCodec
import AMQPEventHubsEmulator
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import AMQPEventHubs

/// A failure the classification retries, and one it does not.
private let busy = EventHubsError(.serviceBusy, condition: "com.microsoft:server-busy", detail: "busy", isTransient: true)
private let refused = EventHubsError(.authentication, condition: "amqp:unauthorized-access", detail: "no")

@Suite("Retries: one schedule per operation, one loop, one clock")
struct RetryScheduleTests {
    func delays(_ options: EventHubsRetryOptions, fraction: Double = 0, failures: Int = 10, error: EventHubsError = busy) -> [Duration] {
        var schedule = RetrySchedule(options, randomFraction: { fraction })
        var out: [Duration] = []
        for _ in 0..<failures {
            guard let delay = schedule.next(after: error) else { break }
            out.append(delay)
        }
        return out
    }

    @Test("exponential: the first retry waits `delay`, then it doubles; maxRetries ends it")
    func exponential() {
        let options = EventHubsRetryOptions(maxRetries: 4, delay: .milliseconds(800), maxDelay: .seconds(60), jitter: 0)
        #expect(delays(options) == [.milliseconds(800), .milliseconds(1600), .milliseconds(3200), .milliseconds(6400)])
    }

    @Test("fixed: the same delay every time")
    func fixed() {
        let options = EventHubsRetryOptions(maxRetries: 3, delay: .milliseconds(500), mode: .fixed, jitter: 0)
        #expect(delays(options) == [.milliseconds(500), .milliseconds(500), .milliseconds(500)])
    }

    @Test("maxDelay caps every delay, jitter included")
    func cap() {
        let options = EventHubsRetryOptions(maxRetries: 6, delay: .seconds(1), maxDelay: .seconds(3), jitter: 0.5)
        let capped = delays(options, fraction: 0.999)
        #expect(capped.count == 6)
        #expect(capped.allSatisfy { $0 <= .seconds(3) })
        #expect(capped.suffix(4).allSatisfy { $0 == .seconds(3) })
        // A huge retry count does not overflow.
        #expect(EventHubsRetryOptions(maxRetries: 100, delay: .seconds(1), maxDelay: .seconds(5)).delay(beforeRetry: 99) <= .seconds(5))
    }

    @Test("jitter adds up to jitter × delay, never less than the base (.NET's BasicRetryPolicy)")
    func jitterBounds() {
        let options = EventHubsRetryOptions(maxRetries: 3, delay: .milliseconds(800), maxDelay: .seconds(60), jitter: 0.08)
        #expect(delays(options, fraction: 0) == [.milliseconds(800), .milliseconds(1600), .milliseconds(3200)])
        let top = delays(options, fraction: 0.5)
        #expect(top == [.milliseconds(832), .milliseconds(1632), .milliseconds(3232)])
        // With the system's randomness: always within [base, base + 64 ms).
        for _ in 0..<500 {
            for (retry, base) in [Duration.milliseconds(800), .milliseconds(1600), .milliseconds(3200)].enumerated() {
                let delay = options.delay(beforeRetry: retry)
                #expect(delay >= base && delay < base + .milliseconds(64), "retry \(retry): \(delay)")
            }
        }
    }

    @Test("maxRetries: 0 never retries; failures that are not transient, or whose retries were spent, are not retried")
    func whatIsRetried() {
        #expect(delays(EventHubsRetryOptions(maxRetries: 0)).isEmpty)
        #expect(delays(EventHubsRetryOptions(maxRetries: -1)).isEmpty)
        #expect(delays(EventHubsRetryOptions(maxRetries: 3), error: refused).isEmpty)
        var spent = busy
        spent.retriesSpent = true
        #expect(delays(EventHubsRetryOptions(maxRetries: 3), error: spent).isEmpty)
        // A refusal does not use up a retry.
        var schedule = RetrySchedule(EventHubsRetryOptions(maxRetries: 1, jitter: 0))
        #expect(schedule.next(after: refused) == nil)
        #expect(schedule.next(after: busy) == .milliseconds(800))
        #expect(schedule.next(after: busy) == nil)
    }

    @Test("the loop waits each delay on the client's clock, gives up after the budget, and marks the error so outer loops stop")
    func loop() async throws {
        let clock = TestClock(advancesWhenSleeping: true)
        let options = EventHubsRetryOptions(maxRetries: 3, delay: .milliseconds(100), jitter: 0)
        let attempts = Counter()
        var schedule = RetrySchedule(options)
        do {
            _ = try await schedule.run(on: ClientClock(clock)) { () async throws -> Int in
                attempts.increment()
                throw busy
            }
            Issue.record("the loop did not give up")
        } catch {
            #expect(error.kind == .serviceBusy && error.isTransient && error.retriesSpent)
        }
        #expect(attempts.value == 4)
        #expect(clock.sleeps == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])

        // An outer loop around an inner one that gave up does not start it over.
        var outer = RetrySchedule(options)
        do {
            _ = try await outer.run(on: ClientClock(clock)) { () async throws -> Int in
                var inner = RetrySchedule(options)
                return try await inner.run(on: ClientClock(clock)) { () async throws -> Int in
                    attempts.increment()
                    throw busy
                }
            }
        } catch {
            #expect(error.retriesSpent)
        }
        #expect(attempts.value == 8, "4 attempts, not 16")
        #expect(clock.sleeps.count == 6)

        // Success after two failures returns at once.
        var succeeding = RetrySchedule(options)
        let value = try await succeeding.run(on: ClientClock(clock)) { () async throws -> Int in
            if attempts.increment() < 11 { throw busy }
            return 42
        }
        #expect(value == 42)
        #expect(succeeding.retries == 2)
    }

    @Test("tryTimeout: a request that does not answer in time fails with a transient timeout, on the client's clock")
    func tryTimeout() async throws {
        let clock = TestClock()
        let client = ClientClock(clock)
        #expect(RetrySchedule(EventHubsRetryOptions(tryTimeout: .seconds(7))).tryTimeout == .seconds(7))
        let request = Task {
            try await client.withTimeout(.seconds(30), "the request") { () async throws -> Int in
                try await Task.sleep(for: .seconds(3600))
                return 1
            }
        }
        // Generous: on a loaded machine the request task may take a while to start.
        try await eventually(timeout: .seconds(90), "the timeout is waiting") { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(29))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        do {
            _ = try await request.value
            Issue.record("no timeout")
        } catch let error as EventHubsError {
            #expect(error.kind == .timeout && error.isTransient)
        }
        // An answer in time wins, and leaves no sleeper behind.
        let answered = try await client.withTimeout(.seconds(30), "the request") { 5 }
        #expect(answered == 5)
        try await eventually("the timeout's sleeper is gone") { clock.sleeperCount == 0 }
    }
}

@Suite("Retries against the emulator", .serialized, .timeLimit(.minutes(2)))
struct RetryIntegrationTests {
    /// Exact delays, no real waiting; SASL PLAIN so that no token renewal waits on the clock.
    static func options(_ clock: TestClock, maxRetries: Int = 3) -> EventHubsClientOptions {
        var options = EventHubsClientOptions(retry: EventHubsRetryOptions(maxRetries: maxRetries, delay: .milliseconds(50), maxDelay: .seconds(5),
                                                                          jitter: 0, tryTimeout: .seconds(20)))
        options.authorization = .saslPlain
        options.clock = clock
        return options
    }

    @Test("an enqueued event sent again continues the backoff: 50, 100, 200 ms, not 50, 50, 100")
    func resendContinuesSchedule() async throws {
        let clock = TestClock(advancesWhenSleeping: true)
        let rejections = Counter()
        try await withEmulator(configure: { configuration in
            configuration.publishFault = { _ in
                rejections.increment() <= 3 ? AMQPError(condition: .unknown("com.microsoft:server-busy"), description: "busy") : nil
            }
        }, options: Self.options(clock)) { fixture, client in
            let producer = client.makeProducer()
            let pending = try await producer.enqueue(EventData("patient"), options: .partition("0"))
            try await pending.accepted()
            #expect(rejections.value == 4)
            #expect(clock.sleeps == [.milliseconds(50), .milliseconds(100), .milliseconds(200)])
            #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 1)
        }
    }

    @Test("an enqueued event whose retries are spent fails after maxRetries sends, with the service's error")
    func resendGivesUp() async throws {
        let clock = TestClock(advancesWhenSleeping: true)
        let attempts = Counter()
        try await withEmulator(configure: { configuration in
            configuration.publishFault = { _ in
                attempts.increment()
                return AMQPError(condition: .unknown("com.microsoft:server-busy"), description: "busy")
            }
        }, options: Self.options(clock, maxRetries: 2)) { _, client in
            let pending = try await client.makeProducer().enqueue(EventData("never"), options: .partition("0"))
            let error = await eventHubsError { try await pending.accepted() }
            #expect(error?.kind == .serviceBusy)
            #expect(attempts.value == 3)
            #expect(clock.sleeps == [.milliseconds(50), .milliseconds(100)])
        }
    }

    @Test("the connection scope's reconnect loop gives up after the retry options' budget, once for the whole operation")
    func reconnectIsBounded() async throws {
        // A listener that accepts and hangs up at once: every attempt reaches it and fails.
        let accepted = Counter()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.increment()
                return channel.close()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        for authorization in [EventHubsClientOptions.Authorization.saslPlain, .claimsBasedSecurity] {
            let clock = TestClock(advancesWhenSleeping: true)
            var options = Self.options(clock)
            options.authorization = authorization
            var before = accepted.value
            let client = EventHubsClient(
                endpoint: EventHubsEndpoint(fullyQualifiedNamespace: "localhost", eventHubName: "eh1", port: port, usesDevelopmentEmulator: true),
                credential: .sharedAccessKey(name: EmulatorConfiguration.defaultKeyName, key: EmulatorConfiguration.defaultKey), options: options)
            // The scope's own loop, as every operation reaches it.
            do {
                _ = try await client.scope.generation()
                Issue.record("connected to a listener that hangs up")
            } catch let error as EventHubsError {
                #expect(error.kind == .connection && error.retriesSpent, "\(error)")
            }
            #expect(accepted.value - before == 4, "\(authorization): one attempt and three retries")
            #expect(clock.sleeps == [.milliseconds(50), .milliseconds(100), .milliseconds(200)], "\(authorization)")
            before = accepted.value
            let sleepsBefore = clock.sleeps.count
            let error = await eventHubsError { try await client.makeProducer().send(EventData("x")) }
            #expect(error?.kind == .connection, "\(String(describing: error))")
            #expect(error?.isTransient == true)
            #expect(accepted.value - before == 4, "\(authorization): one attempt and three retries, not one loop inside another")
            #expect(Array(clock.sleeps.dropFirst(sleepsBefore)) == [.milliseconds(50), .milliseconds(100), .milliseconds(200)], "\(authorization)")
            // The management calls go through the same loop.
            let managementBefore = accepted.value
            #expect(await eventHubsError { _ = try await client.partitionIDs() }?.kind == .connection)
            #expect(accepted.value - managementBefore == 4)
            await client.close()
        }
        try await server.close()
    }
}
