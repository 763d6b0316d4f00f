import AMQPEventHubsProtocol
import AMQPTransport
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
    /// SAS key name → what its tokens (and SASL PLAIN with it) may do. A key not named here has
    /// every right, as Microsoft's default `RootManageSharedAccessKey` does.
    public var keyRights: [String: Rights]

    /// The rights of a SAS key, as Azure's authorization rules carry them: `Send` publishes,
    /// `Listen` receives; `Manage` implies both. Reading a hub's properties needs any of them.
    public struct Rights: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let send = Rights(rawValue: 1)
        public static let listen = Rights(rawValue: 2)
        public static let manage = Rights(rawValue: 4)
        public static let all: Rights = [.send, .listen, .manage]

        /// What a key with these rights may do: `Manage` carries `Send` and `Listen`.
        var effective: Rights { contains(.manage) ? .all : self }
    }

    /// The rights of the key `name` (every right unless ``keyRights`` narrows them).
    func rights(ofKey name: String) -> Rights { (keyRights[name] ?? .all).effective }
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
    /// The most `$cbs` and `$management` replies one connection may have waiting for the
    /// client's credit (100); past it the reply link is detached with
    /// `amqp:resource-limit-exceeded`, dropping what waited.
    public var maxQueuedReplies: Int
    /// The container id of the emulator's `open`.
    public var containerID: String
    /// Failed SASL logins (a wrong SAS key over PLAIN) that lock a peer address out for a while:
    /// the listener's default, 10 within a minute refusing that address for 5 minutes; `nil` for
    /// no throttling.
    public var loginThrottle: LoginThrottle.Policy? = LoginThrottle.Policy()
    /// A persisted partition starts a new segment file once its current one reaches this size
    /// (64 MiB). Small values are for tests that need several segments.
    package var segmentBytes: Int64
    /// **For tests of the storage only**: called on a partition's writer before each append to its
    /// segment file, with the hub's name and the partition, as a slow disk would be slow there.
    package var beforeSegmentWrite: (@Sendable (_ hub: String, _ partition: Int) -> Void)?
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
        self.keyRights = [:]
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
        self.maxQueuedReplies = 100
        self.publishFault = nil
        self.segmentBytes = 64 << 20
        self.beforeSegmentWrite = nil
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
    /// (number or string) and `ConsumerGroups[].Name`; optionally `SharedAccessKeys[]` with `Name`,
    /// `Key` and `Rights` (any of `"Send"`, `"Listen"`, `"Manage"`; all of them when absent) beside
    /// `Entities`.
    public mutating func load(microsoftConfig data: Data) throws(Invalid) {
        let config: MicrosoftEmulatorConfig
        do {
            config = try MicrosoftEmulatorConfig.decode(data)
        } catch let error as DecodingError {
            throw Invalid(message: MicrosoftEmulatorConfig.describe(error))
        } catch {
            throw Invalid(message: "configuration is not JSON: \(error)")
        }
        guard !config.userConfig.namespaceConfig.isEmpty else {
            throw Invalid(message: "configuration needs UserConfig.NamespaceConfig[]")
        }
        var hubs: [Hub] = []
        var keys: [String: String] = [:]
        var rights: [String: Rights] = [:]
        for (n, namespace) in config.userConfig.namespaceConfig.enumerated() {
            for entity in namespace.entities {
                hubs.append(Hub(name: entity.name, partitionCount: entity.partitionCount.value,
                                consumerGroups: (entity.consumerGroups ?? []).map(\.name)))
            }
            for (k, key) in (namespace.sharedAccessKeys ?? []).enumerated() {
                guard !key.name.isEmpty, !key.key.isEmpty else {
                    throw Invalid(message: "UserConfig.NamespaceConfig[\(n)].SharedAccessKeys[\(k)] needs Name and Key")
                }
                keys[key.name] = key.key
                if let names = key.rights {
                    var granted: Rights = []
                    for name in names {
                        switch name.lowercased() {
                        case "send": granted.insert(.send)
                        case "listen": granted.insert(.listen)
                        case "manage": granted.insert(.manage)
                        default:
                            throw Invalid(message: "UserConfig.NamespaceConfig[\(n)].SharedAccessKeys[\(k)].Rights: unknown right \"\(name)\" (Send, Listen, Manage)")
                        }
                    }
                    guard !granted.isEmpty else {
                        throw Invalid(message: "UserConfig.NamespaceConfig[\(n)].SharedAccessKeys[\(k)].Rights is empty: the key could do nothing")
                    }
                    rights[key.name] = granted
                }
            }
        }
        self.hubs = hubs
        if !keys.isEmpty {
            self.keys = keys
            self.keyRights = rights
        }
        try validate()
    }

    func hub(named name: String) -> Hub? {
        hubs.first { $0.name.lowercased() == name.lowercased() }
    }
}

/// The part of Microsoft's emulator's `Config.json` this emulator reads, decoded with `Codable`
/// (unknown keys, such as `LoggingConfig`, are ignored as Microsoft's emulator ignores them).
/// Its keys are the properties' names in PascalCase (`PartitionCount` for `partitionCount`): one
/// key strategy, ``decode(_:)``'s, maps them all, and ``describe(_:)`` names them the same way.
struct MicrosoftEmulatorConfig: Decodable {
    var userConfig: UserConfig

    struct UserConfig: Decodable {
        var namespaceConfig: [Namespace]
    }

    struct Namespace: Decodable {
        var entities: [Entity]
        var sharedAccessKeys: [SharedAccessKey]?
    }

    struct Entity: Decodable {
        var name: String
        var partitionCount: Count
        var consumerGroups: [ConsumerGroup]?
    }

    struct ConsumerGroup: Decodable {
        var name: String
    }

    struct SharedAccessKey: Decodable {
        var name: String
        var key: String
        var rights: [String]?
    }

    /// Decodes `Config.json`, its PascalCase keys read as the camelCase property names.
    static func decode(_ data: Data) throws -> MicrosoftEmulatorConfig {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            let key = path.last!
            if key.intValue != nil { return key }
            return Key(key.stringValue.prefix(1).lowercased() + key.stringValue.dropFirst())
        }
        return try decoder.decode(MicrosoftEmulatorConfig.self, from: data)
    }

    /// A key as the file spells it: the property name with its first letter in upper case.
    static func fileSpelling(_ key: any CodingKey) -> String {
        key.stringValue.prefix(1).uppercased() + key.stringValue.dropFirst()
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// A number, or a string holding one: Microsoft's samples write `"PartitionCount": "2"`.
    struct Count: Decodable {
        var value: Int

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) {
                value = number
            } else if let text = try? container.decode(String.self), let number = Int(text) {
                value = number
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be a number")
            }
        }
    }

    /// A decoding error as the configuration's path and what is wrong there:
    /// `UserConfig.NamespaceConfig[0].Entities[1].Name is missing`.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? fileSpelling(key) : text + "." + fileSpelling(key)
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .valueNotFound(_, let context):
            return "\(path(context.codingPath)) is missing"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) must be \(type == String.self ? "a string" : type == Int.self ? "a number" : "\(type)")"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "configuration is not JSON: \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)) \(context.debugDescription)"
        @unknown default:
            return "configuration is not valid: \(error)"
        }
    }
}
