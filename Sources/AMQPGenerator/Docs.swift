import AMQPSpecModel

/// Doc comments for generated declarations: a one-line summary the generator writes, then the
/// spec's own `label` and `<doc>` text when the spec files have them (the full OASIS files do,
/// the Debian `.bare` files do not).
enum Docs {
    static func lines(_ summary: String?, _ docs: [SpecDoc], label: String?) -> [String] {
        var paragraphs: [[String]] = []
        if let summary { paragraphs.append([summary]) }
        if let label, !label.isEmpty { paragraphs.append([label.prefix(1).uppercased() + label.dropFirst() + (label.hasSuffix(".") ? "" : ".")]) }
        for doc in docs {
            if let title = doc.title, !title.isEmpty { paragraphs.append(["**\(title)**"]) }
            for block in doc.blocks {
                switch block {
                case .paragraph(let text): paragraphs.append([text])
                case .list(let items): paragraphs.append(items.map { "- \($0)" })
                case .picture(let lines): paragraphs.append(["```"] + lines + ["```"])
                }
            }
        }
        var result: [String] = []
        for paragraph in paragraphs {
            if !result.isEmpty { result.append("") }
            result += paragraph
        }
        return result
    }

    static func summary(of type: SpecType, model: SpecModel) -> String {
        var text = "`\(type.name)`"
        if let descriptor = type.descriptor {
            text += ", described by `\(descriptor.name)` (\(descriptor.codeText))"
        }
        switch type.typeClass {
        case .composite:
            text += type.descriptor == nil ? ": a composite." : "."
        case .restricted, .primitive:
            text += ": a restricted `\(type.source ?? "*")`"
            if Primitives.semanticTypes[type.name] != nil {
                text += ", compared with RFC 1982 serial number arithmetic"
            }
            if !type.choices.isEmpty, case .primitive(let root) = model.root(of: type.name) {
                text += Primitives.isOpenSet(root)
                    ? "; values it does not name are kept in `unknown`"
                    : "; decoding any other value is an error"
            }
            text += "."
        }
        if !type.provides.isEmpty {
            text += " Provides " + type.provides.map { "`\($0)` (``\(Naming.archetypeName($0))``)" }.joined(separator: ", ") + "."
        }
        return text
    }
}
