import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOCore
import NIOPosix
import Testing

@testable import AMQPTransport

/// A consumer that grants credit for everything, with a session window as large, and then stops
/// reading its socket; the helpers measure what the server buffers for it meanwhile.
enum StalledConsumer {
    /// Bytes NIO holds for the listener's sockets, written and not yet sent: what a server that
    /// ignores writability piles up for a consumer that does not read.
    static func bufferedBytes(_ listener: AMQPListener) async -> Int {
        var total = 0
        for channel in listener.accepted.all {
            total += (try? await channel.getOption(.bufferedWritableBytes).get()) ?? 0
        }
        return total
    }

    /// Connects with a session window of `window` transfers.
    static func connect(_ options: AMQPConnectionOptions, window: UInt32, group: EventLoopGroup) async throws -> AMQPConnection {
        var options = options
        options.sessionIncomingWindow = window
        return try await AMQPConnection.connect(options, eventLoopGroup: group)
    }

    /// Stops (or resumes) reading the connection's socket.
    static func setReading(_ reading: Bool, _ connection: AMQPConnection) async throws {
        try await connection.onLoop { core in
            guard let channel = core.handler?.channel else { return }
            try channel.syncOptions?.setOption(.autoRead, value: reading)
            if reading { channel.read() }
        }
    }

    /// The largest buffer seen while sampling for `duration`.
    static func peakBufferedBytes(_ listener: AMQPListener, over duration: Duration) async throws -> Int {
        var peak = 0
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            peak = max(peak, await bufferedBytes(listener))
            try await Task.sleep(for: .milliseconds(5))
        }
        return peak
    }

    /// What a server may buffer for one stalled consumer: NIO's default high-water mark (64 KiB),
    /// one batch of 256 deliveries of about 1 KiB, and one more delivery's frame.
    static let bound = 64 * 1024 + 256 * 1200 + 2048
}

@Suite("Write backpressure: the broker stops for a consumer that does not read", .serialized, .timeLimit(.minutes(3)))
struct BrokerBackpressureTests {
    @Test("a stalled consumer granted everything costs the broker a bounded buffer; other clients are served; it gets everything once it reads")
    func stalledConsumer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let broker = try await AMQPInMemoryBroker.start(eventLoopGroup: group)
        let options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        let count = 20_000
        let payload = Message(body: .data([DataSection(Binary([UInt8](repeating: 0x2A, count: 1024)))])).encoded(policy: .full)

        let producer = try await AMQPConnection.connect(options, eventLoopGroup: group)
        let sender = try await producer.openSender(to: "big", options: .init(settleMode: .settled))
        for _ in 0..<count { _ = try await sender.enqueue(encoded: payload, settled: true) }
        let filled = ContinuousClock.now + .seconds(60)
        while broker.depth(of: "big") < count, ContinuousClock.now < filled { try await Task.sleep(for: .milliseconds(20)) }
        #expect(broker.depth(of: "big") == count)

        let consumer = try await StalledConsumer.connect(options, window: 1_000_000, group: group)
        let receiver = try await consumer.openReceiver(from: "big", options: .init(credit: .manual))
        try await StalledConsumer.setReading(false, consumer)
        try await receiver.addCredit(UInt32(count))
        let peak = try await StalledConsumer.peakBufferedBytes(broker.listener, over: .seconds(1))
        let handedOut = count - broker.depth(of: "big")
        print("stalled consumer: peak buffered \(peak) bytes (bound \(StalledConsumer.bound)); \(handedOut) of \(count) messages left the queue")
        #expect(peak <= StalledConsumer.bound, "the broker buffered \(peak) bytes for a consumer that does not read")
        #expect(handedOut < count / 2, "\(handedOut) messages left the queue for a consumer that does not read")

        // Another client is served normally meanwhile.
        let other = try await AMQPConnection.connect(options, eventLoopGroup: group)
        let otherSender = try await other.openSender(to: "small")
        let otherReceiver = try await other.openReceiver(from: "small")
        for index in 0..<50 { #expect(try await otherSender.send(textMessage("s\(index)")) == .accepted) }
        for _ in 0..<50 {
            let delivery = try #require(try await otherReceiver.receive(timeout: .seconds(10)))
            try await delivery.accept()
        }

        // Once the consumer reads again, everything arrives.
        try await StalledConsumer.setReading(true, consumer)
        var received = 0
        while received < count, let delivery = try await receiver.receive(timeout: .seconds(20)) {
            #expect(delivery.payload.count == payload.count)
            received += 1
        }
        #expect(received == count)
        #expect(broker.depth(of: "big") == 0)
        try await other.close()
        try await consumer.close()
        try await producer.close()
        try await broker.stop()
        try await group.shutdownGracefully()
    }
}
