/// One spec file as written: the `<amqp>` element of the OASIS AMQP 1.0 type definitions
/// (`types.xml`, `transport.xml`, …) or of an extension file in the same schema.
public struct SpecDocument: Hashable, Sendable {
    /// The `name` of the `<amqp>` element (`transport`).
    public var name: String
    /// The file name the bytes were read under (`transport.bare.xml`).
    public var fileName: String
    /// The `label` attribute: a one-line description, when the file has one.
    public var label: String?
    /// The `<doc>` elements directly inside `<amqp>`.
    public var docs: [SpecDoc]
    /// The `<section>` elements, in file order.
    public var sections: [SpecSection]
    /// The `swift-module` attribute: set in an index of types another Swift module already
    /// declares (`AMQPTypes`), whose names a user's files may use but which are not generated
    /// again. `nil` for a file whose types are to be generated.
    public var swiftModule: String?

    /// A document read from `fileName`.
    public init(name: String, fileName: String, label: String?, docs: [SpecDoc], sections: [SpecSection], swiftModule: String? = nil) {
        self.name = name
        self.fileName = fileName
        self.label = label
        self.docs = docs
        self.sections = sections
        self.swiftModule = swiftModule
    }
}

/// A `<section>`: the unit the generator writes one Swift file for.
public struct SpecSection: Hashable, Sendable {
    /// The `name` of the `<section>` (`performatives`); also names the generated file.
    public var name: String
    /// The `title` attribute, when present.
    public var title: String?
    /// The `label` attribute, when present.
    public var label: String?
    /// The section's own `<doc>` elements.
    public var docs: [SpecDoc]
    /// The `<type>` elements, in file order.
    public var types: [SpecType]
    /// The `<definition>` elements, in file order.
    public var definitions: [SpecDefinition]
    /// Where the `<section>` element starts.
    public var location: SourceLocation
}

/// A `<type>`: a primitive, a composite (a described list of fields) or a restricted type (a
/// subset of another type's values, possibly with a descriptor or a list of choices).
public struct SpecType: Hashable, Sendable {
    /// The `class` attribute.
    public enum TypeClass: String, Hashable, Sendable {
        case primitive, composite, restricted
    }

    /// The type's name as the specification spells it (`sender-settle-mode`).
    public var name: String
    /// Whether it is a primitive, a composite or a restricted type.
    public var typeClass: TypeClass
    /// The type this one is built on: `list` for composites, the restricted type's base otherwise;
    /// `*` means any type.
    public var source: String?
    /// The archetypes this type provides (`provides="delivery-state, outcome"`), in order.
    public var provides: [String]
    /// The `label` attribute, when present.
    public var label: String?
    /// The `<encoding>` elements of a primitive type; empty for the others.
    public var encodings: [SpecEncoding]
    /// The `<descriptor>`, for composites and described restricted types.
    public var descriptor: SpecDescriptor?
    /// The `<field>` elements of a composite, in encoding order.
    public var fields: [SpecField]
    /// The `<choice>` elements of a restricted type: its named values.
    public var choices: [SpecChoice]
    /// The type's `<doc>` elements.
    public var docs: [SpecDoc]
    /// Where the `<type>` element starts.
    public var location: SourceLocation
}

/// An `<encoding>` of a primitive type.
public struct SpecEncoding: Hashable, Sendable {
    /// The encoding's `name` (`smalluint`, `list8`); absent where the specification gives none
    /// (`null`, `boolean`'s `0x56`).
    public var name: String?
    /// The format code (`0x52`).
    public var code: UInt8
    /// The `category` attribute as written: `fixed`, `variable`, `compound` or `array`.
    public var category: String
    /// In bytes: the value's width for `fixed`, the size (and count) field's width for the others.
    public var width: Int?
    /// The `label` attribute, when present.
    public var label: String?
    /// Where the `<encoding>` element starts.
    public var location: SourceLocation
}

/// A `<descriptor>`: the symbolic and numeric names of a described type.
public struct SpecDescriptor: Hashable, Sendable {
    /// `amqp:open:list`
    public var name: String
    /// Domain ID in the high 32 bits, descriptor ID in the low 32 bits (`0x00000000:0x00000010` is 0x10).
    public var code: UInt64
    /// Where the `<descriptor>` element starts.
    public var location: SourceLocation

    /// The code as the specification writes it: `0x00000000:0x00000010`.
    public var codeText: String {
        func part(_ v: UInt64) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return "0x" + String(repeating: "0", count: 8 - s.count) + s
        }
        return part(code >> 32) + ":" + part(code & 0xFFFF_FFFF)
    }
}

/// A `<field>` of a composite.
public struct SpecField: Hashable, Sendable {
    /// The field's name as the specification spells it (`max-frame-size`).
    public var name: String
    /// A type name, or `*` for "any type that provides one of ``requires``".
    public var type: String
    /// For a `*` field, the archetypes its value must provide (`requires="source"`).
    public var requires: [String]
    /// The `default` attribute as written (`4294967295`, `false`), when present.
    public var defaultValue: String?
    /// The `label` attribute, when present.
    public var label: String?
    /// Whether `mandatory="true"`: the field may not be null.
    public var mandatory: Bool
    /// Whether `multiple="true"`: the field holds one value or an array of them (§1.4).
    public var multiple: Bool
    /// The field's `<doc>` elements.
    public var docs: [SpecDoc]
    /// Where the `<field>` element starts.
    public var location: SourceLocation
}

/// A `<choice>` of a restricted type: a named value.
public struct SpecChoice: Hashable, Sendable {
    /// The choice's name (`settled`).
    public var name: String
    /// The value as written (`1`, `amqp:internal-error`), checked to be a value of the type's source.
    public var value: String
    /// The choice's `<doc>` elements.
    public var docs: [SpecDoc]
    /// Where the `<choice>` element starts.
    public var location: SourceLocation
}

/// A `<definition>`: a named constant (`PORT` = 5672).
public struct SpecDefinition: Hashable, Sendable {
    /// The definition's name (`PORT`).
    public var name: String
    /// The value as written (`5672`).
    public var value: String
    /// The `label` attribute, when present.
    public var label: String?
    /// The definition's `<doc>` elements.
    public var docs: [SpecDoc]
    /// Where the `<definition>` element starts.
    public var location: SourceLocation
}

/// A `<doc>` element, reduced to what a doc comment can show.
public struct SpecDoc: Hashable, Sendable {
    /// One block of a doc's text.
    public enum Block: Hashable, Sendable {
        /// A paragraph, whitespace collapsed.
        case paragraph(String)
        /// The items of a `<ul>`, `<ol>` or `<dl>`.
        case list([String])
        /// A `<picture>`: preformatted text, kept line by line.
        case picture([String])
    }

    /// The `title` attribute of the `<doc>`, when present.
    public var title: String?
    /// The paragraphs, lists and pictures, in order.
    public var blocks: [Block]
}
