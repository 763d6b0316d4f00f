import AMQPSpecModel

/// Builds the declaration model for each kind of spec type.
struct Emitter {
    let model: SpecModel
    let mapper: TypeMapper
    let docs: Docs
    /// The name of the enum listing this module's described types.
    let registryName: String

    /// The declarations of one output file: the user-facing ones, then codec support.
    struct Parts {
        var main: [Declaration] = []
        var encoding: [Declaration] = []

        var isEmpty: Bool { main.isEmpty && encoding.isEmpty }

        mutating func append(_ other: Parts) {
            main += other.main
            encoding += other.encoding
        }
    }

    // MARK: - Names

    /// Rejects spec names that would become the same Swift name, or a name the generator uses itself.
    func checkNames() throws(GeneratorError) {
        var owners: [String: String] = [:]
        let reserved = [Naming.definitionsNamespace, Naming.describedTypesRegistry, registryName]
        func claim(_ swiftName: String, by specName: String, at location: SourceLocation) throws(GeneratorError) {
            if reserved.contains(swiftName) || Primitives.table.values.contains(where: { $0.swift == swiftName }) || swiftName == Primitives.any {
                throw GeneratorError(at: location, name: specName, "'\(specName)' would be named \(swiftName), which the generator or the codec already uses; add a rename to Naming.typeRenames")
            }
            if let other = owners[swiftName] {
                throw GeneratorError(at: location, name: specName, "'\(specName)' and '\(other)' would both be named \(swiftName) in Swift; add a rename to Naming")
            }
            owners[swiftName] = specName
        }
        for type in model.types where type.typeClass != .primitive {
            try claim(Naming.typeName(type.name), by: type.name, at: type.location)
            var members: [String: String] = [:]
            for name in type.fields.map(\.name) + type.choices.map(\.name) {
                let swiftName = Naming.memberName(name)
                if let other = members[swiftName] ?? (swiftName == Naming.unknownCase && !type.choices.isEmpty ? Naming.unknownCase : nil) {
                    throw GeneratorError(at: type.location, name: name, "'\(name)' and '\(other)' of '\(type.name)' would both be named \(swiftName) in Swift")
                }
                members[swiftName] = name
            }
        }
        for archetype in model.archetypes {
            try claim(Naming.archetypeName(archetype.name), by: "provides=\"\(archetype.name)\"", at: archetype.providers[0].location)
        }
    }

    // MARK: - Sections

    func emit(_ section: SpecSection, of document: SpecDocument) throws(GeneratorError) -> Parts {
        var parts = Parts()
        for type in section.types {
            switch mapper.shape(of: type) {
            case .primitive:
                // Primitives are the codec's own types: nothing to generate, but a primitive the
                // codec does not know cannot be used.
                guard SpecModel.primitiveNames.contains(type.name) else {
                    throw GeneratorError(at: type.location, name: type.name, "'\(type.name)' is not one of AMQP's primitive types, which are the codec's own")
                }
            case .composite:
                parts.append(try composite(type, docs: typeDocs(type, document)))
            case .wrapper:
                parts.append(try wrapper(type, docs: typeDocs(type, document)))
            case .choices(let root, let isOpen):
                parts.append(try choices(type, root: root, isOpen: isOpen, docs: typeDocs(type, document)))
            case .alias:
                parts.main.append(.documented(
                    typeDocs(type, document),
                    .typealias(.public, name: Naming.typeName(type.name), try mapper.aliasTarget(of: type))))
            }
        }
        if !section.definitions.isEmpty {
            parts.main.append(.extension(ExtensionDeclaration(
                access: nil, extendedType: Naming.definitionsNamespace, conformances: [],
                members: section.definitions.map(definition))))
        }
        return parts
    }

    private func typeDocs(_ type: SpecType, _ document: SpecDocument) -> [String] {
        docs.type(type, in: document, summary: docs.summary(of: type))
    }

    private func definition(_ d: SpecDefinition) -> Declaration {
        let isInteger = Int64(d.value) != nil
        let variable = VariableDeclaration(
            access: .public, isStatic: true, isMutable: false, name: Naming.memberName(d.name),
            type: .named(isInteger ? "Int" : "String"),
            initializer: isInteger ? .integer(d.value) : .string(d.value))
        return .documented(Docs.lines("`\(d.name)` = \(d.value)", d.docs, label: d.label), .variable(variable))
    }

