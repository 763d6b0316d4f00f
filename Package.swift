// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-amqp",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AMQPCodec", targets: ["AMQPCodec"]),
        .executable(name: "amqp", targets: ["amqp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        // The AMQP 1.0 type system. No Foundation, no NIO: other projects embed it.
        .target(name: "AMQPCodec"),
        // Framing and the I/O-free connection, session and link state machines: no NIO, no TLS,
        // so the fuzz targets and state-machine tests build in seconds.
        .target(name: "AMQPProtocol", dependencies: ["AMQPCodec"]),
        // SwiftNIO channel handlers, TLS, SCRAM, and the async client and listener APIs.
        .target(
            name: "AMQPTransport",
            dependencies: [
                "AMQPCodec",
                "AMQPProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The typed-JSON form of values that the CLI, tests and the Proton oracle exchange.
        .target(name: "AMQPTypedJSON", dependencies: ["AMQPCodec"]),
        .target(
            name: "AMQPCommandLine",
            dependencies: [
                "AMQPCodec",
                "AMQPTypedJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "amqp", dependencies: ["AMQPCommandLine"]),
        .testTarget(
            name: "AMQPCodecTests",
            dependencies: [
                "AMQPCodec",
                "AMQPTypedJSON",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "AMQPProtocolTests", dependencies: ["AMQPProtocol"]),
        .testTarget(name: "AMQPTransportTests", dependencies: ["AMQPTransport"]),
    ],
    swiftLanguageModes: [.v6]
)
