import Foundation

/// An Azure Storage account's connection string, as the portal and Azurite print it:
/// `DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=KEY;EndpointSuffix=core.windows.net`,
/// with `BlobEndpoint=URL` for a custom or local endpoint, `SharedAccessSignature=TOKEN` instead of
/// the key, or `UseDevelopmentStorage=true` for Azurite's defaults. Its ``description`` never
/// shows the key or the signature.
public struct StorageConnectionString: Sendable, Hashable, CustomStringConvertible {
    /// The storage account.
    public var accountName: String
    /// The base64 account key, when the string has one.
    public var accountKey: String?
    /// A SAS token (`sv=…&sig=…`), when the string has one instead of a key.
    public var sharedAccessSignature: String?
    /// The Blob service endpoint: `https://NAME.blob.core.windows.net`, or the `BlobEndpoint` given
    /// (Azurite's path style, `http://127.0.0.1:10000/devstoreaccount1`).
    public var blobEndpoint: URL

    /// Azurite's development account: the well-known name and key that its documentation
    /// publishes. Public, for local use only.
    public static let developmentAccountName = "devstoreaccount1"
    /// Azurite's published development account key.
    public static let developmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    /// Why a connection string was not understood; names the part, never the key.
    public struct Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// A connection string's parts.
    public init(accountName: String, accountKey: String? = nil, sharedAccessSignature: String? = nil, blobEndpoint: URL) {
        self.accountName = accountName
        self.accountKey = accountKey
        self.sharedAccessSignature = sharedAccessSignature
        self.blobEndpoint = blobEndpoint
    }

    /// Parses `Key=Value;…` pairs (keys ignoring case, values kept as written; a value may contain `=`).
    public init(parsing text: String) throws(Invalid) {
        var fields: [String: String] = [:]
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw Invalid(description: "connection string part \"\(trimmed.prefix(40))\" is not Key=Value")
            }
            fields[trimmed[..<equals].lowercased()] = String(trimmed[trimmed.index(after: equals)...])
        }
        if fields["usedevelopmentstorage"]?.lowercased() == "true" {
            // Azurite's documented defaults; DevelopmentStorageProxyUri would move the host.
            let base = fields["developmentstorageproxyuri"].flatMap(URL.init(string:))?.absoluteString ?? "http://127.0.0.1:10000"
            guard let endpoint = URL(string: base.hasSuffix("/") ? base + Self.developmentAccountName : base + "/" + Self.developmentAccountName) else {
                throw Invalid(description: "DevelopmentStorageProxyUri is not a URL")
            }
            self.init(accountName: Self.developmentAccountName, accountKey: Self.developmentAccountKey, blobEndpoint: endpoint)
            return
        }
        let signature = fields["sharedaccesssignature"].map { $0.hasPrefix("?") ? String($0.dropFirst()) : $0 }
        let key = fields["accountkey"]
        if let key, Data(base64Encoded: key) == nil {
            throw Invalid(description: "AccountKey is not base64")
        }
        let endpoint: URL
        if let blob = fields["blobendpoint"] {
            guard let url = URL(string: blob.hasSuffix("/") ? String(blob.dropLast()) : blob), let scheme = url.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", url.host != nil
            else {
                throw Invalid(description: "BlobEndpoint is not an http or https URL")
            }
            endpoint = url
        } else {
            guard let account = fields["accountname"], !account.isEmpty else {
                throw Invalid(description: "the connection string has neither BlobEndpoint nor AccountName")
            }
            let scheme = fields["defaultendpointsprotocol"]?.lowercased() ?? "https"
            guard scheme == "http" || scheme == "https" else { throw Invalid(description: "DefaultEndpointsProtocol must be http or https") }
            let suffix = fields["endpointsuffix"] ?? "core.windows.net"
            guard let url = URL(string: "\(scheme)://\(account).blob.\(suffix)") else {
                throw Invalid(description: "AccountName and EndpointSuffix do not make a host name")
            }
            endpoint = url
        }
        // A path-style endpoint (Azurite, the emulator) names the account in its first path segment.
        let name = fields["accountname"] ?? endpoint.pathComponents.dropFirst().first ?? endpoint.host?.split(separator: ".").first.map(String.init) ?? ""
        guard !name.isEmpty else { throw Invalid(description: "no AccountName") }
        if key == nil && signature == nil {
            throw Invalid(description: "the connection string has neither AccountKey nor SharedAccessSignature")
        }
        self.init(accountName: name, accountKey: key, sharedAccessSignature: signature, blobEndpoint: endpoint)
    }

    /// The development account on a local Blob endpoint at `host:port` (this package's emulator
    /// or Azurite), in Azurite's path style.
    public static func development(host: String = "127.0.0.1", port: Int) -> StorageConnectionString {
        StorageConnectionString(accountName: developmentAccountName, accountKey: developmentAccountKey,
                                blobEndpoint: URL(string: "http://\(host):\(port)/\(developmentAccountName)")!)
    }

    /// The connection string, key and signature included: for handing to another program. Never log it.
    public var text: String {
        var parts = ["DefaultEndpointsProtocol=\(blobEndpoint.scheme ?? "https")", "AccountName=\(accountName)"]
        if let accountKey { parts.append("AccountKey=\(accountKey)") }
        if let sharedAccessSignature { parts.append("SharedAccessSignature=\(sharedAccessSignature)") }
        parts.append("BlobEndpoint=\(blobEndpoint.absoluteString)")
        return parts.joined(separator: ";") + ";"
    }

    /// Account and endpoint; the key and signature are redacted.
    public var description: String {
        "StorageConnectionString(account: \(accountName), blob endpoint: \(blobEndpoint.absoluteString), \(accountKey != nil ? "account key" : "SAS") redacted)"
    }
}
