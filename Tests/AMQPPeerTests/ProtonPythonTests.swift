import AMQPCodec
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

/// What `proton-peer.py serve-receiver` saw.
struct ReceiverSummary: Decodable {
    var received: Int
    var presettled: Int
    var bodies: [String]
    var outcomes: [String]
}

/// What a Proton sender saw of our answers.
struct SenderSummary: Decodable {
    var sent: Int
    var accepted: Int
    var rejected: Int
    var released: Int
    var modified: Int
    var settled: Int
    var conditions: [[String]?]?
    var drained: Bool?
}

struct DrainSummary: Decodable {
    var received: Int
    var bodies: [String]
    var credit: Int
}

extension RealPeers {
    /// Qpid Proton's Python binding as client and server (`scripts/peers/proton-peer.py`).
    @Suite("Qpid Proton Python", .timeLimit(.minutes(3)))
    struct ProtonPythonTests {
        @Test("presettled sends arrive settled; unsettled ones get Proton's accepted outcome")
        func presettledAndUnsettled() async throws {
            let (peer, port) = try await ProtonPython.serve("serve-receiver", ["--count", "20"])
            defer { peer.stop() }
            let connection = try await connect(port: port)
            let presettled = try await connection.openSender(to: "settled", options: .init(settleMode: .settled))
            for i in 0..<10 {
                #expect(try await presettled.send(stringMessage("s\(i)"), settled: true) == .settled)
            }
            let unsettled = try await connection.openSender(to: "unsettled", options: .init(settleMode: .unsettled))
            for i in 0..<10 {
                #expect(try await unsettled.send(stringMessage("u\(i)")) == .accepted)
            }
            try await connection.close()
            let summary = try await ProtonPython.summary(of: peer, as: ReceiverSummary.self)
            #expect(summary.received == 20)
            #expect(summary.presettled == 10)
            #expect(summary.bodies == (0..<10).map { "s\($0)" } + (0..<10).map { "u\($0)" })
        }

        @Test("Proton's reject, release and modify reach our sender as typed outcomes")
        func outcomesReachOurSender() async throws {
            let (peer, port) = try await ProtonPython.serve("serve-receiver", ["--count", "6", "--outcomes", "accept,reject,release,modify"])
            defer { peer.stop() }
            let connection = try await connect(port: port)
            let sender = try await connection.openSender(to: "outcomes")
            var outcomes: [DeliveryOutcome] = []
            for i in 0..<4 { outcomes.append(try await sender.send(stringMessage("o\(i)"))) }
            #expect(outcomes[0] == .accepted)
            guard case .rejected(let error) = outcomes[1] else {
                Issue.record("expected rejected, got \(outcomes[1])")
                return
            }
            #expect(error?.condition == .amqp(.preconditionFailed))
            #expect(error?.description == "rejected by the Proton peer")
            #expect(outcomes[2] == .released)
            #expect(outcomes[3] == .modified(Modified(deliveryFailed: true, undeliverableHere: true)))
            // The outcomes cycle: the fifth is accepted, the sixth rejected, which
            // sendExpectingAcceptance turns into a typed error.
            try await sender.sendExpectingAcceptance(stringMessage("o4"))
            do {
                try await sender.sendExpectingAcceptance(stringMessage("o5"))
                Issue.record("a rejected message counted as accepted")
            } catch let error as AMQPClientError {
                #expect(error.kind == .rejected)
                #expect(error.condition == .amqp(.preconditionFailed))
            }
            try await connection.close()
            let summary = try await ProtonPython.summary(of: peer, as: ReceiverSummary.self)
            #expect(summary.outcomes == ["accept", "reject", "release", "modify", "accept", "reject"])
        }