    // MARK: - Composites

    private struct Field {
        var spec: SpecField
        var name: String
        var type: SwiftType
        var defaultValue: Expression?

        /// The property's type: arrays for `multiple`, optional unless mandatory or defaulted.
        var propertyType: TypeName {
            if spec.multiple { return .array(type.name) }
            return spec.mandatory || defaultValue != nil ? type.name : .optional(type.name)
        }

        /// The initializer parameter's default: `nil`, `[]` or the spec default; none if mandatory.
        var parameterDefault: Expression? {
            if spec.mandatory { return nil }
            if spec.multiple { return .array([]) }
            return defaultValue ?? .nil
        }
    }

    private func fields(of type: SpecType) throws(GeneratorError) -> [Field] {
        var result: [Field] = []
        for spec in type.fields {
            let swiftType = try mapper.fieldType(spec)
            guard swiftType.isCodable else {
                throw GeneratorError(at: spec.location, name: spec.name, "field '\(spec.name)' of '\(type.name)' has type '\(spec.type)', which has no codable Swift type (a restricted list needs a descriptor)")
            }
            if spec.multiple && !swiftType.isArrayElement {
                throw GeneratorError(at: spec.location, name: spec.name, "field '\(spec.name)' of '\(type.name)' is multiple, but '\(spec.type)' cannot be an array element")
            }
            let defaultValue = model.defaultValue(of: spec).map(literal)
            result.append(Field(spec: spec, name: Naming.memberName(spec.name), type: swiftType, defaultValue: defaultValue))
        }
        return result
    }

    private func literal(_ value: SpecDefault) -> Expression {
        switch value {
        case .choice(let name): return .member(nil, Naming.memberName(name))
        case .value(.boolean(let b)): return .boolean(b)
        case .value(.unsigned(let u)): return .integer(String(u))
        case .value(.signed(let s)): return .integer(String(s))
        case .value(.symbol(let text)), .value(.string(let text)): return .string(text)
        }
    }

    private func descriptorProperty(_ descriptor: SpecDescriptor) -> Declaration {
        let high = String(descriptor.code >> 32, radix: 16, uppercase: true)
        let low = String(descriptor.code & 0xFFFF_FFFF, radix: 16, uppercase: true)
        let code = "0x" + String(repeating: "0", count: 8 - high.count) + high + "_" + String(repeating: "0", count: 8 - low.count) + low
        return .variable(VariableDeclaration(
            access: .public, isStatic: true, isMutable: false, name: "descriptor", type: nil,
            initializer: .call("AMQPDescriptor", [Argument("code", .integer(code)), Argument("symbol", .string(descriptor.name))])))
    }

