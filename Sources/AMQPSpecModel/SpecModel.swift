/// Every type of a set of spec files, with references resolved and checked.
///
/// Creating a model validates the files together: every `source` and field `type` names a known
/// type, names and descriptors are unique, restricted types reach a primitive (or `*`) without a
/// cycle, and choice values and field defaults are values of their types. The first problem in
/// file order is thrown as a ``SpecError``.
public struct SpecModel: Sendable {
    /// The files, in the order they were given.
    public let documents: [SpecDocument]
    /// Every archetype some type provides (`frame`, `section`, `error-condition`, …) in order of
    /// first appearance, with its providers in file order.
    public let archetypes: [Archetype]
    private let typesByName: [String: SpecType]
    private let importedTypeNames: Set<String>

    /// The names of AMQP's primitive types (§1.6 of the types specification). They are known even
    /// when `types.xml` is not loaded, so an extension file can be read on its own.
    public static let primitiveNames: [String] = [
        "null", "boolean", "ubyte", "ushort", "uint", "ulong", "byte", "short", "int", "long",
        "float", "double", "decimal32", "decimal64", "decimal128", "char", "timestamp", "uuid",
        "binary", "string", "symbol", "list", "map", "array",
    ]

    /// A name in a `provides` attribute, and the types that provide it.
    public struct Archetype: Hashable, Sendable {
        /// The archetype's name (`delivery-state`).
        public var name: String
        /// The types that provide it, in file order.
        public var providers: [SpecType]
    }

    /// Where a type's chain of sources ends.
    public enum Root: Hashable, Sendable {
        /// A primitive type: `uint`, `symbol`, …
        case primitive(String)
        /// `*`: any value.
        case any
        /// A composite type (only a composite itself has this root).
        case composite(String)
    }

    /// Parses and validates spec files given as bytes.
    public static func load(_ files: [(fileName: String, bytes: [UInt8])]) throws(SpecError) -> SpecModel {
        var documents: [SpecDocument] = []
        for file in files {
            documents.append(try SpecParser.parse(file.bytes, fileName: file.fileName))
        }
        return try SpecModel(documents: documents)
    }

    /// Validates already-parsed documents together; throws the first ``SpecError`` in file order.
    public init(documents: [SpecDocument]) throws(SpecError) {
        self.documents = documents
        var byName: [String: SpecType] = [:]
        var descriptorCodes: [UInt64: SpecType] = [:]
        var descriptorNames: [String: SpecType] = [:]
        var definitions: [String: SpecDefinition] = [:]
        var archetypeOrder: [String] = []
        var providers: [String: [SpecType]] = [:]
        for type in documents.flatMap(\.sections).flatMap(\.types) {
            if let other = byName[type.name] {
                throw SpecError(.duplicateName, at: type.location, name: type.name, "type '\(type.name)' is already defined at \(other.location)")
            }
            if type.typeClass != .primitive && Self.primitiveNames.contains(type.name) {
                throw SpecError(.duplicateName, at: type.location, name: type.name, "type '\(type.name)' redefines a primitive type")
            }
            byName[type.name] = type
            if let descriptor = type.descriptor {
                if let other = descriptorCodes[descriptor.code] {
                    throw SpecError(.duplicateDescriptor, at: descriptor.location, name: type.name, "descriptor code \(descriptor.codeText) of '\(type.name)' is already used by '\(other.name)' at \(other.location)")
                }
                if let other = descriptorNames[descriptor.name] {
                    throw SpecError(.duplicateDescriptor, at: descriptor.location, name: type.name, "descriptor name \(descriptor.name) of '\(type.name)' is already used by '\(other.name)' at \(other.location)")
                }
                descriptorCodes[descriptor.code] = type
                descriptorNames[descriptor.name] = type
            }
            for archetype in type.provides {
                if providers[archetype] == nil { archetypeOrder.append(archetype) }
                providers[archetype, default: []].append(type)
            }
        }
        for definition in documents.flatMap(\.sections).flatMap(\.definitions) {
            if let other = definitions[definition.name] {
                throw SpecError(.duplicateName, at: definition.location, name: definition.name, "definition '\(definition.name)' is already defined at \(other.location)")
            }
            definitions[definition.name] = definition
        }
        self.typesByName = byName
        self.importedTypeNames = Set(documents.filter { $0.swiftModule != nil }.flatMap(\.sections).flatMap(\.types).map(\.name))
        self.archetypes = archetypeOrder.map { Archetype(name: $0, providers: providers[$0] ?? []) }
        for type in types {
            try validate(type)
        }
        try validateProvidesAgainstImports()
    }

