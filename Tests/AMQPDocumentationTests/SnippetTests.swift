import Foundation
import Testing

/// The Swift code shown to readers — the README's and every DocC article's ```swift blocks — is
/// code that compiles: each block must equal a region of a test (or example) source file, marked
///
///     // snippet: a name
///     …the block's code…
///     // snippet end
///
/// and compiled with its target. A block's leading `import` lines must be imports of that file;
/// the region may sit at any indentation (it is compared with its common indentation removed).
/// Every region must be shown somewhere, so that no compiled copy outlives its text.
@Suite("Documentation snippets")
struct SnippetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("every Swift block of the README and the articles is a compiled region")
    func blocksAreCompiled() throws {
        let regions = try Self.regions()
        let blocks = try Self.blocks()
        #expect(blocks.count > 20, "found only \(blocks.count) Swift blocks: has the documentation moved?")
        for block in blocks {
            let candidates = regions.filter { $0.lines == block.lines }
            guard !candidates.isEmpty else {
                let first = block.lines.prefix(2).joined(separator: "\n")
                Issue.record("\(block.location): no `// snippet:` region in Tests/ or Examples/ equals this block:\n\(first)\n…")
                continue
            }
            let missing = block.imports.filter { module in !candidates.contains { $0.fileImports.contains(module) } }
            #expect(missing.isEmpty, "\(block.location): \(candidates[0].location)'s file does not import \(missing)")
        }
    }

    @Test("every snippet region is shown in the documentation")
    func regionsAreShown() throws {
        let blocks = try Self.blocks()
        for region in try Self.regions() where !blocks.contains(where: { $0.lines == region.lines }) {
            Issue.record("\(region.location): region '\(region.name)' is shown in no README or article block")
        }
    }

    @Test("the README links every article")
    func readmeLinksArticles() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        for article in try Self.markdownFiles().filter({ $0.path.contains(".docc/") }) {
            let relative = String(article.path.dropFirst(Self.root.path.count + 1))
            // A landing page (named after its module) needs no link of its own.
            let name = article.deletingPathExtension().lastPathComponent
            if article.deletingLastPathComponent().lastPathComponent == "Documentation.docc",
               relative.hasPrefix("Sources/\(name)/") || relative.hasPrefix("Generated/\(name)/") {
                continue
            }
            #expect(readme.contains("(\(relative))"), "the README has no link to \(relative)")
        }
    }

    // MARK: - Reading the files

    struct Block {
        var location: String
        var imports: [String]
        var lines: [String]
    }

    struct Region {
        var name: String
        var location: String
        var fileImports: Set<String>
        var lines: [String]
    }

    static func markdownFiles() throws -> [URL] {
        var files = [root.appendingPathComponent("README.md")]
        for folder in ["Sources", "Generated"] {
            files += try filesUnder(folder).filter { $0.pathExtension == "md" && $0.path.contains(".docc/") }
        }
        return files
    }

    static func filesUnder(_ folder: String) throws -> [URL] {
        let base = root.appendingPathComponent(folder)
        guard let enumerator = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var files: [URL] = []
        for case let url as URL in enumerator {
            // Built copies of packages (an example's own .build) are not ours.
            if url.lastPathComponent.hasPrefix(".build") { enumerator.skipDescendants(); continue }
            files.append(url)
        }
        return files.sorted { $0.path < $1.path }
    }

    static func relativePath(_ url: URL) -> String { String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1)) }

    static func blocks() throws -> [Block] {
        var blocks: [Block] = []
        for file in try markdownFiles() {
            let lines = try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n")
            var index = 0
            while index < lines.count {
                guard lines[index].trimmingCharacters(in: .whitespaces) == "```swift" else { index += 1; continue }
                let start = index + 1
                var end = start
                while end < lines.count && lines[end].trimmingCharacters(in: .whitespaces) != "```" { end += 1 }
                var body = Array(lines[start..<min(end, lines.count)])
                var imports: [String] = []
                while let first = body.first, first.hasPrefix("import ") || first.trimmingCharacters(in: .whitespaces).isEmpty {
                    if first.hasPrefix("import ") { imports.append(String(first.dropFirst("import ".count))) }
                    body.removeFirst()
                }
                blocks.append(Block(location: "\(relativePath(file)):\(start)", imports: imports, lines: normalized(body)))
                index = end + 1
            }
        }
        return blocks
    }

    static func regions() throws -> [Region] {
        var regions: [Region] = []
        for file in try filesUnder("Tests") + filesUnder("Examples") where file.pathExtension == "swift" {
            let lines = try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n")
            let imports = Set(lines.compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let keyword = words.firstIndex(of: "import"), keyword + 1 < words.count else { return nil }
                return words[..<keyword].allSatisfy({ $0.hasPrefix("@") }) ? String(words[keyword + 1]) : nil
            })
            var index = 0
            while index < lines.count {
                let marker = lines[index].trimmingCharacters(in: .whitespaces)
                guard marker.hasPrefix("// snippet: ") else { index += 1; continue }
                let start = index + 1
                var end = start
                while end < lines.count && lines[end].trimmingCharacters(in: .whitespaces) != "// snippet end" { end += 1 }
                regions.append(Region(
                    name: String(marker.dropFirst("// snippet: ".count)), location: "\(relativePath(file)):\(start)",
                    fileImports: imports, lines: normalized(Array(lines[start..<min(end, lines.count)]))))
                index = end + 1
            }
        }
        return regions
    }

    /// Lines without trailing spaces, without blank lines at either end, and without the
    /// indentation they share.
    static func normalized(_ lines: [String]) -> [String] {
        var lines = lines.map { line -> String in
            var line = Substring(line)
            while line.last == " " { line.removeLast() }
            return String(line)
        }
        while lines.first?.isEmpty == true { lines.removeFirst() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        let indentation = lines.filter { !$0.isEmpty }.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
        return lines.map { $0.isEmpty ? $0 : String($0.dropFirst(indentation)) }
    }
}
