import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A Kafka client: the Swift counterpart of a started Klife client.
///
/// Create it with a ``Configuration`` and run it, usually in a `ServiceGroup` next to the rest of the
/// application; ``run()`` connects to the cluster (bootstrap servers in order), keeps the metadata fresh,
/// and runs the producers, fetchers and groups the application uses, until the task is cancelled or a
/// graceful shutdown is triggered. The produce, transaction, fetch and admin APIs live in
/// `KafkaClient+<Aspect>.swift` extensions. For scripts and tests, ``withRunningClient(configuration:logger:readyTimeout:_:)``
/// runs a client around a closure.
///
/// ```swift
/// let client = try KafkaClient(configuration: .init(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)]), logger: logger)
/// let group = ServiceGroup(services: [client], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// ## Tracing
///
/// Produce calls open a `send` span and write its W3C trace context into the records' headers; consumer-group
/// handlers run inside a `process` span that continues it. Bootstrap `InstrumentationSystem` (as
/// swift-distributed-tracing asks: once, at start-up) before creating the client: the client resolves the
/// tracer its produce calls use when it is created, so a tracer bootstrapped later is not seen by them, and
/// with none installed a produce call does no tracing work at all.
public final class KafkaClient: Sendable, Service {
    /// The configuration the client was created with.
    public let configuration: Configuration
    /// The logger of the client and everything it runs.
    public let logger: Logger
    /// Event loops of the broker connections.
    let eventLoopGroup: any EventLoopGroup
    /// Connections, metadata, routing.
    let cluster: ClusterManager
    /// Producers already looked up, by name (the produce hot path; see `Producer/ProducerLookupCache.swift`).
    let producerLookup = ProducerLookupCache()
    /// The tracer produce calls use, resolved at creation (see "Tracing" above); nil when none is installed.
    let produceTracer = KafkaTracing.resolveProduceTracer()
    /// `produceTracer != nil`, read per record without copying the existential.
    let tracesProduceCalls: Bool

    private enum Lifecycle {
        case created
        case running
        /// The first step of a graceful shutdown: consumer group members finish their batches and leave, while
        /// their handlers (and everything else) may still produce and run transactions.
        case stoppingConsumers
        /// The second step: no more records; producers flush and stop.
        case shuttingDown
        case finished
    }

    private struct State {
        var lifecycle = Lifecycle.created
        /// Long-running parts (producer engines, fetchers, groups) by key, started in ``run()``'s task group.
        var components: [String: any KafkaClientComponent] = [:]
        /// Components created before run() reached its task group.
        var componentsToStart: [any KafkaClientComponent] = []
        /// ``shutdownGracefully()`` was called before ``run()``: the run finishes as soon as it has started.
        var shutdownBeforeRun = false
    }

    private enum Event: Sendable {
        case start(any KafkaClientComponent)
        /// A graceful shutdown begins: the components that finish first are asked to.
        case shutdown
        /// They have finished: the rest are asked.
        case consumersStopped
    }

    private let state = Mutex(State())
    /// Whether the lifecycle is `.running` or `.stoppingConsumers` (calls are taken), kept beside it (written under `state`'s lock) for the produce
    /// path, which checks it per record without taking the lock.
    private let acceptsRecords = Atomic<Bool>(false)
    private let events: AsyncStream<Event>
    private let eventContinuation: AsyncStream<Event>.Continuation

