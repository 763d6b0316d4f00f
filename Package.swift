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
    ],
    targets: [
        // The AMQP 1.0 type system. No Foundation, no NIO: other projects embed it.
        .target(name: "AMQPCodec"),
        // Framing and the I/O-free connection, session and link state machines: no NIO, no TLS,
        // so the fuzz targets and state-machine tests build in seconds.
        .target(name: "AMQPProtocol", dependencies: ["AMQPCodec"]),
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
    ],
    swiftLanguageModes: [.v6]
)
