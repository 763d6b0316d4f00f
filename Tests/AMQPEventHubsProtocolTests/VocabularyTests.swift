import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTypes
import Testing

/// Event Hubs' wire vocabulary, as the client writes it and the emulator reads it: each shape
/// is written by one side's code and read by the other's, so a round trip here is the contract.
@Suite("Event Hubs wire vocabulary")
struct VocabularyTests {
    @Test("link addresses: every form, full amqps:// URIs, case-insensitive words, decimal partition ids")
    func addresses() {
        #expect(EventHubsEntityAddress("amqps://localhost:5671/eh1/Partitions/3") == .partition(hub: "eh1", id: "3"))
        #expect(EventHubsEntityAddress("eh1/consumergroups/$default/partitions/0") == .consumer(hub: "eh1", group: "$default", partition: "0"))
        #expect(EventHubsEntityAddress("$cbs") == .cbs)
        #expect(EventHubsEntityAddress("$Management") == .management)
        #expect(EventHubsEntityAddress("eh1") == .hub("eh1"))
        #expect(EventHubsEntityAddress("eh1/Partitions/x") == nil)
        #expect(EventHubsEntityAddress("eh1/Partitions/") == nil)
        #expect(EventHubsEntityAddress("eh1/ConsumerGroups/cg/Partitions/-1") == nil)
        #expect(EventHubsEntityAddress("amqps://host-without-path") == nil)
        #expect(EventHubsEntityAddress("eh1/Topics/3") == nil)
        // What the client writes reads back as the same address.
        for address in [EventHubsEntityAddress.cbs, .management, .hub("eh1"), .partition(hub: "eh1", id: "12"),
                        .consumer(hub: "eh1", group: "$Default", partition: "7")] {
            #expect(EventHubsEntityAddress(address.description) == address, "\(address)")
        }
        #expect(EventHubsEntityAddress.consumer(hub: "EH1", group: "$Default", partition: "7").authorizationPath == "eh1/consumergroups/$default/partitions/7")
    }

    @Test("audiences: written with the port only when given, compared by lower-case path, grants cover what is below them")
    func audiences() {
        let hub = EventHubsAudience.hub(namespace: "myns.servicebus.windows.net", port: nil, hub: "eh1")
        #expect(hub == "sb://myns.servicebus.windows.net/eh1")
        #expect(EventHubsAudience.hub(namespace: "localhost", port: 5672, hub: "eh1") == "sb://localhost:5672/eh1")
        let group = EventHubsAudience.consumerGroup(hubAudience: hub, consumerGroup: "$Default")
        #expect(group == "sb://myns.servicebus.windows.net/eh1/consumergroups/$default")
        #expect(EventHubsAudience.path(of: "sb://myns.servicebus.windows.net/eh1/ConsumerGroups/$Default") == "eh1/consumergroups/$default")
        #expect(EventHubsAudience.path(of: "sb://host:5672/") == "")
        #expect(EventHubsAudience.path(of: "eh1/") == "eh1")
        let consumer = EventHubsEntityAddress.consumer(hub: "eh1", group: "$Default", partition: "0").authorizationPath
        #expect(EventHubsAudience.covers(EventHubsAudience.path(of: group), consumer))
        #expect(EventHubsAudience.covers(EventHubsAudience.path(of: hub), consumer))
        #expect(EventHubsAudience.covers("", consumer))
        #expect(!EventHubsAudience.covers("eh", consumer), "a prefix of a name is not a parent")
        #expect(!EventHubsAudience.covers("eh1/consumergroups/cg1", consumer))
    }

    @Test("positions: the selector filter with either descriptor, none, or one that cannot be read")
    func positionFilters() throws {
        for position in [EventPosition.earliest, .latest, .offset("42"), .sequenceNumber(7, inclusive: true), .enqueuedTime(1_700_000_000_000)] {
            #expect(try EventPosition(sourceFilter: AMQPMap([position.filterEntry])) == position)
            // Go writes the numeric descriptor (0x0000468C00000004).
            let numeric = AMQPMap.Entry(key: .symbol(EventHubsNames.selectorFilter),
                                        value: .described(descriptor: .ulong(EventHubsNames.selectorFilterCode), value: .string(position.selectorExpression)))
            #expect(try EventPosition(sourceFilter: AMQPMap([numeric])) == position)
        }
        #expect(try EventPosition(sourceFilter: AMQPMap()) == nil)
        let other = AMQPMap.Entry(key: .symbol("x-other"), value: .described(descriptor: .symbol("x-other"), value: .string("a = 1")))
        #expect(try EventPosition(sourceFilter: AMQPMap([other])) == nil)
        let bad = AMQPMap.Entry(key: .symbol(EventHubsNames.selectorFilter),
                                value: .described(descriptor: .symbol(EventHubsNames.selectorFilter), value: .string("amqp.annotation.x-opt-offset < '5'")))
        #expect(throws: EventPosition.UnreadableSelector.self) { try EventPosition(sourceFilter: AMQPMap([bad])) }
    }

