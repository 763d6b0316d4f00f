import AMQPSpecModel

/// The index of a generated module: every name its types declare, in the schema of the spec files
/// themselves, so that a user's spec files can be generated *against* the module instead of beside
/// it (`amqp-gen --against Generated/AMQPTypes.index.xml`).
///
/// Why an index committed beside `Generated/`, and not the OASIS XML at build time: a user's
/// package builds its types with the build-tool plugin, which must not need Debian's `amqp-specs`
/// (macOS has no such package, and a CI image rarely has it). The index holds exactly what
/// resolution needs — names, classes, sources, `provides`, descriptors, fields and choices, and the
/// definitions — but none of the spec's text. Its root's `swift-module` attribute names the module
/// that declares those types, which marks the whole file as imported: nothing in it is generated
/// again. Being spec XML, it is read by the same parser and checked by the same model (and the
/// `fuzz-spec-xml` target) as any spec file. `amqp-gen --index-output … --check` and the drift test
/// keep it equal to `Generated/`.
enum Index {
    static func xml(of model: SpecModel, module: String) -> String {
        var lines: [String] = [
            #"<?xml version="1.0"?>"#,
            "<!-- " + commentText(AMQPSwiftGenerator.headerPrefix.dropFirst(3) + model.documents.map(\.fileName).joined(separator: ", ")) + " -->",
            "<!-- The names \(module) declares, for spec files generated against it (the against option of amqp-gen). -->",
            "<amqp name=\"\(escape(module))\" swift-module=\"\(escape(module))\" xmlns=\"http://www.amqp.org/schema/amqp.xsd\">",
        ]
        for document in model.documents where document.swiftModule == nil {
            for section in document.sections {
                let types = section.types.filter { $0.typeClass != .primitive }
                guard !types.isEmpty || !section.definitions.isEmpty else { continue }
                lines.append("  <section name=\"\(escape(document.name + "." + section.name))\">")
                for type in types {
                    lines += element(type)
                }
                for definition in section.definitions {
                    lines.append("    <definition name=\"\(escape(definition.name))\" value=\"\(escape(definition.value))\"/>")
                }
                lines.append("  </section>")
            }
        }
        lines.append("</amqp>")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func element(_ type: SpecType) -> [String] {
        var attributes = [("name", type.name), ("class", type.typeClass.rawValue)]
        if let source = type.source { attributes.append(("source", source)) }
        if !type.provides.isEmpty { attributes.append(("provides", type.provides.joined(separator: ", "))) }
        var children: [String] = []
        if let descriptor = type.descriptor {
            children.append("<descriptor name=\"\(escape(descriptor.name))\" code=\"\(descriptor.codeText)\"/>")
        }
        for field in type.fields {
            var text = "<field name=\"\(escape(field.name))\" type=\"\(escape(field.type))\""
            if !field.requires.isEmpty { text += " requires=\"\(escape(field.requires.joined(separator: ", ")))\"" }
            if let value = field.defaultValue { text += " default=\"\(escape(value))\"" }
            if field.mandatory { text += " mandatory=\"true\"" }
            if field.multiple { text += " multiple=\"true\"" }
            children.append(text + "/>")
        }
        for choice in type.choices {
            children.append("<choice name=\"\(escape(choice.name))\" value=\"\(escape(choice.value))\"/>")
        }
        let open = "    <type " + attributes.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: " ")
        guard !children.isEmpty else { return [open + "/>"] }
        return [open + ">"] + children.map { "      " + $0 } + ["    </type>"]
    }

    /// XML comments may not hold `--` (nor end in `-`): a file name could.
    private static func commentText(_ text: String) -> String {
        var result = ""
        for character in text {
            if character == "-", result.last == "-" { result += " " }
            result.append(character)
        }
        return result.last == "-" ? result + " " : result
    }

    private static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default: result.append(character)
            }
        }
        return result
    }
}

extension AMQPSwiftGenerator {
    /// The index of the module generated from `model` (``GeneratedFile`` named `<module>.index.xml`):
    /// see `amqp-gen --index-output`.
    public static func index(of model: SpecModel, module: String) -> GeneratedFile {
        GeneratedFile(name: module + ".index.xml", contents: Index.xml(of: model, module: module))
    }
}
