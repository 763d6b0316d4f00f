import AMQPProtocol
import Foundation

/// Prints every frame a connection sends and receives as it runs, one line each, with the
/// performative's fields named as `amqp inspect` prints them: the live counterpart of a capture,
/// like Proton's `PN_TRACE_FRM`.
///
/// ```
/// [127.0.0.1:5672] -> AMQP 0-1.0.0
/// [127.0.0.1:5672] -> @0 open(container-id="swift-amqp-…", hostname="localhost", max-frame-size=1048576, …)
/// [127.0.0.1:5672] <- @0 open(container-id="broker", …)
/// [127.0.0.1:5672] -> @1 transfer(handle=0, delivery-id=0, delivery-tag=b"\x00", message-format=0) (payload: 1031 bytes)
/// ```
///
/// SASL responses (passwords, SCRAM proofs) are always shown by length only; message payloads too,
/// unless ``payloads`` is `FrameStreamDescriber.Payloads.sections` (they may hold application data
/// and, for a CBS `put-token`, a token). Setting `AMQP_TRACE_FRAMES=1` in the environment turns the
/// trace on for every connection and listener that keeps its default (``fromEnvironment``);
/// `AMQP_TRACE_FRAMES=payloads` also decodes the message sections.
public struct AMQPFrameTrace: Sendable {
    /// Whether message sections are decoded or shown by length.
    public var payloads: FrameStreamDescriber.Payloads
    /// Where each line goes: standard error by default.
    public var write: @Sendable (String) -> Void

    public init(payloads: FrameStreamDescriber.Payloads = .lengthOnly, write: @escaping @Sendable (String) -> Void = AMQPFrameTrace.writeToStandardError) {
        self.payloads = payloads
        self.write = write
    }

    /// The trace `AMQP_TRACE_FRAMES` asks for: `1`, `true` or `yes` for frames with payload
    /// lengths, `payloads` for message sections too; `nil` (no trace) when unset, empty, `0`,
    /// `false` or `no`.
    public static var fromEnvironment: AMQPFrameTrace? {
        parse(environmentValue: ProcessInfo.processInfo.environment["AMQP_TRACE_FRAMES"])
    }

    /// What ``fromEnvironment`` makes of a value of `AMQP_TRACE_FRAMES`.
    public static func parse(environmentValue value: String?) -> AMQPFrameTrace? {
        switch value?.lowercased() {
        case nil, "", "0", "false", "no", "off": return nil
        case "payloads", "sections": return AMQPFrameTrace(payloads: .sections)
        default: return AMQPFrameTrace()
        }
    }

    /// Writes one line to standard error, unbuffered, as Proton's trace does.
    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// The trace of one connection: a describer for each direction, since each is a stream of its own.
struct FrameTracer {
    let trace: AMQPFrameTrace
    var label: String
    private var received: FrameStreamDescriber
    private var sent: FrameStreamDescriber
    /// A direction whose bytes stopped making frames: traced no further (the engine reports the error).
    private var receivedFailed = false
    private var sentFailed = false

    init(_ trace: AMQPFrameTrace, label: String) {
        self.trace = trace
        self.label = label
        received = FrameStreamDescriber(payloads: trace.payloads, revealsSASLResponses: false)
        sent = FrameStreamDescriber(payloads: trace.payloads, revealsSASLResponses: false)
    }

    mutating func traceReceived(_ bytes: UnsafeRawBufferPointer) {
        guard !receivedFailed else { return }
        received.append(bytes)
        receivedFailed = !emit(&received, arrow: "<-")
    }

    mutating func traceSent(_ bytes: UnsafeRawBufferPointer) {
        guard !sentFailed else { return }
        sent.append(bytes)
        sentFailed = !emit(&sent, arrow: "->")
    }

    /// Writes every complete frame; false once the stream stops being AMQP.
    private func emit(_ describer: inout FrameStreamDescriber, arrow: String) -> Bool {
        do {
            while let description = try describer.next() {
                trace.write("[\(label)] \(arrow) \(description)")
            }
            return true
        } catch {
            trace.write("[\(label)] \(arrow) (not AMQP from here: \(error))")
            return false
        }
    }
}