    private func composite(_ type: SpecType, docs typeDocs: [String]) throws(GeneratorError) -> Parts {
        let name = Naming.typeName(type.name)
        let fields = try fields(of: type)
        var members: [Declaration] = []
        if let descriptor = type.descriptor { members.append(descriptorProperty(descriptor)) }
        for (index, field) in fields.enumerated() {
            let property = Declaration.variable(VariableDeclaration(access: .public, isMutable: true, name: field.name, type: field.propertyType))
            members.append(.documented(docs.field(field.spec, position: index + 1, of: type), property))
        }
        members.append(.function(FunctionDeclaration(
            access: .public, kind: .initializer(failable: false),
            parameters: fields.map { .init(label: $0.name, name: $0.name, type: $0.propertyType, defaultValue: $0.parameterDefault) },
            throwsType: nil, returnType: nil,
            body: fields.map { .expression(.assignment(.member(.self, $0.name), .identifier($0.name))) })))
        let declaration = Declaration.structure(TypeDeclaration(access: .public, name: name, inherits: ["Sendable", "Hashable"], members: members))

        // Codec support.
        let fieldsVariable = Expression.identifier("fields")
        var decode: [Statement] = [.binding(isMutable: !fields.isEmpty, name: "fields", value: .try(.call(.member(.identifier("decoder"), "beginComposite"), [Argument(.string(type.name))])))]
        for field in fields {
            let method: String
            switch (field.spec.multiple, field.spec.mandatory) {
            case (true, true): method = "decodeMandatoryMultipleField"
            case (true, false): method = "decodeMultipleField"
            case (false, true): method = "decodeMandatoryField"
            case (false, false): method = "decodeField"
            }
            var value = Expression.call(.member(.identifier("decoder"), method), [
                Argument(.metatype(field.type.name)), Argument(.inOut(fieldsVariable)), Argument(.string(field.spec.name)),
            ])
            if !field.spec.mandatory, let fallback = field.spec.multiple ? .array([]) : field.defaultValue {
                value = .binary(value, "??", fallback)
            }
            decode.append(.expression(.assignment(.member(.self, field.name), .try(value))))
        }
        decode.append(.expression(.try(.call(.member(.identifier("decoder"), "endComposite"), [Argument(fieldsVariable)]))))

        let composite = Expression.identifier("composite")
        var encode: [Statement] = [.binding(isMutable: !fields.isEmpty, name: "composite", value: .call(.member(.identifier("encoder"), "beginComposite"), []))]
        for field in fields {
            let value = Expression.member(.self, field.name)
            var arguments: [Argument]
            if field.spec.multiple {
                let present = field.spec.mandatory ? value : .ternary(.member(value, "isEmpty"), .nil, value)
                arguments = [Argument("multiple", present)]
            } else if let defaultValue = field.defaultValue, !field.spec.mandatory {
                arguments = [Argument(value), Argument("default", defaultValue)]
            } else {
                arguments = [Argument(value)]
            }
            arguments.append(Argument(.inOut(composite)))
            encode.append(.expression(.call(.member(.identifier("encoder"), "encodeField"), arguments)))
        }
        encode.append(.expression(.call(.member(.identifier("encoder"), "endComposite"), [Argument(composite)])))

        let codec = Declaration.extension(ExtensionDeclaration(access: nil, extendedType: name, conformances: ["AMQPDescribedType"], members: [
            Self.decodingInitializer("describedBodyFrom", decode),
            Self.encodingFunction("encodeDescribedBody", encode),
        ]))
        return Parts(main: [.documented(typeDocs, declaration)], encoding: [codec])
    }

    /// `init(<label> decoder: inout AMQPDecoder) throws(AMQPDecodingError)`: `from` for
    /// `AMQPDecodable`, `describedBodyFrom` for `AMQPDescribedType`.
    static func decodingInitializer(_ label: String, _ body: [Statement]) -> Declaration {
        .function(FunctionDeclaration(
            access: .public, kind: .initializer(failable: false),
            parameters: [.init(label: label, name: "decoder", type: .named("AMQPDecoder"), isInout: true)],
            throwsType: "AMQPDecodingError", returnType: nil, body: body))
    }

    /// `func <name>(to encoder: inout AMQPEncoder)`: `encode` or `encodeDescribedBody`.
    static func encodingFunction(_ name: String, _ body: [Statement]) -> Declaration {
        .function(FunctionDeclaration(
            access: .public, kind: .function(name),
            parameters: [.init(label: "to", name: "encoder", type: .named("AMQPEncoder"), isInout: true)],
            throwsType: nil, returnType: nil, body: body))
    }

    // MARK: - Restricted types

