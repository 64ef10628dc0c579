import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Connections to every broker: ``KafkaConnectionConfiguration/connectionsPerBroker`` slots per broker,
/// each connected lazily on first use, reused while open, and re-dialled after it closes, with capped
/// exponential backoff and jitter between failed attempts.
///
/// The cluster layer asks for a connection per request (or keeps one for a while); the pool never
/// retries requests itself. Thread-safe; no tasks of its own: a connect runs in the task that needed
/// it, and concurrent callers for the same slot wait for that attempt.
public final class BrokerConnectionPool: Sendable {
    private struct SlotKey: Hashable {
        var address: KafkaConnectionConfiguration.BrokerAddress
        var slot: Int
        /// An extra fetch connection (``fetchLaneConnection(to:brokerID:lane:eventLoop:)``), not a general slot.
        var isFetchLane = false
    }

    private typealias Slot = ConnectionSlotStateMachine<KafkaConnection, EventLoopFuture<KafkaConnection>>

    private struct State {
        var slots: [SlotKey: Slot] = [:]
        /// Per broker, the large-response buffers its connections (general slots and fetch lanes) share.
        var spareFrameBuffers: [KafkaConnectionConfiguration.BrokerAddress: SpareFrameBuffers] = [:]
        var roundRobin = 0
        var isShutDown = false
        var random = SystemRandomNumberGenerator()
    }

