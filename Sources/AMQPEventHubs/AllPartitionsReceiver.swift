import AMQPProtocol
import NIOConcurrencyHelpers

/// Events of every partition of a hub, merged: one ``PartitionReceiver`` per partition runs
/// concurrently and feeds a bounded buffer, so a slow consumer slows every partition rather
/// than growing memory. Each receiver recovers from transient failures on its own; the first
/// failure none can recover from ends the sequence with its error, and ``close()`` ends it
/// cleanly. One task at a time may iterate.
public final class AllPartitionsReceiver: AsyncSequence, Sendable {
    /// Events of every partition, merged.
    public typealias Element = ReceivedEventData

    /// The receivers, one per partition.
    public let receivers: [PartitionReceiver]
    let channel: BoundedChannel<ReceivedEventData>
    private let pumps: NIOLockedValueBox<Task<Void, Never>?>

    init(receivers: [PartitionReceiver], bufferSize: Int) {
        self.receivers = receivers
        self.channel = BoundedChannel(capacity: bufferSize)
        self.pumps = NIOLockedValueBox(nil)
    }

    /// Starts the receivers, once, when the first event is asked for.
    private func start() {
        pumps.withLockedValue { pumps in
            guard pumps == nil else { return }
            let receivers = self.receivers
            let channel = self.channel
            pumps = Task {
                await withTaskGroup(of: Void.self) { group in
                    for receiver in receivers {
                        group.addTask {
                            do {
                                while true {
                                    let events = try await receiver.receive(upTo: channel.capacity)
                                    if events.isEmpty { return }
                                    for event in events {
                                        guard await channel.send(event) else { return }
                                    }
                                }
                            } catch {
                                channel.finish(throwing: FailureClassification.classify(error))
                            }
                        }
                    }
                }
                channel.finish(throwing: nil)
            }
        }
    }

    /// The next event from any partition; `nil` after ``close()``. Cancelling the waiting task
    /// closes every receiver.
    public func receive() async throws(EventHubsError) -> ReceivedEventData? {
        start()
        do {
            return try await withTaskCancellationHandler {
                try await channel.receive()
            } onCancel: {
                Task { await self.close() }
            }
        } catch {
            throw FailureClassification.classify(error)
        }
    }

    /// Up to `maximum` events from any partitions, in one call (waiting for the first); empty
    /// after ``close()``.
    public func receive(upTo maximum: Int) async throws(EventHubsError) -> [ReceivedEventData] {
        guard maximum > 0 else { throw EventHubsError(.invalidArgument, detail: "receive(upTo:) needs a positive maximum") }
        start()
        do {
            return try await withTaskCancellationHandler {
                try await channel.receive(upTo: maximum)
            } onCancel: {
                Task { await self.close() }
            }
        } catch {
            throw FailureClassification.classify(error)
        }
    }

    /// Closes every receiver; the sequence ends once the events already buffered are taken.
    public func close() async {
        for receiver in receivers { await receiver.close() }
        channel.finish(throwing: nil)
        let task = pumps.withLockedValue { $0 }
        await task?.value
    }

    /// Iterates ``AllPartitionsReceiver``'s events; one task at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let receiver: AllPartitionsReceiver
        /// The next event from any partition; `nil` once the receiver is closed.
        public mutating func next() async throws(EventHubsError) -> ReceivedEventData? {
            try await receiver.receive()
        }
    }

    /// Starts the partition receivers on first use.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(receiver: self) }
}

/// A bounded buffer between many producing tasks and one consuming task: `send` waits while
/// it is full, `receive` while it is empty. Finishing wakes everyone: senders learn to stop,
/// the receiver gets what is left, then the end (or the error).
final class BoundedChannel<Element: Sendable>: Sendable {
    private struct State {
        var buffer = FIFO<Element>()
        var receiver: CheckedContinuation<Element?, any Error>?
        var senders: [(Element, CheckedContinuation<Bool, Never>)] = []
        var finished = false
        var failure: EventHubsError?

        var count: Int { buffer.count }

        mutating func pop() -> Element? { buffer.removeFirst() }
    }

