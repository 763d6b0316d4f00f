/// A URL of the kind AMQP endpoints are written as, split into its parts: `scheme://[user[:password]@]host[:port][/path]`.
///
/// The package's one URL parser: ``AMQPEndpoint`` (`amqp://`, `amqps://`) in the transport and the
/// Event Hubs connection string's `Endpoint=sb://…` both read their URLs with it, so IPv6
/// brackets, ports and percent-encoding mean the same everywhere. Each part is percent-decoded
/// exactly once (`%2541` is `%41`); an IPv6 host is returned without its brackets (what sockets
/// take). Which schemes are accepted, and what the path means, is the caller's decision.
///
/// The grammar is RFC 3986's, kept to what these URLs use. It is not Foundation's
/// `URLComponents`, whose handling of IPv6 brackets and of percent-encoded user information
/// differs between platforms and releases (and which would bring Foundation into the engine's
/// target).
package struct URLParts: Sendable, Hashable {
    /// The scheme, lower-cased.
    package var scheme: String
    /// The user name, percent-decoded; `nil` without user information.
    package var username: String?
    /// The password, percent-decoded; `nil` when there is none, empty for `user:@host`.
    package var password: String?
    /// The host name or address, without the brackets of an IPv6 address.
    package var host: String
    /// The port, when one is written.
    package var port: Int?
    /// The path after its first `/`, percent-decoded; `nil` when there is none or it is empty.
    package var path: String?

    /// What is wrong with a URL that does not parse.
    package enum Failure: Hashable, Sendable {
        case missingScheme
        case unsupportedComponent
        case missingUserName
        case missingHost
        case invalidHost
        case invalidPort
        case invalidPercentEncoding
    }

    /// Why a URL does not parse: the kind, the part (`scheme`, `user name`, `password`, `host`,
    /// `port`, `path`, `query`, `fragment`) and a reason that never quotes the password.
    package struct ParseError: Error, Hashable, Sendable {
        package var failure: Failure
        package var part: String
        package var reason: String
    }

    /// Parses `text`.
    package init(parsing text: String) throws(ParseError) {
        func failure(_ kind: Failure, _ part: String, _ reason: String) -> ParseError {
            ParseError(failure: kind, part: part, reason: reason)
        }
        guard let schemeEnd = Self.schemeSeparator(in: text), schemeEnd.lowerBound > text.startIndex else {
            throw failure(.missingScheme, "scheme", "expected scheme://")
        }
        scheme = text[..<schemeEnd.lowerBound].lowercased()
        let rest = text[schemeEnd.upperBound...]
        if let extra = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            let part = rest[extra] == "?" ? "query" : "fragment"
            throw failure(.unsupportedComponent, part,
                          "these URLs take no \(part) (percent-encode ? and # in a user name or password: %3F, %23)")
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]

        username = nil
        password = nil
        if let at = authority.lastIndex(of: "@") {
            let userInformation = authority[..<at]
            authority = authority[authority.index(after: at)...]
            let user: Substring
            if let colon = userInformation.firstIndex(of: ":") {
                user = userInformation[..<colon]
                password = try Self.decode(userInformation[userInformation.index(after: colon)...], part: "password")
            } else {
                user = userInformation
            }
            guard !user.isEmpty else {
                throw failure(.missingUserName, "user name", "user information without a user name")
            }
            username = try Self.decode(user, part: "user name")
        }

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
                throw failure(.invalidHost, "host", "an IPv6 address must be written in brackets: \(scheme)://[::1]")
            }
            host = try Self.decode(hostPart, part: "host")
            if host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                throw failure(.invalidHost, "host", "a host name holds no spaces or control characters")
            }
        }
        guard !host.isEmpty else { throw failure(.missingHost, "host", "the URL names no host") }

        port = nil
        // RFC 3986 allows an empty port (`host:`): it means the default.
        if let portText, !portText.isEmpty {
            guard portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  portText.count <= 5, let number = Int(portText), (1...65535).contains(number) else {
                throw failure(.invalidPort, "port", "a port is a number from 1 to 65535")
            }
            port = number
        }

        path = nil
        if authorityEnd < rest.endIndex {
            let decoded = try Self.decode(rest[rest.index(after: authorityEnd)...], part: "path")
            if !decoded.isEmpty { path = decoded }
        }
    }

    /// Where the first `://` of `text` is (the end of its scheme), if it has one.
    package static func schemeSeparator(in text: String) -> Range<String.Index>? {
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("://") {
                return index..<text.index(index, offsetBy: 3)
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// Decodes `%XX` escapes once; the result must be UTF-8.
    static func decode(_ text: Substring, part: String) throws(ParseError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw ParseError(failure: .invalidPercentEncoding, part: part, reason: "% must be followed by two hexadecimal digits")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw ParseError(failure: .invalidPercentEncoding, part: part, reason: "the percent-encoded bytes are not UTF-8")
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

    /// RFC 3986 `unreserved` and `sub-delims`: what user information, a host and a path may
    /// hold without percent-encoding (besides `:` and `@` in a path).
    package static let userInformationCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=".utf8)
    /// What a path may hold without percent-encoding.
    package static let pathCharacters = userInformationCharacters.union(":@/".utf8)

    /// `text` with every byte outside `allowed` percent-encoded.
    package static func percentEncoded(_ text: String, keeping allowed: Set<UInt8>) -> String {
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

    /// `host` as a URL writes it: an IPv6 address in brackets.
    package static func bracketed(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }
}
