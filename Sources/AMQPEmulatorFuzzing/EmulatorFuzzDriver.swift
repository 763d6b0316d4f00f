import AMQPCodec
import AMQPEventHubsEmulator
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPProtocol
import AMQPTransport
import AMQPTypes
import Logging
import NIOCore
import NIOEmbedded

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `fuzz-emulator` found wrong with one input.
public struct EmulatorFuzzFinding: Error, CustomStringConvertible {
    public var description: String
}

/// `fuzz-emulator`: a client's bytes, as they would come from a socket, into one emulator
/// connection served on an `EmbeddedChannel` (the listener's connection handler, engine and the
/// emulator's application, minus the socket): SASL, `$cbs` put-token, `$management` requests,
/// producers, consumers and their filters all parse what the input says.
///
/// Besides anything trapping (overflow, bounds, unwraps: the input is the peer's), the oracle is
/// that a closed connection leaves nothing behind in the store it shared: no admitted receiver,
/// no listener on a partition log.
///
/// The input is the byte stream, handed over in pieces of 512 bytes with the event loop run
/// after each (so that consumers are pumped and replies sent between them). The seeds are
/// whole client sessions recorded from our client engine talking to this same harness.
public enum EmulatorFuzzDriver {
    /// The emulator's clock, fixed: tokens in the seeds are signed to expire an hour after it.
    public static let now: Int64 = 1_800_000_000_000
    static let piece = 512

    static var configuration: EmulatorConfiguration {
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 2, consumerGroups: ["cg"])])
        configuration.maxMessageSize = 64 << 10
        configuration.retentionBytesPerPartition = 1 << 20
        configuration.healthPort = nil
        configuration.loginThrottle = nil
        return configuration
    }

    static let logger = Logger(label: "fuzz-emulator") { _ in SwiftLogNoOpLogHandler() }

    /// One connection, and the store it shares with no other.
    struct Session {
        let connections: EmulatorConnections
        let channel: EmbeddedChannel
        /// Everything the emulator wrote.
        var output: [UInt8] = []

        init() throws {
            connections = try EmulatorConnections(EmulatorFuzzDriver.configuration, clock: { EmulatorFuzzDriver.now }, logger: EmulatorFuzzDriver.logger)
            channel = EmbeddedChannel()
            try AMQPListener.serve(channel, configuration: connections.listenerConfiguration, delegate: connections.makeDelegate())
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5672)).wait()
        }

        /// Hands `bytes` to the connection and runs what it scheduled; false once it is closed.
        @discardableResult
        mutating func feed(_ bytes: ArraySlice<UInt8>) -> Bool {
            guard channel.isActive else { return false }
            if !bytes.isEmpty { _ = try? channel.writeInbound(channel.allocator.buffer(bytes: bytes)) }
            settle()
            return channel.isActive
        }

        /// Runs the loop until nothing is scheduled, collecting what the emulator wrote.
        mutating func settle() {
            for _ in 0..<64 {
                channel.embeddedEventLoop.run()
                var wrote = false
                while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
                    output += buffer.readableBytesView
                    wrote = true
                }
                if !wrote { return }
            }
        }

        /// Closes the socket, as a peer that goes away does.
        mutating func close() {
            if channel.isActive { _ = try? channel.close().wait() }
            settle()
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }
    }

    /// Runs one input; throws what the oracle found.
    public static func check(_ input: [UInt8]) throws(EmulatorFuzzFinding) {
        var session: Session
        do {
            session = try Session()
        } catch {
            throw EmulatorFuzzFinding(description: "the harness could not start: \(error)")
        }
        var rest = input[...]
        while !rest.isEmpty {
            let piece = rest.prefix(Self.piece)
            rest = rest.dropFirst(piece.count)
            guard session.feed(piece) else { break }
        }
        session.close()
        let left = session.connections.registrations
        if left != 0 {
            throw EmulatorFuzzFinding(description: "the closed connection left \(left) receivers or log listeners registered")
        }
    }

    // MARK: Entry points

    /// libFuzzer's `LLVMFuzzerTestOneInput`: a finding stops the process with its description.
    public static func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try check(bytes)
        } catch {
            fatalError("fuzz-emulator finding: \(error)\ninput (\(bytes.count) bytes)")
        }
        return 0
    }

    /// libFuzzer's `LLVMFuzzerInitialize`: with `AMQP_FUZZ_WRITE_SEEDS=<folder>`, writes the seeds
    /// there and exits (scripts/fuzz.sh seeds every target this way).
    public static func initialize() -> CInt {
        guard let folder = getenv("AMQP_FUZZ_WRITE_SEEDS") else { return 0 }
        exit(writeSeeds(to: String(cString: folder)) ? 0 : 1)
    }

    /// A plain build's `main`: replays the files given (or every file in the folders given);
    /// `--write-seeds FOLDER` writes the seeds. Exits 1 when an input fails.
    ///
    /// The same loop as `FuzzTarget.replayMain` in AMQPFuzzing, which this target cannot link:
    /// that library defines `LLVMFuzzerInitialize` for the targets it knows, and would collide
    /// with this one's.
    public static func replayMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments.first == "--write-seeds", arguments.count == 2 { exit(writeSeeds(to: arguments[1]) ? 0 : 1) }
        guard !arguments.isEmpty else {
            print("usage: fuzz-emulator FILE|FOLDER... | --write-seeds FOLDER")
            exit(2)
        }
        var failures = 0, count = 0
        for path in arguments.flatMap(files(in:)) {
            guard let bytes = read(path) else {
                print("\(path): cannot read")
                failures += 1
                continue
            }
            count += 1
            do {
                try check(bytes)
            } catch {
                print("\(path): \(error)")
                failures += 1
            }
        }
        print("fuzz-emulator: \(count) inputs, \(failures) failures")
        exit(failures == 0 ? 0 : 1)
    }

    static func writeSeeds(to folder: String) -> Bool {
        var path = folder.hasPrefix("/") ? "" : "."
        for component in folder.split(separator: "/") {
            path += "/" + component
            mkdir(path, 0o755)
        }
        do {
            for seed in try EmulatorFuzzSeeds.sessions() {
                guard write(seed.bytes, to: folder + "/" + seed.name) else { return false }
            }
        } catch {
            print("cannot record the seed sessions: \(error)")
            return false
        }
        return true
    }

    // MARK: Files, without Foundation

    static func files(in path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }

    static func write(_ bytes: [UInt8], to path: String) -> Bool {
        guard let file = fopen(path, "wb") else { return false }
        defer { fclose(file) }
        return bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) } == bytes.count
    }
}
