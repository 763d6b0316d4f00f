import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private RabbitMQ 3.10 node with the AMQP 1.0 plugin on 127.0.0.1 (PEERS.md), started once
/// per test process — its first start takes 6–9 s — and stopped when the process exits.
///
/// It runs with its own epmd on a free port and its own node name, so it neither touches `/etc`
/// nor collides with another engineer's node on the same machine. Credentials: guest/guest
/// (SASL PLAIN), or ANONYMOUS as guest.
public final class RabbitMQNode: Sendable {
    public let port: Int
    public let nodeName: String
    let server: ExternalProcess
    let epmd: ExternalProcess
    /// What rabbitmqctl needs to find the node.
    let environment: [String: String]

    public static let username = "guest"
    public static let password = "guest"

    init(port: Int, nodeName: String, server: ExternalProcess, epmd: ExternalProcess, environment: [String: String]) {
        self.port = port
        self.nodeName = nodeName
        self.server = server
        self.epmd = epmd
        self.environment = environment
    }

    /// The node of this test process, started on first use.
    public static func shared() async throws -> RabbitMQNode {
        try await Starter.shared.node()
    }

    /// Serializes the first start; every later caller gets the same node (or the same failure).
    actor Starter {
        static let shared = Starter()
        private var started: Task<RabbitMQNode, Error>?

        func node() async throws -> RabbitMQNode {
            if let started { return try await started.value }
            let task = Task { try await RabbitMQNode.start() }
            started = task
            return try await task.value
        }
    }

    static let serverScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    static let epmdPath = "/usr/bin/epmd"

    static func start() async throws -> RabbitMQNode {
        for path in [serverScript, epmdPath] where !FileManager.default.isExecutableFile(atPath: path) {
            throw PeerError("RabbitMQ is not installed (\(path) missing): install rabbitmq-server (scripts/install-test-deps.sh)")
        }
        let folder = try ScratchFolder.make("rabbitmq")
        let port = try LocalPort.free()
        let distributionPort = try LocalPort.free()
        let epmdPort = try LocalPort.free()
        let nodeName = "swift-amqp-\(getpid())@localhost"
        for sub in ["home", "mnesia", "log"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let config = folder.appendingPathComponent("rabbitmq.conf")
        try """
            listeners.tcp.default = 127.0.0.1:\(port)
            loopback_users.guest = true
            amqp1_0.default_user = guest
            amqp1_0.default_vhost = /
            """.write(to: config, atomically: true, encoding: .utf8)
        let plugins = folder.appendingPathComponent("enabled_plugins")
        try "[rabbitmq_amqp1_0].\n".write(to: plugins, atomically: true, encoding: .utf8)
        let envFile = folder.appendingPathComponent("rabbitmq-env.conf")
        try """
            NODENAME=\(nodeName)
            NODE_IP_ADDRESS=127.0.0.1
            NODE_PORT=\(port)
            DIST_PORT=\(distributionPort)
            CONFIG_FILE=\(config.path)
            ENABLED_PLUGINS_FILE=\(plugins.path)
            MNESIA_BASE=\(folder.appendingPathComponent("mnesia").path)
            LOG_BASE=\(folder.appendingPathComponent("log").path)
            PID_FILE=\(folder.appendingPathComponent("rabbitmq.pid").path)
            SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
            CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

            """.write(to: envFile, atomically: true, encoding: .utf8)
        let environment = [
            "HOME": folder.appendingPathComponent("home").path,
            "RABBITMQ_CONF_ENV_FILE": envFile.path,
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": String(epmdPort),
        ]
        // Our own epmd, so that we know its process id and stop it with the node.
        let epmd = try ExternalProcess(epmdPath, ["-address", "127.0.0.1", "-port", String(epmdPort)], name: "epmd", environment: environment)
        try await epmd.waitForPort(epmdPort, timeout: .seconds(10))
        let server = try ExternalProcess(serverScript, [], name: "rabbitmq-server", environment: environment, currentDirectory: folder)
        Exit.register(server.pid, epmd.pid)
        do {
            // The AMQP listener opens last in RabbitMQ's boot, after the plugins.
            try await server.waitForPort(port, timeout: .seconds(90))
        } catch {
            server.stop()
            epmd.stop()
            throw error
        }
        return RabbitMQNode(port: port, nodeName: nodeName, server: server, epmd: epmd, environment: environment)
    }

    /// Asks the node and its epmd to stop as soon as the test process exits (the watchdogs of
    /// ``ExternalProcess`` would notice within a second; this starts the shutdown at once).
    enum Exit {
        nonisolated(unsafe) static var pids: (Int32, Int32) = (0, 0)

        static func register(_ server: Int32, _ epmd: Int32) {
            pids = (server, epmd)
            atexit {
                // SIGTERM makes the rabbitmq-server script stop the node gracefully.
                if RabbitMQNode.Exit.pids.0 > 0 { kill(RabbitMQNode.Exit.pids.0, SIGTERM) }
                if RabbitMQNode.Exit.pids.1 > 0 { kill(RabbitMQNode.Exit.pids.1, SIGTERM) }
            }
        }
    }

    static let controlScript = "/usr/lib/rabbitmq/bin/rabbitmqctl"

    /// How many messages RabbitMQ holds in each queue (ready and unacknowledged), as its own
    /// `rabbitmqctl list_queues` reports it: an oracle independent of our client.
    public func queueDepths() async throws -> [String: Int] {
        let control = try await ExternalProcess.run(
            Self.controlScript, ["-n", nodeName, "list_queues", "--quiet", "--no-table-headers", "name", "messages"],
            name: "rabbitmqctl", environment: environment, timeout: .seconds(60)
        )
        guard control.exitStatus == 0 else { throw PeerError("rabbitmqctl list_queues failed\n\(control.outputTail)") }
        var depths: [String: Int] = [:]
        for line in control.output.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count == 2, let count = Int(fields[1]) else { continue }
            depths[String(fields[0])] = count
        }
        return depths
    }

    /// Where the node's logs are, for failure messages.
    public var logTail: String { server.outputTail }
}
