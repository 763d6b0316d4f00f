import AMQPProtocol
import Foundation

/// An Event Hubs connection string:
/// `Endpoint=sb://HOST[:PORT]/;SharedAccessKeyName=NAME;SharedAccessKey=KEY;EntityPath=HUB[;UseDevelopmentEmulator=true]`,
/// or `SharedAccessSignature=SharedAccessSignature sr=…` instead of the key name and key.
///
/// Keys are case-insensitive, as in Azure's SDKs. ``description`` never shows the key or the
/// signature.
public struct EventHubsConnectionString: Sendable, Hashable, CustomStringConvertible {
    /// The namespace host (`myns.servicebus.windows.net`, `localhost`).
    public var host: String
    /// The port from the endpoint; used only with ``usesDevelopmentEmulator`` (Azure ignores it).
    public var port: Int?
    /// `EntityPath`: the event hub.
    public var eventHubName: String?
    /// `SharedAccessKeyName`: the name of the key that signs tokens.
    public var sharedAccessKeyName: String?
    /// `SharedAccessKey`: the key itself. Never printed.
    public var sharedAccessKey: String?
    /// A pre-signed `SharedAccessSignature sr=…&sig=…&se=…&skn=…`.
    public var sharedAccessSignature: String?
    /// `UseDevelopmentEmulator=true` (lower case): plain TCP to the endpoint's port.
    public var usesDevelopmentEmulator: Bool

    /// A connection string that does not parse; `part` names the bad piece, never a secret.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// Which key of the string is wrong (`Endpoint`, `EntityPath`, …).
        public var part: String
        /// What is wrong with it.
        public var reason: String
        /// `connection string: <part>: <reason>`.
        public var description: String { "connection string: \(part): \(reason)" }
    }

    /// A connection string from its parts.
    public init(
        host: String, port: Int? = nil, eventHubName: String? = nil, sharedAccessKeyName: String? = nil,
        sharedAccessKey: String? = nil, sharedAccessSignature: String? = nil, usesDevelopmentEmulator: Bool = false
    ) {
        self.host = host
        self.port = port
        self.eventHubName = eventHubName
        self.sharedAccessKeyName = sharedAccessKeyName
        self.sharedAccessKey = sharedAccessKey
        self.sharedAccessSignature = sharedAccessSignature
        self.usesDevelopmentEmulator = usesDevelopmentEmulator
    }

    /// Parses `Key=Value;…` as the Azure portal and Microsoft's emulator print it; throws naming the
    /// bad part.
    public init(_ text: String) throws(ParseError) {
        var endpoint: String?
        var keyName: String?
        var key: String?
        var signature: String?
        var entity: String?
        var emulator = false
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ParseError(part: String(trimmed.prefix(40)), reason: "expected Key=Value")
            }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = String(trimmed[trimmed.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            switch name.lowercased() {
            case "endpoint": endpoint = value
            case "sharedaccesskeyname": keyName = value
            case "sharedaccesskey": key = value
            case "sharedaccesssignature": signature = value
            case "entitypath": entity = value
            case "usedevelopmentemulator":
                guard value == "true" || value == "false" else {
                    throw ParseError(part: "UseDevelopmentEmulator", reason: "must be true or false (lower case)")
                }
                emulator = value == "true"
            default:
                throw ParseError(part: name, reason: "unknown key")
            }
        }
        guard let endpoint else { throw ParseError(part: "Endpoint", reason: "missing") }
        let url: URLParts
        do {
            url = try URLParts(parsing: endpoint)
        } catch {
            throw ParseError(part: "Endpoint", reason: "must look like sb://host[:port]/ (\(error.part): \(error.reason))")
        }
        guard ["sb", "amqps", "amqp", "https"].contains(url.scheme) else {
            throw ParseError(part: "Endpoint", reason: "unsupported scheme \(url.scheme)")
        }
        guard url.username == nil else {
            throw ParseError(part: "Endpoint", reason: "holds no user information: give SharedAccessKeyName and SharedAccessKey")
        }
        let host = url.host
        if signature == nil {
            guard keyName != nil else { throw ParseError(part: "SharedAccessKeyName", reason: "missing (or give SharedAccessSignature)") }
            guard key != nil else { throw ParseError(part: "SharedAccessKey", reason: "missing") }
        }
        if let entity, entity.isEmpty { throw ParseError(part: "EntityPath", reason: "empty") }
        self.init(host: host, port: url.port, eventHubName: entity, sharedAccessKeyName: keyName,
                  sharedAccessKey: key, sharedAccessSignature: signature, usesDevelopmentEmulator: emulator)
    }

    /// The connection string, with its secrets.
    public var text: String {
        var parts = ["Endpoint=sb://\(URLParts.bracketed(host))\(port.map { ":\($0)" } ?? "")/"]
        if let sharedAccessKeyName { parts.append("SharedAccessKeyName=\(sharedAccessKeyName)") }
        if let sharedAccessKey { parts.append("SharedAccessKey=\(sharedAccessKey)") }
        if let sharedAccessSignature { parts.append("SharedAccessSignature=\(sharedAccessSignature)") }
        if let eventHubName { parts.append("EntityPath=\(eventHubName)") }
        if usesDevelopmentEmulator { parts.append("UseDevelopmentEmulator=true") }
        return parts.joined(separator: ";")
    }

    /// The connection string with the key and signature replaced by `<redacted>`.
    public var description: String {
        var parts = ["Endpoint=sb://\(URLParts.bracketed(host))\(port.map { ":\($0)" } ?? "")/"]
        if let sharedAccessKeyName { parts.append("SharedAccessKeyName=\(sharedAccessKeyName)") }
        if sharedAccessKey != nil { parts.append("SharedAccessKey=<redacted>") }
        if sharedAccessSignature != nil { parts.append("SharedAccessSignature=<redacted>") }
        if let eventHubName { parts.append("EntityPath=\(eventHubName)") }
        if usesDevelopmentEmulator { parts.append("UseDevelopmentEmulator=true") }
        return parts.joined(separator: ";")
    }
}
