/// A spec file that cannot be turned into a model: XML that is not well formed, an element without
/// a required attribute, a reference to a type nobody defines, two types with one descriptor, …
///
/// Every error names the file and line where it was found and the name it is about (a type, a
/// field, an attribute), so a person can go straight to it. New kinds may be added without
/// breaking source: match on ``kind`` with a `default`.
public struct SpecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem was found.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable {
            case notWellFormed
            case unexpectedRoot
            case missingAttribute
            case invalidAttribute
            case invalidCode
            case duplicateName
            case duplicateDescriptor
            case unknownType
            case sourceCycle
            case invalidSource
            case invalidValue
            case unknownArchetype
        }

        let base: Base

        /// The bytes are not well-formed XML.
        public static let notWellFormed = Kind(base: .notWellFormed)
        /// The document element is not `<amqp>`.
        public static let unexpectedRoot = Kind(base: .unexpectedRoot)
        /// An element lacks an attribute the schema requires (a type without `name`, a field without `type`).
        public static let missingAttribute = Kind(base: .missingAttribute)
        /// An attribute has a value outside its domain (`class="struct"`, `mandatory="yes"`).
        public static let invalidAttribute = Kind(base: .invalidAttribute)
        /// A descriptor or encoding code that is not `0xHHHHHHHH:0xHHHHHHHH` (or `0xHH`).
        public static let invalidCode = Kind(base: .invalidCode)
        /// Two types, fields, choices or definitions with one name where names must be unique.
        public static let duplicateName = Kind(base: .duplicateName)
        /// Two types with one descriptor code or one descriptor name.
        public static let duplicateDescriptor = Kind(base: .duplicateDescriptor)
        /// A `source` or field `type` that names no type of the loaded files.
        public static let unknownType = Kind(base: .unknownType)
        /// A restricted type that is, through its sources, its own source.
        public static let sourceCycle = Kind(base: .sourceCycle)
        /// A type whose source cannot be one (a composite not over `list`, a restriction of a composite).
        public static let invalidSource = Kind(base: .invalidSource)
        /// A choice value or field default that is not a value of its type.
        public static let invalidValue = Kind(base: .invalidValue)

        /// A `provides` naming an archetype that neither the imported module's types provide nor
        /// any loaded field `requires` (usually a misspelling: `provides="outcom"`).
        public static let unknownArchetype = Kind(base: .unknownArchetype)

        /// A short phrase for messages, e.g. `unknown type`.
        public var description: String {
            switch base {
            case .notWellFormed: return "not well-formed XML"
            case .unexpectedRoot: return "unexpected document element"
            case .missingAttribute: return "missing attribute"
            case .invalidAttribute: return "invalid attribute"
            case .invalidCode: return "invalid code"
            case .duplicateName: return "duplicate name"
            case .duplicateDescriptor: return "duplicate descriptor"
            case .unknownType: return "unknown type"
            case .sourceCycle: return "restriction cycle"
            case .invalidSource: return "invalid source"
            case .invalidValue: return "invalid value"
            case .unknownArchetype: return "unknown archetype"
            }
        }
    }

    /// What went wrong.
    public var kind: Kind
    /// The file name the bytes were given under.
    public var file: String
    /// The 1-based line in ``file``; 0 when the parser could not tell.
    public var line: Int
    /// The name the error is about: the type, field, choice or attribute.
    public var name: String
    /// What is wrong, in words.
    public var message: String

    /// An error of `kind` at `file`:`line`, about `name`.
    public init(_ kind: Kind, file: String, line: Int, name: String, _ message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.name = name
        self.message = message
    }

    init(_ kind: Kind, at location: SourceLocation, name: String, _ message: String) {
        self.init(kind, file: location.file, line: location.line, name: name, message)
    }

    /// `file:line: error: message`, the form editors and CI logs link to.
    public var description: String {
        "\(file):\(line): error: \(kind): \(message)"
    }
}

/// Where an element of a spec file starts.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    /// The file name the bytes were given under.
    public var file: String
    /// The 1-based line; 0 when the parser could not tell.
    public var line: Int

    /// A location at `line` (1-based) of `file`.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `file:line`.
    public var description: String { "\(file):\(line)" }
}
