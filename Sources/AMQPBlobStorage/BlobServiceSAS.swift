import Foundation

/// A service shared access signature for a container or one blob: the `sv=…&sr=c&sp=…&se=…&sig=…`
/// query that grants its holder the permissions `sp` until `se`, signed with the account key.
/// The checkpoint store sends one as given; the emulator's endpoint verifies it with
/// ``verify(method:resource:account:key:now:isHTTPS:)``; tests and tools make one with
/// ``init(container:blob:permissions:expiry:start:protocols:version:account:key:)``.
///
/// The string to sign, for versions 2018-11-09 and later, as Microsoft's Python storage client
/// builds it (`_BlobSharedAccessHelper.add_resource_signature` in `azure/storage/blob/_shared_access_signature.py`):
/// `sp \n st \n se \n /blob/ACCOUNT/CONTAINER[/BLOB] \n si \n sip \n spr \n sv \n sr \n snapshot \n
/// [ses \n, from 2020-12-06] rscc \n rscd \n rsce \n rscl \n rsct`.
public struct BlobServiceSAS: Sendable, Hashable {
    /// The token's parameters, decoded, by name.
    public private(set) var parameters: [String: String]

    /// The oldest `sv` whose string to sign this type knows.
    public static let oldestVersion = "2018-11-09"
    /// The version that added the encryption scope (`ses`) to the string to sign.
    static let encryptionScopeVersion = "2020-12-06"

    /// Parses a token, with or without a leading `?`; `nil` when it has no `sig`.
    public init?(token: String) {
        var parameters: [String: String] = [:]
        let text = token.hasPrefix("?") ? String(token.dropFirst()) : token
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first.flatMap({ String($0).removingPercentEncoding }) else { return nil }
            let value = parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
            guard let value else { return nil }
            parameters[name] = value
        }
        guard parameters["sig"] != nil else { return nil }
        self.parameters = parameters
    }

    /// Signs a SAS for `container` (or one `blob` in it) granting `permissions` (letters of
    /// `racwdl`, in that order) until `expiry`.
    public init(container: String, blob: String? = nil, permissions: String, expiry: Date, start: Date? = nil,
                protocols: String? = nil, version: String = "2021-08-06", account: String, key: BlobSharedKey) {
        var parameters: [String: String] = ["sv": version, "sr": blob == nil ? "c" : "b", "sp": permissions, "se": BlobDate.iso8601(expiry)]
        if let start { parameters["st"] = BlobDate.iso8601(start) }
        if let protocols { parameters["spr"] = protocols }
        self.parameters = parameters
        let resource = "/" + container + (blob.map { "/" + $0 } ?? "")
        self.parameters["sig"] = key.signature(of: stringToSign(account: account, resource: resource))
    }

    /// `name=value&…`, values percent-encoded: what goes after `?` in a request.
    public var token: String {
        parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.encode($0.value))" }.joined(separator: "&")
    }

    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// The string the signature covers, for a resource `/CONTAINER[/BLOB]` of `account`.
    public func stringToSign(account: String, resource: String) -> String {
        func field(_ name: String) -> String { parameters[name] ?? "" }
        var fields = [field("sp"), field("st"), field("se"), "/blob/" + account + resource, field("si"), field("sip"),
                      field("spr"), field("sv"), field("sr"), field("snapshot")]
        if field("sv") >= Self.encryptionScopeVersion { fields.append(field("ses")) }
        fields += [field("rscc"), field("rscd"), field("rsce"), field("rscl"), field("rsct")]
        return fields.joined(separator: "\n")
    }

    /// Why a SAS does not authorize a request.
    public enum Refusal: Error, Hashable, Sendable {
        /// The signature does not match (another key, altered fields, an unknown version).
        case signatureMismatch
        /// `se` has passed or `st` has not come yet.
        case outsideValidity
        /// `sp` lacks the permission the operation needs.
        case permissionMissing(Character)
        /// `sr` names another resource than the request's, or a kind this endpoint does not serve.
        case wrongResource
        /// `spr=https` on a plain HTTP request.
        case protocolNotAllowed
    }

    /// Checks that this SAS, signed with `key`, lets `method`'s operation `permission` (`r`, `a`,
    /// `c`, `w`, `d` or `l`) act on `container` (and `blob`) now.
    public func verify(permission: Character, container: String, blob: String?, account: String, key: BlobSharedKey,
                       now: Date, isHTTPS: Bool) throws(Refusal) {
        guard let version = parameters["sv"], version >= Self.oldestVersion, let signature = parameters["sig"] else {
            throw .signatureMismatch
        }
        let resource: String
        switch parameters["sr"] {
        case "c": resource = "/" + container
        case "b":
            guard let blob else { throw .wrongResource }
            resource = "/" + container + "/" + blob
        default: throw .wrongResource
        }
        guard key.verifies(signature: signature, of: stringToSign(account: account, resource: resource)) else { throw .signatureMismatch }
        guard let expiry = parameters["se"].flatMap(BlobDate.parseISO8601), now < expiry else { throw .outsideValidity }
        if let start = parameters["st"] {
            guard let date = BlobDate.parseISO8601(start), date <= now.addingTimeInterval(1) else { throw .outsideValidity }
        }
        if parameters["spr"] == "https" && !isHTTPS { throw .protocolNotAllowed }
        guard parameters["sp"]?.contains(permission) == true else { throw .permissionMissing(permission) }
    }
}