    /// A described restricted type: a struct holding one value of its source type.
    private func wrapper(_ type: SpecType, docs typeDocs: [String]) throws(GeneratorError) -> Parts {
        let name = Naming.typeName(type.name)
        guard let descriptor = type.descriptor else { preconditionFailure("wrapper without descriptor") }
        let source = type.source ?? "*"
        let isList = mapper.model.root(of: source) == .primitive("list")
        let valueType = try mapper.swiftType(of: source, at: type.location)
        guard valueType.isCodable || isList else {
            throw GeneratorError(at: type.location, name: type.name, "'\(type.name)' restricts '\(source)', which has no codable Swift type")
        }
        let declaration = Declaration.structure(TypeDeclaration(access: .public, name: name, inherits: ["Sendable", "Hashable"], members: [
            descriptorProperty(descriptor),
            .variable(VariableDeclaration(access: .public, isMutable: true, name: "value", type: valueType.name)),
            .function(FunctionDeclaration(
                access: .public, kind: .initializer(failable: false),
                parameters: [.init(label: nil, name: "value", type: valueType.name)],
                throwsType: nil, returnType: nil,
                body: [.expression(.assignment(.member(.self, "value"), .identifier("value")))])),
        ]))
        let value = Expression.member(.self, "value")
        let decode: Expression = isList
            ? .call(.member(.identifier("decoder"), "decodeList"), [])
            : .call(.member(.identifier("decoder"), "decode"), [Argument(.metatype(valueType.name))])
        let encode: Expression = isList
            ? .call(.member(.identifier("encoder"), "encode"), [Argument("list", value)])
            : .call(.member(value, "encode"), [Argument("to", .inOut(.identifier("encoder")))])
        let codec = Declaration.extension(ExtensionDeclaration(access: nil, extendedType: name, conformances: ["AMQPDescribedType"], members: [
            Self.decodingInitializer("describedBodyFrom", [.expression(.assignment(value, .try(decode)))]),
            Self.encodingFunction("encodeDescribedBody", [.expression(encode)]),
        ]))
        return Parts(main: [.documented(typeDocs, declaration)], encoding: [codec])
    }

    /// A restricted type with choices: an enum. Integer sets use Swift raw values; boolean sets
    /// spell out `RawRepresentable`; symbol and string sets are open (`unknown(_:)`).
    private func choices(_ type: SpecType, root: String, isOpen: Bool, docs typeDocs: [String]) throws(GeneratorError) -> Parts {
        let name = Naming.typeName(type.name)
        guard let rawType = Primitives.table[root]?.swift, root != "list", root != "map", root != "array" else {
            throw GeneratorError(at: type.location, name: type.name, "choices of '\(type.name)' restrict '\(root)', which has no literal values")
        }
        let rawValue = Expression.identifier("rawValue")
        var values: [(choice: SpecChoice, caseName: String, literal: Expression)] = []
        for choice in type.choices {
            guard let parsed = SpecValue(parsing: choice.value, as: root) else { preconditionFailure("validated by SpecModel") }
            values.append((choice, Naming.memberName(choice.name), literal(.value(parsed))))
        }
        func documentedCase(_ c: (choice: SpecChoice, caseName: String, literal: Expression), rawValue: Expression?) -> Declaration {
            let declaration = Declaration.enumCase(name: c.caseName, associatedValues: [], rawValue: rawValue)
            let doc = Docs.lines("`\(c.choice.name)` = `\(c.choice.value)`", c.choice.docs, label: nil)
            return .documented(doc, declaration)
        }
        var members: [Declaration]
        var inherits: [String]
        let isInteger = !isOpen && root != "boolean"
        if isInteger {
            inherits = [rawType, "Sendable", "Hashable"]
            members = values.map { documentedCase($0, rawValue: $0.literal) }
        } else {
            inherits = ["Sendable", "Hashable", "RawRepresentable"]
            members = values.map { documentedCase($0, rawValue: nil) }
            var known = values.map { SwitchCase(patterns: [$0.literal], body: [.expression(.assignment(.self, .member(nil, $0.caseName)))]) }
            let coversBoolean = root == "boolean" && Set(values.map { "\($0.choice.value)" }) == ["true", "false"]
            if !coversBoolean { known.append(SwitchCase(patterns: [], body: [.return(.nil)])) }
            var rawCases = values.map { SwitchCase(patterns: [.member(nil, $0.caseName)], body: [.return($0.literal)]) }
            if isOpen {
                members.append(.documented(
                    ["A value this version of the specification does not name. Decoding never puts a named value here."],
                    .enumCase(name: Naming.unknownCase, associatedValues: [(nil, .named(rawType))], rawValue: nil)))
                members.append(.function(FunctionDeclaration(
                    access: .public, kind: .initializer(failable: false),
                    parameters: [.init(label: "rawValue", name: "rawValue", type: .named(rawType))], throwsType: nil, returnType: nil,
                    body: [.expression(.assignment(.self, .binary(.call(.identifier("Self"), [Argument("knownRawValue", rawValue)]), "??", .call(.member(nil, Naming.unknownCase), [Argument(rawValue)]))))])))
                members.append(.documented(["The named value `rawValue` stands for, or `nil` if it is not one of the choices."], .function(FunctionDeclaration(
                    access: .public, kind: .initializer(failable: true),
                    parameters: [.init(label: "knownRawValue", name: "rawValue", type: .named(rawType))], throwsType: nil, returnType: nil,
                    body: [.switch(rawValue, known)]))))
                rawCases.append(SwitchCase(patterns: [.call(.member(nil, Naming.unknownCase), [Argument(.letBinding("value", nil))])], body: [.return(.identifier("value"))]))
            } else {
                members.append(.function(FunctionDeclaration(
                    access: .public, kind: .initializer(failable: true),
                    parameters: [.init(label: "rawValue", name: "rawValue", type: .named(rawType))], throwsType: nil, returnType: nil,
                    body: [.switch(rawValue, known)])))
            }
            members.append(.variable(VariableDeclaration(access: .public, isMutable: true, name: "rawValue", type: .named(rawType), getter: [.switch(.self, rawCases)])))
        }
        let declaration = Declaration.enumeration(TypeDeclaration(access: .public, name: name, inherits: inherits, members: members))
        let codec = Declaration.extension(ExtensionDeclaration(access: nil, extendedType: name, conformances: ["AMQPRestrictedType"], members: []))
        return Parts(main: [.documented(typeDocs, declaration)], encoding: [codec])
    }

