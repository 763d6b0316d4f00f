// amqp-bench-e2e: end-to-end throughput over loopback, for scripts/bench.sh.
//
//   amqp-bench-e2e send HOST PORT ADDRESS COUNT [--size BYTES] [--presettled] [--user NAME --password KEY]
//   amqp-bench-e2e receive HOST PORT ADDRESS COUNT [--presettled] [--user NAME --password KEY]
//   amqp-bench-e2e broker [--port PORT]
//   amqp-bench-e2e emulator [--port PORT] [--hub NAME:PARTITIONS]... [--data-dir DIR] [--fsync always|never]
//   amqp-bench-e2e eventhubs RUN HOST PORT HUB COUNT [--size BYTES] [--prefetch N] [--user NAME --password KEY]
//
// `send`, `receive` and `eventhubs` print one line, `<mode> count=<n> seconds=<s> msgs_per_s=<r>`,
// timed from the link being attached to the last outcome (send) or the last message (receive),
// like Benchmarks/proton/e2e-client.c. `broker` runs AMQPInMemoryBroker and `emulator` an
// EventHubsEmulator on 127.0.0.1; both print `port=<n>` (and `pid=<n>`) once they listen and run
// until SIGINT or SIGTERM. `eventhubs` runs are listed in EventHubsBenchmark.swift. A separate
// executable from amqp-bench so that the allocation gate in CI builds only the codec layers in
// release, not NIO and BoringSSL.
import AMQPCodec
import AMQPMessage
import AMQPTransport
import AMQPTypes
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("amqp-bench-e2e: \(message)\n".utf8))
    exit(2)
}

let usage = """
    usage: amqp-bench-e2e send HOST PORT ADDRESS COUNT [--size BYTES] [--presettled] [--user NAME --password KEY]
           amqp-bench-e2e receive HOST PORT ADDRESS COUNT [--presettled] [--user NAME --password KEY]
           amqp-bench-e2e broker [--port PORT]
           amqp-bench-e2e emulator [--port PORT] [--hub NAME:PARTITIONS]... [--data-dir DIR] [--fsync always|never]
           amqp-bench-e2e eventhubs RUN HOST PORT HUB COUNT [--size BYTES] [--prefetch N] [--user NAME --password KEY]
             RUN: \(EventHubsRun.allCases.map(\.rawValue).joined(separator: ", "))
    """

struct Arguments {
    var mode: String
    /// The `eventhubs` run.
    var run: EventHubsRun?
    var host = "127.0.0.1"
    var port = 0
    /// The link address, or the event hub for `eventhubs`.
    var address = ""
    var count = 0
    var size = 1024
    var presettled = false
    var user: String?
    var password: String?
    var prefetch: UInt32 = 300
    /// `emulator`: name and partition count of each hub.
    var hubs: [(name: String, partitions: Int)] = []
    var dataDirectory: String?
    var fsync = "always"

    init(_ argv: [String]) {
        var rest = argv.dropFirst()
        guard let mode = rest.popFirst() else { fail(usage) }
        self.mode = mode
        if mode == "eventhubs" {
            guard let run = rest.popFirst().flatMap(EventHubsRun.init(rawValue:)) else { fail(usage) }
            self.run = run
        }
        if mode == "send" || mode == "receive" || mode == "eventhubs" {
            guard rest.count >= 4, let port = Int(rest[rest.startIndex + 1]), let count = Int(rest[rest.startIndex + 3]), count > 0 else { fail(usage) }
            host = rest[rest.startIndex]
            self.port = port
            address = rest[rest.startIndex + 2]
            self.count = count
            rest = rest.dropFirst(4)
        } else if mode != "broker" && mode != "emulator" {
            fail(usage)
        }
        while let option = rest.popFirst() {
            switch option {
            case "--presettled": presettled = true
            case "--size":
                guard let n = rest.popFirst().flatMap({ Int($0) }), n >= 0 else { fail(usage) }
                size = n
            case "--port":
                guard let n = rest.popFirst().flatMap({ Int($0) }) else { fail(usage) }
                port = n
            case "--user":
                guard let name = rest.popFirst() else { fail(usage) }
                user = name
            case "--password":
                guard let key = rest.popFirst() else { fail(usage) }
                password = key
            case "--prefetch":
                guard let n = rest.popFirst().flatMap({ UInt32($0) }), n > 0 else { fail(usage) }
                prefetch = n
            case "--hub":
                guard let spec = rest.popFirst(), let colon = spec.lastIndex(of: ":"),
                      let partitions = Int(spec[spec.index(after: colon)...]) else { fail(usage) }
                hubs.append((String(spec[..<colon]), partitions))
            case "--data-dir":
                guard let directory = rest.popFirst() else { fail(usage) }
                dataDirectory = directory
            case "--fsync":
                guard let policy = rest.popFirst(), policy == "always" || policy == "never" else { fail(usage) }
                fsync = policy
            default: fail(usage)
            }
        }
        if (user == nil) != (password == nil) { fail("--user and --password go together") }
    }
}

