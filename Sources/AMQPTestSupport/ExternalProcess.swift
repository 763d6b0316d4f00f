import Foundation
import Subprocess

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Subprocess's file descriptors and paths: the System framework on Apple's systems,
// swift-system's SystemPackage elsewhere.
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Why a peer could not be used: missing, would not start, or misbehaved. Tests that need a peer
/// fail with it; they never skip.
public struct PeerError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A program the tests start (a broker, a client, a Python peer), with its output captured in
/// files, waited for with bounded loops and stopped by its process id.
///
/// A program run to completion (``run(_:_:name:environment:currentDirectory:standardInput:timeout:)``)
/// is started by swift-subprocess, which does what this needs: every signal unblocked and at its
/// default action (the threads of a test process block most signals, and a child that inherited
/// that mask would never see SIGTERM), no descriptor above standard error inherited (see
/// ``spawn(_:_:environment:currentDirectory:standardInput:standardOutput:standardError:)``), a
/// working directory, and SIGTERM then SIGKILL when the wait is cancelled.
///
/// A program started with ``init(_:_:name:environment:currentDirectory:standardInput:)`` — the
/// peers that run beside a test — is spawned here with `posix_spawn`: swift-subprocess keeps a
/// process inside the scope of one `run` call, which must not return before the process has
/// exited, while the tests hold a peer across many calls and tasks, ask whether it is still
/// running, read its output files while it runs (``waitForOutput(_:timeout:)``), kill it abruptly
/// in the middle of a test (``killAbruptly()``) and stop it from any task. (Reading output while
/// the process runs is something swift-subprocess can do, as an async sequence in the body of
/// `run`; the scope is what does not fit.)
///
/// A watchdog shell stops the program when the test process goes away, so a crashed test run
/// leaves no peers behind. Its methods may be called from any task: the exit status is kept
/// under a lock, everything else is immutable.
public final class ExternalProcess: @unchecked Sendable {
    public let name: String
    public let pid: Int32
    /// Where standard output and standard error go.
    public let outputFile: URL
    public let errorFile: URL
    private let lock = NSLock()
    /// The raw `waitpid` status, once reaped.
    private var reapedStatus: Int32?

