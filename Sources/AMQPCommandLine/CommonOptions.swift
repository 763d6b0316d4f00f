import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers

/// `--log-level`, which every command takes: the level of everything the process logs, on
/// standard error.
struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "What to log on standard error: trace, debug, info, notice, warning, error, critical.", valueName: "LEVEL"))
    var logLevel: Logger.Level = .warning

    /// Routes every logger of the process to standard error at ``logLevel``. The first call in a
    /// process decides (swift-log allows one bootstrap); later calls change nothing.
    func bootstrap() {
        let level = logLevel
        Self.bootstrapped.withLockedValue { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }

    private static let bootstrapped = NIOLockedValueBox(false)
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Where a password comes from when it should not be on the command line, where every user of
/// the machine can read it (`ps`) and the shell keeps it in its history.
struct PasswordOptions: ParsableArguments {
    static let environmentVariable = "AMQP_PASSWORD"

    @Option(name: .customLong("password-file"), help: ArgumentHelp(
        "Read the password from this file (its first line) instead of the URL; or set $AMQP_PASSWORD.",
        valueName: "FILE"))
    var passwordFile: String?

    /// The password from `--password-file`, else from `$AMQP_PASSWORD`, else `nil`.
    func password(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw ValidationError("cannot read --password-file \(passwordFile)")
            }
            // The first line, without its line break: `echo secret > file` writes one.
            let text = String(decoding: data, as: UTF8.self)
            return text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) } ?? ""
        }
        return environment[Self.environmentVariable]
    }
}
