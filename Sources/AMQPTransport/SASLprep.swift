import AMQPCodec
import AMQPProtocol
import Foundation

/// SASLprep (RFC 4013, the stringprep profile of RFC 3454) for user names and passwords, so that
/// `"I\u{00AD}X"` and `"IX"`, or a password typed with a composed or a decomposed `é`, authenticate
/// as the same string on both sides.
///
/// Mapping (§2.1, §2.2) and normalization (NFKC, §2.3) are done in full, and every prohibited
/// output (§2.3, RFC 3454 tables C.1.2 to C.9) is refused. Two parts are not: the bidirectional
/// rule (§2.4, RFC 3454 §6) needs Unicode's bidi classes, which neither Swift's standard library
/// nor Foundation exposes, so a string with right-to-left characters is refused with a
/// ``SASLprepError`` rather than prepared wrongly; and unassigned code points are allowed, as
/// RFC 4013 §2.5 allows for queries (a client's credentials are one).
public enum SASLprep {
    /// The prepared form of `string`, or an error naming the first character it cannot take.
    public static func prepare(_ string: String) throws(SASLprepError) -> String {
        // The common case: printable ASCII maps to itself and is already NFKC.
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return string }
        var mapped = String.UnicodeScalarView()
        for scalar in string.unicodeScalars {
            if mapsToNothing(scalar) { continue }
            mapped.append(isNonASCIISpace(scalar) ? " " : scalar)
        }
        let normalized = String(mapped).precomposedStringWithCompatibilityMapping
        for scalar in normalized.unicodeScalars {
            if let reason = prohibition(scalar) {
                throw SASLprepError(scalar: scalar, reason: reason)
            }
            if isRightToLeft(scalar) {
                throw SASLprepError(scalar: scalar, reason: "right-to-left text, whose bidirectional rule (RFC 3454 §6) is not implemented")
            }
        }
        return normalized
    }

    /// RFC 3454 table B.1: characters commonly mapped to nothing.
    static func mapsToNothing(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00AD, 0x034F, 0x1806, 0x180B...0x180D, 0x200B...0x200D, 0x2060, 0xFE00...0xFE0F, 0xFEFF: return true
        default: return false
        }
    }

    /// RFC 3454 table C.1.2: non-ASCII space characters, mapped to SPACE (RFC 4013 §2.1).
    static func isNonASCIISpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00A0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Why RFC 4013 §2.3 prohibits `scalar`, or `nil`.
    static func prohibition(_ scalar: Unicode.Scalar) -> String? {
        let v = scalar.value
        switch v {
        case 0x0000...0x001F, 0x007F: return "an ASCII control character"
        case 0x0080...0x009F, 0x06DD, 0x070F, 0x180E, 0x200C, 0x200D, 0x2028, 0x2029, 0x2060...0x2063, 0x206A...0x206F,
             0xFEFF, 0xFFF9...0xFFFC, 0x1D173...0x1D17A:
            return "a control character"
        case 0xE000...0xF8FF, 0xF0000...0xFFFFD, 0x100000...0x10FFFD: return "a private-use character"
        case 0xFDD0...0xFDEF: return "a non-character code point"
        case _ where v & 0xFFFE == 0xFFFE: return "a non-character code point"
        case 0xFFFD: return "a character inappropriate for plain text"
        case 0x2FF0...0x2FFB: return "an ideographic description character"
        case 0x0340, 0x0341, 0x200E, 0x200F, 0x202A...0x202E: return "a display-property or directional-control character"
        case 0xE0001, 0xE0020...0xE007F: return "a tagging character"
        default: return nil
        }
    }

    /// Scripts written right to left (Hebrew, Arabic, Syriac, Thaana, N'Ko, Samaritan, Mandaic,
    /// their presentation forms, and the right-to-left supplementary blocks).
    static func isRightToLeft(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0590...0x08FF, 0xFB1D...0xFDFF, 0xFE70...0xFEFC, 0x10800...0x10FFF, 0x1E800...0x1EFFF: return true
        default: return false
        }
    }
}

/// A user name or password that SASLprep refuses; it names the character's code point, never the
/// secret itself.
public struct SASLprepError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The first character SASLprep cannot take.
    public var scalar: Unicode.Scalar
    /// Why.
    public var reason: String

    public var description: String {
        "SASLprep (RFC 4013) cannot prepare a credential containing U+\(String(scalar.value, radix: 16, uppercase: true)): \(reason)"
    }
}

/// PLAIN with its user name and password prepared by SASLprep, as RFC 4616 §2 asks of clients:
/// what ``AMQPConnectionOptions/Authentication/plain(username:password:)`` sends. A credential
/// SASLprep refuses fails the connection with ``SASLError/Kind/unpreparableCredentials`` before
/// anything is sent.
struct SASLpreppedPlainMechanism: SASLClientMechanism, CustomStringConvertible {
    var name: Symbol { "PLAIN" }
    var sendsCleartextSecret: Bool { true }
    private var prepared: Result<PlainMechanism, SASLError>

    init(username: String, password: String) {
        do throws(SASLprepError) {
            prepared = .success(PlainMechanism(username: try SASLprep.prepare(username), password: try SASLprep.prepare(password)))
        } catch {
            prepared = .failure(SASLError(.unpreparableCredentials, "PLAIN: \(error)"))
        }
    }

    mutating func initialResponse() throws(SASLError) -> [UInt8]? {
        var mechanism = try prepared.get()
        return try mechanism.initialResponse()
    }

    var description: String { (try? prepared.get()).map(\.description) ?? "PLAIN(<unpreparable credentials>)" }
}
