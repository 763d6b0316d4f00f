import AMQPEventHubsProtocol
import AMQPTypes
import Foundation
import NIOSSL

/// What an ``EventHubsEmulator`` serves and how.
public struct EmulatorConfiguration: Sendable {
    /// One event hub.
    public struct Hub: Sendable, Hashable {
        /// The event hub's name: not empty, no `/`, unique ignoring case.
        public var name: String
        /// The number of partitions, 1...1024; they are named `0`, `1`, ….
        public var partitionCount: Int
        /// Consumer groups besides `$Default`, which every hub has.
        public var consumerGroups: [String]

        /// A hub with `partitionCount` partitions and `$Default` plus `consumerGroups`.
        public init(name: String, partitionCount: Int, consumerGroups: [String] = []) {
            self.name = name
            self.partitionCount = partitionCount
            self.consumerGroups = consumerGroups
        }

        /// Every consumer group, `$Default` first.
        public var allConsumerGroups: [String] {
            [EventHubsNames.defaultConsumerGroup] + consumerGroups.filter { $0.lowercased() != EventHubsNames.defaultConsumerGroup.lowercased() }
        }
    }

    /// When a published event counts as written.
    public enum SyncPolicy: String, Sendable, Hashable, CaseIterable {
        /// `fsync` before accepting each publish: an accepted event survives power loss.
        case always
        /// `write` before accepting, the OS flushes later: an accepted event survives the
        /// emulator's crash or `kill -9`, not the machine's.
        case never
    }

    /// The address the AMQP listener binds to; `127.0.0.1` by default.
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    /// The event hubs served; at least one.
    public var hubs: [Hub]
    /// SAS key name → key. Microsoft's emulator's defaults unless a configuration names others.
    public var keys: [String: String]
    /// Whether CBS accepts `jwt` tokens (which the emulator cannot verify) for any audience, and
    /// the Blob endpoint bearer tokens.
    public var acceptsJWT: Bool
    /// Issuers whose JSON Web Tokens CBS accepts after checking their signature and claims; when
    /// any is given, an unverified JWT is refused even with ``acceptsJWT``.
    public var jwtIssuers: [JWTIssuer]
    /// The largest event accepted, advertised on producer links (1 MiB like Azure).
    public var maxMessageSize: UInt64
    /// Events older than this are dropped.
    public var retentionSeconds: Int64
    /// A partition keeps at most this many bytes of events, dropping the oldest.
    public var retentionBytesPerPartition: Int64
    /// Where partitions are persisted; `nil` keeps them in memory only.
    public var dataDirectory: String?
    /// When a publish to a persisted partition is accepted; ``SyncPolicy/always`` by default.
    public var syncPolicy: SyncPolicy
    /// Direct TLS on the AMQP port.
    public var tls: TLSConfiguration?
    /// The port of `GET /health` (0 picks one; `nil` serves none).
    public var healthPort: Int?
    /// The port of the Blob endpoint that checkpoint stores use (0 picks one; `nil` serves none):
    /// the development account `devstoreaccount1` with Azurite's key, persisted under
    /// ``dataDirectory`` when there is one.
    public var blobPort: Int?
    /// The container id of the emulator's `open`.
    public var containerID: String
    /// **For tests of clients only**: called for every publish (one delivery on a producer link)
    /// with the hub's name; an error it returns rejects that publish instead of storing it, as
    /// a busy or failing service would (`com.microsoft:server-busy`, `amqp:internal-error`). Keep
    /// it `nil` — the default — everywhere else.
    public var publishFault: (@Sendable (_ hub: String) -> AMQPError?)?

    /// The SAS key name Microsoft's emulator accepts by default.
    public static let defaultKeyName = "RootManageSharedAccessKey"
    /// The SAS key value Microsoft's emulator accepts by default: public, for local use only.
    public static let defaultKey = "SAS_KEY_VALUE"

    /// Defaults: `127.0.0.1:5672`, one hub `eh1` with 4 partitions, Microsoft's default SAS key, 1 MiB
    /// messages, one hour and 1 GiB per partition of retention, in memory, no TLS, no health port.
    public init(
        host: String = "127.0.0.1", port: Int = 5672,
        hubs: [Hub] = [Hub(name: "eh1", partitionCount: 4)],
        keys: [String: String] = [EmulatorConfiguration.defaultKeyName: EmulatorConfiguration.defaultKey]
    ) {
        self.host = host
        self.port = port
        self.hubs = hubs
        self.keys = keys
        self.acceptsJWT = false
        self.jwtIssuers = []
        self.maxMessageSize = 1 << 20
        self.retentionSeconds = 3600
        self.retentionBytesPerPartition = 1 << 30
        self.dataDirectory = nil
        self.syncPolicy = .always
        self.tls = nil
        self.healthPort = nil
        self.blobPort = nil
        self.containerID = "swift-amqp-eventhubs-emulator"
        self.publishFault = nil
    }

