import AMQPMessage
import AMQPProtocol
import AMQPTypes
import Testing

@testable import AMQPTransport

/// Receives exactly `count` deliveries, failing the test if fewer come within the time limit.
private func receive(_ count: Int, from receiver: AMQPReceiver) async throws -> [AMQPDelivery] {
    var deliveries: [AMQPDelivery] = []
    while deliveries.count < count {
        guard let delivery = try await receiver.receive(timeout: .seconds(20)) else { break }
        deliveries.append(delivery)
    }
    try #require(deliveries.count == count)
    return deliveries
}

@Suite("The in-memory broker redelivers per link", .timeLimit(.minutes(2)))
struct BrokerRedeliveryTests {
    enum Departure: String, CaseIterable { case detach, connectionClosed }

    @Test("a receiver that leaves with deliveries unsettled gives back exactly those, in queue order; another link's are not delivered again",
          arguments: Departure.allCases)
    func redeliveryIsPerLink(_ departure: Departure) async throws {
        let broker = try await AMQPInMemoryBroker.start()
        let options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
        let connection = try await AMQPConnection.connect(options)
        let other = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "r")
        for index in 0..<10 { #expect(try await sender.send(textMessage("m\(index)")) == .accepted) }

        // The leaving receiver takes the first five; the staying one, on the same connection
        // when it detaches (the case that requeued by address), the next five.
        let leavingConnection = departure == .detach ? connection : other
        let leaving = try await leavingConnection.openReceiver(from: "r", options: .init(credit: .prefetch(5), totalCredit: 5))
        let held = try await receive(5, from: leaving)
        #expect(held.map { text(of: $0.message) } == (0..<5).map { "m\($0)" })
        let staying = try await connection.openReceiver(from: "r", options: .init(credit: .prefetch(5), totalCredit: 5))
        let kept = try await receive(5, from: staying)
        #expect(kept.map { text(of: $0.message) } == (5..<10).map { "m\($0)" })

        switch departure {
        case .detach: try await leaving.close()
        case .connectionClosed: try await other.close()
        }
        // The staying link accepts what it holds; its detach follows the accepts on the wire.
        for delivery in kept { try await delivery.accept() }
        try await staying.close()
        // A marker behind everything: what arrives before it is all the queue held.
        #expect(try await sender.send(textMessage("end")) == .accepted)

        let next = try await connection.openReceiver(from: "r", options: .init(credit: .prefetch(100)))
        var redelivered: [String?] = []
        while let delivery = try await next.receive(timeout: .seconds(20)) {
            let body = text(of: delivery.message)
            try await delivery.accept()
            if body == "end" { break }
            redelivered.append(body)
        }
        // §3.4: what the leaving link never settled is due again, in the order it left the queue;
        // the five accepted on the other link are not.
        #expect(redelivered == (0..<5).map { "m\($0)" })
        #expect(broker.depth(of: "r") == 0)
        try await connection.close()
        if departure == .detach { try await other.close() }
        try await broker.stop()
    }
}
