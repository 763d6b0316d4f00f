import AMQPProtocol
import AMQPTypes
import Logging

extension ConnectionEvent {
    /// A one-line description for logs: names and conditions, never payloads or credentials.
    var logSummary: String {
        switch self {
        case .startTLS: return "starting in-band TLS"
        case .authenticated(let identity, let mechanism): return "authenticated \(identity) with \(mechanism)"
        case .opened(let open): return "opened by \(open.containerID)"
        case .sessionBegun(let id, _): return "\(id) begun"
        case .linkAttachRequested(_, let id, let attach): return "\(id) attach requested: \(attach.name) (\(attach.role))"
        case .linkAttached(let id, let attach): return "\(id) attached: \(attach.name)"
        case .linkRefused(let id, let error):
            return "\(id) refused\(error.map { ": \($0.condition.rawValue)\($0.description.map { " \($0)" } ?? "")" } ?? "")"
        case .creditGranted(let id, let credit, let drain): return "\(id) credit \(credit)\(drain ? " drain" : "")"
        case .delivery(let id, let d): return "\(id) delivery \(d.deliveryID) (\(d.payload.count) bytes)"
        case .deliveryAborted(let id, let n): return "\(id) delivery \(n) aborted"
        case .outcome(let id, let d, let state, let settled): return "\(id) \(d) outcome \(state.map { "\($0)" } ?? "none")\(settled ? " settled" : "")"
        case .settledByPeer(let id, let n): return "\(id) delivery \(n) settled by peer"
        case .drained(let id): return "\(id) drained"
        case .linkDetached(let id, let error, let closed, let byPeer):
            return "\(id) \(closed ? "closed" : "detached")\(byPeer ? " by peer" : "")\(error.map { ": \($0.condition.rawValue)\($0.description.map { " \($0)" } ?? "")" } ?? "")"
        case .sessionEnded(let id, let error, let byPeer):
            return "\(id) ended\(byPeer ? " by peer" : "")\(error.map { ": \($0.condition.rawValue)\($0.description.map { " \($0)" } ?? "")" } ?? "")"
        case .closed(let error, let byPeer):
            return "closed\(byPeer ? " by peer" : "")\(error.map { ": \($0.condition.rawValue)\($0.description.map { " \($0)" } ?? "")" } ?? "")"
        case .failed(let failure): return "failed: \(failure)"
        }
    }

    /// How loud the event is: failures and errors at notice, routine traffic at trace.
    var logLevel: Logger.Level {
        switch self {
        case .failed: return .notice
        case .closed(let error, _), .sessionEnded(_, let error, _), .linkDetached(_, let error, _, _), .linkRefused(_, let error):
            return error == nil ? .debug : .notice
        case .delivery, .outcome, .creditGranted, .settledByPeer, .drained, .deliveryAborted: return .trace
        default: return .debug
        }
    }
}
