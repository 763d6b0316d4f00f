import AMQPProtocol
import NIOCore

/// An AMQP endpoint as a URL: `amqp://[user[:password]@]host[:port][/path]`, or `amqps://…` for
/// TLS from the first byte.
///
/// This is the one parser of such URLs in the package: ``AMQPConnection/connect(to:eventLoopGroup:)-(String,_)``
/// and the `amqp` command line both use it. What the path means is the caller's choice (a
/// virtual host for ``AMQPConnectionOptions/init(url:)``, a node address for `amqp send`).
///
/// ```swift
/// let endpoint = try AMQPEndpoint(parsing: "amqps://app:s%3Acret@[2001:db8::1]:5671/orders")
/// endpoint.host      // "2001:db8::1"  (no brackets: what sockets take)
/// endpoint.password  // "s:cret"       (percent-decoded exactly once)
/// ```
///
/// The grammar is RFC 3986's, kept to what an AMQP URL uses. It is parsed here rather than by
/// Foundation's `URLComponents` because that type's handling of IPv6 brackets and of
/// percent-encoded user information differs between platforms and releases, and the two
/// copies that used it had drifted apart (one decoded the password twice).
public struct AMQPEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `amqp` (plain TCP) or `amqps` (TLS).
    public enum Scheme: String, Sendable, Hashable {
        /// Plain TCP, port 5672 by default.
        case amqp
        /// TLS from the first byte, port 5671 by default.
        case amqps

        /// 5672 for `amqp`, 5671 for `amqps` (IANA's AMQP ports).
        public var defaultPort: Int { self == .amqps ? 5671 : 5672 }
    }

    /// `amqp` or `amqps`.
    public var scheme: Scheme
    /// The host name or address, without the brackets an IPv6 address has in a URL.
    public var host: String
    /// The port: as given, else the scheme's default.
    public var port: Int
    /// The user name, percent-decoded; `nil` when the URL has no user information.
    public var username: String?
    /// The password, percent-decoded; `nil` when the URL has none, empty for `user:@host`.
    public var password: String?
    /// The path after its first `/`, percent-decoded; `nil` when there is none or it is empty.
    public var path: String?

    /// Whether the scheme asks for TLS (`amqps`).
    public var usesTLS: Bool { scheme == .amqps }

    /// An endpoint from its parts; the port defaults to the scheme's.
    public init(scheme: Scheme, host: String, port: Int? = nil, username: String? = nil, password: String? = nil, path: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port ?? scheme.defaultPort
        self.username = username
        self.password = password
        self.path = path
    }

    /// Parses `text`; the error names the part that is wrong and never shows the password.
    public init(parsing text: String) throws(AMQPEndpointError) {
        // The scheme first: a URL of another kind is wrong for that reason, whatever else it holds.
        guard let schemeEnd = URLParts.schemeSeparator(in: text), let scheme = Scheme(rawValue: text[..<schemeEnd.lowerBound].lowercased()) else {
            throw AMQPEndpointError(.unsupportedScheme, part: "scheme", reason: "expected amqp:// or amqps://", url: Self.redacted(text))
        }
        let parts: URLParts
        do {
            parts = try URLParts(parsing: text)
        } catch {
            throw AMQPEndpointError(Kind(error.failure), part: error.part, reason: error.reason, url: Self.redacted(text))
        }
        self.init(scheme: scheme, host: parts.host, port: parts.port, username: parts.username, password: parts.password, path: parts.path)
    }

    private typealias Kind = AMQPEndpointError.Kind

    /// The URL, with the password shown as `***`; IPv6 hosts in brackets, the port always
    /// written. Safe for messages and logs.
    public var description: String {
        var out = "\(scheme.rawValue)://"
        if let username {
            out += URLParts.percentEncoded(username, keeping: URLParts.userInformationCharacters)
            if password != nil { out += ":***" }
            out += "@"
        }
        out += URLParts.bracketed(host)
        out += ":\(port)"
        if let path { out += "/" + URLParts.percentEncoded(path, keeping: URLParts.pathCharacters) }
        return out
    }

    /// `text` with whatever stands where a URL's password would be replaced by `***`, even when
    /// `text` does not parse: for error messages about input that may hold a secret.
    public static func redacted(_ text: String) -> String {
        // Without a scheme, what looks like `user:password@host` is taken as such.
        let rest = text.range(of: "://").map { text[$0.upperBound...] } ?? text[...]
        // The last `@` ends the user information even when the password holds `/`, `?` or `#`.
        guard let at = rest.lastIndex(of: "@") else { return text }
        let userInformation = rest[..<at]
        guard let colon = userInformation.firstIndex(of: ":") else { return text }
        return String(text[..<userInformation.index(after: colon)]) + "***" + String(rest[at...])
    }

    // MARK: Loopback

    /// Whether `host` names this machine: `localhost`, an address in `127.0.0.0/8`, `::1`, or
    /// an IPv4-mapped loopback address. Bytes sent to it never reach a network, which is what
    /// `CleartextCredentials/allowedOnLoopback` relies on.
    public static func isLoopback(_ host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" { return true }
        guard let address = try? SocketAddress(ipAddress: name, port: 0) else { return false }
        switch address {
        case .v4(let v4):
            // `s_addr` is in network order: its first byte in memory is the first octet.
            return withUnsafeBytes(of: v4.address.sin_addr) { $0.first == 127 }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { bytes in
                let loopback = bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1
                let mapped = bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
                return loopback || mapped
            }
        case .unixDomainSocket:
            return false
        }
    }
}

