import AMQPCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the fuzz executables call: each one's `LLVMFuzzerTestOneInput` and, in a build without
/// `-DFUZZING`, its `main`.
extension FuzzTarget {
    /// Runs one input from libFuzzer. A finding stops the process with its description, which
    /// libFuzzer reports as a crash and saves the input for.
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try check(bytes)
        } catch {
            fatalError("\(self) finding: \(error)\ninput (\(bytes.count) bytes): \(HexEncoding.string(bytes.prefix(4096)))")
        }
        return 0
    }

    /// The `main` of a plain build: replays the files (or every file of the folders) given as
    /// arguments, printing each finding; `--write-seeds <folder>` writes the generated seeds.
    /// Exits with status 1 when an input fails.
    public func replayMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments.first == "--write-seeds", arguments.count == 2 {
            exit(writeSeeds(to: arguments[1]) ? 0 : 1)
        }
        guard !arguments.isEmpty else {
            printError("usage: \(self) FILE|FOLDER... | --write-seeds FOLDER\nReplays inputs through the \(self) oracle (a plain build; see scripts/fuzz.sh to fuzz).")
            exit(2)
        }
        var failures = 0
        var count = 0
        for path in arguments.flatMap(FuzzFiles.paths(in:)) {
            guard let bytes = FuzzFiles.read(path) else {
                printError("\(path): cannot read")
                failures += 1
                continue
            }
            count += 1
            do {
                try check(bytes)
            } catch {
                printError("\(path): \(error)")
                failures += 1
            }
        }
        print("\(self): \(count) inputs, \(failures) failures")
        exit(failures == 0 ? 0 : 1)
    }

    func writeSeeds(to folder: String) -> Bool {
        // Like `mkdir -p`: each folder on the way, ignoring those that exist.
        var path = folder.hasPrefix("/") ? "" : "."
        for component in folder.split(separator: "/") {
            path += "/" + component
            mkdir(path, 0o755)
        }
        for seed in FuzzSeeds.seeds(for: self) {
            guard FuzzFiles.write(seed.bytes, to: folder + "/" + seed.name) else {
                printError("cannot write \(folder)/\(seed.name)")
                return false
            }
        }
        return true
    }
}

/// libFuzzer's initialization hook, shared by the fuzz executables, which are named after their
/// target: with `AMQP_FUZZ_WRITE_SEEDS=<folder>` in the environment, writes the target's generated
/// seeds into the folder and exits, so that `scripts/fuzz.sh` needs no second build to make them.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    guard let folder = getenv("AMQP_FUZZ_WRITE_SEEDS") else { return 0 }
    let program = argv?.pointee?.pointee.map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: String(program.split(separator: "/").last ?? "")) else {
        printError("AMQP_FUZZ_WRITE_SEEDS: \(program) is not named after a fuzz target")
        exit(1)
    }
    exit(target.writeSeeds(to: String(cString: folder)) ? 0 : 1)
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

/// Files without Foundation, which the fuzz executables do not link.
public enum FuzzFiles {
    /// `path` itself, or the regular files in it (sorted) when it is a folder.
    public static func paths(in path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            // Regular files only (and those a file system does not type).
            guard entry.pointee.d_type == UInt8(DT_REG) || entry.pointee.d_type == UInt8(DT_UNKNOWN) else { continue }
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            })
        }
        return names.sorted().map { path + "/" + $0 }
    }

    public static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        // Fuzz inputs are small: a large chunk, zeroed for every file, cost more than the replay.
        var chunk = [UInt8](repeating: 0, count: 1 << 12)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return ferror(file) == 0 ? bytes : nil
    }

    public static func write(_ bytes: [UInt8], to path: String) -> Bool {
        guard let file = fopen(path, "wb") else { return false }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        return fclose(file) == 0 && written == bytes.count
    }
}
