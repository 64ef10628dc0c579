import ArgumentParser
import Klife
import Logging

/// Options every subcommand that talks to a cluster shares: `@OptionGroup var global: GlobalOptions`.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "JSON client configuration file (keys as in KafkaClient.Configuration(configReader:); see Examples/klife-config.json).",
            discussion: "The other options override the file's values when given.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("config-scope"), help: "Dotted key path of the client section inside --config (e.g. klife).")
    var configScope: String?

    @Option(name: .long, help: "Bootstrap brokers, host:port[,host:port...] (default: $KLIFE_BOOTSTRAP, else 127.0.0.1:9092).")
    var bootstrap: String?

    @Flag(name: .long, help: "Connect with TLS.")
    var tls = false

    @Option(name: .customLong("tls-ca"), help: "PEM file with the CA certificates that sign the brokers' certificates (implies --tls).")
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: "PEM client certificate for mutual TLS (implies --tls).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of the client certificate (implies --tls).")
    var tlsKey: String?

    @Option(name: .customLong("sasl-mechanism"), help: "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (token from $KLIFE_SASL_OAUTH_TOKEN).")
    var saslMechanism: String?

    @Option(name: .customLong("sasl-username"), help: "SASL user name.")
    var saslUsername: String?

    @Option(name: .customLong("sasl-password"), help: "SASL password (default: $KLIFE_SASL_PASSWORD, which keeps it out of the process list).")
    var saslPasswordOption: String?

    /// `--sasl-password`, else $KLIFE_SASL_PASSWORD (a command line is visible to every user in `ps`).
    var saslPassword: String? {
        if let saslPasswordOption { return saslPasswordOption }
        if let env = environmentValue("KLIFE_SASL_PASSWORD"), !env.isEmpty { return env }
        return nil
    }

    @Option(name: .customLong("client-rack"), help: "The rack (availability zone) this client runs in: fetch from a replica in it where the cluster offers one (Kafka's client.rack).")
    var clientRack: String?

    @Option(name: .customLong("connect-timeout-ms"), help: "How long to wait for the cluster to answer before giving up.")
    var connectTimeoutMs: Int = 15_000

    @Flag(name: .long, help: "Log the client's activity to stderr.")
    var verbose = false

    /// The bootstrap list in effect: the option, else $KLIFE_BOOTSTRAP, else 127.0.0.1:9092.
    var effectiveBootstrap: String {
        if let bootstrap { return bootstrap }
        if let env = environmentValue("KLIFE_BOOTSTRAP"), !env.isEmpty { return env }
        return "127.0.0.1:9092"
    }

    /// Parses the `--bootstrap` list (`host:port[,host:port…]`, IPv6 hosts in brackets).
    static func parseBrokers(_ list: String) throws -> [KafkaConnectionConfiguration.BrokerAddress] {
        do {
            return try KafkaConnectionConfiguration.BrokerAddress.parseList(list)
        } catch let error as KafkaError {
            throw ValidationError("--bootstrap: \(error.message)")
        }
    }

    func validate() throws {
        _ = try Self.parseBrokers(effectiveBootstrap)
        if let saslMechanism {
            guard let mechanism = KafkaConnectionConfiguration.SASL.Mechanism(rawValue: saslMechanism.uppercased()) else {
                throw ValidationError("--sasl-mechanism must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
            }
            if mechanism == .oauthBearer {
                guard environmentValue("KLIFE_SASL_OAUTH_TOKEN").map({ !$0.isEmpty }) == true else {
                    throw ValidationError("--sasl-mechanism OAUTHBEARER takes its token from $KLIFE_SASL_OAUTH_TOKEN, which is not set")
                }
            } else if saslUsername == nil || saslPassword == nil {
                throw ValidationError("--sasl-mechanism needs --sasl-username and --sasl-password")
            }
        } else if saslUsername != nil || saslPasswordOption != nil {
            throw ValidationError("--sasl-username/--sasl-password need --sasl-mechanism")
        }
        guard connectTimeoutMs > 0 else { throw ValidationError("--connect-timeout-ms must be > 0") }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    /// The configuration of the `--config` file (unknown keys rejected), nil without `--config`.
    func loadConfigFile() async throws -> KafkaClient.Configuration? {
        guard let config else { return nil }
        let scope = configScope.map { $0.split(separator: ".").map(String.init) } ?? []
        return try await KafkaClient.Configuration.load(jsonFile: config, scope: scope)
    }

    /// The `--config` file's configuration with the command-line options applied on top (flags given win),
    /// or the flags alone without `--config`.
    func makeConfiguration(file: KafkaClient.Configuration?) throws -> KafkaClient.Configuration {
        guard var configuration = file else { return try makeConfiguration() }
        if bootstrap != nil || environmentValue("KLIFE_BOOTSTRAP").map({ !$0.isEmpty }) == true {
            configuration.connection.bootstrapServers = try Self.parseBrokers(effectiveBootstrap)
        }
        let flags = try makeConfiguration().connection
        if let tls = flags.tls { configuration.connection.tls = tls }
        if let sasl = flags.sasl { configuration.connection.sasl = sasl }
        if let clientRack { configuration.connection.clientRack = clientRack }
        return configuration
    }

    /// The client configuration these options describe; subcommands adjust it before creating the client.
    func makeConfiguration() throws -> KafkaClient.Configuration {
        var connection = KafkaConnectionConfiguration(
            bootstrapServers: try Self.parseBrokers(effectiveBootstrap), clientID: "klife-cli", clientRack: clientRack)
        if tls || tlsCA != nil || tlsCert != nil || tlsKey != nil {
            connection.tls = .init(caCertificateFile: tlsCA, clientCertificateFile: tlsCert, clientPrivateKeyFile: tlsKey)
        }
        if let saslMechanism, let mechanism = KafkaConnectionConfiguration.SASL.Mechanism(rawValue: saslMechanism.uppercased()) {
            if mechanism == .oauthBearer {
                // A fixed token from the environment (it would show in `ps` as an option).
                let token = environmentValue("KLIFE_SASL_OAUTH_TOKEN") ?? ""
                guard !token.isEmpty else { throw ValidationError("--sasl-mechanism OAUTHBEARER takes its token from $KLIFE_SASL_OAUTH_TOKEN, which is not set") }
                connection.sasl = .oauthBearer { KafkaOAuthBearerToken(token) }
            } else {
                connection.sasl = .init(mechanism: mechanism, username: saslUsername ?? "", password: saslPassword ?? "")
            }
        }
        return KafkaClient.Configuration(connection: connection)
    }

    /// A logger writing to stderr: warnings and up, everything with `--verbose`.
    func makeLogger() -> Logger {
        var logger = Logger(label: "klife", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }

    /// Runs a client built from these options (after `adjust`), waits until it knows the cluster, runs `body`,
    /// then shuts the client down.
    func withClient<T: Sendable>(
        adjust: (inout KafkaClient.Configuration) -> Void = { _ in },
        _ body: @Sendable (KafkaClient) async throws -> T
    ) async throws -> T {
        var configuration = try makeConfiguration(file: try await loadConfigFile())
        adjust(&configuration)
        return try await KafkaClient.withRunningClient(
            configuration: configuration, logger: makeLogger(), readyTimeout: .milliseconds(connectTimeoutMs), body)
    }
}

/// Writes a line to stderr.
func printError(_ message: String) {
    writeToStandardError(message + "\n")
}

/// Runs a subcommand body; a thrown error is printed to stderr and becomes exit status 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as KafkaError {
        printError("klife: \(error.message)\(error.kafkaCode.map { " (Kafka error code \($0))" } ?? "")")
        throw ExitCode.failure
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        printError("klife: \(error)")
        throw ExitCode.failure
    }
}
