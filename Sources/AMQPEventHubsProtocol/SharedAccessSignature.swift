import Crypto
import Foundation

/// Shared Access Signature tokens, as Event Hubs and Service Bus use them:
/// `SharedAccessSignature sr=<url-encoded audience>&sig=<url-encoded base64 HMAC-SHA256>&se=<expiry>&skn=<key name>`,
/// where the signature covers `urlencode(audience) + "\n" + expiry` with the key's UTF-8 bytes as
/// the HMAC key (the key as given, not base64-decoded).
public struct SharedAccessSignature: Sendable, Hashable, CustomStringConvertible {
    /// The resource the token grants access to (`sb://host/hub`), decoded.
    public var audience: String
    /// Seconds since the Unix epoch after which the token is void.
    public var expiry: Int64
    /// The name of the key that signed it (`skn`).
    public var keyName: String
    /// The signature, base64 (decoded from the URL form).
    public var signature: String

    /// Signs a token for `audience` valid until `expiry` (seconds since 1970).
    public init(audience: String, keyName: String, key: String, expiry: Int64) {
        self.audience = audience
        self.expiry = expiry
        self.keyName = keyName
        self.signature = Self.sign(audience: audience, key: key, expiry: expiry)
    }

    init(audience: String, expiry: Int64, keyName: String, signature: String) {
        self.audience = audience
        self.expiry = expiry
        self.keyName = keyName
        self.signature = signature
    }

    /// Parses a token string; `nil` when a field is missing or malformed.
    public init?(parsing token: String) {
        let prefix = "SharedAccessSignature "
        guard token.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for pair in token.dropFirst(prefix.count).split(separator: "&") {
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            let name = String(pair[..<eq])
            guard let value = String(pair[pair.index(after: eq)...]).removingPercentEncoding else { return nil }
            fields[name] = value
        }
        guard let sr = fields["sr"], let sig = fields["sig"], let se = fields["se"], let expiry = Int64(se), let skn = fields["skn"] else {
            return nil
        }
        self.init(audience: sr, expiry: expiry, keyName: skn, signature: sig)
    }

    /// The token string to send (CBS put-token body, or a connection string's `SharedAccessSignature`).
    public var token: String {
        "SharedAccessSignature sr=\(Self.urlEncode(audience))&sig=\(Self.urlEncode(signature))&se=\(expiry)&skn=\(keyName)"
    }

    /// Whether the signature is `key`'s, compared in constant time.
    public func isSigned(withKey key: String) -> Bool {
        let expected = Array(Self.sign(audience: audience, key: key, expiry: expiry).utf8)
        let actual = Array(signature.utf8)
        guard expected.count == actual.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(expected, actual) { difference |= a ^ b }
        return difference == 0
    }

    /// Audience, key name and expiry; the signature is redacted.
    public var description: String {
        "SharedAccessSignature(audience: \(audience), keyName: \(keyName), expiry: \(expiry), signature: <redacted>)"
    }

    static func sign(audience: String, key: String, expiry: Int64) -> String {
        let message = Array("\(urlEncode(audience))\n\(expiry)".utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(key.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters (what the SDKs' `quote_plus`
    /// produces for audiences and signatures).
    static func urlEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