    /// The Swift module that declares `type`, when an index says another module does.
    public func importingModule(of type: SpecType) -> String? {
        guard importedTypeNames.contains(type.name) else { return nil }
        return documents.first { $0.swiftModule != nil && $0.sections.contains { $0.types.contains(type) } }?.swiftModule
    }

    /// Whether `type` is declared by an imported module (an index), not generated from these files.
    public func isImported(_ type: SpecType) -> Bool {
        importedTypeNames.contains(type.name)
    }


    /// Files generated against a module (an index is loaded) may only provide archetypes that
    /// module's types provide, or that some loaded field requires: an archetype nobody accepts is
    /// a misspelling, and would silently generate an enum nothing uses.
    private func validateProvidesAgainstImports() throws(SpecError) {
        let imported = documents.filter { $0.swiftModule != nil }
        guard !imported.isEmpty else { return }
        var known = Set(imported.flatMap(\.sections).flatMap(\.types).flatMap(\.provides))
        for type in types {
            for field in type.fields { known.formUnion(field.requires) }
        }
        for document in documents where document.swiftModule == nil {
            for type in document.sections.flatMap(\.types) {
                for archetype in type.provides where !known.contains(archetype) {
                    throw SpecError(.unknownArchetype, at: type.location, name: archetype, "'\(type.name)' provides '\(archetype)', which no type of \(imported[0].swiftModule ?? "") provides and no field requires")
                }
            }
        }
    }

    /// Every type of every file, in file order.
    public var types: [SpecType] {
        documents.flatMap(\.sections).flatMap(\.types)
    }

    /// The type called `name`, if a loaded file defines it.
    public func type(named name: String) -> SpecType? {
        typesByName[name]
    }

    /// Whether `name` is a type: a loaded one, a primitive, or `*`.
    public func isKnownType(_ name: String) -> Bool {
        name == "*" || typesByName[name] != nil || Self.primitiveNames.contains(name)
    }

    /// The names from `name` down its sources to a primitive, a composite or `*`:
    /// `delivery-number` → `[delivery-number, sequence-no, uint]`. Valid for a validated model.
    public func sourceChain(of name: String) -> [String] {
        var chain = [name]
        var current = name
        while let type = typesByName[current], type.typeClass == .restricted, let source = type.source, !chain.contains(source) {
            chain.append(source)
            current = source
        }
        return chain
    }

    /// Where the chain of sources of `name` ends.
    public func root(of name: String) -> Root {
        guard let last = sourceChain(of: name).last else { return .any }
        if last == "*" { return .any }
        if let type = typesByName[last], type.typeClass == .composite { return .composite(last) }
        return .primitive(last)
    }

    /// The types that provide `archetype`, in file order (empty if none does).
    public func providers(of archetype: String) -> [SpecType] {
        archetypes.first { $0.name == archetype }?.providers ?? []
    }

    /// The types that satisfy a field's `requires`: every provider of any of the archetypes, once each.
    public func satisfying(_ requires: [String]) -> [SpecType] {
        var seen = Set<String>()
        var result: [SpecType] = []
        for archetype in requires {
            for provider in providers(of: archetype) where seen.insert(provider.name).inserted {
                result.append(provider)
            }
        }
        return result
    }

    /// The default of a field, resolved against its type. `nil` when the field has none.
    /// Valid for a validated model (validation rejects defaults this cannot resolve).
    public func defaultValue(of field: SpecField) -> SpecDefault? {
        guard let text = field.defaultValue else { return nil }
        return try? resolveDefault(text, of: field)
    }

    // MARK: - Validation

    private func validate(_ type: SpecType) throws(SpecError) {
        switch type.typeClass {
        case .primitive:
            break
        case .composite:
            if type.source != "list" {
                throw SpecError(.invalidSource, at: type.location, name: type.name, "composite '\(type.name)' has source \"\(type.source ?? "")\"; composites are lists (source=\"list\")")
            }
            if type.descriptor == nil {
                throw SpecError(.missingAttribute, at: type.location, name: type.name, "composite '\(type.name)' has no <descriptor>")
            }
        case .restricted:
            try validateSource(type)
        }
        var fieldNames = Set<String>()
        for field in type.fields {
            guard fieldNames.insert(field.name).inserted else {
                throw SpecError(.duplicateName, at: field.location, name: field.name, "'\(type.name)' has two fields named '\(field.name)'")
            }
            guard isKnownType(field.type) else {
                throw SpecError(.unknownType, at: field.location, name: field.type, "field '\(field.name)' of '\(type.name)' has type '\(field.type)', which no loaded file defines")
            }
            if let text = field.defaultValue {
                _ = try resolveDefault(text, of: field)
            }
        }
        var choiceNames = Set<String>()
        var choiceValues = Set<SpecValue>()
        if !type.choices.isEmpty, type.typeClass != .restricted {
            throw SpecError(.invalidSource, at: type.location, name: type.name, "only restricted types have choices; '\(type.name)' is \(type.typeClass.rawValue)")
        }
        for choice in type.choices {
            guard choiceNames.insert(choice.name).inserted else {
                throw SpecError(.duplicateName, at: choice.location, name: choice.name, "'\(type.name)' has two choices named '\(choice.name)'")
            }
            guard case .primitive(let primitive) = root(of: type.name), let value = SpecValue(parsing: choice.value, as: primitive) else {
                throw SpecError(.invalidValue, at: choice.location, name: choice.name, "choice '\(choice.name)' of '\(type.name)' has value \"\(choice.value)\", which is not a value of \(rootDescription(of: type.name))")
            }
            guard choiceValues.insert(value).inserted else {
                throw SpecError(.duplicateName, at: choice.location, name: choice.name, "'\(type.name)' has two choices with value \"\(choice.value)\"")
            }
        }
    }

