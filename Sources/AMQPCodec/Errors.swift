/// Bytes that are not a valid AMQP 1.0 encoding, or that exceed the decoder's limits.
///
/// Every decoding failure maps to the AMQP error condition `amqp:decode-error` (§2.8.15), which a
/// connection sends when it closes because of such bytes. The error says where (the byte offset
/// from the start of the decoder's input) and what was expected there.
public struct AMQPDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem was found. New kinds may be added without breaking source.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline
        enum Base: Hashable, Sendable {
            case truncated
            case invalidFormatCode
            case unexpectedType
            case invalidValue
            case invalidUTF8
            case invalidSymbol
            case invalidChar
            case sizeMismatch
            case countMismatch
            case invalidArray
            case limitExceeded
            case depthExceeded
            case unexpectedDescriptor
            case missingMandatoryField
            case invalidField
            case trailingBytes
        }

        @usableFromInline
        let base: Base

        @usableFromInline
        init(_ base: Base) { self.base = base }

        /// The input ended inside a value.
        public static let truncated = Kind(.truncated)
        /// A byte where a constructor was expected is not a format code of the specification.
        public static let invalidFormatCode = Kind(.invalidFormatCode)
        /// A well-formed value of another type than the one required here.
        public static let unexpectedType = Kind(.unexpectedType)
        /// A value outside its type's domain (a boolean byte other than 0 or 1, a restricted value
        /// that is not one of its choices).
        public static let invalidValue = Kind(.invalidValue)
        /// A string whose bytes are not valid UTF-8.
        public static let invalidUTF8 = Kind(.invalidUTF8)
        /// A symbol with a byte outside ASCII.
        public static let invalidSymbol = Kind(.invalidSymbol)
        /// A char that is not a Unicode scalar value.
        public static let invalidChar = Kind(.invalidChar)
        /// A compound whose items do not fill exactly its declared size.
        public static let sizeMismatch = Kind(.sizeMismatch)
        /// A compound whose declared count does not fit its size, or a map with an odd count.
        public static let countMismatch = Kind(.countMismatch)
        /// An array whose element constructor is not valid for its elements.
        public static let invalidArray = Kind(.invalidArray)
        /// A declared size or count beyond ``AMQPDecoder/Limits``.
        public static let limitExceeded = Kind(.limitExceeded)
        /// Compounds or descriptors nested deeper than ``AMQPDecoder/Limits/maxDepth``.
        public static let depthExceeded = Kind(.depthExceeded)
        /// A described value whose descriptor is not the one required here.
        public static let unexpectedDescriptor = Kind(.unexpectedDescriptor)
        /// A composite without a value for a mandatory field.
        public static let missingMandatoryField = Kind(.missingMandatoryField)
        /// A field of a composite that could not be decoded; ``AMQPDecodingError/underlying`` says why.
        public static let invalidField = Kind(.invalidField)
        /// Bytes left over after a value that was expected to end the input.
        public static let trailingBytes = Kind(.trailingBytes)

        /// A short phrase for messages, e.g. `truncated`, `invalid UTF-8`.
        public var description: String {
            switch base {
            case .truncated: return "truncated"
            case .invalidFormatCode: return "invalid format code"
            case .unexpectedType: return "unexpected type"
            case .invalidValue: return "invalid value"
            case .invalidUTF8: return "invalid UTF-8"
            case .invalidSymbol: return "invalid symbol"
            case .invalidChar: return "invalid char"
            case .sizeMismatch: return "size mismatch"
            case .countMismatch: return "count mismatch"
            case .invalidArray: return "invalid array"
            case .limitExceeded: return "limit exceeded"
            case .depthExceeded: return "nesting too deep"
            case .unexpectedDescriptor: return "unexpected descriptor"
            case .missingMandatoryField: return "missing mandatory field"
            case .invalidField: return "invalid field"
            case .trailingBytes: return "trailing bytes"
            }
        }
    }

    /// What went wrong.
    public var kind: Kind
    /// The byte offset, from the start of the decoder's input, where the problem was found.
    public var offset: Int
    /// What was expected, or which type and field were being read.
    public var detail: String
    /// For ``Kind/invalidField``, the error found inside the field.
    public var underlying: Box?

    /// Holds a nested error (a struct cannot contain itself directly).
    public final class Box: Hashable, Sendable {
        /// The nested error.
        public let error: AMQPDecodingError
        init(_ error: AMQPDecodingError) { self.error = error }
        /// Compares the boxed errors, not the boxes' identity.
        public static func == (lhs: Box, rhs: Box) -> Bool { lhs.error == rhs.error }
        /// Hashes the boxed error, consistently with `==`.
        public func hash(into hasher: inout Hasher) { hasher.combine(error) }
    }

    /// An error of `kind` at byte `offset` of the input; `detail` says what was expected or found.
    @inlinable
    public init(_ kind: Kind, at offset: Int, _ detail: String) {
        self.kind = kind
        self.offset = offset
        self.detail = detail
        self.underlying = nil
    }

    /// The AMQP error condition a peer is told about: always `amqp:decode-error`.
    public var condition: Symbol { "amqp:decode-error" }

    /// The innermost error: the one found in the deepest field.
    public var rootCause: AMQPDecodingError {
        var e = self
        while let inner = e.underlying?.error { e = inner }
        return e
    }

    /// Kind, offset and detail, then any nested field error in parentheses.
    public var description: String {
        var text = "\(kind) at offset \(offset): \(detail)"
        if let inner = underlying?.error { text += " (\(inner))" }
        return text
    }
}

/// A value that cannot be encoded as asked: an array whose elements do not share one type, a
/// symbol with a non-ASCII character, a compound larger than 4 GiB.
public struct AMQPEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of encoding problem it is. New kinds may be added without breaking source.
    public struct Kind: Hashable, Sendable {
        @usableFromInline
        enum Base: Hashable, Sendable { case invalidArray, tooLarge, invalidValue }
        @usableFromInline let base: Base
        @usableFromInline init(_ base: Base) { self.base = base }
        /// Array elements of different types, or a described element.
        public static let invalidArray = Kind(.invalidArray)
        /// A value whose encoding would exceed the 32-bit sizes of AMQP.
        public static let tooLarge = Kind(.tooLarge)
        /// A value outside what its AMQP type can hold.
        public static let invalidValue = Kind(.invalidValue)
    }

    /// What went wrong.
    public var kind: Kind
    /// Which value and why, for messages.
    public var detail: String

    /// An error of `kind` with a message saying which value and why.
    @inlinable
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The detail message.
    public var description: String { detail }
}
