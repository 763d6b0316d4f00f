import AMQPCodec
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

extension RealPeers {
    /// Qpid Proton's C broker and its `send`/`receive` examples (PEERS.md), built by the test run.
    @Suite("Qpid Proton C", .timeLimit(.minutes(5)))
    struct ProtonCTests {
        static let count = 10_000
        static let bigSize = 5 << 20

        @Test("our client sends 10,000 messages through Proton's broker that Proton's receive counts")
        func ourSenderProtonReceiver() async throws {
            let proton = try ProtonC.built()
            let (broker, port) = try await proton.startBroker()
            defer { broker.stop() }
            let connection = try await connect(port: port)
            let sender = try await connection.openSender(to: "to-proton")
            let accepted = try await sendAll(sender, count: Self.count) { stringMessage("m\($0)", id: UInt64($0)) }
            #expect(accepted == Self.count)
            try await connection.close()

            let receive = try await ExternalProcess.run(proton.receive, ["127.0.0.1", String(port), "to-proton", String(Self.count)], timeout: .seconds(120))
            #expect(receive.exitStatus == 0, "\(receive.outputTail)")
            let lines = receive.output.split(separator: "\n").map(String.init)
            #expect(lines.last == "\(Self.count) messages received")
            #expect(Array(lines.dropLast()) == (0..<Self.count).map { quoted("m\($0)") })
        }

        @Test("our client receives 10,000 messages that Proton's send sent through Proton's broker")
        func protonSenderOurReceiver() async throws {
            let proton = try ProtonC.built()
            let (broker, port) = try await proton.startBroker()
            defer { broker.stop() }
            let send = try ExternalProcess(proton.send, ["127.0.0.1", String(port), "from-proton", String(Self.count)])
            defer { send.stop() }
            let connection = try await connect(port: port)
            let receiver = try await connection.openReceiver(from: "from-proton", options: .init(credit: .prefetch(500)))
            let messages = try await receiveAll(receiver, count: Self.count)
            try await send.expectSuccess(timeout: .seconds(120))
            #expect(send.output.contains("\(Self.count) messages sent and acknowledged"))
            // Proton's send numbers its messages from 1: message-id n, body {"sequence": n}.
            var expected: UInt64 = 1
            for message in messages {
                let sequence: AMQPValue? = {
                    guard case .value(let section) = message.body, case .map(let map) = section.value else { return nil }
                    return map[.string("sequence")]
                }()
                #expect(sequence == .int(Int32(expected)))
                #expect(message.properties?.messageID == .ulong(expected))
                expected += 1
            }
            #expect(expected == UInt64(Self.count) + 1)
            try await connection.close()
        }

        @Test("a 5 MiB message crosses Proton's broker intact, from us to Proton and from Proton to us")
        func bigMessages() async throws {
            let proton = try ProtonC.built()
            let (broker, port) = try await proton.startBroker()
            defer { broker.stop() }
            let text = ProtonC.bodyText(size: Self.bigSize)

            // Ours → Proton's broker → Proton's receive.
            let connection = try await connect(port: port)
            let sender = try await connection.openSender(to: "big-to-proton")
            #expect(try await sender.send(stringMessage(text)) == .accepted)
            let receive = try await ExternalProcess.run(proton.receive, ["127.0.0.1", String(port), "big-to-proton", "1"], timeout: .seconds(120))
            #expect(receive.exitStatus == 0, "\(receive.outputTail)")
            let lines = receive.output.split(separator: "\n").map(String.init)
            #expect(lines.count == 2)
            #expect(lines.first == quoted(text), "Proton printed \(lines.first?.utf8.count ?? 0) bytes, not the 5 MiB body")

            // Proton's send (with a 5 MiB body) → Proton's broker → ours.
            let send = try ExternalProcess(proton.sendSized, ["127.0.0.1", String(port), "big-from-proton", "1", String(Self.bigSize)])
            defer { send.stop() }
            let receiver = try await connection.openReceiver(from: "big-from-proton")
            let received = try await receiveAll(receiver, count: 1)
            #expect(string(of: received[0]) == text)
            try await send.expectSuccess(timeout: .seconds(60))
            try await connection.close()
        }

        @Test("Proton's send and receive exchange 10,000 messages and a 5 MiB one through our in-memory broker")
        func protonClientsOurBroker() async throws {
            let proton = try ProtonC.built()
            var configuration = AMQPListener.Configuration()
            configuration.maxMessageSize = 16 << 20
            let broker = try await AMQPInMemoryBroker.start(configuration)
            let port = String(broker.port)

            let send = try ExternalProcess(proton.send, ["127.0.0.1", port, "through-us", String(Self.count)])
            defer { send.stop() }
            let receive = try ExternalProcess(proton.receive, ["127.0.0.1", port, "through-us", String(Self.count)])
            defer { receive.stop() }
            try await send.expectSuccess(timeout: .seconds(120))
            #expect(send.output.contains("\(Self.count) messages sent and acknowledged"))
            try await receive.expectSuccess(timeout: .seconds(120))
            let lines = receive.output.split(separator: "\n").map(String.init)
            #expect(lines.last == "\(Self.count) messages received")
            #expect(Array(lines.dropLast()) == (1...Self.count).map { "{\"sequence\"=\($0)}" })

            let text = ProtonC.bodyText(size: Self.bigSize)
            let sendBig = try ExternalProcess(proton.sendSized, ["127.0.0.1", port, "big-through-us", "1", String(Self.bigSize)])
            defer { sendBig.stop() }
            try await sendBig.expectSuccess(timeout: .seconds(60))
            #expect(broker.depth(of: "big-through-us") == 1)
            let receiveBig = try await ExternalProcess.run(proton.receive, ["127.0.0.1", port, "big-through-us", "1"], timeout: .seconds(60))
            #expect(receiveBig.exitStatus == 0, "\(receiveBig.outputTail)")
            #expect(receiveBig.output.split(separator: "\n").first.map(String.init) == quoted(text))
            #expect(broker.depth(of: "big-through-us") == 0)
            try await broker.stop()
        }
    }
}