    @Test("batch envelope: format 0x80013700, the key once for all, one data section per event; a plain message is one event")
    func batchEnvelope() throws {
        let events = (0..<3).map { Message(body: .value(AMQPValueSection(.string("event \($0)")))).encoded(policy: .full) }
        let envelope = EventBatchEnvelope.encode(events, partitionKey: "device-7")
        let expectedSize = EventBatchEnvelope.header(partitionKey: "device-7").count + events.reduce(0) { $0 + EventBatchEnvelope.dataSectionSize($1.count) }
        #expect(envelope.count == expectedSize)
        let (read, key) = try EventBatchEnvelope.events(in: envelope[...], messageFormat: 0x8001_3700)
        #expect(key == "device-7")
        #expect(read.map(\.message) == events)
        #expect(read.allSatisfy { $0.partitionKey == "device-7" })

        // Without an envelope key, each event keeps its own.
        var keyed = Message(body: .value(AMQPValueSection(.string("keyed"))))
        keyed.messageAnnotations = MessageAnnotations([.symbol(EventHubsNames.partitionKey): .string("own")])
        let mixed = EventBatchEnvelope.encode([keyed.encoded(policy: .full), events[0]], partitionKey: nil)
        #expect(try EventBatchEnvelope.events(in: mixed[...], messageFormat: EventBatchEnvelope.messageFormat).events.map(\.partitionKey) == ["own", nil])

        // Format 0: the message is the event.
        let single = try EventBatchEnvelope.events(in: keyed.encoded(policy: .full)[...], messageFormat: 0)
        #expect(single.events.count == 1 && single.partitionKey == "own")

        // Sizes: vbin8 up to 255 bytes, vbin32 above.
        #expect(EventBatchEnvelope.dataSectionSize(255) == 3 + 2 + 255)
        #expect(EventBatchEnvelope.dataSectionSize(256) == 3 + 5 + 256)

        // A batch whose body is not data sections, or whose section is not a message, is refused.
        let notData = Message(body: .value(AMQPValueSection(.string("x")))).encoded(policy: .full)
        #expect(throws: AMQPDecodingError.self) { try EventBatchEnvelope.events(in: notData[...], messageFormat: EventBatchEnvelope.messageFormat) }
        let garbage = EventBatchEnvelope.encode([[0xFF, 0x00]], partitionKey: nil)
        #expect(throws: AMQPDecodingError.self) { try EventBatchEnvelope.events(in: garbage[...], messageFormat: EventBatchEnvelope.messageFormat) }
    }

    @Test("$cbs put-token: what the client writes the endpoint reads; what is missing is a 400")
    func putToken() throws {
        let request = CBSPutTokenRequest(token: "SharedAccessSignature sr=a&sig=b&se=1&skn=c", tokenType: EventHubsNames.sasTokenType,
                                         audience: "sb://localhost/eh1", expiration: Timestamp(millisecondsSince1970: 1_000))
        let message = request.message
        guard case .uuid? = message.properties?.messageID else { Issue.record("the message id is not a uuid"); return }
        #expect(message.properties?.replyTo == nil)
        #expect(try CBSPutTokenRequest(Message(decoding: message.encoded(policy: .full))) == request)

        var untyped = message
        untyped.applicationProperties = ApplicationProperties([
            .string(EventHubsNames.operation): .string(EventHubsNames.putToken), .string(EventHubsNames.name): .string("sb://h/eh1"),
        ])
        #expect(try CBSPutTokenRequest(untyped).tokenType == EventHubsNames.sasTokenType)
        var wrongOperation = message
        wrongOperation.applicationProperties = ApplicationProperties([.string(EventHubsNames.operation): .string("delete-token")])
        #expect(throws: ManagementRequestError(description: "unsupported operation delete-token")) { try CBSPutTokenRequest(wrongOperation) }
        var noToken = message
        noToken.body = .data([])
        #expect(throws: ManagementRequestError.self) { try CBSPutTokenRequest(noToken) }
    }

