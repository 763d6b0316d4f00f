import ArgumentParser

/// `amqp`: the swift-amqp command line.
public struct AMQPCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "amqp",
        abstract: "AMQP 1.0 from the command line: codec, inspection, messaging, Event Hubs.",
        discussion: """
            Every command takes --log-level. Shell completion: amqp --generate-completion-script bash \
            (or zsh, fish).

            Exit statuses:
            \(ExitStatus.help)
            """,
        subcommands: [
            DemoCommand.self, SendCommand.self, ReceiveCommand.self, BrokerCommand.self, EventHubsCommand.self,
            EmulatorCommand.self, CodecCommand.self, InspectCommand.self,
        ]
    )

    public init() {}
}
