import AMQPCodec
import AMQPMessage
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import Testing

/// Every peer suite runs inside this one, one test at a time: the peers are processes that
/// compete for the same two cores, and running them in turn keeps timings far from every bound.
@Suite("Real peers", .serialized)
enum RealPeers {}

func connect(port: Int, authentication: AMQPConnectionOptions.Authentication = .anonymous) async throws -> AMQPConnection {
    var options = AMQPConnectionOptions(host: "127.0.0.1", port: port, authentication: authentication)
    if case .plain = authentication { options.allowsCleartextCredentials = true }
    return try await AMQPConnection.connect(options)
}

func stringMessage(_ text: String, id: UInt64? = nil) -> Message {
    Message(properties: id.map { Properties(messageID: .ulong($0)) }, body: .value(AMQPValueSection(.string(text))))
}

func string(of message: Message) -> String? {
    if case .value(let section) = message.body, case .string(let text) = section.value { return text }
    return nil
}

/// Sends `count` messages made by `make` without waiting a round trip per message, then waits
/// for every outcome; returns how many were accepted.
func sendAll(_ sender: AMQPSender, count: Int, settled: Bool = false, _ make: (Int) -> Message) async throws -> Int {
    var pending: [PendingDelivery] = []
    pending.reserveCapacity(count)
    for i in 0..<count {
        pending.append(try await sender.enqueue(make(i), settled: settled))
    }
    var accepted = 0
    for delivery in pending {
        switch try await delivery.outcome() {
        case .accepted, .settled: accepted += 1
        case let other: Issue.record("outcome \(other)")
        }
    }
    return accepted
}

/// Receives `count` deliveries, accepting each, and returns their messages in order. Fails when
/// the link ends first.
func receiveAll(_ receiver: AMQPReceiver, count: Int) async throws -> [Message] {
    var messages: [Message] = []
    messages.reserveCapacity(count)
    while messages.count < count {
        guard let delivery = try await receiver.receive() else {
            throw PeerError("the link ended after \(messages.count) of \(count) messages")
        }
        messages.append(delivery.message)
        try await delivery.accept()
    }
    return messages
}

/// The lines a Proton `receive` printed for string bodies: each body in double quotes.
func quoted(_ text: String) -> String { "\"\(text)\"" }
