/// One fuzzed entry point: the bytes it reads and the oracle that judges what it did with them.
///
/// Each target has its own libFuzzer executable (`Fuzz/<name>/`) whose
/// `LLVMFuzzerTestOneInput` calls ``check(_:)``; the unit tests call the same function on the
/// committed regression inputs and the Proton corpora, so a finding replays identically in both.
public enum FuzzTarget: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Any AMQP value: decode → encode → decode is equal under both encoding policies.
    case value = "fuzz-value"
    /// A bare message (its sections): the same round trip.
    case message = "fuzz-message"
    /// A byte stream of protocol headers and frames; the round trip on every frame body that decodes.
    case frames = "fuzz-frames"
    /// One frame body through the generated descriptor dispatch (performatives, SASL, every
    /// described type of the registry).
    case performative = "fuzz-performative"
    /// Bytes from a client into a server-role ``ConnectionEngine``, with an application answering.
    case listener = "fuzz-listener"
    /// Bytes from a server into a client-role ``ConnectionEngine``, with an application answering.
    case client = "fuzz-client"
    /// Bytes as an AMQP type-definition XML file, through the generator's front end.
    case specXML = "fuzz-spec-xml"
    /// Bytes as JSON text: the exact parser, typed JSON values and messages in JSON.
    case json = "fuzz-json"

    /// The executable's name, which is also the name of its regression folder.
    public var description: String { rawValue }

    /// Runs one input; throws when an oracle does not hold. A trap inside the code under test is
    /// not caught: libFuzzer (or the test process) reports it.
    public func check(_ bytes: [UInt8]) throws(FuzzFinding) {
        switch self {
        case .value: try ValueOracle.checkValues(bytes)
        case .message: try ValueOracle.checkMessage(bytes[...])
        case .frames: try FrameStreamOracle.check(bytes)
        case .performative: try ValueOracle.checkFrameBody(bytes)
        case .listener: try EngineDriver.check(bytes, role: .server)
        case .client: try EngineDriver.check(bytes, role: .client)
        case .specXML: try SpecXMLOracle.check(bytes)
        case .json: try JSONOracle.check(bytes)
        }
    }
}

/// An oracle that did not hold: what was expected and what happened instead.
public struct FuzzFinding: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Throws a finding unless `condition` holds.
@inline(__always)
func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzFinding) {
    if !condition { throw FuzzFinding(message()) }
}
