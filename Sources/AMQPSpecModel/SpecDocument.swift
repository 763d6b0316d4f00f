/// One spec file as written: the `<amqp>` element of the OASIS AMQP 1.0 type definitions
/// (`types.xml`, `transport.xml`, …) or of an extension file in the same schema.
public struct SpecDocument: Hashable, Sendable {
    /// The `name` of the `<amqp>` element (`transport`).
    public var name: String
    /// The file name the bytes were read under (`transport.bare.xml`).
    public var fileName: String
    public var label: String?
    public var docs: [SpecDoc]
    public var sections: [SpecSection]
}

/// A `<section>`: the unit the generator writes one Swift file for.
public struct SpecSection: Hashable, Sendable {
    public var name: String
    public var title: String?
    public var label: String?
    public var docs: [SpecDoc]
    public var types: [SpecType]
    public var definitions: [SpecDefinition]
    public var location: SourceLocation
}

/// A `<type>`: a primitive, a composite (a described list of fields) or a restricted type (a
/// subset of another type's values, possibly with a descriptor or a list of choices).
public struct SpecType: Hashable, Sendable {
    public enum TypeClass: String, Hashable, Sendable {
        case primitive, composite, restricted
    }

    public var name: String
    public var typeClass: TypeClass
    /// The type this one is built on: `list` for composites, the restricted type's base otherwise;
    /// `*` means any type.
    public var source: String?
    /// The archetypes this type provides (`provides="delivery-state, outcome"`), in order.
    public var provides: [String]
    public var label: String?
    public var encodings: [SpecEncoding]
    public var descriptor: SpecDescriptor?
    public var fields: [SpecField]
    public var choices: [SpecChoice]
    public var docs: [SpecDoc]
    public var location: SourceLocation
}

/// An `<encoding>` of a primitive type.
public struct SpecEncoding: Hashable, Sendable {
    public var name: String?
    public var code: UInt8
    public var category: String
    public var width: Int?
    public var label: String?
    public var location: SourceLocation
}

/// A `<descriptor>`: the symbolic and numeric names of a described type.
public struct SpecDescriptor: Hashable, Sendable {
    /// `amqp:open:list`
    public var name: String
    /// Domain ID in the high 32 bits, descriptor ID in the low 32 bits (`0x00000000:0x00000010` is 0x10).
    public var code: UInt64
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
    public var name: String
    /// A type name, or `*` for "any type that provides one of ``requires``".
    public var type: String
    public var requires: [String]
    public var defaultValue: String?
    public var label: String?
    public var mandatory: Bool
    public var multiple: Bool
    public var docs: [SpecDoc]
    public var location: SourceLocation
}

/// A `<choice>` of a restricted type: a named value.
public struct SpecChoice: Hashable, Sendable {
    public var name: String
    public var value: String
    public var docs: [SpecDoc]
    public var location: SourceLocation
}

/// A `<definition>`: a named constant (`PORT` = 5672).
public struct SpecDefinition: Hashable, Sendable {
    public var name: String
    public var value: String
    public var label: String?
    public var docs: [SpecDoc]
    public var location: SourceLocation
}

/// A `<doc>` element, reduced to what a doc comment can show.
public struct SpecDoc: Hashable, Sendable {
    public enum Block: Hashable, Sendable {
        /// A paragraph, whitespace collapsed.
        case paragraph(String)
        /// The items of a `<ul>`, `<ol>` or `<dl>`.
        case list([String])
        /// A `<picture>`: preformatted text, kept line by line.
        case picture([String])
    }

    public var title: String?
    public var blocks: [Block]
}
