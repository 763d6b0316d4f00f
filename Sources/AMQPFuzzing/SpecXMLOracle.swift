import AMQPSpecModel

/// The generator's XML front end on arbitrary bytes: a ``SpecError`` that names the file, or a
/// document; a document validates into a model or a ``SpecError``; and a model answers every
/// question the generator asks of it (the same file read twice gives the same document).
enum SpecXMLOracle {
    static let fileName = "fuzz.xml"

    static func check(_ bytes: [UInt8]) throws(FuzzFinding) {
        let document: SpecDocument
        do {
            document = try SpecParser.parse(bytes, fileName: fileName)
        } catch {
            try checkError(error)
            return
        }
        do {
            let again = try SpecParser.parse(bytes, fileName: fileName)
            try expect(again == document, "the same bytes parse into a different document")
        } catch {
            throw FuzzFinding("the same bytes parse once, then fail with \(error)")
        }
        // The same bytes read as the table of section numbers and units: a table or a SpecError.
        do {
            _ = try SpecAnnotations.parse(bytes, fileName: fileName)
        } catch {
            try checkError(error)
        }
        // The same document generated against AMQPTypes (issue 20): its errors name it, never
        // the index, which comes first and is valid.
        if let index = coreIndex {
            var ownTypes: Int?
            do {
                let againstCore = try SpecModel(documents: [index, document])
                ownTypes = againstCore.types.filter { !againstCore.isImported($0) }.count
            } catch {
                try checkError(error)
            }
            if let ownTypes {
                try expect(ownTypes == document.sections.flatMap(\.types).count,
                           "against the index, the document's own types are not exactly the non-imported ones")
            }
        }
        let model: SpecModel
        do {
            model = try SpecModel(documents: [document])
        } catch {
            try checkError(error)
            return
        }
        for type in model.types {
            let chain = model.sourceChain(of: type.name)
            try expect(chain.first == type.name && Set(chain).count == chain.count, "source chain of '\(type.name)' is \(chain)")
            _ = model.root(of: type.name)
            for field in type.fields {
                try expect(model.isKnownType(field.type), "field '\(field.name)' of a validated '\(type.name)' has unknown type '\(field.type)'")
                if field.defaultValue != nil {
                    try expect(model.defaultValue(of: field) != nil, "the default of validated field '\(type.name).\(field.name)' does not resolve")
                }
                _ = model.satisfying(field.requires)
            }
        }
        for archetype in model.archetypes {
            try expect(!model.providers(of: archetype.name).isEmpty, "archetype '\(archetype.name)' without providers")
        }
    }

    /// `Generated/AMQPTypes.index.xml`, read once from this package (the fuzz targets run in it).
    static let coreIndex: SpecDocument? = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        guard let bytes = FuzzFiles.read(path + "/Generated/AMQPTypes.index.xml") else { return nil }
        return try? SpecParser.parse(bytes, fileName: "AMQPTypes.index.xml")
    }()

    static func checkError(_ error: SpecError) throws(FuzzFinding) {
        try expect(error.file == fileName, "a SpecError names file '\(error.file)', not \(fileName): \(error)")
        try expect(error.line >= 0, "a SpecError at line \(error.line): \(error)")
        try expect(!error.description.isEmpty, "a SpecError without a description")
    }
}
