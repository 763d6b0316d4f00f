import Crypto
import Foundation

/// Shared Key authorization of the Blob service: `Authorization: SharedKey ACCOUNT:SIGNATURE`,
/// where the signature is the base64 HMAC-SHA256, keyed with the base64-decoded account key, of
/// a canonical form of the request (the "string to sign"). Both sides use this one
/// implementation: the checkpoint store signs with it and the emulator's endpoint verifies with it.
///
/// The string to sign follows the service's rules for versions 2015-02-21 and later, as
/// Microsoft's Python storage client builds it (`SharedKeyCredentialPolicy` in
/// `azure/storage/blob/_shared/authentication.py`):
/// ```
/// VERB \n Content-Encoding \n Content-Language \n Content-Length (empty when 0) \n Content-MD5 \n
/// Content-Type \n Date \n If-Modified-Since \n If-Match \n If-None-Match \n If-Unmodified-Since \n
/// Range \n CanonicalizedHeaders CanonicalizedResource
/// ```
/// CanonicalizedHeaders are the `x-ms-` headers, lower-cased, in the service's header order
/// (``headerNameOrder(_:_:)``), each `name:value\n`. CanonicalizedResource is `/ACCOUNT` followed by
/// the request's encoded path (for a path-style endpoint that path starts with the account again),
/// then for each query parameter, by lower-cased name, `\nname:value` with the value decoded (several
/// values sorted and joined by commas).
public struct BlobSharedKey: Sendable {
    /// The storage account.
    public let accountName: String
    private let key: SymmetricKey

    /// Why a key was not accepted; never shows the key.
    public struct InvalidKey: Error, Sendable, CustomStringConvertible {
        /// The account whose key is not base64.
        public var description: String
    }

    /// The account's key as the portal shows it (base64).
    public init(accountName: String, base64Key: String) throws(InvalidKey) {
        guard let bytes = Data(base64Encoded: base64Key), !bytes.isEmpty else {
            throw InvalidKey(description: "the account key of \(accountName) is not base64")
        }
        self.accountName = accountName
        self.key = SymmetricKey(data: bytes)
    }

