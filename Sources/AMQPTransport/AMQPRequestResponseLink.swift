import AMQPCodec
import AMQPMessage
import AMQPTypes
import NIOConcurrencyHelpers
import NIOCore

/// Request/response over a management-style node (`$management`, `$cbs`, …): a sender and a
/// receiver attached to the same node, requests sent with a fresh `message-id`, replies matched
/// by `correlation-id` (with the same AMQP type, as the AMQP management draft requires).
/// Requests may run concurrently; each waits only for its own reply.
public final class AMQPRequestResponseLink: Sendable {
    /// The node requests go to (`$management`, `$cbs`).
    public let node: String
    /// The address replies come back to (our receiver's target, sent as `reply-to`).
    public let replyAddress: String
    let sender: AMQPSender
    let receiver: AMQPReceiver
    let pending: NIOLockedValueBox<Pending>
    private let readLoop: NIOLockedValueBox<Task<Void, Never>?>

    /// A request between being sent and getting its reply. The reply may arrive before the
    /// requesting task starts waiting, so the slot holds whichever comes first.
    enum Slot {
        case expecting
        case waiting(CheckedContinuation<Message, any Error>)
        case arrived(Message)
    }

    struct Pending {
        var slots: [MessageID: Slot] = [:]
        var failure: AMQPClientError?
    }

    /// Attaches both links to `node`. Replies are addressed to `replyAddress` (a unique name by
    /// default); `setsReplyTo: false` leaves `reply-to` unset for nodes that route replies by link.
    public static func attach(
        on session: AMQPSession, node: String, replyAddress: String? = nil, setsReplyTo: Bool = true,
        senderOptions: AMQPSender.Options = .init(), receiverOptions: AMQPReceiver.Options = .init()
    ) async throws -> AMQPRequestResponseLink {
        let reply = replyAddress ?? "\(node)-reply-\(AMQPUUID.random())"
        var senderOptions = senderOptions
        if senderOptions.target == nil { senderOptions.target = Target(address: .string(node)) }
        var receiverOptions = receiverOptions
        if receiverOptions.target == nil { receiverOptions.target = Target(address: .string(reply)) }
        let sender = try await session.openSender(to: node, options: senderOptions)
        let receiver: AMQPReceiver
        do {
            receiver = try await session.openReceiver(from: node, options: receiverOptions)
        } catch {
            try? await sender.close()
            throw error
        }
        let link = AMQPRequestResponseLink(node: node, replyAddress: reply, setsReplyTo: setsReplyTo, sender: sender, receiver: receiver)
        link.startReading()
        return link
    }

    let setsReplyTo: Bool

    init(node: String, replyAddress: String, setsReplyTo: Bool, sender: AMQPSender, receiver: AMQPReceiver) {
        self.node = node
        self.replyAddress = replyAddress
        self.setsReplyTo = setsReplyTo
        self.sender = sender
        self.receiver = receiver
        self.pending = NIOLockedValueBox(Pending())
        self.readLoop = NIOLockedValueBox(nil)
    }

    private func startReading() {
        let task = Task { [receiver, pending] in
            var ending: AMQPClientError = AMQPClientError(.linkDetached, detail: "the reply link to \(self.node) closed")
            do {
                for try await delivery in receiver {
                    try? await delivery.accept()
                    guard let correlation = delivery.message.properties?.correlationID else { continue }
                    let waiter = pending.withLockedValue { state -> CheckedContinuation<Message, any Error>? in
                        switch state.slots[correlation] {
                        case .waiting(let continuation)?:
                            state.slots.removeValue(forKey: correlation)
                            return continuation
                        case .expecting?:
                            state.slots[correlation] = .arrived(delivery.message)
                            return nil
                        case .arrived?, nil:
                            return nil  // a duplicate, or a reply nobody waits for any more
                        }
                    }
                    waiter?.resume(returning: delivery.message)
                }
            } catch let error as AMQPClientError {
                ending = error
            } catch {
                ending = AMQPClientError(.linkDetached, detail: "\(error)")
            }
            let waiters = pending.withLockedValue { state -> [CheckedContinuation<Message, any Error>] in
                state.failure = ending
                defer { state.slots.removeAll() }
                return state.slots.values.compactMap { if case .waiting(let c) = $0 { return c } else { return nil } }
            }
            for waiter in waiters { waiter.resume(throwing: ending) }
        }
        readLoop.withLockedValue { $0 = task }
    }

    /// Sends `message` and returns the reply whose `correlation-id` equals the request's
    /// `message-id` (set to a fresh UUID unless the message has one). Throws
    /// ``AMQPClientError/Kind-swift.struct/timedOut`` when no reply comes in `timeout`.
    public func request(_ message: Message, timeout: Duration = .seconds(60)) async throws -> Message {
        var request = message
        var properties = request.properties ?? Properties()
        let id = properties.messageID ?? .uuid(AMQPUUID.random())
        properties.messageID = id
        if setsReplyTo && properties.replyTo == nil { properties.replyTo = .string(replyAddress) }
        request.properties = properties

        if let failure = pending.withLockedValue({ state -> AMQPClientError? in
            if let failure = state.failure { return failure }
            state.slots[id] = .expecting
            return nil
        }) {
            throw failure
        }
        return try await withThrowingTaskGroup(of: Message.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    let ready = self.pending.withLockedValue { state -> Result<Message, AMQPClientError>? in
                        switch state.slots[id] {
                        case .arrived(let reply)?:
                            state.slots.removeValue(forKey: id)
                            return .success(reply)
                        case .expecting?:
                            state.slots[id] = .waiting(continuation)
                            return nil
                        case .waiting?, nil:
                            return .failure(state.failure ?? AMQPClientError(.timedOut, detail: "the request to \(self.node) was abandoned"))
                        }
                    }
                    if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw AMQPClientError(.timedOut, detail: "no reply from \(self.node) within \(timeout)")
            }
            do {
                let outcome = try await self.sender.send(request)
                if case .rejected(let error) = outcome {
                    throw AMQPClientError(.rejected, amqpError: error, detail: "\(self.node) rejected the request")
                }
                let reply = try await group.next()!
                group.cancelAll()
                return reply
            } catch {
                group.cancelAll()
                // Whatever happened, this request no longer waits.
                let slot = self.pending.withLockedValue { $0.slots.removeValue(forKey: id) }
                if case .waiting(let continuation)? = slot { continuation.resume(throwing: error) }
                while (try? await group.next()) != nil {}
                throw error
            }
        }
    }

    /// Detaches both links.
    public func close() async throws {
        try? await sender.close()
        try await receiver.close()
        let task = readLoop.withLockedValue { $0 }
        await task?.value
    }
}