    // MARK: - Shared declarations

    /// The archetypes this module declares an enum for: all of them, except those an imported
    /// module's types provide (that module declares the enum; see ``emitShared()``).
    var declaredArchetypes: [SpecModel.Archetype] { Self.declaredArchetypes(of: model) }

    static func declaredArchetypes(of model: SpecModel) -> [SpecModel.Archetype] {
        model.archetypes.filter { archetype in !archetype.providers.contains { model.isImported($0) } }
    }

    /// Archetype enums, the described-type registry and the definitions namespace. Against an
    /// imported module, only what is this module's own: an archetype the module declares keeps its
    /// enum there (a user's `outcome` decodes as the module's `Outcome.unknown`), the registry holds
    /// only this module's types, and definitions extend the module's namespace.
    func emitShared() throws(GeneratorError) -> Parts {
        var parts = Parts()
        for archetype in declaredArchetypes {
            parts.append(try self.archetype(archetype))
        }
        for archetype in model.archetypes where archetype.providers.contains(where: model.isImported) {
            parts.main += try importedArchetypeConversions(archetype)
        }
        let described = model.types.filter { $0.descriptor != nil && !model.isImported($0) }
        if !described.isEmpty {
            parts.main.append(registry(described))
        }
        let importedDefinitions = model.documents.contains { $0.swiftModule != nil && $0.sections.contains { !$0.definitions.isEmpty } }
        if !importedDefinitions, model.documents.contains(where: { $0.sections.contains { !$0.definitions.isEmpty } }) {
            parts.main.append(.documented(
                ["Constants the specification defines with `<definition>` (ports, versions, limits); each section's file adds its own."],
                .enumeration(TypeDeclaration(access: .public, name: Naming.definitionsNamespace, inherits: [], members: []))))
        }
        return parts
    }

