// swift-tools-version: 6.1
// An application package that generates its own AMQP described types at build time: the XML in
// Sources/CustomTypes is turned into Swift by swift-amqp's AMQPTypeGenerator build-tool plugin.
import PackageDescription

let package = Package(
    name: "CustomTypes",
    dependencies: [
        .package(name: "swift-amqp", path: "../.."),
    ],
    targets: [
        // snippet: plugin target
        .target(
            name: "CustomTypes",
            dependencies: [.product(name: "AMQPCodec", package: "swift-amqp")],
            plugins: [.plugin(name: "AMQPTypeGenerator", package: "swift-amqp")]
        ),
        // snippet end
        .testTarget(name: "CustomTypesTests", dependencies: ["CustomTypes", .product(name: "AMQPCodec", package: "swift-amqp")]),
    ],
    swiftLanguageModes: [.v6]
)
