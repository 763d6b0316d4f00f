import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPTypes
import Testing

@testable import AMQPEventHubsEmulator
@testable import AMQPTransport

/// The service side of idempotent publishing, driven with raw AMQP: the attach answer, duplicates
/// dropped, gaps and stale epochs refused with the service's conditions.
@Suite("Emulator: idempotent producers", .timeLimit(.minutes(2)))
struct IdempotentEmulatorTests {
    func idempotentSender(_ connection: AMQPConnection, partition: Int = 0, state: IdempotentProducerState = .init()) async throws -> AMQPSender {
        try await connection.openSender(to: "eh1/Partitions/\(partition)", options: .init(
            settleMode: .unsettled, properties: state.properties, desiredCapabilities: [EventHubsNames.idempotentProducer]))
    }

    func numbered(_ text: String, _ state: IdempotentProducerState, _ sequence: Int32) -> Message {
        var message = event(text)
        var annotations = AMQPMap()
        state.annotate(&annotations, sequenceNumber: sequence)
        message.messageAnnotations = MessageAnnotations(annotations)
        return message
    }

    func batch(_ messages: [Message]) -> [UInt8] {
        EventBatchEnvelope.encode(messages.map { $0.encoded(policy: .full) }, partitionKey: nil)
    }

    func condition(_ outcome: DeliveryOutcome) -> String? {
        if case .rejected(let error) = outcome { return error?.condition.rawValue.stringValue }
        return nil
    }

    @Test("the attach is answered with a new producer id, epoch 0 and last sequence -1, and the capability")
    func attachAnswer() async throws {
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 2)]))
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let first = try await idempotentSender(connection)
        let second = try await idempotentSender(connection, partition: 1)
        #expect(first.peerAttach.offeredCapabilities.contains(EventHubsNames.idempotentProducer))
        let a = IdempotentProducerState(properties: first.peerAttach.properties)
        let b = IdempotentProducerState(properties: second.peerAttach.properties)
        #expect(a.epoch == 0 && a.lastSequenceNumber == -1)
        #expect(a.producerID != nil && b.producerID != nil && a.producerID != b.producerID)
        // Without the capability the attach carries no producer state.
        let plain = try await connection.openSender(to: "eh1/Partitions/0")
        #expect(plain.peerAttach.properties?[symbol: EventHubsNames.producerID] == nil)
        // Idempotence needs a partition.
        await #expect(throws: (any Error).self) {
            _ = try await connection.openSender(to: "eh1", options: .init(desiredCapabilities: [EventHubsNames.idempotentProducer]))
        }
        try await connection.close()
        try await emulator.stop()
    }

    @Test("a resent batch is accepted and not stored again; a gap is refused with out-of-order-sequence")
    func duplicatesAndGaps() async throws {
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)]))
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let sender = try await idempotentSender(connection)
        let state = IdempotentProducerState(properties: sender.peerAttach.properties)
        let firstBatch = batch((0..<10).map { numbered("e\($0)", state, Int32($0)) })
        #expect(try await sender.send(encoded: firstBatch, messageFormat: EventHubsNames.batchMessageFormat) == .accepted)
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 10)
        // The same batch again: accepted, not stored.
        #expect(try await sender.send(encoded: firstBatch, messageFormat: EventHubsNames.batchMessageFormat) == .accepted)
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 10)
        // Overlapping: 8...12 stores only 10...12.
        let overlap = batch((8...12).map { numbered("e\($0)", state, Int32($0)) })
        #expect(try await sender.send(encoded: overlap, messageFormat: EventHubsNames.batchMessageFormat) == .accepted)
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 13)
        // A gap (14 after 12) and a batch whose numbers do not follow each other are refused.
        #expect(condition(try await sender.send(numbered("gap", state, 14))) == "com.microsoft:out-of-order-sequence")
        let jumbled = batch([numbered("x", state, 13), numbered("y", state, 15)])
        #expect(condition(try await sender.send(encoded: jumbled, messageFormat: EventHubsNames.batchMessageFormat)) == "com.microsoft:out-of-order-sequence")
        #expect(condition(try await sender.send(event("unnumbered"))) == "com.microsoft:out-of-order-sequence")
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 13)
        #expect(try await sender.send(numbered("e13", state, 13)) == .accepted)
        // A new link naming the producer gets its stored state back.
        let again = try await idempotentSender(connection, state: IdempotentProducerState(producerID: state.producerID, epoch: state.epoch))
        #expect(IdempotentProducerState(properties: again.peerAttach.properties).lastSequenceNumber == 13)
        let receiver = try await connection.openReceiver(from: "eh1/ConsumerGroups/$default/Partitions/0", options: consumerOptions("eh1/ConsumerGroups/$default/Partitions/0"))
        var bodies: [String] = []
        for _ in 0..<14 { bodies.append(bodyText(try #require(try await receiver.receive()).message) ?? "") }
        #expect(bodies == (0...13).map { "e\($0)" })
        try await connection.close()
        try await emulator.stop()
    }

    @Test("a higher epoch takes the producer id over: the old epoch's sends and attaches are refused with producer-epoch-stolen")
    func staleEpoch() async throws {
        let emulator = try await EventHubsEmulator.start(EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 1)]))
        let connection = try await AMQPConnection.connect(plainOptions(emulator))
        let old = try await idempotentSender(connection)
        let oldState = IdempotentProducerState(properties: old.peerAttach.properties)
        #expect(try await old.send(numbered("a", oldState, 0)) == .accepted)
        let newer = try await idempotentSender(connection, state: IdempotentProducerState(producerID: oldState.producerID, epoch: 1, lastSequenceNumber: 99))
        let newState = IdempotentProducerState(properties: newer.peerAttach.properties)
        #expect(newState.producerID == oldState.producerID && newState.epoch == 1 && newState.lastSequenceNumber == 99)
        #expect(try await newer.send(numbered("b", newState, 100)) == .accepted)
        #expect(condition(try await old.send(numbered("c", oldState, 1))) == "com.microsoft:producer-epoch-stolen")
        await #expect(throws: (any Error).self) {
            _ = try await idempotentSender(connection, state: IdempotentProducerState(producerID: oldState.producerID, epoch: 0))
        }
        #expect(emulator.eventCount(hub: "eh1", partition: 0) == 2)
        try await connection.close()
        try await emulator.stop()
    }
}