    /// The standard headers signed by position, in their order.
    static let positionalHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    /// The string to sign for a request. `encodedPath` is the path as sent (percent-encoded);
    /// `query` holds decoded names and values; `headers` every request header (names in any case).
    public func stringToSign(method: String, encodedPath: String, query: [(name: String, value: String)],
                             headers: [(name: String, value: String)]) -> String {
        var byName: [String: [String]] = [:]
        for (name, value) in headers { byName[name.lowercased(), default: []].append(value) }
        var text = method.uppercased() + "\n"
        for name in Self.positionalHeaders {
            var value = byName[name]?.joined(separator: ",") ?? ""
            if name == "content-length" && value == "0" { value = "" }
            text += value + "\n"
        }
        let microsoftHeaders = byName.keys.filter { $0.hasPrefix("x-ms-") }.sorted { Self.headerNameOrder($0, $1) < 0 }
        for name in microsoftHeaders {
            text += name + ":" + byName[name]!.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ",") + "\n"
        }
        text += "/" + accountName + (encodedPath.isEmpty ? "/" : encodedPath)
        var parameters: [String: [String]] = [:]
        for (name, value) in query { parameters[name.lowercased(), default: []].append(value) }
        for name in parameters.keys.sorted() {
            text += "\n" + name + ":" + parameters[name]!.sorted().joined(separator: ",")
        }
        return text
    }

    /// The base64 HMAC-SHA256 of `text` with the account key.
    public func signature(of text: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)).base64EncodedString()
    }

    /// The `Authorization` header value for a request.
    public func authorization(method: String, encodedPath: String, query: [(name: String, value: String)],
                              headers: [(name: String, value: String)]) -> String {
        "SharedKey \(accountName):" + signature(of: stringToSign(method: method, encodedPath: encodedPath, query: query, headers: headers))
    }

    /// Whether `authorization` is this account's valid signature of the request; compares in
    /// constant time.
    public func verifies(authorization: String, method: String, encodedPath: String, query: [(name: String, value: String)],
                         headers: [(name: String, value: String)]) -> Bool {
        let prefix = "SharedKey \(accountName):"
        guard authorization.hasPrefix(prefix), let given = Data(base64Encoded: String(authorization.dropFirst(prefix.count))) else {
            return false
        }
        let text = stringToSign(method: method, encodedPath: encodedPath, query: query, headers: headers)
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(text.utf8), using: key)
    }

    /// The base64 HMAC-SHA256 of `text` with the account key, checked in constant time against
    /// `base64Signature` (the `sig` of a SAS token).
    public func verifies(signature base64Signature: String, of text: String) -> Bool {
        guard let given = Data(base64Encoded: base64Signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(text.utf8), using: key)
    }

    // MARK: Header order

    /// The order the service sorts `x-ms-` header names in: not by code point, but by the
    /// culture-invariant string sort of Windows, which Microsoft's storage clients reproduce with
    /// a two-level weight table. Level one compares the characters that carry a weight (letters
    /// ignoring case, then digits, then punctuation, each with its own weight) and skips `-` and
    /// `'`; when that finds no difference, level two compares only those two characters: the name
    /// whose first `-` or `'` comes later sorts first. So `x-ms-meta-a_1` sorts before
    /// `x-ms-meta-a1` (`_` weighs less than a digit), which a code-point sort gets wrong and the
    /// service rejects. Negative when `lhs` sorts first.
    public static func headerNameOrder(_ lhs: String, _ rhs: String) -> Int {
        let left = Array(lhs.utf8), right = Array(rhs.utf8)
        for level in 0..<2 {
            var i = 0, j = 0
            while true {
                if level == 1 && i != j { return i > j ? -1 : 1 }
                let w1 = i < left.count ? weight(left[i], level: level) : endOfString
                let w2 = j < right.count ? weight(right[j], level: level) : endOfString
                if w1 == endOfString && w2 == endOfString { break }
                if w1 == w2 {
                    i += 1
                    j += 1
                } else if w1 == 0 {
                    i += 1
                } else if w2 == 0 {
                    j += 1
                } else {
                    return w1 < w2 ? -1 : 1
                }
            }
        }
        return 0
    }

    /// Below every real weight: a shorter name sorts before a longer one it is the start of.
    private static let endOfString: UInt16 = 1

    /// The weight of an ASCII byte at a level; 0 when the level ignores it. Non-ASCII bytes carry
    /// no weight (header names are ASCII tokens).
    private static func weight(_ byte: UInt8, level: Int) -> UInt16 {
        if level == 1 {
            switch byte {
            case UInt8(ascii: "'"): return 0x8012
            case UInt8(ascii: "-"): return 0x8212
            default: return 0
            }
        }
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return letterWeights[Int(byte - UInt8(ascii: "a"))]
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return letterWeights[Int(byte - UInt8(ascii: "A"))]
        case UInt8(ascii: "0"): return 0xD03
        case UInt8(ascii: "1")...UInt8(ascii: "9"): return 0xD1A + 2 * UInt16(byte - UInt8(ascii: "1"))
        default: return punctuationWeights[byte] ?? 0
        }
    }

    private static let letterWeights: [UInt16] = [
        0xE02, 0xE09, 0xE0A, 0xE1A, 0xE21, 0xE23, 0xE25, 0xE2C, 0xE32, 0xE35, 0xE36, 0xE48, 0xE51,
        0xE70, 0xE7C, 0xE7E, 0xE89, 0xE8A, 0xE91, 0xE99, 0xE9F, 0xEA2, 0xEA4, 0xEA6, 0xEA7, 0xEA9,
    ]

    private static let punctuationWeights: [UInt8: UInt16] = [
        UInt8(ascii: "!"): 0x71C, UInt8(ascii: "#"): 0x71F, UInt8(ascii: "$"): 0x721, UInt8(ascii: "%"): 0x723,
        UInt8(ascii: "&"): 0x725, UInt8(ascii: "*"): 0x72D, UInt8(ascii: "+"): 0x803, UInt8(ascii: "."): 0x733,
        UInt8(ascii: "^"): 0x743, UInt8(ascii: "_"): 0x744, UInt8(ascii: "`"): 0x748, UInt8(ascii: "|"): 0x74C,
        UInt8(ascii: "~"): 0x750,
    ]
}
