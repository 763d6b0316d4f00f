import ArgumentParser

/// `amqp`: the swift-amqp command line.
public struct AMQPCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "amqp",
        abstract: "AMQP 1.0 from the command line: codec, inspection, messaging, Event Hubs.",
        subcommands: [DemoCommand.self, CodecCommand.self, InspectCommand.self, EmulatorCommand.self, EventHubsCommand.self]
    )

    public init() {}
}