    /// A configuration error, naming the field.
    public struct Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong, naming the field.
        public var message: String
        /// The message.
        public var description: String { message }
    }

    /// Checks names, counts and duplicates.
    public func validate() throws(Invalid) {
        guard !hubs.isEmpty else { throw Invalid(message: "at least one event hub is needed") }
        var seen = Set<String>()
        for hub in hubs {
            guard !hub.name.isEmpty, !hub.name.contains("/") else { throw Invalid(message: "event hub name \"\(hub.name)\" is not valid") }
            guard seen.insert(hub.name.lowercased()).inserted else { throw Invalid(message: "event hub \(hub.name) is defined twice") }
            guard (1...1024).contains(hub.partitionCount) else {
                throw Invalid(message: "event hub \(hub.name): PartitionCount must be 1...1024, not \(hub.partitionCount)")
            }
            var groups = Set<String>()
            for group in hub.allConsumerGroups {
                guard !group.isEmpty, !group.contains("/") else { throw Invalid(message: "event hub \(hub.name): consumer group \"\(group)\" is not valid") }
                guard groups.insert(group.lowercased()).inserted else { throw Invalid(message: "event hub \(hub.name): consumer group \(group) is defined twice") }
            }
        }
        guard !keys.isEmpty else { throw Invalid(message: "at least one SAS key is needed") }
        guard maxMessageSize >= 1024 else { throw Invalid(message: "max message size must be at least 1024 bytes") }
    }

    /// Reads the event hubs (and SAS keys, if any) from a file shaped like Microsoft's emulator
    /// `Config.json`: `UserConfig.NamespaceConfig[].Entities[]` with `Name`, `PartitionCount`
    /// (number or string) and `ConsumerGroups[].Name`; optionally `SharedAccessKeys[]` with `Name`
    /// and `Key` beside `Entities`.
    public mutating func load(microsoftConfig data: Data) throws(Invalid) {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw Invalid(message: "configuration is not JSON: \(error.localizedDescription)")
        }
        guard let user = (root as? [String: Any])?["UserConfig"] as? [String: Any],
              let namespaces = user["NamespaceConfig"] as? [[String: Any]], !namespaces.isEmpty
        else {
            throw Invalid(message: "configuration needs UserConfig.NamespaceConfig[]")
        }
        var hubs: [Hub] = []
        var keys: [String: String] = [:]
        for (n, namespace) in namespaces.enumerated() {
            guard let entities = namespace["Entities"] as? [[String: Any]] else {
                throw Invalid(message: "UserConfig.NamespaceConfig[\(n)].Entities is missing")
            }
            for (e, entity) in entities.enumerated() {
                let path = "UserConfig.NamespaceConfig[\(n)].Entities[\(e)]"
                guard let name = entity["Name"] as? String else { throw Invalid(message: "\(path).Name is missing") }
                let count: Int
                if let number = entity["PartitionCount"] as? Int {
                    count = number
                } else if let text = entity["PartitionCount"] as? String, let number = Int(text) {
                    count = number
                } else {
                    throw Invalid(message: "\(path).PartitionCount must be a number")
                }
                var groups: [String] = []
                for (g, group) in ((entity["ConsumerGroups"] as? [[String: Any]]) ?? []).enumerated() {
                    guard let groupName = group["Name"] as? String else { throw Invalid(message: "\(path).ConsumerGroups[\(g)].Name is missing") }
                    groups.append(groupName)
                }
                hubs.append(Hub(name: name, partitionCount: count, consumerGroups: groups))
            }
            for (k, key) in ((namespace["SharedAccessKeys"] as? [[String: Any]]) ?? []).enumerated() {
                guard let name = key["Name"] as? String, let value = key["Key"] as? String, !name.isEmpty, !value.isEmpty else {
                    throw Invalid(message: "UserConfig.NamespaceConfig[\(n)].SharedAccessKeys[\(k)] needs Name and Key")
                }
                keys[name] = value
            }
        }
        self.hubs = hubs
        if !keys.isEmpty { self.keys = keys }
        try validate()
    }

    func hub(named name: String) -> Hub? {
        hubs.first { $0.name.lowercased() == name.lowercased() }
    }
}
