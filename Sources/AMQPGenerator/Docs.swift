import AMQPSpecModel

/// Doc comments for generated declarations, like swift-protobuf's: what the spec says of each type
/// and field (its AMQP name and type, descriptor, mandatory or multiple, default, unit, and the
/// section it comes from), then the spec's own `label` and `<doc>` text when the files have them
/// (the full amqp.org files do, the Debian `.bare` files do not). Units and section numbers are
/// not in the XML: they come from `SpecAnnotations`.
///
/// Only ``Symbol`` links that resolve in the generated module are written (archetype enums it
/// declares); everything else is code voice, so DocC builds the module with warnings as errors.
struct Docs {
    let model: SpecModel
    let annotations: SpecAnnotations
    /// Swift names the generated module itself declares, which links may point at.
    let linkable: (String) -> Bool

    /// The AMQP 1.0 specification's number for `type` (`§2.7.1`), or its section's (`§2.7`).
    func specNumber(of type: SpecType, in document: SpecDocument) -> (number: String, isSection: Bool)? {
        guard let section = document.sections.first(where: { $0.types.contains(type) }),
              let index = section.types.firstIndex(of: type) else { return nil }
        if let number = annotations.number(ofType: index, section: section.name, document: document.name) {
            return (number, false)
        }
        return annotations.number(ofSection: section.name, document: document.name).map { ($0, true) }
    }

    /// A type's comment: the summary, its facts as a list, then the spec's text.
    func type(_ type: SpecType, in document: SpecDocument, summary: String) -> [String] {
        var facts: [String] = []
        if let descriptor = type.descriptor {
            facts.append("Descriptor: `\(descriptor.name)`, code `\(descriptor.codeText)`.")
        }
        if !type.provides.isEmpty {
            facts.append("Provides: " + type.provides.map(archetypeReference).joined(separator: ", ") + ".")
        }
        if let unit = annotations.units[type.name] {
            facts.append("Unit: \(unit).")
        }
        if let section = document.sections.first(where: { $0.types.contains(type) }) {
            let place = "section `\(section.name)` of `\(document.name)` (`\(document.fileName)`)"
            if let number = specNumber(of: type, in: document) {
                facts.append("Specification: §\(number.number) of AMQP 1.0, in \(place).")
            } else {
                facts.append("Specification: \(place).")
            }
        }
        return Self.lines([[summary], facts.map { "- " + $0 }], type.docs, label: type.label)
    }

    /// A field's comment: its AMQP name, position and type, then presence, default and unit.
    func field(_ field: SpecField, position: Int, of type: SpecType) -> [String] {
        let summary = "`\(field.name)` (field \(position) of `\(type.name)`): \(typeDescription(of: field))."
        var facts: [String] = []
        switch (field.mandatory, field.multiple) {
        case (true, true): facts.append("Mandatory, multiple: one value or an array of them (§1.4), never null.")
        case (true, false): facts.append("Mandatory: never null.")
        case (false, true): facts.append("Multiple: one value or an array of them (§1.4); empty is sent as null.")
        case (false, false):
            if let text = field.defaultValue {
                facts.append("Default: `\(text)` (a null field means it, and the default is sent as null).")
            } else {
                facts.append("Optional: `nil` is sent as null.")
            }
        }
        if let unit = annotations.unit(ofField: field, in: type) {
            facts.append("Unit: \(unit).")
        }
        return Self.lines([[summary], facts.map { "- " + $0 }], field.docs, label: field.label)
    }

    /// `` `milliseconds`, a restricted `uint` ``, `` any value that provides `source` (``LinkSource``) ``.
    func typeDescription(of field: SpecField) -> String {
        if field.type == "*" {
            guard !field.requires.isEmpty else { return "any value (`*`)" }
            return "any value that provides " + field.requires.map(archetypeReference).joined(separator: " or ")
        }
        guard let type = model.type(named: field.type), type.typeClass != .primitive else {
            return "`\(field.type)`"
        }
        switch (type.typeClass, model.root(of: type.name)) {
        case (.composite, _):
            return "`\(type.name)`, a composite"
        case (_, .primitive(let root)):
            return "`\(type.name)`, a " + (type.descriptor != nil ? "described" : "restricted") + " `\(root)`"
        default:
            return "`\(type.name)`"
        }
    }

    /// `` `frame` (``Performative``) `` when the module declares the archetype enum, else code voice.
    func archetypeReference(_ archetype: String) -> String {
        let swiftName = Naming.archetypeName(archetype)
        return "`\(archetype)` (" + (linkable(swiftName) ? "``\(swiftName)``" : "`\(swiftName)`") + ")"
    }

    /// Paragraphs (each a group of lines), then the spec's `label` and `<doc>` text, blank lines between.
    static func lines(_ leading: [[String]], _ docs: [SpecDoc], label: String?) -> [String] {
        var paragraphs = leading.filter { !$0.isEmpty }
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

    static func lines(_ summary: String?, _ docs: [SpecDoc], label: String?) -> [String] {
        lines(summary.map { [[$0]] } ?? [], docs, label: label)
    }

    /// The first sentence of a type's comment: its AMQP name and what kind of type it is.
    func summary(of type: SpecType) -> String {
        var text = "`\(type.name)`"
        switch type.typeClass {
        case .composite:
            text += ": a composite of \(type.fields.count) field" + (type.fields.count == 1 ? "" : "s")
        case .restricted, .primitive:
            text += ": a " + (type.descriptor != nil ? "described" : "restricted") + " `\(type.source ?? "*")`"
            if Primitives.semanticTypes[type.name] != nil {
                text += ", compared with RFC 1982 serial number arithmetic"
            }
            if !type.choices.isEmpty, case .primitive(let root) = model.root(of: type.name) {
                text += Primitives.isOpenSet(root)
                    ? "; values it does not name are kept in `unknown`"
                    : "; decoding any other value is an error"
            }
        }
        return text + "."
    }
}
