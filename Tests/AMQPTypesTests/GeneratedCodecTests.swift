import AMQPCodec
import AMQPTypes
import Testing

func h(_ text: String) -> [UInt8] { HexEncoding.bytes(text)! }

/// What the generated code does at the edges: list forms, missing and extra fields, bad fields,
/// wrong descriptors, closed and open choice sets, multiple fields, both encoding policies.
@Suite struct GeneratedCodecTests {
    @Test func openEncodesExactlyUnderBothPolicies() {
        let open = Open(containerID: "c")
        // compact: only the mandatory field, list8.
        #expect(HexEncoding.string(AMQPEncoder.encode(open)) == "005310c00401a10163")
        // full: all ten fields, defaults written as values, no list0.
        #expect(HexEncoding.string(AMQPEncoder.encode(open, policy: .full)) == "005310c0130aa1016340" + "70ffffffff" + "60ffff" + "404040404040")
    }

    @Test func acceptsList0List8AndList32() throws {
        #expect(try AMQPDecoder.decode(Accepted.self, from: h("00532445")) == Accepted())
        #expect(try AMQPDecoder.decode(Accepted.self, from: h("005324c00100")) == Accepted())
        #expect(try AMQPDecoder.decode(Accepted.self, from: h("005324d00000000400000000")) == Accepted())
        let begin = Begin(nextOutgoingID: 1, incomingWindow: 2, outgoingWindow: 3)
        #expect(try AMQPDecoder.decode(Begin.self, from: h("005311d00000000b0000000440520152025203")) == begin)
    }

    @Test func missingTrailingFieldsTakeTheirDefaults() throws {
        let open = try AMQPDecoder.decode(Open.self, from: h("005310c00401a10163"))
        #expect(open.maxFrameSize == 4_294_967_295)
        #expect(open.channelMax == 65535)
        #expect(open.offeredCapabilities.isEmpty)
        #expect(open.properties == nil)
    }

    @Test func nullMeansTheDefault() throws {
        let attach = try AMQPDecoder.decode(Attach.self, from: h("005312c00805a1016e4341" + "4040"))
        #expect(attach.senderSettleMode == .mixed)
        #expect(attach.receiverSettleMode == .first)
        #expect(attach.role == .receiver)
    }

    @Test func extraTrailingFieldsOfALaterVersionAreSkipped() throws {
        #expect(try AMQPDecoder.decode(Accepted.self, from: h("005324c0050252015202")) == Accepted())
    }

