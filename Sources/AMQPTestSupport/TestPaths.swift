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
}