    /// Starts `executable` with `arguments`. Output goes to files in a fresh temporary folder;
    /// standard input comes from the file `standardInput` (or /dev/null).
    public init(
        _ executable: String, _ arguments: [String], name: String? = nil, environment: [String: String]? = nil,
        currentDirectory: URL? = nil, standardInput: String? = nil
    ) throws {
        let name = name ?? URL(fileURLWithPath: executable).lastPathComponent
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw PeerError("\(name): \(executable) is not an executable file — run scripts/install-test-deps.sh")
        }
        self.name = name
        let folder = try ScratchFolder.make("process-\(name)")
        outputFile = folder.appendingPathComponent("stdout")
        errorFile = folder.appendingPathComponent("stderr")
        var fullEnvironment = ProcessInfo.processInfo.environment
        if let environment { fullEnvironment.merge(environment) { $1 } }
        pid = try Self.spawn(
            executable, arguments, environment: fullEnvironment, currentDirectory: currentDirectory?.path,
            standardInput: standardInput ?? "/dev/null", standardOutput: outputFile.path, standardError: errorFile.path
        )
        Self.guardAgainstOrphaning(pid: pid)
    }

    deinit {
        // The outputs matter only while someone can still print them (failure messages), unless
        // AMQP_TEST_KEEP_OUTPUT is set (debugging: PN_TRACE_FRM=1 makes Proton peers log frames).
        if !isRunning && ProcessInfo.processInfo.environment["AMQP_TEST_KEEP_OUTPUT"] == nil {
            try? FileManager.default.removeItem(at: outputFile.deletingLastPathComponent())
        }
    }

    /// `posix_spawn` with every signal unblocked and at its default action, and the standard
    /// streams from and into files.
    static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String], currentDirectory: String?,
        standardInput: String = "/dev/null", standardOutput: String, standardError: String
    ) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        // The child gets standard input, output and error and nothing else. Tests run in
        // parallel in one process: a peer started by one test must not inherit another test's
        // sockets (a listening socket it holds keeps the port bound after the listener closed; an
        // accepted one it holds keeps a connection open that the server closed).
        #if canImport(Glibc)
        // Glibc has posix_spawn_file_actions_addclosefrom_np (2.34 and later) but Swift does not
        // see its declaration, so it is looked up by name.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        #elseif canImport(Darwin)
        flags |= Int16(POSIX_SPAWN_CLOEXEC_DEFAULT)
        #endif
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, flags)
        // Glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift: a shell changes
        // the folder and then becomes the program (same process id).
        let command = currentDirectory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, executable] } ?? [executable]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw PeerError("posix_spawn \(executable): error \(result)") }
        return pid
    }

    /// A process that has already exited and been reaped, with `rawStatus` as `waitpid` gives it.
    private init(finished name: String, pid: Int32, outputFile: URL, errorFile: URL, rawStatus: Int32) {
        self.name = name
        self.pid = pid
        self.outputFile = outputFile
        self.errorFile = errorFile
        self.reapedStatus = rawStatus
    }

    /// Runs a program to completion within `timeout` and returns it (its status and output).
    /// Throws when it does not finish in time, after stopping it (SIGTERM, then SIGKILL after
    /// 10 s, as ``stop(grace:)`` does).
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], name: String? = nil, environment: [String: String]? = nil,
        currentDirectory: URL? = nil, standardInput: String? = nil, timeout: Duration
    ) async throws -> ExternalProcess {
        let name = name ?? URL(fileURLWithPath: executable).lastPathComponent
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw PeerError("\(name): \(executable) is not an executable file — run scripts/install-test-deps.sh")
        }
        let folder = try ScratchFolder.make("process-\(name)")
        let outputFile = folder.appendingPathComponent("stdout")
        let errorFile = folder.appendingPathComponent("stderr")
        // Subprocess closes each descriptor once the child has its copy.
        let input = try FileDescriptor.open(FilePath(standardInput ?? "/dev/null"), .readOnly)
        let created: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
        let output = try FileDescriptor.open(FilePath(outputFile.path), .writeOnly, options: [.create, .truncate], permissions: created)
        let error = try FileDescriptor.open(FilePath(errorFile.path), .writeOnly, options: [.create, .truncate], permissions: created)
        var overrides: [Subprocess.Environment.Key: String?] = [:]
        for (key, value) in environment ?? [:] {
            guard let key = Subprocess.Environment.Key(rawValue: key) else { throw PeerError("\(name): bad environment variable name \(key)") }
            overrides[key] = value
        }
        let childEnvironment = Subprocess.Environment.inherit.updating(overrides)
        var platformOptions = PlatformOptions()
        platformOptions.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(10))]
        let options = platformOptions

        let finished: (pid: Int32, status: TerminationStatus)? = try await withThrowingTaskGroup(of: (pid: Int32, status: TerminationStatus)?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), environment: childEnvironment,
                    workingDirectory: currentDirectory.map { FilePath($0.path) }, platformOptions: options,
                    input: .fileDescriptor(input, closeAfterSpawningProcess: true),
                    output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(error, closeAfterSpawningProcess: true)
                ) { execution in
                    // A test process that crashes must not leave the program running.
                    guardAgainstOrphaning(pid: execution.processIdentifier.value)
                }
                return (result.processIdentifier.value, result.terminationStatus)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            // Cancelling the run (when the timer won) tears its process down before the group returns.
            group.cancelAll()
            return first
        }
        guard let finished else {
            throw PeerError("\(name) did not exit within \(timeout)\n\(tail(name: name, outputFile: outputFile, errorFile: errorFile))")
        }
        let rawStatus: Int32
        switch finished.status {
        case .exited(let code): rawStatus = (code & 0xff) << 8
        case .signaled(let signal): rawStatus = signal & 0x7f
        }
        return ExternalProcess(finished: name, pid: finished.pid, outputFile: outputFile, errorFile: errorFile, rawStatus: rawStatus)
    }

    /// Reaps the process if it has exited; returns the raw status once it has.
    private func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let reapedStatus { return reapedStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            reapedStatus = status
        } else if result < 0 && errno == ECHILD {
            // Reaped elsewhere (it cannot be ours to wait for any more): count it as killed.
            reapedStatus = SIGKILL
        }
        return reapedStatus
    }

    public var isRunning: Bool { poll() == nil }

    /// The exit status, once the process has exited: its exit code, or 128 + the signal that
    /// ended it (as a shell reports it).
    public var exitStatus: Int32? {
        guard let status = poll() else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }
    public var errorOutput: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }

    /// The last lines of both outputs, for failure messages.
    public var outputTail: String { Self.tail(name: "\(name) (pid \(pid))", outputFile: outputFile, errorFile: errorFile) }

    static func tail(name: String, outputFile: URL, errorFile: URL) -> String {
        func tail(_ file: URL) -> String {
            ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").suffix(15).joined(separator: "\n")
        }
        return "\(name) stdout:\n\(tail(outputFile))\nstderr:\n\(tail(errorFile))"
    }

    /// Waits until the process exits and returns its status; after `timeout`, stops it and throws.
    public func waitForExit(timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            if ContinuousClock.now >= deadline {
                stop()
                throw PeerError("\(name) did not exit within \(timeout)\n\(outputTail)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the process exits with status 0; throws with its output otherwise.
    public func expectSuccess(timeout: Duration) async throws {
        let status = try await waitForExit(timeout: timeout)
        guard status == 0 else { throw PeerError("\(name) exited with status \(status)\n\(outputTail)") }
    }

    /// Waits until something accepts TCP connections on `port`, failing early if the process exits.
    public func waitForPort(_ port: Int, host: String = "127.0.0.1", timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if LocalPort.isAccepting(port, host: host) { return }
            if let status = exitStatus {
                throw PeerError("\(name) exited with status \(status) before listening on \(host):\(port)\n\(outputTail)")
            }
            guard ContinuousClock.now < deadline else {
                stop()
                throw PeerError("\(name) did not listen on \(host):\(port) within \(timeout)\n\(outputTail)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the process's standard output matches `pattern` (a regular expression) and
    /// returns the first capture group (or the whole match), failing early if the process exits.
    public func waitForOutput(_ pattern: String, timeout: Duration = .seconds(30)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = output
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return String(text[Range(range, in: text)!])
            }
            if let status = exitStatus {
                throw PeerError("\(name) exited with status \(status) before printing \(pattern)\n\(outputTail)")
            }
            guard ContinuousClock.now < deadline else {
                stop()
                throw PeerError("\(name) printed nothing matching \(pattern) within \(timeout)\n\(outputTail)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Kills the process with SIGKILL — no chance to clean up, as in a crash — and reaps it.
    public func killAbruptly() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        while isRunning { usleep(5_000) }
    }

    /// Stops the process: SIGTERM, then SIGKILL if it is still there after `grace`.
    public func stop(grace: Duration = .seconds(10)) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline {
            usleep(5_000)
        }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { usleep(5_000) }
        }
    }

    /// Starts a shell that sends SIGTERM to `pid` once the test process is gone, and exits by
    /// itself once `pid` has (a zombie counts as gone: only we can reap it).
    static func guardAgainstOrphaning(pid: Int32) {
        let script = """
            while kill -0 "$1" 2>/dev/null; do
              case "$(cut -d' ' -f3 /proc/$2/stat 2>/dev/null)" in ''|Z) exit 0;; esac
              sleep 1
            done
            kill -TERM "$2" 2>/dev/null
            """
        let watchdog = try? spawn(
            "/bin/sh", ["-c", script, "watchdog", String(getpid()), String(pid)],
            environment: ["PATH": "/usr/bin:/bin"], currentDirectory: nil, standardOutput: "/dev/null", standardError: "/dev/null"
        )
        // Nobody waits for the watchdog; reap it once it ends so it leaves no zombie.
        if let watchdog {
            Thread.detachNewThread {
                var status: Int32 = 0
                _ = waitpid(watchdog, &status, 0)
            }
        }
    }
}

/// Local TCP ports for peers.
public enum LocalPort {
    /// A port nobody listens on right now: the kernel picks one for a socket bound to port 0.
    /// Another process could take it before the peer binds it; the kernel hands ports out in
    /// turn, so that is rare, and the peer then fails to start with a clear error.
    public static func free(host: String = "127.0.0.1") throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PeerError("socket(): errno \(errno)") }
        defer { close(fd) }
        var address = try socketAddress(host, port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw PeerError("bind(\(host):0): errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw PeerError("getsockname: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether a TCP connection to `host:port` succeeds now.
    public static func isAccepting(_ port: Int, host: String = "127.0.0.1") -> Bool {
        guard let fd = try? TCPTestSocket.open(host: host, port: port, timeout: .seconds(1)) else { return false }
        close(fd)
        return true
    }

    static func socketAddress(_ host: String, port: Int) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw PeerError("\(host) is not an IPv4 address") }
        return address
    }
}

/// Folders for peers' files (configuration, logs, certificates, built programs), under the
/// system's temporary folder.
public enum ScratchFolder {
    /// A new, empty folder whose name starts with `prefix`.
    public static func make(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-amqp-tests", isDirectory: true)
            .appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