    public let configuration: KafkaConnectionConfiguration
    public let versionPolicy: KafkaAPIVersionPolicy
    private let tlsContext: NIOSSLContext?
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())
    private let backoffWaits = Atomic<Int>(0)

    /// How many callers are waiting out a slot's reconnect backoff right now (diagnostics and tests).
    var callersWaitingOutBackoff: Int { backoffWaits.load(ordering: .relaxed) }

    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when the TLS files cannot
    ///   be loaded.
    public init(
        configuration: KafkaConnectionConfiguration,
        versionPolicy: KafkaAPIVersionPolicy = .default,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.versionPolicy = versionPolicy
        self.tlsContext = try configuration.tls.map { try KafkaConnection.makeTLSContext($0) }
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// A ready connection to the broker at `address`.
    ///
    /// - Parameters:
    ///   - brokerID: the broker's node id when known (logs, error messages).
    ///   - slot: which of the broker's connections to use (taken modulo ``KafkaConnectionConfiguration/connectionsPerBroker``);
    ///     nil picks them round-robin. A producer that wants its own pipeline can pin a slot.
    /// - Throws: ``KafkaError``: the connect error (``KafkaError/Code/connectionFailed``,
    ///   ``KafkaError/Code/tlsHandshakeFailed``, ``KafkaError/Code/authenticationFailed``, …) of this
    ///   caller's attempt or of the attempt it waited for; ``KafkaError/Code/clientNotRunning`` after
    ///   ``shutdown()``. While the slot backs off after a failure the call waits for the backoff to end
    ///   (at most ``KafkaConnectionConfiguration/reconnectBackoffMax``) and then dials; cancelling the
    ///   task ends the wait with ``KafkaError/Code/connectionFailed``. With `waitingOutBackoff` false the
    ///   call throws ``BackingOff`` instead of waiting (a caller with other brokers to try).
    public func connection(
        to address: KafkaConnectionConfiguration.BrokerAddress, brokerID: Int32? = nil, slot: Int? = nil,
        waitingOutBackoff: Bool = true
    ) async throws -> KafkaConnection {
        let slotCount = max(configuration.connectionsPerBroker, 1)
        let key = state.withLock { state in
            let index: Int
            if let slot {
                index = ((slot % slotCount) + slotCount) % slotCount
            } else {
                index = state.roundRobin % slotCount
                state.roundRobin &+= 1
            }
            return SlotKey(address: address, slot: index)
        }
        return try await connection(for: key, brokerID: brokerID, eventLoop: nil, waitingOutBackoff: waitingOutBackoff)
    }

    /// Thrown by ``connection(to:brokerID:slot:waitingOutBackoff:)`` without waiting: the slot is backing off
    /// after `lastError` until `deadline`.
    struct BackingOff: Error {
        var lastError: KafkaError
        var deadline: NIODeadline
    }

    /// An extra connection to the broker at `address` for fetch requests, apart from the general slots: a
    /// broker answers the requests of one connection one after the other (Kafka mutes a connection until
    /// its response is sent; Tansu serves a connection sequentially), so two fetch requests of one call to
    /// the same broker are prepared in parallel only on two connections.
    ///
    /// Lane connections are opened lazily and reconnect like the general slots. A broker's connections share
    /// their kept large-response buffers (one per connection, ``SpareFrameBuffers``): whichever connection
    /// receives next reuses the buffer of a response the caller released, whichever connection it came on.
    ///
    /// - Parameters:
    ///   - lane: which extra connection (1, 2, …; each lane is its own connection).
    ///   - eventLoop: the event loop a new connection runs on: the general connection's, so that responses
    ///     of one broker are decoded (and their memory allocated) by one thread.
    /// - Throws: as ``connection(to:brokerID:slot:)``.
    public func fetchLaneConnection(
        to address: KafkaConnectionConfiguration.BrokerAddress, brokerID: Int32? = nil, lane: Int,
        eventLoop: (any EventLoop)? = nil
    ) async throws -> KafkaConnection {
        try await connection(for: SlotKey(address: address, slot: lane, isFetchLane: true), brokerID: brokerID, eventLoop: eventLoop)
    }

    private func connection(
        for key: SlotKey, brokerID: Int32?, eventLoop preferredEventLoop: (any EventLoop)?, waitingOutBackoff: Bool = true
    ) async throws -> KafkaConnection {
        let address = key.address
        while true {
            let eventLoop = preferredEventLoop ?? eventLoopGroup.any()
            var promise: EventLoopPromise<KafkaConnection>?
            let action = state.withLock { state -> Slot.AcquireAction in
                if state.isShutDown { return .fail(KafkaError(.clientNotRunning, "the connection pool is shut down")) }
                return state.slots[key, default: Slot(backoff: ReconnectBackoff(
                    initial: configuration.reconnectBackoff, maximum: configuration.reconnectBackoffMax
                ))].acquire(now: .now()) {
                    let newPromise = eventLoop.makePromise(of: KafkaConnection.self)
                    promise = newPromise
                    return newPromise.futureResult
                }
            }
            switch action {
            case .use(let connection):
                if connection.isActive && !connection.isDueForReplacement { return connection }
                if connection.isActive {
                    // Its SASL session ends soon (KIP-368): the broker would close it at the first request
                    // after that. A fresh connection authenticates anew; this one closes once its outstanding
                    // requests are answered.
                    logger.debug("replacing a connection whose SASL session ends soon", metadata: [KafkaLogKey.brokerHost: "\(address)"])
                    state.withLock { state in
                        _ = state.slots[key]?.connectionClosed(connection, using: &state.random)
                    }
                    connection.retire()
                    continue
                }
                state.withLock { state in
                    _ = state.slots[key]?.connectionClosed(connection, now: .now(), using: &state.random)
                }
            case .connect:
                return try await dial(key: key, brokerID: brokerID, eventLoop: preferredEventLoop, promise: promise!)
            case .wait(let future):
                do {
                    return try await future.get()
                } catch {
                    throw KafkaChannelHandler.classify(error, peer: "broker \(address)")
                }
            case .retryAfter(let deadline, let lastError):
                let wait = deadline - .now()
                if wait > .zero, !waitingOutBackoff { throw BackingOff(lastError: lastError, deadline: deadline) }
                if wait > .zero {
                    logger.debug(
                        "waiting \(wait) before reconnecting after: \(lastError.message)",
                        metadata: [KafkaLogKey.brokerHost: "\(address)"]
                    )
                    backoffWaits.add(1, ordering: .relaxed)
                    defer { backoffWaits.subtract(1, ordering: .relaxed) }
                    do {
                        try await Task.sleep(for: .nanoseconds(wait.nanoseconds))
                    } catch {
                        throw KafkaError(
                            .connectionFailed, "cancelled while waiting to reconnect to \(address)", isRetriable: true,
                            underlying: lastError
                        )
                    }
                }
            case .fail(let error):
                throw error
            }
        }
    }

    private func dial(
        key: SlotKey, brokerID: Int32?, eventLoop: (any EventLoop)?, promise: EventLoopPromise<KafkaConnection>
    ) async throws -> KafkaConnection {
        let spareFrameBuffers = state.withLock { state in
            if let shared = state.spareFrameBuffers[key.address] { return shared }
            let created = SpareFrameBuffers()
            state.spareFrameBuffers[key.address] = created
            return created
        }
        do {
            let connection = try await KafkaConnection.connect(
                to: key.address, brokerID: brokerID, configuration: configuration, versionPolicy: versionPolicy,
                tlsContext: tlsContext, eventLoopGroup: eventLoopGroup, eventLoop: eventLoop,
                spareFrameBuffers: spareFrameBuffers, logger: logger
            )
            let (kept, shutDown) = state.withLock { state in
                (state.slots[key]?.connectSucceeded(connection, for: promise.futureResult, now: .now()) ?? false, state.isShutDown)
            }
            guard kept else {
                // The pool shut down, or the broker left the cluster while this dial ran (a new caller may have
                // dialled it again since: that dial owns the slot now).
                let error = shutDown
                    ? KafkaError(.clientNotRunning, "the connection pool was shut down while connecting to \(key.address)")
                    : KafkaError(.connectionClosed, "\(key.address) left the cluster metadata while connecting", isRetriable: true)
                promise.fail(error)
                await connection.close()
                throw error
            }
            connection.onClose { [weak self] reason in
                guard let self else { return }
                let delay = self.state.withLock { state in
                    state.slots[key]?.connectionClosed(connection, now: .now(), reason: reason, using: &state.random) ?? .zero
                }
                self.logger.info(
                    "connection closed: \(reason.message)\(delay > .zero ? "; it had just connected, next dial in \(delay)" : "")",
                    metadata: [KafkaLogKey.brokerHost: "\(key.address)"]
                )
            }
            promise.succeed(connection)
            return connection
        } catch {
            let kafkaError = KafkaChannelHandler.classify(error, peer: "broker \(key.address)")
            let delay = state.withLock { state in
                state.slots[key]?.connectFailed(kafkaError, for: promise.futureResult, now: .now(), using: &state.random) ?? .zero
            }
            logger.warning(
                "connect failed, next attempt in \(delay): \(kafkaError.message)",
                metadata: [KafkaLogKey.brokerHost: "\(key.address)"]
            )
            promise.fail(kafkaError)
            throw kafkaError
        }
    }

    /// Closes the connections to a broker that left the cluster; a later ``connection(to:brokerID:slot:)``
    /// for it dials afresh.
    public func removeBroker(_ address: KafkaConnectionConfiguration.BrokerAddress) async {
        let connections = state.withLock { state -> [KafkaConnection] in
            var removed: [KafkaConnection] = []
            state.spareFrameBuffers[address] = nil  // its connections keep their reference until they close
            for key in state.slots.keys where key.address == address {
                var slot = state.slots.removeValue(forKey: key)!
                if let connection = slot.shutDown() { removed.append(connection) }
            }
            return removed
        }
        await Self.close(connections)
    }

    /// Closes `connections` side by side: a TLS close waits for the peer's close_notify, up to a timeout.
    private static func close(_ connections: [KafkaConnection]) async {
        await withDiscardingTaskGroup { group in
            for connection in connections { group.addTask { await connection.close() } }
        }
    }

    /// ``shutdown()`` without waiting for the connections to finish closing: their outstanding requests fail
    /// at once. For a cancellation handler.
    func shutDownNow() {
        for connection in markShutDown() { connection.channel.close(promise: nil) }
    }

    /// Refuses later calls and returns the open connections, to be closed.
    private func markShutDown() -> [KafkaConnection] {
        state.withLock { state -> [KafkaConnection] in
            state.isShutDown = true
            var open: [KafkaConnection] = []
            for key in state.slots.keys {
                if let connection = state.slots[key]!.shutDown() { open.append(connection) }
            }
            return open
        }
    }

    /// Closes every connection; later calls to ``connection(to:brokerID:slot:)`` fail with
    /// ``KafkaError/Code/clientNotRunning``.
    public func shutdown() async {
        await Self.close(markShutDown())
    }
}
