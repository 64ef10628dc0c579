import Logging
import Synchronization

/// A named pool of transactional producers (Klife's TxnProducerPool): `poolSize` members with the fixed
/// transactional ids `"<base>_0"` … `"<base>_<poolSize-1>"`. A transaction checks a member out for its
/// whole duration; when all are busy it waits for one.
///
/// Members initialise (InitProducerId) on first use. When the pool has a configured base id, ``run()`` also
/// initialises the idle members in the background: InitProducerId with a transactional id aborts (or
/// completes) whatever transaction a crashed earlier process left open under it, so read_committed readers
/// are not held back until the transaction timeout. A member that failed (fenced, or an abort that did not
/// complete) re-initialises before its next transaction: that is its replacement.
final class TransactionalProducerPool: KafkaClientComponent {
    let configuration: KafkaTransactionalPoolConfiguration
    let baseTransactionalID: String
    let members: [TransactionalProducer]
    let logger: Logger

    private struct State {
        var machine: TransactionalPoolStateMachine
        var waiters: [Int: CheckedContinuation<Int, any Error>] = [:]
        var nextWaiterID = 0
        /// Graceful shutdowns waiting for every open transaction to end (keyed by waiter id).
        var drainWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state: Mutex<State>

    init(configuration: KafkaTransactionalPoolConfiguration, clientConfiguration: KafkaClient.Configuration, cluster: ClusterManager, logger: Logger) {
        self.configuration = configuration
        let base = configuration.baseTransactionalID.isEmpty
            ? KafkaTransactionalPoolConfiguration.randomBaseTransactionalID() : configuration.baseTransactionalID
        self.baseTransactionalID = base
        var logger = logger
        logger[metadataKey: "kafka.transactional_pool"] = "\(configuration.name)"
        self.logger = logger
        self.members = (0..<configuration.poolSize).map { index in
            TransactionalProducer(
                index: index, transactionalID: KafkaTransactionalPoolConfiguration.transactionalID(base: base, worker: index),
                configuration: configuration, clientConfiguration: clientConfiguration, cluster: cluster, logger: logger)
        }
        self.state = Mutex(State(machine: TransactionalPoolStateMachine(size: configuration.poolSize)))
    }

    /// Takes a free member, waiting for one while all are busy.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning`` when the pool shut down, or
    ///   ``KafkaError/Code/cancelled`` when the task was cancelled while waiting.
    func checkout() async throws -> TransactionalProducer {
        let waiterID = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let index = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                let action = state.withLock { state -> TransactionalPoolStateMachine.CheckoutAction in
                    if Task.isCancelled { return .fail }
                    let action = state.machine.checkout(waiterID: waiterID)
                    if case .wait = action { state.waiters[waiterID] = continuation }
                    return action
                }
                switch action {
                case .use(let index): continuation.resume(returning: index)
                case .wait: break
                case .fail:
                    continuation.resume(throwing: Task.isCancelled
                        ? KafkaError(.cancelled, "cancelled while waiting for a transactional producer of pool \(configuration.name)")
                        : KafkaError(.clientNotRunning, "the transactional pool \(configuration.name) has shut down"))
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Int, any Error>? in
                guard state.machine.cancel(waiterID: waiterID) else { return nil }
                return state.waiters.removeValue(forKey: waiterID)
            }
            waiter?.resume(throwing: KafkaError(.cancelled, "cancelled while waiting for a transactional producer of pool \(configuration.name)"))
        }
        return members[index]
    }

    /// Returns a member; the oldest waiter gets it.
    func checkin(_ member: TransactionalProducer) {
        let (resume, drained) = state.withLock { state -> ((CheckedContinuation<Int, any Error>, Int)?, [CheckedContinuation<Void, Never>]) in
            switch state.machine.checkin(member.index) {
            case .none:
                guard state.machine.isDrained, !state.drainWaiters.isEmpty else { return (nil, []) }
                defer { state.drainWaiters.removeAll() }
                return (nil, Array(state.drainWaiters.values))
            case .resume(let waiterID, let index):
                guard let continuation = state.waiters.removeValue(forKey: waiterID) else { return (nil, []) }
                return ((continuation, index), [])
            }
        }
        if let (continuation, index) = resume { continuation.resume(returning: index) }
        for waiter in drained { waiter.resume() }
    }

    /// Idle members, for observation in tests.
    var idleCount: Int { state.withLock { $0.machine.idleCount } }

    // MARK: KafkaClientComponent

    func run() async throws {
        if !configuration.baseTransactionalID.isEmpty {
            // Fence leftovers of an earlier process using the same ids; members in use are skipped (they
            // initialise themselves).
            for member in members {
                if Task.isCancelled { return }
                guard state.withLock({ $0.machine.checkoutIfIdle(member.index) }) else { continue }
                if member.needsInitialisation {
                    do {
                        try await member.initialise()
                    } catch {
                        logger.warning("could not initialise transactional producer \(member.transactionalID): \(error)")
                    }
                }
                checkin(member)
            }
        }
        // Nothing else runs in the background; stay until the client stops.
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// Refuses new transactions, fails callers still waiting for a member, then waits until every open
    /// transaction has committed or aborted (its closure still runs; the connections stay up meanwhile).
    /// The wait ends early when the task is cancelled (the ServiceGroup's shutdown deadline) and after the
    /// pool's transaction timeout at most (the coordinator aborts a transaction older than that anyway): an
    /// open transaction left behind is aborted by the coordinator, or by the next InitProducerId with the
    /// same transactional id.
    func shutdownGracefully() async {
        let timeout = configuration.transactionTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.closeAndDrain() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func closeAndDrain() async {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            let ids = state.machine.close()
            return ids.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        for waiter in waiters {
            waiter.resume(throwing: KafkaError(.clientNotRunning, "the client shut down while waiting for a transactional producer of pool \(configuration.name)"))
        }
        let drainID = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = state.withLock { state -> Bool in
                    guard !state.machine.isDrained, !Task.isCancelled else { return false }
                    state.drainWaiters[drainID] = continuation
                    return true
                }
                if !wait { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.drainWaiters.removeValue(forKey: drainID) }?.resume()
        }
    }
}