    private enum SendAction {
        case delivered(CheckedContinuation<Element?, any Error>), buffered, finished, wait
    }

    private enum ReceiveAction {
        case element(Element, CheckedContinuation<Bool, Never>?), end(EventHubsError?), wait, busy
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Hands `element` over, waiting for room; false once the channel is finished.
    func send(_ element: Element) async -> Bool {
        let action: SendAction = state.withLockedValue { state in
            if state.finished { return .finished }
            if let receiver = state.receiver {
                state.receiver = nil
                return .delivered(receiver)
            }
            if state.count < capacity {
                state.buffer.append(element)
                return .buffered
            }
            return .wait
        }
        switch action {
        case .delivered(let receiver):
            receiver.resume(returning: element)
            return true
        case .buffered:
            return true
        case .finished:
            return false
        case .wait:
            return await withCheckedContinuation { continuation in
                let finished = state.withLockedValue { state -> Bool in
                    if state.finished { return true }
                    state.senders.append((element, continuation))
                    return false
                }
                if finished { continuation.resume(returning: false) }
            }
        }
    }

    /// The next element; `nil` once finished and empty; throws the error it finished with.
    func receive() async throws -> Element? {
        try await withCheckedThrowingContinuation { continuation in
            let action: ReceiveAction = state.withLockedValue { state in
                if let element = state.pop() {
                    // Room now: the first waiting sender's element moves into the buffer.
                    if !state.senders.isEmpty {
                        let (waiting, sender) = state.senders.removeFirst()
                        state.buffer.append(waiting)
                        return .element(element, sender)
                    }
                    return .element(element, nil)
                }
                if !state.senders.isEmpty {
                    let (waiting, sender) = state.senders.removeFirst()
                    return .element(waiting, sender)
                }
                if state.finished {
                    let failure = state.failure
                    state.failure = nil
                    return .end(failure)
                }
                if state.receiver != nil { return .busy }
                state.receiver = continuation
                return .wait
            }
            switch action {
            case .element(let element, let sender):
                sender?.resume(returning: true)
                continuation.resume(returning: element)
            case .end(let failure):
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
            case .busy:
                continuation.resume(throwing: EventHubsError(.invalidArgument, detail: "one task at a time may receive"))
            case .wait:
                break
            }
        }
    }

    /// Up to `maximum` buffered elements at once; when none is buffered, the next one.
    func receive(upTo maximum: Int) async throws -> [Element] {
        let (batch, senders): ([Element], [CheckedContinuation<Bool, Never>]) = state.withLockedValue { state in
            var batch: [Element] = []
            while batch.count < maximum, let element = state.pop() { batch.append(element) }
            // Room now: waiting senders' elements move into the buffer.
            var resumed: [CheckedContinuation<Bool, Never>] = []
            while state.count < capacity, !state.senders.isEmpty {
                let (waiting, sender) = state.senders.removeFirst()
                state.buffer.append(waiting)
                resumed.append(sender)
            }
            return (batch, resumed)
        }
        for sender in senders { sender.resume(returning: true) }
        if !batch.isEmpty { return batch }
        return try await receive().map { [$0] } ?? []
    }

    /// Ends the channel: waiting senders are told to stop; the receiver gets the buffered
    /// elements, then `failure` (the first one given) or the end.
    func finish(throwing failure: EventHubsError?) {
        let (receiver, senders): (CheckedContinuation<Element?, any Error>?, [CheckedContinuation<Bool, Never>]) = state.withLockedValue { state in
            if !state.finished {
                state.finished = true
                state.failure = failure
            }
            let senders = state.senders.map(\.1)
            state.senders.removeAll()
            // Only an idle receiver (nothing buffered) is waiting.
            let receiver = state.receiver
            state.receiver = nil
            return (receiver, senders)
        }
        for sender in senders { sender.resume(returning: false) }
        if let receiver {
            let failure = state.withLockedValue { state -> EventHubsError? in
                defer { state.failure = nil }
                return state.failure
            }
            if let failure { receiver.resume(throwing: failure) } else { receiver.resume(returning: nil) }
        }
    }
}
