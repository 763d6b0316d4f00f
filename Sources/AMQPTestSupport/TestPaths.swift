import Foundation

/// Folders the tests read: the package root and `../shared` beside it (Proton's corpora), which CI
/// provides. A test that needs `../shared` fails when it is missing; it never skips.
public enum TestPaths {
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var shared: URL { packageRoot.deletingLastPathComponent().appendingPathComponent("shared") }

    public static func corpus(_ path: String) -> URL { shared.appendingPathComponent("corpora").appendingPathComponent(path) }

    /// Every regular file in a folder, sorted by name; throws when the folder is missing.
    public static func files(in folder: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { !$0.hasDirectoryPath }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    public static func bytes(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    /// A product SwiftPM built beside the running test bundle (`amqp`, `amqp-gen`):
    /// `swift build --build-tests` builds every product into the same folder.
    public static func builtProduct(_ name: String) throws -> String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        // On macOS the tests run inside a bundle: …/debug/X.xctest/Contents/MacOS/X.
        while folder.pathExtension == "xctest" || folder.path.contains(".xctest/") { folder.deleteLastPathComponent() }
        let product = folder.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: product) else {
            throw PeerError("\(product) is missing: build every product first (swift build --build-tests)")
        }
        return product
    }
}
