import AMQPCodec
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

extension RealPeers {
    /// RabbitMQ 3.10 with `rabbitmq_amqp1_0`: one private node per test run (PEERS.md).
    @Suite("RabbitMQ 3.10", .timeLimit(.minutes(5)))
    struct RabbitMQTests {
        static let count = 10_000
        static let guest = AMQPConnectionOptions.Authentication.plain(username: RabbitMQNode.username, password: RabbitMQNode.password)

        /// A queue name no other test uses.
        static func queue(_ name: String) -> String { "swift-amqp-\(name)-\(UUID().uuidString.prefix(8))" }

        /// Waits until RabbitMQ itself reports `queue` at `depth` (its acknowledgements are
        /// processed asynchronously).
        static func expectDepth(_ node: RabbitMQNode, _ queue: String, _ depth: Int) async throws {
            var last: Int?
            for _ in 0..<20 {
                last = try await node.queueDepths()[queue]
                if last == depth { return }
                try await Task.sleep(for: .milliseconds(250))
            }
            Issue.record("RabbitMQ reports \(last.map(String.init) ?? "no queue") messages in \(queue), expected \(depth)")
        }

        /// RabbitMQ 3.10 may requeue messages whose accept arrives just before the detach
        /// (PEERS.md). Draining first would be the clean way, but 3.10.8 ends the session with
        /// `amqp:internal-error` (`function_clause` in `rabbit_classic_queue:handle_event`,
        /// `send_drained`) on a drain — Proton's Python client gets the same — so: linger.
        static func lingerBeforeDetach() async throws {
            try await Task.sleep(for: .milliseconds(500))
        }

        @Test("SASL PLAIN guest/guest: refused over plain TCP unless allowed explicitly, then accepted")
        func plainAuthentication() async throws {
            let node = try await RabbitMQNode.shared()
            var options = AMQPConnectionOptions(host: "127.0.0.1", port: node.port, authentication: Self.guest)
            do {
                _ = try await AMQPConnection.connect(options)
                Issue.record("PLAIN credentials went out over plain TCP")
            } catch let error as AMQPClientError {
                #expect(error.kind == .connectionFailed)
                #expect("\(error)".contains("without TLS"))
            }
            options.allowsCleartextCredentials = true
            let connection = try await AMQPConnection.connect(options)
            #expect(connection.peerOpen.containerID.hasPrefix(node.nodeName.prefix { $0 != "@" }))
            try await connection.close()

            options.authentication = .plain(username: "guest", password: "not-the-password")
            do {
                _ = try await AMQPConnection.connect(options)
                Issue.record("a wrong password was accepted")
            } catch let error as AMQPClientError {
                #expect(error.kind == .connectionFailed)
            }
        }

        @Test("our client sends 10,000 messages to a queue and receives them back")
        func ourClientBothWays() async throws {
            let node = try await RabbitMQNode.shared()
            let queue = Self.queue("ours")
            let connection = try await connect(port: node.port, authentication: Self.guest)
            let sender = try await connection.openSender(to: "/queue/\(queue)")
            let accepted = try await sendAll(sender, count: Self.count) { stringMessage("r\($0)", id: UInt64($0)) }
            #expect(accepted == Self.count)
            try await Self.expectDepth(node, queue, Self.count)

            let receiver = try await connection.openReceiver(from: "/queue/\(queue)", options: .init(credit: .prefetch(300)))
            let messages = try await receiveAll(receiver, count: Self.count)
            #expect(messages.map { string(of: $0) } == (0..<Self.count).map { "r\($0)" })
            try await Self.lingerBeforeDetach()
            try await receiver.close()
            try await connection.close()
            try await Self.expectDepth(node, queue, 0)
        }

        @Test("Proton's C receive counts 10,000 we sent; we receive 10,000 Proton's C send sent")
        func withProtonClients() async throws {
            let node = try await RabbitMQNode.shared()
            let proton = try ProtonC.built()
            let toProton = Self.queue("to-proton")
            let connection = try await connect(port: node.port, authentication: Self.guest)
            let sender = try await connection.openSender(to: "/queue/\(toProton)")
            #expect(try await sendAll(sender, count: Self.count) { stringMessage("p\($0)") } == Self.count)
            let receive = try await ExternalProcess.run(
                proton.receive, ["127.0.0.1", String(node.port), "/queue/\(toProton)", String(Self.count)], timeout: .seconds(120))
            #expect(receive.exitStatus == 0, "\(receive.outputTail)")
            let lines = receive.output.split(separator: "\n").map(String.init)
            #expect(lines.last == "\(Self.count) messages received")
            #expect(Array(lines.dropLast()) == (0..<Self.count).map { quoted("p\($0)") })

            let fromProton = Self.queue("from-proton")
            let receiver = try await connection.openReceiver(from: "/queue/\(fromProton)", options: .init(credit: .prefetch(300)))
            let send = try ExternalProcess(proton.send, ["127.0.0.1", String(node.port), "/queue/\(fromProton)", String(Self.count)])
            defer { send.stop() }
            let messages = try await receiveAll(receiver, count: Self.count)
            try await send.expectSuccess(timeout: .seconds(120))
            #expect(send.output.contains("\(Self.count) messages sent and acknowledged"))
            let sequences = messages.map { message -> AMQPValue? in
                guard case .value(let section) = message.body, case .map(let map) = section.value else { return nil }
                return map[.string("sequence")]
            }
            #expect(sequences == (1...Self.count).map { .int(Int32($0)) })
            try await Self.lingerBeforeDetach()
            try await connection.close()
            try await Self.expectDepth(node, fromProton, 0)
        }

        @Test("an unknown address is a typed error with RabbitMQ's condition; the connection goes on")
        func unknownAddress() async throws {
            let node = try await RabbitMQNode.shared()
            let connection = try await connect(port: node.port, authentication: Self.guest)
            do {
                _ = try await connection.openSender(to: "/exchange/swift-amqp-no-such-exchange")
                Issue.record("attached to an exchange that does not exist")
            } catch let error as AMQPClientError {
                // RabbitMQ answers with `end` (a session error), not with a detach: the link
                // was refused with the session's error.
                #expect(error.kind == .linkRefused)
                #expect(error.condition == .amqp(.notFound))
                #expect(error.amqpError?.description?.contains("no exchange") == true)
            }
            do {
                _ = try await connection.openReceiver(from: "/amq/queue/swift-amqp-no-such-queue")
                Issue.record("attached to a queue that does not exist")
            } catch let error as AMQPClientError {
                #expect(error.kind == .linkRefused)
                #expect(error.condition == .amqp(.notFound))
            }
            // The connection is still good: the default session is begun again.
            let queue = Self.queue("after-error")
            let sender = try await connection.openSender(to: "/queue/\(queue)")
            #expect(try await sender.send(stringMessage("still here")) == .accepted)
            try await connection.close()
            try await Self.expectDepth(node, queue, 1)
        }
    }
}
