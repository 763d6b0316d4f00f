// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-amqp",
    products: [
        .library(name: "AMQPCodec", targets: ["AMQPCodec"]),
        .library(name: "AMQPSpecModel", targets: ["AMQPSpecModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        // The AMQP 1.0 type system. No Foundation, no NIO: other projects embed it.
        .target(name: "AMQPCodec"),
        .testTarget(
            name: "AMQPCodecTests",
            dependencies: [
                "AMQPCodec",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),

        // The code generator: spec XML → model → Swift. Never a dependency of the runtime targets.
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]
        ),
        // Reads the OASIS XML type definitions (bytes in, model or typed error out).
        .target(name: "AMQPSpecModel", dependencies: ["CLibXML2"]),
    ],
    swiftLanguageModes: [.v6]
)
