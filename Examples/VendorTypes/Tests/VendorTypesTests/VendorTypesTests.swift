import AMQPCodec
import AMQPTypes
import Testing
import VendorTypes

let policies: [EncodingPolicy] = [.compact, .full]

@Test(arguments: policies)
func aVendorCompositeUsesTheCoreTypesAndRoundTrips(policy: EncodingPolicy) throws {
    let report = LinkReport(
        linkName: "orders", role: .receiver, severity: .critical,
        error: AMQPError(condition: .amqp(.resourceLimitExceeded), description: "queue full"),
        properties: [.symbol("region"): .string("eu")],
        lastState: .accepted(Accepted()), quietFor: 5_000)
    let bytes = AMQPEncoder.encode(report, policy: policy)
    #expect(try AMQPDecoder.decode(LinkReport.self, from: bytes) == report)
    // A described list with the vendor's descriptor, whichever policy wrote it.
    guard case .described(let descriptor, .list(let fields)) = try AMQPDecoder.decode(AMQPValue.self, from: bytes) else {
        Issue.record("not a described list")
        return
    }
    #expect(descriptor == .ulong(0x0000F00D_00000001))
    #expect(fields.count == 7)
}

@Test(arguments: policies)
func defaultsAreOmittedOnlyUnderCompact(policy: EncodingPolicy) throws {
    let report = LinkReport(linkName: "l", role: .sender)
    #expect(report.severity == .warning)
    let bytes = AMQPEncoder.encode(report, policy: policy)
    #expect(try AMQPDecoder.decode(LinkReport.self, from: bytes) == report)
    guard case .described(_, .list(let fields)) = try AMQPDecoder.decode(AMQPValue.self, from: bytes) else {
        Issue.record("not a described list")
        return
    }
    #expect(fields.count == (policy == .full ? 7 : 2))
}

@Test(arguments: policies)
func aCustomOutcomeTravelsWhereTheCoreAcceptsAnOutcome(policy: EncodingPolicy) throws {
    let deferred = Deferred(retryAfter: 30_000, reason: AMQPError(condition: .amqp(.resourceLocked)))
    // AMQPTypes' DeliveryState does not know the vendor's outcome: it keeps it as a described
    // value, which encodes back unchanged.
    let bytes = AMQPEncoder.encode(deferred, policy: policy)
    let state = try AMQPDecoder.decode(DeliveryState.self, from: bytes)
    guard case .unknown(let descriptor, _) = state else {
        Issue.record("expected the vendor outcome as unknown, got \(state)")
        return
    }
    #expect(descriptor.matches(Deferred.descriptor))
    #expect(AMQPEncoder.encode(state, policy: policy) == bytes)
    #expect(try AMQPDecoder.decode(Deferred.self, from: AMQPEncoder.encode(state, policy: policy)) == deferred)
    // The generated conversions: into the core's enums, and back.
    #expect(try state.deferred() == deferred)
    #expect(try DeliveryState.accepted(Accepted()).deferred() == nil)
    #expect(AMQPEncoder.encode(Outcome(deferred)) == AMQPEncoder.encode(deferred))
    #expect(try Outcome(deferred).deferred() == deferred)
    // In a disposition, as a peer sends it.
    let disposition = Disposition(role: .receiver, first: 7, settled: true, state: state)
    let frameBody = AMQPEncoder.encode(disposition, policy: policy)
    #expect(try AMQPDecoder.decode(Disposition.self, from: frameBody) == disposition)
}

@Test func theRegistryListsOnlyTheVendorsTypes() {
    #expect(VendorTypesDescribedTypes.all.count == 2)
    #expect(VendorTypesDescribedTypes.type(for: .symbol("example.com:deferred:list")) == Deferred.self)
    // The registry composes the core's: one lookup for both.
    #expect(VendorTypesDescribedTypes.type(for: .code(Accepted.descriptor.code)) == Accepted.self)
    #expect(VendorTypesDescribedTypes.specNames(for: .code(Deferred.descriptor.code))?.type == "deferred")
    #expect(VendorTypesDescribedTypes.specNames(for: .code(Accepted.descriptor.code))?.type == "accepted")
    #expect(AMQPDescribedTypes.type(for: .code(Accepted.descriptor.code)) == Accepted.self)
    #expect(AMQPDefinitions.maxDeferrals == 3)
    #expect(AMQPDefinitions.port == 5672)
}

@Test func handWrittenCodeBesideTheGeneratedTypes() {
    let report = LinkReport(linkName: "orders", role: .receiver, error: AMQPError(condition: .amqp(.resourceLimitExceeded)))
    #expect(report.summary == "orders (receiver): amqp:resource-limit-exceeded")
    #expect(LinkReport(linkName: "audit", role: .sender).summary == "audit (sender): ok")
}