/// An AMQP URL that does not parse. ``description`` names the part and the reason, and shows
/// the URL with its password replaced.
public struct AMQPEndpointError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong. New kinds may be added; compare with the static members.
    public struct Kind: Hashable, Sendable {
        enum Code: Hashable, Sendable {
            case unsupportedScheme, unsupportedComponent, missingUserName, missingHost, invalidHost, invalidPort, invalidPercentEncoding
        }
        let code: Code
        /// Not `amqp://` or `amqps://`.
        public static let unsupportedScheme = Kind(code: .unsupportedScheme)
        /// A query (`?…`) or fragment (`#…`), which AMQP URLs do not have.
        public static let unsupportedComponent = Kind(code: .unsupportedComponent)
        /// User information (`…@`) without a user name.
        public static let missingUserName = Kind(code: .missingUserName)
        /// No host.
        public static let missingHost = Kind(code: .missingHost)
        /// A host that cannot be one: an IPv6 address without brackets, a broken bracket.
        public static let invalidHost = Kind(code: .invalidHost)
        /// A port that is not a number from 1 to 65535.
        public static let invalidPort = Kind(code: .invalidPort)
        /// A `%` not followed by two hexadecimal digits, or escapes that are not UTF-8.
        public static let invalidPercentEncoding = Kind(code: .invalidPercentEncoding)

        init(code: Code) { self.code = code }

        /// The kind of a failure of the URL parser.
        init(_ failure: URLParts.Failure) {
            switch failure {
            case .missingScheme: self = .unsupportedScheme
            case .unsupportedComponent: self = .unsupportedComponent
            case .missingUserName: self = .missingUserName
            case .missingHost: self = .missingHost
            case .invalidHost: self = .invalidHost
            case .invalidPort: self = .invalidPort
            case .invalidPercentEncoding: self = .invalidPercentEncoding
            }
        }
    }

    /// What is wrong.
    public var kind: Kind
    /// The part of the URL that is wrong: `scheme`, `user name`, `password`, `host`, `port`,
    /// `path`, `query` or `fragment`.
    public var part: String
    /// Why, in words.
    public var reason: String
    /// The URL as given, its password replaced by `***`.
    public var url: String

    /// An error of `kind` in `part`; `url` must already be redacted.
    public init(_ kind: Kind, part: String, reason: String, url: String) {
        self.kind = kind
        self.part = part
        self.reason = reason
        self.url = url
    }

    /// `not a valid AMQP URL (<part>: <reason>): <redacted url>`.
    public var description: String { "not a valid AMQP URL (\(part): \(reason)): \(url)" }
}
