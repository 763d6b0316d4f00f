// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-amqp",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AMQPCodec", targets: ["AMQPCodec"]),
        // Its types (ConnectionEngine, ConnectionEvent, LinkID…) are part of AMQPTransport's API.
        .library(name: "AMQPProtocol", targets: ["AMQPProtocol"]),
        .library(name: "AMQPTransport", targets: ["AMQPTransport"]),
        .library(name: "AMQPEventHubs", targets: ["AMQPEventHubs"]),
        .library(name: "AMQPEventHubsProtocol", targets: ["AMQPEventHubsProtocol"]),
        .library(name: "AMQPEventHubsEmulator", targets: ["AMQPEventHubsEmulator"]),
        .library(name: "AMQPEventHubsBlobCheckpointStore", targets: ["AMQPEventHubsBlobCheckpointStore"]),
        .library(name: "AMQPEventHubsIdentity", targets: ["AMQPEventHubsIdentity"]),
        .library(name: "AMQPTypes", targets: ["AMQPTypes"]),
        .library(name: "AMQPMessage", targets: ["AMQPMessage"]),
        .library(name: "AMQPCodable", targets: ["AMQPCodable"]),
        .library(name: "AMQPMessageJSON", targets: ["AMQPMessageJSON"]),
        .library(name: "AMQPSpecModel", targets: ["AMQPSpecModel"]),
        .library(name: "AMQPGenerator", targets: ["AMQPGenerator"]),
        .executable(name: "amqp-gen", targets: ["amqp-gen"]),
        .executable(name: "amqp", targets: ["amqp"]),
        .executable(name: "amqp-bench", targets: ["amqp-bench"]),
        .executable(name: "amqp-bench-e2e", targets: ["amqp-bench-e2e"]),
        .plugin(name: "GenerateAMQPTypes", targets: ["GenerateAMQPTypes"]),
        .plugin(name: "AMQPTypeGenerator", targets: ["AMQPTypeGenerator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // Spans and metrics of the Event Hubs client: API packages only, no-ops until an
        // application bootstraps a backend.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        // Only AMQPEventHubsBlobCheckpointStore (and the CLI above it) use it: it costs minutes of
        // clean build, which the codec, protocol and fuzz targets must not pay.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        // Test certificates made in-process (AMQPTestCertificates only).
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.0.0"),
        // `swift package generate-documentation` (scripts/build-docs.sh): a command plugin, linked
        // into no target.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.4.0"),
        // The tests' programs run to completion (AMQPTestSupport only).
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
    ],
    targets: [
        // The AMQP 1.0 type system. No Foundation, no NIO: other projects embed it.
        .target(name: "AMQPCodec"),
        // Framing and the I/O-free connection, session and link state machines: no NIO, no TLS,
        // so the fuzz targets and state-machine tests build in seconds.
        .target(name: "AMQPProtocol", dependencies: ["AMQPCodec", "AMQPTypes"]),
        // SwiftNIO channel handlers, TLS, SCRAM, and the async client and listener APIs.
        .target(
            name: "AMQPTransport",
            dependencies: [
                "AMQPCodec",
                "AMQPTypes",
                "AMQPMessage",
                "AMQPProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                // PBKDF2 for SCRAM (`_CryptoExtras` exists in swift-crypto 3 and 4 alike).
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Event Hubs' wire vocabulary, shared by the client and the emulator: names, link
        // addresses, positions, SAS tokens, connection strings, $cbs/$management messages and the
        // batch format. No NIO: the emulator need not link the client.
        .target(
            name: "AMQPEventHubsProtocol",
            dependencies: [
                "AMQPCodec",
                "AMQPProtocol",
                "AMQPTypes",
                "AMQPMessage",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Azure Event Hubs over AMQP: the client (it re-exports AMQPEventHubsProtocol).
        .target(
            name: "AMQPEventHubs",
            dependencies: [
                "AMQPCodec",
                "AMQPTypes",
                "AMQPMessage",
                "AMQPProtocol",
                "AMQPTransport",
                "AMQPEventHubsProtocol",
                "AMQPDurableFiles",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Replacing small files so that they survive power loss (temporary file, fsync, rename,
        // fsync of the folder): the file checkpoint store and the emulator's Blob endpoint.
        .target(name: "AMQPDurableFiles"),
        // The Azure Blob Storage vocabulary that the checkpoint store and the emulator's Blob
        // endpoint share: storage connection strings, the shared-key signature, the list-blobs
        // XML, and the checkpoint layout of Microsoft's SDKs. Foundation and Crypto only.
        .target(
            name: "AMQPBlobStorage",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The Blob Storage checkpoint store of event processors, in the layout Microsoft's SDKs
        // share. Its own target: nothing below the CLI pays for the HTTP client.
        .target(
            name: "AMQPEventHubsBlobCheckpointStore",
            dependencies: [
                "AMQPEventHubs",
                "AMQPBlobStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Microsoft Entra ID credentials (client secret and certificate, workload identity, managed
        // identity, Azure CLI, a chain of them) as Event Hubs token providers. Its own target: the core client does
        // not pay for the HTTP client.
        .target(
            name: "AMQPEventHubsIdentity",
            dependencies: [
                "AMQPEventHubs",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // A local Event Hubs endpoint on the listener side, for development and tests.
        .target(
            name: "AMQPEventHubsEmulator",
            dependencies: [
                "AMQPCodec",
                "AMQPTypes",
                "AMQPMessage",
                "AMQPProtocol",
                "AMQPTransport",
                "AMQPEventHubsProtocol",
                "AMQPBlobStorage",
                "AMQPDurableFiles",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                // RS256, the signature of Entra ID's tokens, for the issuers CBS verifies.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The typed-JSON form of values that the CLI, tests and the Proton oracle exchange.
        .target(name: "AMQPTypedJSON", dependencies: ["AMQPCodec"]),
        // The JSON form of whole messages (`amqp send --messages`, `amqp receive --json`).
        .target(name: "AMQPMessageJSON", dependencies: ["AMQPCodec", "AMQPTypes", "AMQPMessage", "AMQPTypedJSON"]),
        .target(
            name: "AMQPCommandLine",
            dependencies: [
                "AMQPCodec",
                "AMQPTypes",
                "AMQPProtocol",
                "AMQPTypedJSON",
                "AMQPMessage",
                "AMQPMessageJSON",
                "AMQPTransport",
                "AMQPEventHubs",
                "AMQPEventHubsEmulator",
                "AMQPEventHubsBlobCheckpointStore",
                // `amqp inspect --types FILE.xml` parses a vendor's spec file to name its types.
                "AMQPSpecModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "amqp", dependencies: ["AMQPCommandLine"]),
        // Codec micro-benchmarks (`amqp-bench codec`, release build). Only the codec layers, so the
        // allocation gate in scripts/test.sh builds it in release without NIO or TLS.
        .executableTarget(
            name: "amqp-bench",
            dependencies: ["AMQPCodec", "AMQPTypes", "AMQPMessage", "AMQPProtocol", "AMQPCodable", "AMQPCodecFixtures", "CMallocCounter"]
        ),
        // The Event Hubs message the codec benchmarks measure and the Embedded Swift fixture holds.
        .target(name: "AMQPCodecFixtures", dependencies: ["AMQPCodec", "AMQPTypes", "AMQPMessage"]),
        // End-to-end throughput over loopback (scripts/bench.sh): our client, our in-memory broker,
        // the Event Hubs client against the emulator (run in-process here, to measure its memory).
        .executableTarget(
            name: "amqp-bench-e2e",
            dependencies: ["AMQPCodec", "AMQPTypes", "AMQPMessage", "AMQPTransport", "AMQPEventHubs", "AMQPEventHubsEmulator"]
        ),
        // Replaces malloc and friends to count allocations per thread. Benchmark executables only.
        .target(name: "CMallocCounter"),
        // What several test targets share: paths to ../shared, the Proton oracle.
        .target(
            name: "AMQPTestSupport",
            dependencies: [
                "AMQPCodec",
                "AMQPTypedJSON",
                .product(name: "Subprocess", package: "swift-subprocess"),
                // Subprocess's file descriptors are swift-system's on Linux (the System framework's on macOS).
                .product(name: "SystemPackage", package: "swift-system", condition: .when(platforms: [.linux])),
            ]
        ),
        // Self-signed certificates for the TLS tests, apart from AMQPTestSupport so that the codec
        // tests do not build X.509 and BoringSSL.
        .target(
            name: "AMQPTestCertificates",
            dependencies: [
                "AMQPTestSupport",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "AMQPCodecTests",
            dependencies: [
                "AMQPCodec",
                "AMQPTypedJSON",
                "AMQPTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "AMQPCodableTests",
            dependencies: [
                "AMQPCodable",
                "AMQPCodec",
                "AMQPTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "AMQPProtocolTests", dependencies: ["AMQPProtocol"]),
        // Every Swift block of the README and the DocC articles is a copy of a region of a compiled
        // test (or example) source: this target checks they are equal. No dependencies, so it builds
        // in seconds.
        .testTarget(name: "AMQPDocumentationTests"),
        .testTarget(
            name: "AMQPCommandLineTests",
            dependencies: [
                "AMQPCommandLine", "AMQPTestSupport", "AMQPTestCertificates", "AMQPTypedJSON", "AMQPMessageJSON", "AMQPMessage", "AMQPTypes", "AMQPSpecModel",
                "AMQPCodec", "AMQPTransport",
            ]
        ),
        .testTarget(
            name: "AMQPTransportTests",
            dependencies: [
                "AMQPTransport", "AMQPCodec", "AMQPMessage", "AMQPTypes", "AMQPTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "AMQPTypedJSONTests", dependencies: ["AMQPTypedJSON", "AMQPCodec"]),
        // Our client and listener against real peers (Qpid Proton C and Python, RabbitMQ), TLS
        // and hostile bytes through real sockets. Peers are started by the tests; a missing
        // peer fails the test.
        .testTarget(
            name: "AMQPPeerTests",
            dependencies: [
                "AMQPCodec",
                "AMQPTypes",
                "AMQPMessage",
                "AMQPProtocol",
                "AMQPTransport",
                "AMQPTestSupport", "AMQPTestCertificates",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(name: "AMQPEventHubsProtocolTests", dependencies: ["AMQPEventHubsProtocol", "AMQPCodec", "AMQPTypes", "AMQPMessage"]),
        .testTarget(
            name: "AMQPEventHubsEmulatorTests",
            dependencies: [
                "AMQPEventHubs", "AMQPEventHubsEmulator", "AMQPTransport", "AMQPProtocol", "AMQPMessage", "AMQPTestSupport",
                "AMQPEmulatorFuzzing", .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // The Blob checkpoint store against the emulator's Blob endpoint, both proven with
        // Microsoft's Python packages (azure-storage-blob, azure-eventhub-checkpointstoreblob), and
        // processors of two languages sharing one consumer group.
        .testTarget(
            name: "AMQPEventHubsBlobTests",
            dependencies: [
                "AMQPBlobStorage", "AMQPEventHubs", "AMQPEventHubsBlobCheckpointStore", "AMQPEventHubsEmulator", "AMQPTestSupport",
                "AMQPTransport", "AMQPProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        // The Entra ID credentials against a local token endpoint, and end to end with the emulator.
        .testTarget(
            name: "AMQPEventHubsIdentityTests",
            dependencies: [
                "AMQPEventHubsIdentity", "AMQPEventHubs", "AMQPEventHubsEmulator",
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The Event Hubs client against the in-process emulator (and a WebSocket bridge to it).
        .testTarget(
            name: "AMQPEventHubsTests",
            dependencies: [
                "AMQPCodec",
                "AMQPTypes",
                "AMQPMessage",
                "AMQPProtocol",
                "AMQPTransport",
                "AMQPEventHubs",
                "AMQPEventHubsEmulator",
                "AMQPTestSupport", "AMQPTestCertificates",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),

        // Every type of the AMQP 1.0 specification, generated by amqp-gen from the OASIS XML and
        // spec/. Never edit by hand: `swift package --allow-writing-to-package-directory generate-amqp-types`.
        .target(name: "AMQPTypes", dependencies: ["AMQPCodec"], path: "Generated/AMQPTypes"),
        // The bare message on top of the generated sections (hand-written).
        .target(name: "AMQPMessage", dependencies: ["AMQPCodec", "AMQPTypes"]),
        // Swift's Codable over the codec: users' own types as AMQP maps, lists or described
        // values. Data, Date and UUID come from FoundationEssentials here, never in AMQPCodec.
        .target(name: "AMQPCodable", dependencies: ["AMQPCodec"]),

        // The code generator: spec XML → model → Swift. Never a dependency of the runtime targets.
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]
        ),
        // Reads the OASIS XML type definitions (bytes in, model or typed error out).
        .target(name: "AMQPSpecModel", dependencies: ["CLibXML2"]),
        // Turns the model into Swift: a typed declaration model printed by one printer.
        .target(name: "AMQPGenerator", dependencies: ["AMQPSpecModel"]),
        .executableTarget(
            name: "amqp-gen",
            dependencies: [
                "AMQPGenerator",
                "AMQPSpecModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `swift package --allow-writing-to-package-directory generate-amqp-types` regenerates Generated/.
        .plugin(
            name: "GenerateAMQPTypes",
            capability: .command(
                intent: .custom(verb: "generate-amqp-types", description: "Regenerate Generated/AMQPTypes from the AMQP 1.0 XML and spec/"),
                permissions: [.writeToPackageDirectory(reason: "Writes Swift sources into Generated/AMQPTypes")]
            ),
            dependencies: ["amqp-gen"]
        ),
        // Attach to a target holding AMQP type-definition XML to generate its Swift types at build time.
        .plugin(name: "AMQPTypeGenerator", capability: .buildTool(), dependencies: ["amqp-gen"]),
        .testTarget(
            name: "AMQPGeneratorTests",
            dependencies: [
                "AMQPGenerator",
                "AMQPSpecModel",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "AMQPTypesTests",
            dependencies: [
                "AMQPCodecFixtures",
                "AMQPCodec",
                "AMQPTypes",
                "AMQPMessage",
                "AMQPSpecModel",
                "AMQPTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),

        // Fuzzing (issue 7): the oracles, one libFuzzer executable per entry point (built by
        // scripts/fuzz.sh with -sanitize=fuzzer; a plain build replays files), and the tests that
        // replay the regression inputs and the Proton corpora. Only the fast targets: no NIO, no TLS.
        .target(
            name: "AMQPFuzzing",
            dependencies: ["AMQPCodec", "AMQPTypes", "AMQPMessage", "AMQPProtocol", "AMQPSpecModel", "AMQPTypedJSON", "AMQPMessageJSON"]
        ),
        .executableTarget(name: "fuzz-value", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-value"),
        .executableTarget(name: "fuzz-message", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-message"),
        .executableTarget(name: "fuzz-frames", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-frames"),
        .executableTarget(name: "fuzz-performative", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-performative"),
        .executableTarget(name: "fuzz-listener", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-listener"),
        .executableTarget(name: "fuzz-client", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-client"),
        .executableTarget(name: "fuzz-spec-xml", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-spec-xml"),
        .executableTarget(name: "fuzz-json", dependencies: ["AMQPFuzzing"], path: "Fuzz/fuzz-json"),
        // The emulator's connections driven with a client's bytes: apart from AMQPFuzzing, since
        // it needs the emulator (NIO, TLS), which the fast targets must not build.
        .target(
            name: "AMQPEmulatorFuzzing",
            dependencies: [
                "AMQPEventHubsEmulator", "AMQPEventHubsProtocol", "AMQPTransport", "AMQPProtocol", "AMQPMessage", "AMQPTypes", "AMQPCodec",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "fuzz-emulator", dependencies: ["AMQPEmulatorFuzzing"], path: "Fuzz/fuzz-emulator"),
        .testTarget(
            name: "AMQPFuzzTests",
            dependencies: ["AMQPFuzzing", "AMQPCodec", "AMQPTypes", "AMQPMessage", "AMQPProtocol", "AMQPSpecModel", "AMQPTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