    /// For each of this module's types that provides an archetype an imported module declares
    /// (a vendor's outcome): a conversion into the imported enum, whose `unknown` case holds it,
    /// and the typed accessor back. Only for described archetypes, whose `unknown` keeps the
    /// descriptor; a symbol of a user's set already reads back through its own `init(rawValue:)`.
    private func importedArchetypeConversions(_ archetype: SpecModel.Archetype) throws(GeneratorError) -> [Declaration] {
        let own = archetype.providers.filter { !model.isImported($0) }
        guard !own.isEmpty, try mapper.archetypeShape(archetype) == .described else { return [] }
        let enumName = Naming.archetypeName(archetype.name)
        var members: [Declaration] = []
        for provider in own {
            let type = Naming.typeName(provider.name)
            let parts = Expression.identifier("parts")
            members.append(.documented(
                ["`\(provider.name)` as a `\(enumName)`: the imported enum has no case for it, so it is its `unknown` case, which encodes as `\(type)` does."],
                .function(FunctionDeclaration(
                    access: .public, kind: .initializer(failable: false),
                    parameters: [.init(label: nil, name: "value", type: .named(type))], throwsType: nil, returnType: nil,
                    body: [
                        .binding(isMutable: false, name: "parts", value: .member(.identifier("value"), "describedParts")),
                        .expression(.assignment(.self, .call(.member(nil, Naming.unknownCase), [
                            Argument("descriptor", .member(parts, "descriptor")), Argument("value", .member(parts, "value")),
                        ]))),
                    ]))))
            members.append(.documented(
                ["The `\(provider.name)` this holds; `nil` when it holds another `\(archetype.name)`, an error when it has the descriptor of `\(provider.name)` but not its fields."],
                .function(FunctionDeclaration(
                    access: .public, kind: .function(Naming.providerCaseName(provider.name, archetype: archetype.name)),
                    parameters: [], throwsType: "AMQPDecodingError", returnType: .optional(.named(type)),
                    body: [.switch(.self, [
                        SwitchCase(
                            patterns: [.call(.member(nil, Naming.unknownCase), [Argument(.letBinding("descriptor", nil)), Argument(.letBinding("value", nil))])],
                            body: [.return(.try(.call(type, [Argument("descriptor", .identifier("descriptor")), Argument("value", .identifier("value"))])))]),
                        SwitchCase(patterns: [], body: [.return(.nil)]),
                    ])]))))
        }
        return [.extension(ExtensionDeclaration(access: nil, extendedType: enumName, conformances: [], members: members))]
    }