        @Test("our reject, release, accept and modify reach Proton's sender; presettled deliveries need none")
        func outcomesReachProtonSender() async throws {
            let (peer, port) = try await ProtonPython.serve("serve-sender", ["--count", "4"])
            defer { peer.stop() }
            let connection = try await connect(port: port)
            let receiver = try await connection.openReceiver(from: "source", options: .init(credit: .manual))
            try await receiver.addCredit(4)
            var deliveries: [AMQPDelivery] = []
            for _ in 0..<4 { deliveries.append(try #require(try await receiver.receive())) }
            #expect(deliveries.map { string(of: $0.message) } == ["message-0", "message-1", "message-2", "message-3"])
            #expect(deliveries.allSatisfy { !$0.isSettled })
            try await deliveries[0].accept()
            try await deliveries[1].reject(error: AMQPError(condition: .amqp(.invalidField), description: "refused by swift-amqp"))
            try await deliveries[2].release()
            try await deliveries[3].modify(deliveryFailed: true)
            try await receiver.close()
            try await connection.close()
            let summary = try await ProtonPython.summary(of: peer, as: SenderSummary.self)
            #expect(summary.sent == 4)
            #expect(summary.settled == 4)
            #expect([summary.accepted, summary.rejected, summary.released, summary.modified] == [Int](repeating: 1, count: 4))
            #expect(summary.conditions == [["amqp:invalid-field", "refused by swift-amqp"]])

            let (presettledPeer, presettledPort) = try await ProtonPython.serve("serve-sender", ["--count", "5", "--presettled"])
            defer { presettledPeer.stop() }
            let second = try await connect(port: presettledPort)
            let presettled = try await second.openReceiver(from: "source")
            for i in 0..<5 {
                let delivery = try #require(try await presettled.receive())
                #expect(delivery.isSettled)
                #expect(string(of: delivery.message) == "message-\(i)")
            }
            try await second.close()
            let presettledSummary = try await ProtonPython.summary(of: presettledPeer, as: SenderSummary.self)
            #expect(presettledSummary.sent == 5)
            #expect(presettledSummary.accepted == 0)
        }

        @Test("drain: our receiver drains Proton's sender, and Proton's receiver drains our broker")
        func drainBothWays() async throws {
            // Proton's sender has 3 messages; we offer 10 credits and drain.
            let (peer, port) = try await ProtonPython.serve("serve-sender", ["--count", "3"])
            defer { peer.stop() }
            let connection = try await connect(port: port)
            let receiver = try await connection.openReceiver(from: "source", options: .init(credit: .manual))
            try await receiver.addCredit(10)
            try await receiver.drain()
            var bodies: [String] = []
            for _ in 0..<3 {
                let delivery = try #require(try await receiver.receive())
                bodies.append(string(of: delivery.message) ?? "?")
                try await delivery.accept()
            }
            #expect(bodies == ["message-0", "message-1", "message-2"])
            try await connection.close()
            let summary = try await ProtonPython.summary(of: peer, as: SenderSummary.self)
            #expect(summary.drained == true)
            #expect(summary.accepted == 3)

            // Our broker holds 2 messages; Proton's receiver drains with 10 credits.
            let broker = try await AMQPInMemoryBroker.start()
            let ours = try await connect(port: broker.port)
            let sender = try await ours.openSender(to: "drained")
            for i in 0..<2 { #expect(try await sender.send(stringMessage("d\(i)")) == .accepted) }
            try await ours.close()
            let drain = try ProtonPython.start("client-drain", ["--url", "amqp://127.0.0.1:\(broker.port)/drained", "--credit", "10"])
            defer { drain.stop() }
            let drained = try await ProtonPython.summary(of: drain, as: DrainSummary.self)
            #expect(drained.received == 2)
            #expect(drained.bodies == ["d0", "d1"])
            #expect(drained.credit == 0)
            #expect(broker.depth(of: "drained") == 0)
            try await broker.stop()
        }

        @Test("Proton's Python sender, presettled and unsettled, into our broker")
        func protonSenderOurBroker() async throws {
            let broker = try await AMQPInMemoryBroker.start()
            for presettled in [false, true] {
                let address = presettled ? "py-settled" : "py-unsettled"
                let send = try ProtonPython.start("client-send", ["--url", "amqp://127.0.0.1:\(broker.port)/\(address)", "--count", "50"] + (presettled ? ["--presettled"] : []))
                defer { send.stop() }
                let summary = try await ProtonPython.summary(of: send, as: SenderSummary.self)
                #expect(summary.sent == 50)
                #expect(summary.accepted == (presettled ? 0 : 50))
                #expect(broker.depth(of: address) == 50)
            }
            try await broker.stop()
        }
    }
}