    @Test func aBadFieldNamesTypeAndField() {
        // container-id as a uint
        #expect {
            _ = try AMQPDecoder.decode(Open.self, from: h("005310c003015201"))
        } throws: { error in
            let e = error as! AMQPDecodingError
            return e.kind == .invalidField && e.detail == "open.container-id" && e.rootCause.kind == .unexpectedType
        }
    }

    @Test func aMissingMandatoryFieldIsNamed() {
        #expect {
            _ = try AMQPDecoder.decode(Open.self, from: h("00531045"))
        } throws: { error in
            let e = error as! AMQPDecodingError
            return e.kind == .missingMandatoryField && e.detail == "open.container-id is mandatory"
        }
        #expect(throws: AMQPDecodingError.self) {
            _ = try AMQPDecoder.decode(SASLMechanisms.self, from: h("00534045"))
        }
    }

    @Test func aWrongDescriptorIsRejected() {
        #expect {
            _ = try AMQPDecoder.decode(Open.self, from: h("005311c00401a10163"))
        } throws: { error in
            (error as! AMQPDecodingError).kind == .unexpectedDescriptor
        }
    }

    @Test func aSymbolicDescriptorIsAccepted() throws {
        let bytes = h("00a30e616d71703a6f70656e3a6c697374c00401a10163")
        #expect(try AMQPDecoder.decode(Open.self, from: bytes) == Open(containerID: "c"))
        #expect(try AMQPDecoder.decode(Performative.self, from: bytes) == .open(Open(containerID: "c")))
    }

    @Test func closedChoiceSetsRejectUnknownValues() {
        // snd-settle-mode = 5
        #expect {
            _ = try AMQPDecoder.decode(Attach.self, from: h("005312c00804a1016e43415005"))
        } throws: { error in
            let e = error as! AMQPDecodingError
            return e.detail == "attach.snd-settle-mode" && e.rootCause.kind == .invalidValue
        }
        #expect(SASLCode(rawValue: 9) == nil)
        #expect(TerminusDurability(rawValue: 2) == .unsettledState)
    }

    @Test func openChoiceSetsKeepUnknownSymbols() throws {
        let busy = AMQPError(condition: ErrorCondition(rawValue: "com.microsoft:server-busy"), description: "slow down")
        #expect(busy.condition == .unknown("com.microsoft:server-busy"))
        let bytes = AMQPEncoder.encode(busy)
        #expect(try AMQPDecoder.decode(AMQPError.self, from: bytes) == busy)
        #expect(ErrorCondition(rawValue: "amqp:link:stolen") == .link(.stolen))
        #expect(ErrorCondition.amqp(.notFound).rawValue == "amqp:not-found")
        #expect(TerminusExpiryPolicy(rawValue: "whenever") == .unknown("whenever"))
    }

    @Test func multipleFieldsReadOneValueOrAnArray() throws {
        let one = try AMQPDecoder.decode(SASLMechanisms.self, from: h("005340c00801a305504c41494e"))
        let array = try AMQPDecoder.decode(SASLMechanisms.self, from: h("005340c00b01e00801a305504c41494e"))
        #expect(one.saslServerMechanisms == ["PLAIN"])
        #expect(array == one)
        #expect(HexEncoding.string(AMQPEncoder.encode(one)) == "005340c00801a305504c41494e")
        #expect(HexEncoding.string(AMQPEncoder.encode(one, policy: .full)) == "005340c00b01e00801a305504c41494e")
    }

    @Test func archetypesKeepUnknownDescribedValues() throws {
        let bytes = h("00800000468c00000063c00301a100")
        let state = try AMQPDecoder.decode(DeliveryState.self, from: bytes)
        #expect(state == .unknown(descriptor: .code(0x0000_468C_0000_0063), value: .list([.string("")])))
        #expect(AMQPEncoder.encode(state) == bytes)
        #expect(try AMQPDecoder.decode(DeliveryState.self, from: h("00532445")) == .accepted(Accepted()))
    }

    @Test func messageIDsAreToldApartByType() throws {
        #expect(try AMQPDecoder.decode(MessageID.self, from: h("5307")) == .ulong(7))
        #expect(try AMQPDecoder.decode(MessageID.self, from: h("a10161")) == .string("a"))
        #expect(try AMQPDecoder.decode(MessageID.self, from: h("5407")) == .unknown(.int(7)))
    }

    @Test func sequenceNumbersAreSerialNumbers() throws {
        let flow = Flow(nextIncomingID: SerialNumber(UInt32.max), incomingWindow: 1, nextOutgoingID: 0, outgoingWindow: 1)
        #expect(flow.nextIncomingID! < flow.nextOutgoingID)
    }

    @Test func theSelectorFilterDecodesFromEitherDescriptor() throws {
        let numeric = h("00800000468c00000004a10161")
        let symbolic = h("00a321617061636865" + "2e6f72673a73656c6563746f722d66696c7465723a737472696e67" + "a10161")
        #expect(try AMQPDecoder.decode(SelectorFilter.self, from: numeric) == SelectorFilter("a"))
        #expect(try AMQPDecoder.decode(Filter.self, from: symbolic) == .selectorFilter(SelectorFilter("a")))
    }

    @Test func registryLooksUpByCodeAndSymbol() {
        #expect(AMQPDescribedTypes.type(for: .code(0x10)) == Open.self)
        #expect(AMQPDescribedTypes.type(for: .symbol("amqp:sasl-init:list")) == SASLInit.self)
        #expect(AMQPDescribedTypes.type(for: .code(0xFFFF)) == nil)
        #expect(AMQPDefinitions.port == 5672)
        #expect(AMQPDefinitions.minMaxFrameSize == 512)
    }
}

@Suite struct SpecNameTests {
    @Test func performativesAndFieldsAsTheSpecSpellsThem() throws {
        let names = try #require(AMQPDescribedTypes.specNames(for: .code(0x10)))
        #expect(names.type == "open")
        #expect(names.fields.first == "container-id")
        #expect(names.fields.count == 10)
        #expect(AMQPDescribedTypes.specNames(for: .symbol("amqp:sasl-init:list"))?.fields == ["mechanism", "initial-response", "hostname"])
        #expect(AMQPDescribedTypes.specNames(for: .code(0x0000_468C_0000_0004))?.type == "selector-filter")
        #expect(AMQPDescribedTypes.specNames(for: .code(0x99)) == nil)
    }
}
