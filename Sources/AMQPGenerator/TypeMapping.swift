import AMQPSpecModel

/// A spec type as the generated Swift sees it.
struct SwiftType {
    var name: TypeName
    /// Whether it conforms to `AMQPCodable` (a field's type must).
    var isCodable: Bool
    /// Whether it conforms to `AMQPArrayElement` (a `multiple="true"` field's type must).
    var isArrayElement: Bool
}

/// How each spec type is shaped in Swift.
enum TypeShape {
    case primitive(String)
    /// A composite: a struct of fields.
    case composite
    /// A restricted type with a descriptor: a struct wrapping one value of its source.
    case wrapper
    /// A restricted type with choices: an enum. Open sets keep unknown values.
    case choices(root: String, isOpen: Bool)
    /// A restricted type without choices or descriptor: a typealias of its source.
    case alias
}

/// The Swift side of AMQP's primitive types: the codec's types.
enum Primitives {
    /// Primitive name → (Swift type, is an array element). `list` has no codable Swift type:
    /// restricted types over it store `[AMQPValue]` and use the codec's `decodeList`/`encode(list:)`.
    static let table: [String: (swift: String, arrayElement: Bool)] = [
        "boolean": ("Bool", true), "ubyte": ("UInt8", true), "ushort": ("UInt16", true),
        "uint": ("UInt32", true), "ulong": ("UInt64", true), "byte": ("Int8", true),
        "short": ("Int16", true), "int": ("Int32", true), "long": ("Int64", true),
        "float": ("Float", true), "double": ("Double", true), "decimal32": ("Decimal32", false),
        "decimal64": ("Decimal64", false), "decimal128": ("Decimal128", false),
        "char": ("Unicode.Scalar", false), "timestamp": ("Timestamp", true), "uuid": ("AMQPUUID", true),
        "binary": ("Binary", true), "string": ("String", true), "symbol": ("Symbol", true),
        "list": ("[AMQPValue]", false), "map": ("AMQPMap", false), "array": ("AMQPArray", false),
    ]

    /// The Swift type of `*`.
    static let any = "AMQPValue"

    /// Restricted types whose meaning differs from their source's: they map to a codec type.
    static let semanticTypes: [String: String] = [
        "sequence-no": "SerialNumber",
    ]

    static func isOpenSet(_ root: String) -> Bool {
        root == "symbol" || root == "string"
    }
}

/// Answers "what is this spec type in Swift" for a validated model.
struct TypeMapper {
    let model: SpecModel

    func shape(of type: SpecType) -> TypeShape {
        switch type.typeClass {
        case .primitive:
            return .primitive(type.name)
        case .composite:
            return .composite
        case .restricted:
            if type.descriptor != nil { return .wrapper }
            if !type.choices.isEmpty, case .primitive(let root) = model.root(of: type.name) {
                return .choices(root: root, isOpen: Primitives.isOpenSet(root))
            }
            return .alias
        }
    }

    func swiftType(of name: String, at location: SourceLocation) throws(GeneratorError) -> SwiftType {
        if name == "*" {
            return SwiftType(name: .named(Primitives.any), isCodable: true, isArrayElement: false)
        }
        guard let type = model.type(named: name), type.typeClass != .primitive else {
            guard let primitive = Primitives.table[name] else {
                throw GeneratorError(at: location, name: name, "the primitive type '\(name)' has no Swift type")
            }
            return SwiftType(name: .named(primitive.swift), isCodable: name != "list", isArrayElement: primitive.arrayElement)
        }
        let swiftName = TypeName.named(Naming.typeName(name))
        switch shape(of: type) {
        case .primitive:
            preconditionFailure("handled above")
        case .composite, .wrapper:
            return SwiftType(name: swiftName, isCodable: true, isArrayElement: false)
        case .choices:
            return SwiftType(name: swiftName, isCodable: true, isArrayElement: true)
        case .alias:
            if Primitives.semanticTypes[name] != nil {
                return SwiftType(name: swiftName, isCodable: true, isArrayElement: true)
            }
            var source = try swiftType(of: type.source ?? "*", at: type.location)
            source.name = swiftName
            return source
        }
    }

    /// The Swift type an alias points at: its source's Swift name, or a codec type for the
    /// restricted types whose semantics differ.
    func aliasTarget(of type: SpecType) throws(GeneratorError) -> TypeName {
        if let semantic = Primitives.semanticTypes[type.name] { return .named(semantic) }
        return try swiftType(of: type.source ?? "*", at: type.location).name
    }

    /// How an archetype's providers can be told apart when decoding.
    enum ArchetypeShape {
        /// Every provider has a descriptor: dispatch on it.
        case described
        /// Every provider is a set of symbols: dispatch on the symbol.
        case symbolic
        /// Every provider restricts a different primitive: dispatch on the value's type.
        case valued
    }

    func archetypeShape(_ archetype: SpecModel.Archetype) throws(GeneratorError) -> ArchetypeShape {
        let providers = archetype.providers
        if providers.allSatisfy({ $0.descriptor != nil }) { return .described }
        let shapes = providers.map { shape(of: $0) }
        if shapes.allSatisfy({ if case .choices(root: "symbol", _) = $0 { return true } else { return false } }) {
            return .symbolic
        }
        var roots = Set<String>()
        for provider in providers {
            guard case .alias = shape(of: provider), case .primitive(let root) = model.root(of: provider.name), roots.insert(root).inserted else {
                throw GeneratorError(
                    at: provider.location, name: archetype.name,
                    "the providers of '\(archetype.name)' cannot be told apart when decoding: they must all be described, all symbol choices, or each restrict a different primitive")
            }
        }
        return .valued
    }

    /// The Swift type of a composite's field, before `multiple` and optionality.
    func fieldType(_ field: SpecField) throws(GeneratorError) -> SwiftType {
        if field.requires.count == 1, let archetype = model.archetypes.first(where: { $0.name == field.requires[0] }) {
            let shape = try archetypeShape(archetype)
            return SwiftType(name: .named(Naming.archetypeName(archetype.name)), isCodable: true, isArrayElement: shape == .symbolic)
        }
        return try swiftType(of: field.type, at: field.location)
    }
}
