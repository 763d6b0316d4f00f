// swift-tools-version: 6.1
// A vendor's AMQP extension generated against swift-amqp's AMQPTypes: its XML uses the core's
// `error`, `fields`, `role` and `delivery-state`, and the AMQPTypeGenerator build-tool plugin
// turns it into Swift that imports AMQPTypes instead of declaring those types again. Building it
// needs swift-amqp only (and libxml2 for amqp-gen): no OASIS XML on the machine.
import PackageDescription

let package = Package(
    name: "VendorTypes",
    dependencies: [
        .package(name: "swift-amqp", path: "../.."),
    ],
    targets: [
        // snippet: vendor-types-target
        .target(
            name: "VendorTypes",
            dependencies: [
                .product(name: "AMQPCodec", package: "swift-amqp"),
                // Depending on AMQPTypes is what makes the plugin generate against it.
                .product(name: "AMQPTypes", package: "swift-amqp"),
            ],
            plugins: [.plugin(name: "AMQPTypeGenerator", package: "swift-amqp")]
        ),
        // snippet end
        .testTarget(
            name: "VendorTypesTests",
            dependencies: [
                "VendorTypes",
                .product(name: "AMQPCodec", package: "swift-amqp"),
                .product(name: "AMQPTypes", package: "swift-amqp"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
