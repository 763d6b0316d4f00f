import NIOCore

/// An AMQP endpoint as a URL: `amqp://[user[:password]@]host[:port][/path]`, or `amqps://…` for
/// TLS from the first byte.
///
/// This is the one parser of such URLs in the package: ``AMQPConnection/connect(to:eventLoopGroup:)``
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
        var parser = Parser(text: text)
        self = try parser.parse()
    }

    /// The URL, with the password shown as `***`; IPv6 hosts in brackets, the port always
    /// written. Safe for messages and logs.
    public var description: String {
        var out = "\(scheme.rawValue)://"
        if let username {
            out += Self.percentEncoded(username, keeping: Self.userInformationCharacters)
            if password != nil { out += ":***" }
            out += "@"
        }
        out += host.contains(":") ? "[\(host)]" : host
        out += ":\(port)"
        if let path { out += "/" + Self.percentEncoded(path, keeping: Self.pathCharacters) }
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
    /// ``CleartextCredentials/allowedOnLoopback`` relies on.
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

    // MARK: Parsing

    /// RFC 3986 `unreserved` and `sub-delims`: what user information, a host and a path may
    /// hold without percent-encoding (besides `:` and `@` in a path).
    static let userInformationCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=".utf8)
    static let pathCharacters = userInformationCharacters.union(":@/".utf8)

    static func percentEncoded(_ text: String, keeping allowed: Set<UInt8>) -> String {
        var out = ""
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            if allowed.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "%")))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
            }
        }
        return out
    }

    /// Splits the URL into its parts and decodes each exactly once.
    struct Parser {
        let text: String
        let redactedText: String

        init(text: String) {
            self.text = text
            self.redactedText = AMQPEndpoint.redacted(text)
        }

        func failure(_ kind: AMQPEndpointError.Kind, _ part: String, _ reason: String) -> AMQPEndpointError {
            AMQPEndpointError(kind, part: part, reason: reason, url: redactedText)
        }

        mutating func parse() throws(AMQPEndpointError) -> AMQPEndpoint {
            guard let schemeEnd = text.range(of: "://") else {
                throw failure(.unsupportedScheme, "scheme", "expected amqp:// or amqps://")
            }
            guard let scheme = Scheme(rawValue: text[..<schemeEnd.lowerBound].lowercased()) else {
                throw failure(.unsupportedScheme, "scheme", "expected amqp:// or amqps://")
            }
            let rest = text[schemeEnd.upperBound...]
            if let extra = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
                let part = rest[extra] == "?" ? "query" : "fragment"
                throw failure(.unsupportedComponent, part,
                              "AMQP URLs take no \(part) (percent-encode ? and # in a user name or password: %3F, %23)")
            }
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = rest[..<authorityEnd]

            var username: String? = nil
            var password: String? = nil
            if let at = authority.lastIndex(of: "@") {
                let userInformation = authority[..<at]
                authority = authority[authority.index(after: at)...]
                let user: Substring
                if let colon = userInformation.firstIndex(of: ":") {
                    user = userInformation[..<colon]
                    password = try decode(userInformation[userInformation.index(after: colon)...], part: "password")
                } else {
                    user = userInformation
                }
                guard !user.isEmpty else {
                    throw failure(.missingUserName, "user name", "user information without a user name")
                }
                username = try decode(user, part: "user name")
            }

            let host: String
            var portText: Substring? = nil
            if authority.first == "[" {
                guard let close = authority.firstIndex(of: "]") else {
                    throw failure(.invalidHost, "host", "an IPv6 address needs its closing ]")
                }
                let literal = authority[authority.index(after: authority.startIndex)..<close]
                guard literal.contains(":"), literal.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                    throw failure(.invalidHost, "host", "not an IPv6 address between [ and ]")
                }
                host = String(literal)
                let after = authority[authority.index(after: close)...]
                if !after.isEmpty {
                    guard after.first == ":" else { throw failure(.invalidHost, "host", "unexpected text after ]") }
                    portText = after.dropFirst()
                }
            } else {
                let hostPart: Substring
                if let colon = authority.lastIndex(of: ":") {
                    hostPart = authority[..<colon]
                    portText = authority[authority.index(after: colon)...]
                } else {
                    hostPart = authority
                }
                if hostPart.contains(":") || hostPart.contains("[") || hostPart.contains("]") {
                    throw failure(.invalidHost, "host", "an IPv6 address must be written in brackets: amqp://[::1]")
                }
                host = try decode(hostPart, part: "host")
                if host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                    throw failure(.invalidHost, "host", "a host name holds no spaces or control characters")
                }
            }
            guard !host.isEmpty else { throw failure(.missingHost, "host", "the URL names no host") }

            var port = scheme.defaultPort
            // RFC 3986 allows an empty port (`host:`): it means the default.
            if let portText, !portText.isEmpty {
                guard portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      portText.count <= 5, let number = Int(portText), (1...65535).contains(number) else {
                    throw failure(.invalidPort, "port", "a port is a number from 1 to 65535")
                }
                port = number
            }

            var path: String? = nil
            if authorityEnd < rest.endIndex {
                let decoded = try decode(rest[rest.index(after: authorityEnd)...], part: "path")
                if !decoded.isEmpty { path = decoded }
            }
            return AMQPEndpoint(scheme: scheme, host: host, port: port, username: username, password: password, path: path)
        }

        /// Decodes `%XX` escapes once; the result must be UTF-8.
        func decode(_ text: Substring, part: String) throws(AMQPEndpointError) -> String {
            guard text.contains("%") else { return String(text) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.utf8.count)
            var iterator = text.utf8.makeIterator()
            while let byte = iterator.next() {
                guard byte == UInt8(ascii: "%") else {
                    bytes.append(byte)
                    continue
                }
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                    throw failure(.invalidPercentEncoding, part, "% must be followed by two hexadecimal digits")
                }
                bytes.append(high << 4 | low)
            }
            guard let decoded = String(validating: bytes, as: UTF8.self) else {
                throw failure(.invalidPercentEncoding, part, "the percent-encoded bytes are not UTF-8")
            }
            return decoded
        }

        static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
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
