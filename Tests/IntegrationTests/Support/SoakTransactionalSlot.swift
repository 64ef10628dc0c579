import Klife
import Logging
import Synchronization

/// The transactional producer of a soak, in a client of its own with a fixed transactional id, so that it
/// can be killed in the middle of a transaction (its client's task is cancelled: no EndTxn) and come back
/// as a new process with the same id, whose first InitProducerId must end the leftover transaction.
///
/// Transactions write 6 records `t<number>-<i>` over the topic's partitions; about one in three throws from
/// its closure on purpose (and must be aborted).
final class SoakTransactionalSlot: Sendable {
    enum Command: Sendable { case kill, stop }

    let commands: AsyncStream<Command>
    private let continuation: AsyncStream<Command>.Continuation
    /// How each transaction ended, as `withTransaction` reported it.
    let outcomes = Mutex<[Int: ReliabilitySoakTests.TransactionOutcome]>([:])
    /// Transactions whose process was killed before `withTransaction` returned: their fate is the log's.
    let killedDuring = Mutex<Set<Int>>([])
    let kills = Mutex(0)
    let startFailures = Mutex<[String]>([])
    private let stopping = Mutex(false)
    private let state = Mutex<(next: Int, inFlight: Int?, random: SplitMix64Soak)>((0, nil, SplitMix64Soak(seed: 0)))

    init(seed: UInt64) {
        (commands, continuation) = AsyncStream.makeStream(of: Command.self)
        state.withLock { $0.random = SplitMix64Soak(seed: seed ^ 0x7478) }
    }

    func send(_ command: Command) { continuation.yield(command) }

    /// Runs incarnations until ``Command/stop``; `configuration` must hold one transactional pool of size 1
    /// with a fixed `baseTransactionalID`.
    func run(configuration: KafkaClient.Configuration, topic: String, partitions: Int32) async {
        var logger = Logger(label: "klife-soak-txn")
        logger.logLevel = .critical
        var iterator = commands.makeAsyncIterator()
        var incarnation = 0
        while !Task.isCancelled {
            incarnation += 1
            let client: KafkaClient
            do {
                client = try KafkaClient(configuration: configuration, logger: logger)
            } catch {
                startFailures.withLock { $0.append("incarnation \(incarnation): \(error)") }
                return
            }
            let command: Command? = await withTaskGroup(of: Void.self) { tasks -> Command? in
                tasks.addTask { try? await client.run() }
                tasks.addTask { await self.transactions(client, topic: topic, partitions: partitions) }
                let command = await iterator.next()
                if command == .kill {
                    // No EndTxn, no graceful anything: the process is gone.
                    tasks.cancelAll()
                } else {
                    // The loop ends after its current transaction (and after at least one, so that a
                    // transaction a killed predecessor left open is ended by this one's InitProducerId), then
                    // shuts the client down gracefully.
                    self.stopping.withLock { $0 = true }
                }
                return command
            }
            if let killed = state.withLock({ state -> Int? in
                defer { state.inFlight = nil }
                return state.inFlight
            }) {
                killedDuring.withLock { _ = $0.insert(killed) }
            }
            switch command {
            case .kill?: kills.withLock { $0 += 1 }
            case .stop?, nil: return
            }
        }
    }

    private func transactions(_ client: KafkaClient, topic: String, partitions: Int32) async {
        defer { client.shutdownGracefully() }
        do {
            try await client.waitUntilReady(timeout: .seconds(60))
        } catch {
            startFailures.withLock { $0.append("\(error)") }
            return
        }
        var begun = 0
        let giveUp = ContinuousClock.now + .seconds(120)
        while !Task.isCancelled && !(stopping.withLock({ $0 }) && begun > 0) && ContinuousClock.now < giveUp {
            let (number, abort) = state.withLock { state -> (Int, Bool) in
                state.next += 1
                state.inFlight = state.next
                return (state.next, state.random.next() % 3 == 0)
            }
            let records = (0..<6).map { i in KafkaRecord(topic: topic, partition: Int32(i % Int(partitions)), value: "t\(number)-\(i)") }
            let outcome: ReliabilitySoakTests.TransactionOutcome
            do {
                try await client.withTransaction { txn in
                    _ = await txn.produceBatch(records)
                    if abort { throw ReliabilitySoakTests.DeliberateAbort() }
                }
                outcome = .committed
            } catch let error as KafkaTransactionError {
                if error.beginError != nil {
                    // Nothing was produced (the client is stopping, or the coordinator was unreachable).
                    state.withLock { $0.inFlight = nil }
                    if Task.isCancelled { return }
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
                outcome = error.closureError is ReliabilitySoakTests.DeliberateAbort && error.abortError == nil ? .aborted : .failed("\(error)")
            } catch {
                outcome = .failed("\(error)")
            }
            begun += 1
            // A kill that lands after withTransaction returned leaves this outcome standing; one that landed
            // while it ran cut the transaction short, whatever it reported (e.g. "connection pool is shut down").
            let recorded = state.withLock { state -> Bool in
                guard state.inFlight == number, !Task.isCancelled else { return false }
                state.inFlight = nil
                return true
            }
            if recorded { outcomes.withLock { $0[number] = outcome } }
            // Paced: the mock cluster returns one batch per partition and Fetch, so every transaction costs
            // the final log read several round trips.
            try? await Task.sleep(for: .milliseconds(25))
        }
    }
}
