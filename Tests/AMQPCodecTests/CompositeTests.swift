import AMQPCodec
import Testing

/// A composite written the way generated code writes one, to pin down the typed path's rules
/// (§1.3 of the types specification and the "Composite Type Representation" rules).
struct SampleOpen: AMQPDescribedType, Hashable {
    static let descriptor = AMQPDescriptor(code: 0x10, symbol: "amqp:open:list")
    var containerID: String
    var hostname: String? = nil
    var maxFrameSize: UInt32 = 4_294_967_295
    var channelMax: UInt16 = 65535
    var offeredCapabilities: [Symbol] = []
    var properties: AMQPMap? = nil

    init(containerID: String, hostname: String? = nil, maxFrameSize: UInt32 = 4_294_967_295, channelMax: UInt16 = 65535,
         offeredCapabilities: [Symbol] = [], properties: AMQPMap? = nil) {
        self.containerID = containerID
        self.hostname = hostname
        self.maxFrameSize = maxFrameSize
        self.channelMax = channelMax
        self.offeredCapabilities = offeredCapabilities
        self.properties = properties
    }

    init(describedBodyFrom decoder: inout AMQPDecoder) throws(AMQPDecodingError) {
        var fields = try decoder.beginComposite("open")
        containerID = try decoder.decodeMandatoryField(String.self, &fields, "container-id")
        hostname = try decoder.decodeField(String.self, &fields, "hostname")
        maxFrameSize = try decoder.decodeField(UInt32.self, &fields, "max-frame-size") ?? 4_294_967_295
        channelMax = try decoder.decodeField(UInt16.self, &fields, "channel-max") ?? 65535
        offeredCapabilities = try decoder.decodeMultipleField(Symbol.self, &fields, "offered-capabilities") ?? []
        properties = try decoder.decodeField(AMQPMap.self, &fields, "properties")
        try decoder.endComposite(fields)
    }

    func encodeDescribedBody(to encoder: inout AMQPEncoder) {
        var fields = encoder.beginComposite()
        encoder.encodeField(containerID, &fields)
        encoder.encodeField(hostname, &fields)
        encoder.encodeField(maxFrameSize, default: 4_294_967_295, &fields)
        encoder.encodeField(channelMax, default: 65535, &fields)
        encoder.encodeField(multiple: offeredCapabilities.isEmpty ? nil : offeredCapabilities, &fields)
        encoder.encodeField(properties, &fields)
        encoder.endComposite(fields)
    }
}

@Suite("Composites: the typed path for described types")
struct CompositeTests {
    @Test("compact drops trailing nulls and defaults; full writes every field")
    func policies() {
        let open = SampleOpen(containerID: "c")
        #expect(HexEncoding.string(AMQPEncoder.encode(open)) == "005310" + "c00401a10163")
        // Every field present, max-frame-size and channel-max explicit, booleans irrelevant here.
        #expect(HexEncoding.string(AMQPEncoder.encode(open, policy: .full))
            == "005310" + "c00f06a10163" + "40" + "70ffffffff" + "60ffff" + "40" + "40")
    }

    @Test("a null between present fields stays; a value equal to its default becomes null")
    func interiorNulls() {
        let open = SampleOpen(containerID: "c", channelMax: 7)
        #expect(HexEncoding.string(AMQPEncoder.encode(open)) == "005310" + "c00904a10163" + "40" + "40" + "600007")
    }

    @Test("missing trailing fields take their defaults (list0, list8, list32 all accepted)")
    func defaults() throws {
        for body in ["c00401a10163", "d00000000700000001a10163"] {
            let open = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("005310" + body)!)
            #expect(open == SampleOpen(containerID: "c"))
            #expect(open.maxFrameSize == 4_294_967_295)
        }
    }

    @Test("a missing mandatory field is an error naming the type and field")
    func missingMandatory() {
        for body in ["45", "c00100", "c0020140"] {
            do {
                _ = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("005310" + body)!)
                Issue.record("decoded \(body)")
            } catch {
                #expect(error.kind == .missingMandatoryField, "\(error)")
                #expect(error.detail == "open.container-id is mandatory")
            }
        }
    }

    @Test("a field of the wrong type names the type and field")
    func wrongFieldType() {
        // max-frame-size given as a string
        do {
            _ = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("005310" + "c00703a10163" + "40" + "a100")!)
            Issue.record("decoded")
        } catch {
            #expect(error.kind == .invalidField)
            #expect(error.detail == "open.max-frame-size")
            #expect(error.rootCause.kind == .unexpectedType)
        }
    }

    @Test("the descriptor may be numeric or symbolic, and must be the right one")
    func descriptors() throws {
        let symbolic = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("00a30e616d71703a6f70656e3a6c697374" + "c00401a10163")!)
        #expect(symbolic.containerID == "c")
        let long = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("00800000000000000010" + "c00401a10163")!)
        #expect(long.containerID == "c")
        #expect(throws: AMQPDecodingError.self) {
            try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("005311" + "c00401a10163")!)
        }
    }

    @Test("multiple fields decode from a single value or an array (§1.4)")
    func multiple() throws {
        let single = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("005310" + "c00a05a10163" + "404040" + "a30161")!)
        #expect(single.offeredCapabilities == ["a"])
        let array = try AMQPDecoder.decode(SampleOpen.self, from: HexEncoding.bytes("005310" + "c00f05a10163" + "404040" + "e00602a301610162")!)
        #expect(array.offeredCapabilities == ["a", "b"])
        let open = SampleOpen(containerID: "c", offeredCapabilities: ["x", "y"])
        #expect(try AMQPDecoder.decode(SampleOpen.self, from: AMQPEncoder.encode(open)) == open)
        let one = SampleOpen(containerID: "c", offeredCapabilities: ["x"])
        #expect(try AMQPDecoder.decode(SampleOpen.self, from: AMQPEncoder.encode(one)) == one)
        #expect(try AMQPDecoder.decode(SampleOpen.self, from: AMQPEncoder.encode(one, policy: .full)) == one)
    }

    @Test("fields a later version added are skipped")
    func extraFields() throws {
        // seven fields: the known six and one unknown uint
        let bytes = HexEncoding.bytes("005310" + "c00b07a10163" + "4040404040" + "5207")!
        #expect(try AMQPDecoder.decode(SampleOpen.self, from: bytes) == SampleOpen(containerID: "c"))
    }

    @Test("round trip under both policies")
    func roundTrip() throws {
        let open = SampleOpen(containerID: "container", hostname: "h", maxFrameSize: 512, channelMax: 0,
                              offeredCapabilities: ["a", "b"], properties: [.symbol("k"): .long(1)])
        for policy in [EncodingPolicy.compact, .full] {
            #expect(try AMQPDecoder.decode(SampleOpen.self, from: AMQPEncoder.encode(open, policy: policy)) == open)
        }
    }
}