    @Test("$management READ: no body, keys as strings or symbols; replies carry the status and correlate by message id")
    func management() throws {
        let request = ManagementReadRequest(entityType: EventHubsNames.partitionEntityType, hub: "eh1", partition: "2", securityToken: "token")
        let message = request.message
        guard case .data(let sections) = message.body, sections.isEmpty else { Issue.record("a READ has a body"); return }
        #expect(try ManagementReadRequest(Message(decoding: message.encoded(policy: .full))) == request)
        var symbolKeys = Message(body: .data([]))
        symbolKeys.applicationProperties = ApplicationProperties([
            .symbol("operation"): .symbol("READ"), .symbol("name"): .string("eh1"), .symbol("type"): .string(EventHubsNames.eventHubEntityType),
        ])
        #expect(try ManagementReadRequest(symbolKeys) == ManagementReadRequest(entityType: EventHubsNames.eventHubEntityType, hub: "eh1"))
        #expect(throws: ManagementRequestError.self) { try ManagementReadRequest(Message(body: .data([]))) }

        var asked = message
        asked.properties = Properties(messageID: .ulong(77))
        let reply = ManagementStatus(code: 404, description: "no such partition").reply(to: asked)
        #expect(reply.properties?.correlationID == .ulong(77))
        let status = try #require(ManagementStatus(reply: try Message(decoding: reply.encoded(policy: .full))))
        #expect(status == ManagementStatus(code: 404, description: "no such partition") && !status.isSuccess)
        #expect(ManagementStatus(code: 202, description: "Accepted").isSuccess)
        #expect(ManagementStatus(reply: Message(body: .data([]))) == nil)
    }

    @Test("hub and partition descriptions: the emulator's bodies read back; the partition's offset is a string")
    func descriptions() throws {
        let hub = EventHubDescription(name: "eh1", createdAt: Timestamp(millisecondsSince1970: 5), partitionIDs: ["0", "1", "2"])
        #expect(try EventHubDescription(hub.map) == hub)
        #expect(hub.map[.string(EventHubsNames.partitionCount)] == .int(3))
        let partition = PartitionDescription(hub: "eh1", partition: "1", beginSequenceNumber: 0, lastEnqueuedSequenceNumber: 9,
                                             lastEnqueuedOffset: "4096", lastEnqueuedTime: Timestamp(millisecondsSince1970: 7), isEmpty: false)
        #expect(try PartitionDescription(partition.map) == partition)
        #expect(partition.map[.string(EventHubsNames.lastEnqueuedOffsetKey)] == .string("4096"))
        var numericOffset = partition.map
        numericOffset[.string(EventHubsNames.lastEnqueuedOffsetKey)] = .long(4096)
        numericOffset[.string(EventHubsNames.beginSequenceNumber)] = .int(0)
        #expect(try PartitionDescription(numericOffset) == partition)
        var missing = partition.map
        missing[.string(EventHubsNames.isPartitionEmpty)] = nil
        #expect(throws: ManagementReplyError(key: EventHubsNames.isPartitionEmpty)) { try PartitionDescription(missing) }
    }

    @Test("SAS: Microsoft's test vector, parsing back, constant-time check, redacted description")
    func sharedAccessSignature() throws {
        let signature = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: "RootManageSharedAccessKey", key: "SAS_KEY_VALUE", expiry: 1_795_583_819)
        #expect(signature.token == "SharedAccessSignature sr=sb%3A%2F%2Flocalhost%2Feh1&sig=s%2FCyEpxIZHNvqc8ZsqeOmDB5FQqsdiuaRxa6bahd1BU%3D&se=1795583819&skn=RootManageSharedAccessKey")
        let parsed = try #require(SharedAccessSignature(parsing: signature.token))
        #expect(parsed == signature && parsed.isSigned(withKey: "SAS_KEY_VALUE") && !parsed.isSigned(withKey: "other"))
        #expect(!"\(signature)".contains(signature.signature))
        #expect(SharedAccessSignature(parsing: "SharedAccessSignature sr=a&se=1&skn=c") == nil)
    }
}