    /// Creates a client; nothing connects until ``run()``.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: the event loops for broker connections (default: NIO's shared singleton group).
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming the bad options.
    public init(
        configuration: Configuration, logger: Logger = Logger(label: "klife"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        // Allowed (test clusters, private networks), but worth saying once: Kafka's own clients make both an
        // explicit choice (SASL_PLAINTEXT, ssl.endpoint.identification.algorithm).
        if configuration.connection.sasl?.mechanism == .plain, configuration.connection.tls == nil {
            logger.warning("SASL PLAIN without TLS: the password goes to the brokers unencrypted (connection.tls is not set)")
        }
        if let tls = configuration.connection.tls, !tls.verifyCertificate {
            logger.warning("TLS without certificate verification (connection.tls.verifyCertificate is false): the brokers' identity is not checked")
        }
        self.eventLoopGroup = eventLoopGroup
        self.tracesProduceCalls = produceTracer != nil
        let pool = try BrokerConnectionPool(configuration: configuration.connection, eventLoopGroup: eventLoopGroup, logger: logger)
        self.cluster = ClusterManager(configuration: configuration, pool: pool, logger: logger)
        (events, eventContinuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// Runs the client until the surrounding task is cancelled, a graceful shutdown is triggered (by a
    /// `ServiceGroup` or ``shutdownGracefully()``), after which buffered work is finished first.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when called a second time.
    public func run() async throws {
        let toStart = try state.withLock { state -> [any KafkaClientComponent] in
            guard case .created = state.lifecycle else {
                throw KafkaError(.clientNotRunning, "KafkaClient.run() may be called only once")
            }
            defer { state.componentsToStart = [] }
            state.lifecycle = state.shutdownBeforeRun ? .stoppingConsumers : .running
            acceptsRecords.store(true, ordering: .releasing)
            if state.shutdownBeforeRun { eventContinuation.yield(.shutdown) }
            return state.componentsToStart
        }
        logger.debug("client starting", metadata: ["bootstrap": "\(configuration.connection.bootstrapServers.map(\.description))"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.cluster.run() }
                for component in toStart { group.addTask { await self.runComponent(component) } }
                // Ends on graceful shutdown, or (the stream returns nil) when this task is cancelled.
                eventLoop: for await event in events {
                    switch event {
                    case .start(let component):
                        group.addTask { await self.runComponent(component) }
                    case .shutdown:
                        // In a child task, so that components made meanwhile (a producer a handler uses for the
                        // first time) are started by this loop.
                        group.addTask { await self.stopConsumers() }
                    case .consumersStopped:
                        await self.finishComponents(finishingFirst: false)
                        break eventLoop
                    }
                }
                // Cancelled: the stream has ended, so a component made from now on would never be started. Calls
                // are refused while the components wind down (a shutdown has already set this).
                self.state.withLock { state in
                    switch state.lifecycle {
                    case .running, .stoppingConsumers: state.lifecycle = .shuttingDown
                    case .created, .shuttingDown, .finished: break
                    }
                    self.acceptsRecords.store(false, ordering: .releasing)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdownGracefully()
        }
        state.withLock {
            $0.lifecycle = .finished
            acceptsRecords.store(false, ordering: .releasing)
        }
        eventContinuation.finish()
        logger.debug("client stopped")
    }

    /// Starts a graceful shutdown, then ``run()`` returns. Consumer group members finish their current batches,
    /// commit and leave first; until they have, the client still takes records and transactions (a handler
    /// finishing its batch may produce). Then it refuses new records, and producers deliver what they hold.
    /// Called before ``run()``, it makes that run finish as soon as it has started (a task
    /// started to run the client may not have begun yet). Does nothing when the client is already shutting
    /// down or has stopped.
    public func shutdownGracefully() {
        state.withLock { state in
            if case .created = state.lifecycle {
                state.shutdownBeforeRun = true
                return
            }
            guard case .running = state.lifecycle else { return }
            state.lifecycle = .stoppingConsumers
            // Under the lock: after the start of every component made while running (see `component`).
            eventContinuation.yield(.shutdown)
        }
    }

    /// Waits until the client has its first cluster metadata (it can route requests).
    ///
    /// - Parameter timeout: how long to wait; nil waits until the client stops.
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/requestTimedOut`` after `timeout` (its message
    ///   carries the last connection or metadata error), ``KafkaError/Code/clientNotRunning`` when the client
    ///   stops first.
    public func waitUntilReady(timeout: Duration? = .seconds(30)) async throws {
        guard let timeout else { return try await cluster.waitUntilReady() }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.cluster.waitUntilReady()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let ready = try await group.next() ?? false
            group.cancelAll()
            if !ready {
                let last = self.cluster.lastError
                throw KafkaError(
                    .requestTimedOut,
                    "the client found no reachable broker within \(timeout) (bootstrap \(self.configuration.connection.bootstrapServers.map(\.description).joined(separator: ",")))"
                        + (last.map { ": \($0.message)" } ?? ""),
                    isRetriable: true, underlying: last)
            }
        }
    }

    /// Whether the client has its first cluster metadata.
    public var isReady: Bool { cluster.isReady }

    /// The current cluster metadata (brokers, topics, partitions, leaders) as last refreshed.
    public var clusterMetadata: KafkaClusterMetadata { cluster.metadata }

    /// Refreshes the cluster metadata now and returns it.
    ///
    /// - Throws: ``KafkaError``: the refresh's failure (``KafkaError/Code/connectionFailed`` and others), or
    ///   ``KafkaError/Code/clientNotRunning``.
    @discardableResult
    public func refreshMetadata() async throws -> KafkaClusterMetadata {
        try requireRunning()
        return try await cluster.refreshMetadata()
    }

    /// Runs a client around `body`: starts it, waits until it is ready, runs `body`, then shuts the client
    /// down gracefully and waits for it to stop. Also when `body` throws: records it handed to producers are
    /// still delivered (or fail with their error) before the error is rethrown. Cancelling the calling task
    /// cancels the client instead (see ``run()``).
    ///
    /// - Throws: ``KafkaError`` from creating the client (``KafkaError/Code/invalidConfiguration``), from
    ///   waiting for readiness (see ``waitUntilReady(timeout:)``), or whatever `body` throws.
    @discardableResult
    public static func withRunningClient<T: Sendable>(
        configuration: Configuration, logger: Logger = Logger(label: "klife"), readyTimeout: Duration = .seconds(30),
        _ body: @Sendable (KafkaClient) async throws -> T
    ) async throws -> T {
        let client = try KafkaClient(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            do {
                try await client.waitUntilReady(timeout: readyTimeout)
            } catch {
                group.cancelAll()
                throw error
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(client))
            } catch {
                result = .failure(error)
            }
            client.shutdownGracefully()
            do {
                try await group.waitForAll()
            } catch {
                // The client's own failure; the body's error, if any, is the one the caller is waiting for.
                if case .success = result { throw error }
            }
            return try result.get()
        }
    }

    // MARK: Components

    /// The component stored under `key`, created with `make` on first use. A component created before or
    /// while the client runs is started in ``run()``'s task group. During a graceful shutdown's first step
    /// (consumers stopping) one is created only if `startsWhileConsumersStop`; after it, existing components are
    /// still returned but none is created.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when `key` names no component and
    ///   the client is shutting down or has stopped; whatever `make` throws.
    func component<C: KafkaClientComponent>(
        _ key: String, as type: C.Type = C.self, startsWhileConsumersStop: Bool = true, make: () throws -> C
    ) throws -> C {
        try state.withLock { state -> C in
            if let existing = state.components[key] {
                guard let typed = existing as? C else {
                    preconditionFailure("component \(key) is a \(Swift.type(of: existing)), not a \(C.self)")
                }
                return typed
            }
            switch state.lifecycle {
            case .created:
                let created = try make()
                state.components[key] = created
                state.componentsToStart.append(created)
                return created
            case .running, .stoppingConsumers:
                // No new member joins a group while the shutdown takes members out.
                if case .stoppingConsumers = state.lifecycle, !startsWhileConsumersStop {
                    throw Self.stoppedError
                }
                let created = try make()
                // Yielded under the lock, so a shutdown's event comes after it: the component runs before it is
                // asked to finish, and is among the components asked.
                if case .terminated = eventContinuation.yield(.start(created)) {
                    // run()'s task was cancelled just now: nothing would start it.
                    throw Self.stoppedError
                }
                state.components[key] = created
                return created
            case .shuttingDown, .finished:
                // It would never run (nor, made after the shutdown's step began, be asked to finish): a member
                // whose `batches` never end, a producer whose records are never sent.
                throw Self.stoppedError
            }
        }
    }

    /// Forgets the component under `key` if it is `component` (one that has finished for good, so that a
    /// new one may take the key, e.g. a consumer group member started again after it stopped).
    func removeComponent(_ key: String, ifIdenticalTo component: any KafkaClientComponent) {
        state.withLock { state in
            if let existing = state.components[key], existing === component { state.components[key] = nil }
        }
    }

    private func runComponent(_ component: any KafkaClientComponent) async {
        do {
            try await component.run()
        } catch is CancellationError {
        } catch {
            logger.error("client component failed: \(error)")
        }
    }

    /// Asks the components with `finishesFirst` equal to `finishingFirst` to finish, and waits until they have.
    private func finishComponents(finishingFirst: Bool) async {
        let components = state.withLock { $0.components.values.filter { $0.finishesFirst == finishingFirst } }
        await withTaskGroup(of: Void.self) { group in
            for component in components { group.addTask { await component.shutdownGracefully() } }
        }
    }

    /// A graceful shutdown's first step: consumers finish; then records are refused and the rest are asked.
    private func stopConsumers() async {
        await finishComponents(finishingFirst: true)
        state.withLock { state in
            guard case .stoppingConsumers = state.lifecycle else { return }
            state.lifecycle = .shuttingDown
            acceptsRecords.store(false, ordering: .releasing)
            // Under the lock: after the start of every component made before (see `component`).
            eventContinuation.yield(.consumersStopped)
        }
    }

    // MARK: Guards for public calls

    /// What calls get once the client is shutting down or has stopped.
    private static var stoppedError: KafkaError { KafkaError(.clientNotRunning, "the client is shutting down or has stopped") }

    /// Whether ``run()`` is in progress: ``requireRunning()`` without the lock or an error, for the produce
    /// path's per-record check.
    var isRunning: Bool { acceptsRecords.load(ordering: .acquiring) }

    /// Throws unless ``run()`` is in progress.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning``.
    func requireRunning() throws {
        let lifecycle = state.withLock { $0.lifecycle }
        switch lifecycle {
        case .running, .stoppingConsumers: return
        case .created: throw KafkaError(.clientNotRunning, "the client is not running: call run() (or use withRunningClient) first")
        case .shuttingDown, .finished: throw Self.stoppedError
        }
    }

    /// Throws unless `feature` is enabled in the configuration and the broker supports it.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/featureDisabled`` naming the feature and why.
    public func requireFeature(_ feature: Feature) throws {
        if configuration.disabledFeatures.contains(feature) {
            throw KafkaError(.featureDisabled, "the \(feature) feature is disabled by the client configuration (disabledFeatures)")
        }
        if let reason = cluster.unsupportedFeatures[feature] {
            throw KafkaError(.featureDisabled, "the \(feature) feature is unavailable: \(reason)")
        }
    }

    /// Whether `feature` is enabled and supported (as far as the broker's versions are known yet).
    public func isFeatureAvailable(_ feature: Feature) -> Bool {
        (try? requireFeature(feature)) != nil
    }
}

/// A long-running part of a client (a producer engine, a fetcher, a consumer group) that the client runs in
/// its task group. Create it with ``KafkaClient/component(_:as:make:)``.
protocol KafkaClientComponent: AnyObject, Sendable {
    /// Runs until the task is cancelled.
    func run() async throws
    /// Called once when the client shuts down gracefully, before cancellation: finish or flush buffered work.
    func shutdownGracefully() async
    /// Whether it finishes in the shutdown's first step, while the others (producers) still take work from it.
    var finishesFirst: Bool { get }
}

extension KafkaClientComponent {
    var finishesFirst: Bool { false }
}
