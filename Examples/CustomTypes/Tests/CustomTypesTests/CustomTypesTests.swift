import AMQPCodec
import CustomTypes
import Testing

@Test func generatedTypesRoundTrip() throws {
    // snippet: plugin generated types
    let reading = Reading(sensorID: "t1", value: -40, unit: .pascal, tags: ["roof"])
    let bytes = AMQPEncoder.encode(Telemetry.reading(reading))
    #expect(try AMQPDecoder.decode(Telemetry.self, from: bytes) == .reading(reading))
    // snippet end
    #expect(reading.description == "t1=-40 example.com:pascal")
    #expect(AMQPDefinitions.defaultIntervalSeconds == 30)
    #expect(AMQPDescribedTypes.type(for: .symbol("example.com:heartbeat:list")) == Heartbeat.self)
}
