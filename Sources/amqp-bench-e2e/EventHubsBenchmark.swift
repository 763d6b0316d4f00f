import AMQPEventHubs
import AMQPEventHubsEmulator
import Foundation

/// What `amqp-bench-e2e eventhubs` measures, each against an event hub of the emulator (or any
/// endpoint that takes SASL PLAIN with a SAS key name and key on loopback):
enum EventHubsRun: String, CaseIterable {
    /// `EventDataBatch`es as large as the link allows (1 MiB on the emulator and Azure), sent
    /// one after another: the way to publish many events.
    case sendBatched = "send-batched"
    /// `enqueue` of every event, then every `accepted()`: single events, pipelined.
    case enqueue
    /// `send` of one event at a time, each waiting for its answer: the latency-bound path.
    case sendSingle = "send-single"
    /// `EventHubsBufferedProducer.enqueue` of every event (round robin over the partitions),
    /// then `close()`, which returns once every event was reported.
    case buffered
    /// `receiveFromAllPartitions` from the start, `receive(upTo:)` until COUNT events.
    case consumeAll = "consume-all"
    /// One `PartitionReceiver` on partition 0 from the start, `receive(upTo:)` until COUNT
    /// events or all the partition holds, whichever is fewer.
    case consumePartition = "consume-partition"
}

/// Runs one ``EventHubsRun`` and prints `eventhubs-<run> count=… seconds=… msgs_per_s=…`. Like
/// `send` and `receive`, sends are timed from an attached link and receives from the first
/// event, so connecting and attaching are not counted.
func eventHubs(_ arguments: Arguments) async throws {
    guard let run = arguments.run else { fail(usage) }
    let connectionString = EventHubsConnectionString(
        host: arguments.host, port: arguments.port, eventHubName: arguments.address,
        sharedAccessKeyName: arguments.user ?? EmulatorConfiguration.defaultKeyName,
        sharedAccessKey: arguments.password ?? EmulatorConfiguration.defaultKey, usesDevelopmentEmulator: true)
    var options = EventHubsClientOptions()
    options.authorization = .saslPlain
    let client = try EventHubsClient(connectionString: connectionString, options: options)
    do {
        try await client.open()
        switch run {
        case .sendBatched, .enqueue, .sendSingle: try await publish(run, client, arguments)
        case .buffered: try await publishBuffered(client, arguments)
        case .consumeAll, .consumePartition: try await consume(run, client, arguments)
        }
    } catch {
        await client.close()
        throw error
    }
    await client.close()
}

private func publish(_ run: EventHubsRun, _ client: EventHubsClient, _ arguments: Arguments) async throws {
    let producer = client.makeProducer()
    let event = EventData(body: [UInt8](repeating: 0x61, count: arguments.size))
    // Attaches the hub's link before the clock starts (and learns its max-message-size).
    var batch = try await producer.makeBatch()
    let start = ContinuousClock.now
    switch run {
    case .sendBatched:
        var added = 0
        while added < arguments.count {
            if batch.tryAdd(event) {
                added += 1
                continue
            }
            guard batch.count > 0 else { fail("one event of \(arguments.size) bytes does not fit in a batch") }
            try await producer.send(batch)
            batch = try await producer.makeBatch()
        }
        try await producer.send(batch)
    case .enqueue:
        var pending: [PendingSend] = []
        pending.reserveCapacity(arguments.count)
        for _ in 0..<arguments.count {
            pending.append(try await producer.enqueue(event))
        }
        for send in pending { try await send.accepted() }
    default:
        for _ in 0..<arguments.count {
            try await producer.send(event)
        }
    }
    report("eventhubs-\(run.rawValue)", count: arguments.count, since: start)
    await producer.close()
}

private func publishBuffered(_ client: EventHubsClient, _ arguments: Arguments) async throws {
    let failed = Failures()
    let buffered = EventHubsBufferedProducer(client: client, options: .init(
        maxBufferedEventCount: 100_000, maxWaitTime: .milliseconds(50), maxConcurrentSendsPerPartition: 4,
        onSendFailed: { batch, error in await failed.add(batch.events.count, error) }))
    let event = EventData(body: [UInt8](repeating: 0x61, count: arguments.size))
    // The partition ids, before the clock starts.
    _ = try await client.partitionIDs()
    let start = ContinuousClock.now
    for _ in 0..<arguments.count { try await buffered.enqueue(event) }
    await buffered.close()
    if let failure = await failed.first { fail("\(await failed.count) events failed: \(failure)") }
    report("eventhubs-buffered", count: arguments.count, since: start)
}

/// Failures reported by the buffered producer's handler.
private actor Failures {
    private(set) var count = 0
    private(set) var first: EventHubsError?
    func add(_ count: Int, _ error: EventHubsError) {
        self.count += count
        if first == nil { first = error }
    }
}

private func consume(_ run: EventHubsRun, _ client: EventHubsClient, _ arguments: Arguments) async throws {
    let options = PartitionReceiverOptions(prefetchCount: arguments.prefetch)
    let maximum = Int(arguments.prefetch)
    var count = arguments.count
    let receive: (Int) async throws -> [ReceivedEventData]
    let close: () async -> Void
    if run == .consumeAll {
        let all = try await client.receiveFromAllPartitions(startingAt: .earliest, options: options)
        receive = { try await all.receive(upTo: $0) }
        close = { await all.close() }
    } else {
        let partition = try await client.partitionProperties(partitionID: "0")
        let held = partition.isEmpty ? 0 : Int(partition.lastEnqueuedSequenceNumber - partition.beginningSequenceNumber + 1)
        guard held > 0 else { fail("partition 0 of \(arguments.address) holds no events") }
        count = min(count, held)
        let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest, options: options)
        try await receiver.open()
        receive = { try await receiver.receive(upTo: $0) }
        close = { await receiver.close() }
    }
    var start: ContinuousClock.Instant? = nil
    var received = 0
    var bytes = 0
    while received < count {
        let events = try await receive(min(maximum, count - received))
        if events.isEmpty { break }
        if start == nil { start = .now }
        received += events.count
        for event in events { bytes += event.body.count }
    }
    guard let start, received >= count else { fail("the receivers ended after \(received) of \(count) events") }
    report("eventhubs-\(run.rawValue)", count: received, since: start)
    await close()
    // Every event must have come back whole, or the rate means nothing.
    if bytes != received * arguments.size { fail("received \(bytes) bytes in \(received) events, expected \(arguments.size) each") }
}