func report(_ mode: String, count: Int, since start: ContinuousClock.Instant) {
    let elapsed = seconds(since: start)
    print("\(mode) count=\(count) seconds=\(String(format: "%.3f", elapsed)) msgs_per_s=\(Int(Double(count) / elapsed))")
}

func connect(_ arguments: Arguments) async throws -> AMQPConnection {
    var authentication = AMQPConnectionOptions.Authentication.anonymous
    if let user = arguments.user, let password = arguments.password {
        authentication = .plain(username: user, password: password)
    }
    var options = AMQPConnectionOptions(host: arguments.host, port: arguments.port, authentication: authentication)
    // A benchmark on loopback: PLAIN is for the emulator's SAS key, which is no secret.
    options.allowsCleartextCredentials = true
    options.idleTimeout = nil
    return try await AMQPConnection.connect(options)
}

/// Sends `count` messages with a data body of `size` bytes. Unsettled: every message waits for
/// its outcome, which must be `accepted`; sends are pipelined up to the link credit (the sender
/// suspends beyond it). Pre-settled: fire and forget.
func send(_ arguments: Arguments) async throws {
    let connection = try await connect(arguments)
    let sender = try await connection.openSender(
        to: arguments.address,
        options: .init(settleMode: arguments.presettled ? .settled : .unsettled)
    )
    let message = Message(body: .data([DataSection(Binary([UInt8](repeating: 0x61, count: arguments.size)))]))
    let start = ContinuousClock.now
    var pending: [PendingDelivery] = []
    pending.reserveCapacity(arguments.presettled ? 1 : arguments.count)
    for _ in 0..<arguments.count {
        let delivery = try await sender.enqueue(message, settled: arguments.presettled)
        if !arguments.presettled { pending.append(delivery) }
        else { pending = [delivery] }
    }
    var rejected = 0
    if arguments.presettled {
        // A pre-settled delivery's outcome arrives once it is written, in order. Without this
        // wait the detach below dropped the transfers still queued for credit (up to 64 with
        // the Proton C broker's 5 credits) and the receive run after it waited forever.
        _ = try await pending.last?.outcome()
        try await sender.close()
    } else {
        for delivery in pending {
            if try await delivery.outcome() != .accepted { rejected += 1 }
        }
    }
    report(arguments.presettled ? "send-presettled" : "send", count: arguments.count, since: start)
    if rejected > 0 { fail("\(rejected) of \(arguments.count) messages were not accepted") }
    if !arguments.presettled { try await sender.close() }
    try await connection.close()
}

/// Receives `count` messages, granting all the credit up front (as Proton's receive.c does) and
/// accepting each unless the sender settles them.
func receive(_ arguments: Arguments) async throws {
    let connection = try await connect(arguments)
    let receiver = try await connection.openReceiver(
        from: arguments.address,
        options: .init(credit: .manual, senderSettleMode: arguments.presettled ? .settled : .unsettled)
    )
    try await receiver.addCredit(UInt32(arguments.count))
    var start: ContinuousClock.Instant? = nil
    var received = 0
    var bytes = 0
    for try await delivery in receiver {
        if start == nil { start = .now }
        if case .data(let sections) = delivery.message.body { bytes += sections.reduce(0) { $0 + $1.value.count } }
        if !delivery.isSettled { try await delivery.accept() }
        received += 1
        if received == arguments.count { break }
    }
    guard let start, received == arguments.count else { fail("the link closed after \(received) messages") }
    report(arguments.presettled ? "receive-presettled" : "receive", count: received, since: start)
    if bytes == 0 { fail("the messages had no data") }
    try await receiver.close()
    try await connection.close()
}

func broker(_ arguments: Arguments) async throws {
    var configuration = AMQPListener.Configuration(host: "127.0.0.1", port: arguments.port)
    configuration.idleTimeout = nil
    configuration.maxMessageSize = nil
    // Unbounded queues: a run queues every message before receiving, whatever the count.
    let broker = try await AMQPInMemoryBroker.start(configuration, queueLimits: .unbounded)
    // Unbuffered, so that the script sees the port at once.
    FileHandle.standardOutput.write(Data("port=\(broker.port)\n".utf8))
    while true { try await Task.sleep(for: .seconds(3600)) }
}

/// The seconds since `start`, for reports.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let arguments = Arguments(CommandLine.arguments)
do {
    switch arguments.mode {
    case "send": try await send(arguments)
    case "receive": try await receive(arguments)
    case "emulator": try await emulator(arguments)
    case "eventhubs": try await eventHubs(arguments)
    default: try await broker(arguments)
    }
} catch {
    fail("\(error)")
}
