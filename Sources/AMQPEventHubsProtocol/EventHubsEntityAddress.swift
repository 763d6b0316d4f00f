/// A link address in Event Hubs' vocabulary: what a client writes as a link's target or source,
/// and what an endpoint reads from an attach.
///
/// - `$cbs`, `$management`: the claims-based security and management nodes;
/// - `HUB`: a producer's target when the service picks the partition;
/// - `HUB/Partitions/ID`: a producer's target for one partition;
/// - `HUB/ConsumerGroups/CG/Partitions/ID`: a receiver's source.
///
/// Parsing is case-insensitive in the fixed words and accepts the full `amqps://host/…` URI that
/// Microsoft's Python SDK sends even to a development emulator. Partition ids are decimal
/// numbers, as Event Hubs numbers partitions `0` to `n-1`.
package enum EventHubsEntityAddress: Hashable, Sendable, CustomStringConvertible {
    /// `$cbs`.
    case cbs
    /// `$management`.
    case management
    /// `HUB`.
    case hub(String)
    /// `HUB/Partitions/ID`.
    case partition(hub: String, id: String)
    /// `HUB/ConsumerGroups/CG/Partitions/ID`.
    case consumer(hub: String, group: String, partition: String)

    /// Reads an address; `nil` when it is none of the forms above.
    package init?(_ raw: String) {
        var path = Substring(raw)
        if let scheme = path.range(of: "://") {
            path = path[scheme.upperBound...]
            guard let slash = path.firstIndex(of: "/") else { return nil }
            path = path[path.index(after: slash)...]
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        func isPartitionID(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
        switch parts.count {
        case 1:
            switch parts[0].lowercased() {
            case EventHubsNames.cbsNode: self = .cbs
            case EventHubsNames.managementNode: self = .management
            default: self = .hub(parts[0])
            }
        case 3 where parts[1].lowercased() == "partitions":
            guard isPartitionID(parts[2]) else { return nil }
            self = .partition(hub: parts[0], id: parts[2])
        case 5 where parts[1].lowercased() == "consumergroups" && parts[3].lowercased() == "partitions":
            guard isPartitionID(parts[4]) else { return nil }
            self = .consumer(hub: parts[0], group: parts[2], partition: parts[4])
        default:
            return nil
        }
    }

    /// The address as Microsoft's SDKs write it (`eh1/ConsumerGroups/$Default/Partitions/0`).
    package var description: String {
        switch self {
        case .cbs: return EventHubsNames.cbsNode
        case .management: return EventHubsNames.managementNode
        case .hub(let hub): return hub
        case .partition(let hub, let id): return "\(hub)/Partitions/\(id)"
        case .consumer(let hub, let group, let partition): return "\(hub)/ConsumerGroups/\(group)/Partitions/\(partition)"
        }
    }

    /// The path that token audiences are compared with: lower case, no scheme or host
    /// (``EventHubsAudience/path(of:)`` gives the same form for an audience).
    package var authorizationPath: String {
        switch self {
        case .cbs: return EventHubsNames.cbsNode
        case .management: return EventHubsNames.managementNode
        case .hub(let h): return h.lowercased()
        case .partition(let h, let id): return "\(h.lowercased())/partitions/\(id)"
        case .consumer(let h, let g, let p): return "\(h.lowercased())/consumergroups/\(g.lowercased())/partitions/\(p)"
        }
    }
}

/// Token audiences: the resource a CBS token or SAS signature is for.
///
/// `sb://HOST[:PORT]/HUB` for producers and management, `sb://HOST[:PORT]/HUB/consumergroups/CG`
/// for a consumer group's receivers. A token for an audience covers every address below it.
package enum EventHubsAudience {
    /// `sb://host[:port]/hub`. The port is written only when given (development emulators).
    package static func hub(namespace: String, port: Int?, hub: String) -> String {
        "sb://\(namespace)\(port.map { ":\($0)" } ?? "")/\(hub)"
    }

    /// `sb://host[:port]/hub/consumergroups/cg`, the group in lower case as the SDKs send it.
    package static func consumerGroup(hubAudience: String, consumerGroup: String) -> String {
        "\(hubAudience)/consumergroups/\(consumerGroup.lowercased())"
    }

    /// The path of an audience or a token's resource: `sb://host[:port]/hub/…` → `hub/…`, lower
    /// case, without surrounding slashes. The host is dropped: an endpoint cannot know which of
    /// its names a client used.
    package static func path(of audience: String) -> String {
        var path = Substring(audience)
        if let scheme = path.range(of: "://") {
            path = path[scheme.upperBound...]
            path = path.firstIndex(of: "/").map { path[path.index(after: $0)...] } ?? ""
        }
        while path.first == "/" { path = path.dropFirst() }
        while path.last == "/" { path = path.dropLast() }
        return path.lowercased()
    }

    /// Whether a grant for the audience path `granted` covers the address path `wanted`: the same
    /// path or one below it; an empty grant (the whole namespace) covers everything.
    package static func covers(_ granted: String, _ wanted: String) -> Bool {
        granted.isEmpty || wanted == granted || wanted.hasPrefix(granted + "/")
    }
}
