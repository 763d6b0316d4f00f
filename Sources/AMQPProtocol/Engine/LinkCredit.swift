import AMQPCodec
import AMQPTypes

/// How a receiving link grants credit (§2.6.7 leaves the policy to the receiver), chosen when the
/// link is attached or accepted.
public enum CreditMode: Sendable, Hashable {
    /// The application grants credit itself with ``ConnectionEngine/setCredit(_:drain:on:)``.
    case manual
    /// The engine keeps up to `window` deliveries granted, topping credit up once half of it is
    /// used, the way it replenishes session windows.
    ///
    /// - `heldUntilConsumed`: deliveries count against the window until the application says it
    ///   has taken them with ``ConnectionEngine/consumed(_:on:)`` (a client's prefetch buffer:
    ///   a slow consumer slows the sender). Without it a delivery frees its credit as it arrives
    ///   (a broker that stores each message at once).
    /// - `totalLimit`: never grant more than this many deliveries over the link's life (a
    ///   receiver that wants exactly N messages takes nothing more from the queue).
    case window(UInt32, heldUntilConsumed: Bool = false, totalLimit: UInt64? = nil)
}

extension ConnectionEngine {
    /// Receiver: the application has taken `count` of the link's deliveries (see
    /// ``CreditMode/window(_:heldUntilConsumed:totalLimit:)``); credit is topped up if due.
    /// Counts beyond what the link holds are ignored, and so is the call on a manual link.
    public mutating func consumed(_ count: Int, on id: LinkID) {
        guard count > 0, let (channel, handle) = linkLocations[id], sessions[channel]?.links[handle]?.isSender == false else { return }
        modifyLink(channel, handle) { $0.heldDeliveries -= min($0.heldDeliveries, UInt32(clamping: count)) }
        topUpCredit(channel, handle)
    }

    /// Grants the credit ``LinkState/creditTopUp`` says is due, if any.
    mutating func topUpCredit(_ channel: UInt16, _ local: Handle) {
        // Read in place: a copy of the link would be a copy of its session's entry too.
        guard let credit = modifyLink(channel, local, { $0.creditTopUp }) ?? nil else { return }
        grantCredit(credit, drain: false, channel, local)
    }

    /// Sets a receiving link's credit (not adds) and tells the sender.
    mutating func grantCredit(_ credit: UInt32, drain: Bool, _ channel: UInt16, _ local: Handle) {
        let granted = modifyLink(channel, local) { link -> Bool in
            // Deliveries the sender had on their way may still come on top of the new credit.
            link.largestGrant = max(link.largestGrant, credit)
            let carried = min(UInt64(link.creditBudget), 2 * UInt64(link.largestGrant))
            link.creditBudget = UInt32(clamping: UInt64(credit) + carried)
            link.credit = credit
            link.drain = drain
            return true
        }
        guard granted == true else { return }
        writeLinkFlow(channel, local)
    }
}

extension LinkState {
    /// The one credit top-up rule: a receiver in window mode whose credit (plus, when held until
    /// consumed, the deliveries the application has not taken) fell to half its window is granted
    /// the window again, less what is held and never past its total limit. Not while a drain is
    /// under way: the application asked for the credit back. `nil` when nothing is due.
    var creditTopUp: UInt32? {
        guard !isSender, phase == .attached, !drain,
              case .window(let window, let heldUntilConsumed, let totalLimit) = creditMode
        else { return nil }
        let held = heldUntilConsumed ? heldDeliveries : 0
        guard UInt64(credit) + UInt64(held) <= UInt64(window / 2) else { return nil }
        var due = window - min(window, held)
        if let totalLimit {
            let left = totalLimit - min(totalLimit, deliveriesReceived)
            due = UInt32(clamping: min(UInt64(due), left))
        }
        return due > credit ? due : nil
    }
}