    private func validateSource(_ type: SpecType) throws(SpecError) {
        var visited: [String] = [type.name]
        var current = type
        while let source = current.source {
            if source == "*" || Self.primitiveNames.contains(source) && typesByName[source] == nil { return }
            guard let next = typesByName[source] else {
                throw SpecError(.unknownType, at: type.location, name: source, "'\(current.name)' has source '\(source)', which no loaded file defines")
            }
            switch next.typeClass {
            case .primitive:
                return
            case .composite:
                throw SpecError(.invalidSource, at: type.location, name: source, "restricted type '\(current.name)' restricts composite '\(source)'; only primitive and restricted types can be restricted")
            case .restricted:
                if visited.contains(source) {
                    throw SpecError(.sourceCycle, at: type.location, name: type.name, "'\(type.name)' is its own source: " + (visited + [source]).joined(separator: " → "))
                }
                visited.append(source)
                current = next
            }
        }
    }

    private func rootDescription(of name: String) -> String {
        switch root(of: name) {
        case .primitive(let p): return p
        case .any: return "*"
        case .composite(let c): return "composite \(c)"
        }
    }

    private func resolveDefault(_ text: String, of field: SpecField) throws(SpecError) -> SpecDefault {
        if let type = typesByName[field.type], !type.choices.isEmpty {
            guard type.choices.contains(where: { $0.name == text }) else {
                throw SpecError(.invalidValue, at: field.location, name: field.name, "default \"\(text)\" of field '\(field.name)' is not a choice of '\(field.type)' (" + type.choices.map(\.name).joined(separator: ", ") + ")")
            }
            return .choice(text)
        }
        guard case .primitive(let primitive) = root(of: field.type), let value = SpecValue(parsing: text, as: primitive) else {
            throw SpecError(.invalidValue, at: field.location, name: field.name, "default \"\(text)\" of field '\(field.name)' is not a value of \(rootDescription(of: field.type)) (defaults are supported for booleans, integers, symbols, strings and choices)")
        }
        return .value(value)
    }
}

/// A field default, resolved against the field's type.
public enum SpecDefault: Hashable, Sendable {
    /// The name of a choice of the field's restricted type (`default="mixed"`).
    case choice(String)
    /// A value of the field's primitive root type.
    case value(SpecValue)
}

/// A literal value of a primitive type, as choices and defaults write them.
public enum SpecValue: Hashable, Sendable {
    case boolean(Bool)
    case unsigned(UInt64)
    case signed(Int64)
    case symbol(String)
    case string(String)

    /// Parses `text` as a value of `primitive` (decimal or `0x` hexadecimal for integers), or
    /// returns nil when it is not one or the primitive has no literal form here.
    public init?(parsing text: String, as primitive: String) {
        switch primitive {
        case "boolean":
            switch text {
            case "true": self = .boolean(true)
            case "false": self = .boolean(false)
            default: return nil
            }
        case "ubyte", "ushort", "uint", "ulong":
            let max: UInt64 = primitive == "ubyte" ? UInt64(UInt8.max) : primitive == "ushort" ? UInt64(UInt16.max) : primitive == "uint" ? UInt64(UInt32.max) : .max
            guard let v = parseHex(text) ?? UInt64(text), v <= max else { return nil }
            self = .unsigned(v)
        case "byte", "short", "int", "long":
            let bits: Int64 = primitive == "byte" ? 7 : primitive == "short" ? 15 : primitive == "int" ? 31 : 63
            guard let v = Int64(text) else { return nil }
            if bits < 63 {
                guard v >= -(1 << bits) && v < (1 << bits) else { return nil }
            }
            self = .signed(v)
        case "symbol":
            guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
            self = .symbol(text)
        case "string":
            self = .string(text)
        default:
            return nil
        }
    }
}