    private func archetype(_ archetype: SpecModel.Archetype) throws(GeneratorError) -> Parts {
        let name = Naming.archetypeName(archetype.name)
        let shape = try mapper.archetypeShape(archetype)
        let providers = archetype.providers.map { (spec: $0, caseName: Naming.providerCaseName($0.name, archetype: archetype.name), type: Naming.typeName($0.name)) }
        var members: [Declaration] = providers.map {
            .documented(["`\($0.spec.name)`"], .enumCase(name: $0.caseName, associatedValues: [(nil, .named($0.type))], rawValue: nil))
        }
        let value = Expression.identifier("value")
        let encoder = Expression.identifier("encoder")
        let encodeValue = Expression.call(.member(value, "encode"), [Argument("to", .inOut(encoder))])
        var inherits = ["Sendable", "Hashable"]
        var codec: ExtensionDeclaration
        let summary: String
        switch shape {
        case .described:
            summary = "A value of any type that provides `\(archetype.name)`: one case per provider, and `unknown` for a described value no loaded spec file defines, which encodes back unchanged."
            members.append(.documented(
                ["A described value whose descriptor names no provider of `\(archetype.name)`."],
                .enumCase(name: Naming.unknownCase, associatedValues: [("descriptor", .named("DescriptorValue")), ("value", .named("AMQPValue"))], rawValue: nil)))
            let descriptor = Expression.identifier("descriptor")
            var cases = providers.map { p in
                SwitchCase(
                    patterns: Self.descriptorPatterns(p.type),
                    body: [.expression(.assignment(.self, .call(.member(nil, p.caseName), [Argument(.try(.call(p.type, [Argument("describedBodyFrom", .inOut(.identifier("decoder")))])))])))])
            }
            cases.append(SwitchCase(patterns: [], body: [.expression(.assignment(.self, .call(.member(nil, Naming.unknownCase), [
                Argument("descriptor", descriptor), Argument("value", .try(.call(.member(.identifier("decoder"), "decodeValue"), []))),
            ])))]))
            var encodeCases = providers.map { SwitchCase(patterns: [.call(.member(nil, $0.caseName), [Argument(.letBinding("value", nil))])], body: [.expression(encodeValue)]) }
            encodeCases.append(SwitchCase(
                patterns: [.call(.member(nil, Naming.unknownCase), [Argument(.letBinding("descriptor", nil)), Argument(.letBinding("value", nil))])],
                body: [.expression(.call(.member(.call(.member(.type(.named("AMQPValue")), "described"), [Argument("descriptor", .member(descriptor, "value")), Argument("value", value)]), "encode"), [Argument("to", .inOut(encoder))]))]))
            codec = ExtensionDeclaration(access: nil, extendedType: name, conformances: ["AMQPCodable"], members: [
                Self.decodingInitializer("from", [
                    .binding(isMutable: false, name: "descriptor", value: .try(.call(.member(.identifier("decoder"), "readDescriptor"), []))),
                    .expression(.try(.call(.member(.identifier("decoder"), "enterDescribedBody"), []))),
                    .switch(descriptor, cases),
                    .expression(.call(.member(.identifier("decoder"), "leaveDescribedBody"), [])),
                ]),
                Self.encodingFunction("encode", [.switch(.self, encodeCases)]),
            ])
        case .symbolic:
            summary = "A symbol of any set that provides `\(archetype.name)`: one case per set, and `unknown` for symbols none of them names."
            inherits.append("RawRepresentable")
            members.append(.documented(
                ["A symbol no provider of `\(archetype.name)` names."],
                .enumCase(name: Naming.unknownCase, associatedValues: [(nil, .named("Symbol"))], rawValue: nil)))
            let rawValue = Expression.identifier("rawValue")
            let branches = providers.map { p in
                (condition: Expression.letBinding("value", .call(p.type, [Argument("knownRawValue", rawValue)])),
                 body: [Statement.expression(.assignment(.self, .call(.member(nil, p.caseName), [Argument(value)])))])
            }
            members.append(.function(FunctionDeclaration(
                access: .public, kind: .initializer(failable: false),
                parameters: [.init(label: "rawValue", name: "rawValue", type: .named("Symbol"))], throwsType: nil, returnType: nil,
                body: [.if(branches, else: [.expression(.assignment(.self, .call(.member(nil, Naming.unknownCase), [Argument(rawValue)])))])])))
            var rawCases = providers.map { SwitchCase(patterns: [.call(.member(nil, $0.caseName), [Argument(.letBinding("value", nil))])], body: [.return(.member(value, "rawValue"))]) }
            rawCases.append(SwitchCase(patterns: [.call(.member(nil, Naming.unknownCase), [Argument(.letBinding("value", nil))])], body: [.return(value)]))
            members.append(.variable(VariableDeclaration(access: .public, isMutable: true, name: "rawValue", type: .named("Symbol"), getter: [.switch(.self, rawCases)])))
            codec = ExtensionDeclaration(access: nil, extendedType: name, conformances: ["AMQPRestrictedType"], members: [])
        case .valued:
            summary = "A value of any type that provides `\(archetype.name)`, told apart by its AMQP type, and `unknown` for a value of any other type."
            members.append(.documented(
                ["A value of a type no provider of `\(archetype.name)` restricts."],
                .enumCase(name: Naming.unknownCase, associatedValues: [(nil, .named("AMQPValue"))], rawValue: nil)))
            var cases: [SwitchCase] = []
            var encodeCases: [SwitchCase] = []
            for p in providers {
                guard case .primitive(let root) = model.root(of: p.spec.name) else { preconditionFailure("checked by archetypeShape") }
                cases.append(SwitchCase(
                    patterns: [.call(.member(nil, root), [Argument(.letBinding("payload", nil))])],
                    body: [.expression(.assignment(.self, .call(.member(nil, p.caseName), [Argument(.identifier("payload"))])))]))
                encodeCases.append(SwitchCase(
                    patterns: [.call(.member(nil, p.caseName), [Argument(.letBinding("value", nil))])],
                    body: [.expression(.call(.member(.call(.member(.type(.named("AMQPValue")), root), [Argument(value)]), "encode"), [Argument("to", .inOut(encoder))]))]))
            }
            cases.append(SwitchCase(patterns: [], body: [.expression(.assignment(.self, .call(.member(nil, Naming.unknownCase), [Argument(value)])))]))
            encodeCases.append(SwitchCase(patterns: [.call(.member(nil, Naming.unknownCase), [Argument(.letBinding("value", nil))])], body: [.expression(encodeValue)]))
            codec = ExtensionDeclaration(access: nil, extendedType: name, conformances: ["AMQPCodable"], members: [
                Self.decodingInitializer("from", [
                    .binding(isMutable: false, name: "value", value: .try(.call(.member(.identifier("decoder"), "decodeValue"), []))),
                    .switch(value, cases),
                ]),
                Self.encodingFunction("encode", [.switch(.self, encodeCases)]),
            ])
        }
        let declaration = Declaration.enumeration(TypeDeclaration(access: .public, name: name, inherits: inherits, members: members))
        return Parts(main: [.documented([summary], declaration)], encoding: [.extension(codec)])
    }

    /// `case .code(Open.descriptor.code), .symbol(Open.descriptor.symbol)`: a descriptor names a
    /// type by either form (§1.5).
    static func descriptorPatterns(_ type: String) -> [Expression] {
        let descriptor = Expression.member(.identifier(type), "descriptor")
        return [
            .call(.member(nil, "code"), [Argument(.member(descriptor, "code"))]),
            .call(.member(nil, "symbol"), [Argument(.member(descriptor, "symbol"))]),
        ]
    }

    private func registry(_ described: [SpecType]) -> Declaration {
        let metatype = TypeName.named("any (AMQPDescribedType & Hashable & Sendable).Type")
        var cases = described.map { type in
            SwitchCase(patterns: Self.descriptorPatterns(Naming.typeName(type.name)), body: [.return(.metatype(.named(Naming.typeName(type.name))))])
        }
        // Against an imported module, the lookups compose its registry: a descriptor this module
        // does not define is asked of the module's (no global table both would register into).
        let imported = model.documents.contains { $0.swiftModule != nil }
        let descriptorArgument = [Argument("for", .identifier("descriptor"))]
        func fallback(_ function: String) -> Expression {
            imported ? .call(.member(.identifier(Naming.describedTypesRegistry), function), descriptorArgument) : .nil
        }
        cases.append(SwitchCase(patterns: [], body: [.return(fallback("type"))]))
        var nameCases = described.map { type in
            SwitchCase(
                patterns: Self.descriptorPatterns(Naming.typeName(type.name)),
                body: [.return(.tuple([.string(type.name), .array(type.fields.map { .string($0.name) })]))])
        }
        nameCases.append(SwitchCase(patterns: [], body: [.return(fallback("specNames"))]))
        return .documented(
            ["Every described type generated from the spec files, and the lookup from a descriptor (code or symbol) to its type."],
            .enumeration(TypeDeclaration(access: .public, name: registryName, inherits: [], members: [
                .comment([
                    "Embedded Swift has no existential metatypes: the registry of types is for the full",
                    "runtime only, while `specNames(for:)` serves both.",
                ]),
                .conditional("!hasFeature(Embedded)", [
                    .documented([imported ? "This module's own, in spec file order." : "In spec file order."], .variable(VariableDeclaration(
                        access: .public, isStatic: true, isMutable: true, name: "all", type: .array(metatype),
                        getter: [.return(.array(described.map { .metatype(.named(Naming.typeName($0.name))) }))]))),
                    .documented([imported
                        ? "The type `descriptor` names: one of this module's, else the imported module's (`\(Naming.describedTypesRegistry)`), else `nil`."
                        : "The type `descriptor` names, or `nil` if no spec file defines it."], .function(FunctionDeclaration(
                        access: .public, isStatic: true, kind: .function("type"),
                        parameters: [.init(label: "for", name: "descriptor", type: .named("DescriptorValue"))],
                        throwsType: nil, returnType: .optional(.named("(\("any (AMQPDescribedType & Hashable & Sendable).Type"))")),
                        body: [.switch(.identifier("descriptor"), cases)]))),
                ]),
                .documented([
                    "The names the spec files give the type `descriptor` names and its fields, in order, for",
                    "printing values the way the specification spells them; `nil` if no spec file defines it" + (imported ? " (the imported module's included)." : "."),
                ], .function(FunctionDeclaration(
                    access: .public, isStatic: true, kind: .function("specNames"),
                    parameters: [.init(label: "for", name: "descriptor", type: .named("DescriptorValue"))],
                    throwsType: nil, returnType: .optional(.named("(type: String, fields: [String])")),
                    body: [.switch(.identifier("descriptor"), nameCases)]))),
            ])))
    }
}
