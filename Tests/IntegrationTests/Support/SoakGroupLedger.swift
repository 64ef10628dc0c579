import KafkaProtocol
import Logging
import Synchronization

@testable import Klife

/// What the consumer group members of a soak did, and what the group coordinator had committed when:
/// enough to check "a record whose offset was committed is never delivered to the group again" and "every
/// record is eventually processed".
///
/// A member is a handler name ("m1.3": slot 1, third incarnation). Each delivery is stored with the moment
/// the member's current ownership of the partition began (``KafkaConsumerGroupHandler/partitionStarted(_:)``,
/// called after the member read its start offset from the coordinator). Commits are sampled from the
/// coordinator with OffsetFetch; a commit sampled before an ownership began must bound that ownership's
/// first offset, whatever happened to the member that committed it.
final class SoakGroupLedger: Sendable {
    struct Delivery: Sendable {
        var member: String
        var partition: Int32
        var offset: Int64
        var ownedSince: ContinuousClock.Instant
    }

    struct CommitSample: Sendable {
        var at: ContinuousClock.Instant
        var committed: [Int32: Int64]
    }

    private let state = Mutex<(deliveries: [Delivery], ownedSince: [String: [Int32: ContinuousClock.Instant]], samples: [CommitSample])>(
        ([], [:], []))

    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    var samples: [CommitSample] { state.withLock { $0.samples } }
    var latestCommitted: [Int32: Int64] { state.withLock { $0.samples.last?.committed ?? [:] } }

    /// The handler of one member incarnation: records every delivery and commits every batch.
    struct Handler: KafkaConsumerGroupHandler {
        let ledger: SoakGroupLedger
        let member: String

        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            let now = ContinuousClock.now
            ledger.state.withLock { state in
                let since = state.ownedSince[member]?[batch.partition] ?? now
                for record in batch.records {
                    state.deliveries.append(Delivery(member: member, partition: batch.partition, offset: record.offset ?? -1, ownedSince: since))
                }
            }
            return .commit
        }

        func partitionStarted(_ partition: KafkaTopicPartition) async {
            let now = ContinuousClock.now
            ledger.state.withLock { $0.ownedSince[member, default: [:]][partition.partition] = now }
        }
    }

    func handler(member: String) -> Handler { Handler(ledger: self, member: member) }

    /// Adds a delivery or a commit sample directly (for the checks' own tests).
    func record(_ delivery: Delivery) { state.withLock { $0.deliveries.append(delivery) } }
    func record(_ sample: CommitSample) { state.withLock { $0.samples.append(sample) } }

    /// Reads the group's committed offsets of `topic` from its coordinator and stores them with the moment
    /// the answer arrived: every commit it shows was made before then (see ``redeliveredAfterCommit()``).
    func sample(client: KafkaClient, group: String, topic: String, partitions: Int32) async throws {
        let key = CoordinatorCache.Key(type: .group, key: group)
        let request = OffsetFetchRequest(groupId: group, topics: [.init(name: topic, partitionIndexes: Array(0..<partitions))])
        let (coordinator, _) = try await client.cluster.coordinatorConnection(for: key)
        let version = min(coordinator.negotiatedVersion(for: OffsetFetchRequest.self) ?? 0, 7)
        let response = try await coordinator.send(request, version: version, timeout: .seconds(5))
        guard response.errorCode == 0 else {
            _ = client.cluster.handleCoordinatorError(response.errorCode, for: key)
            return
        }
        let at = ContinuousClock.now
        var committed: [Int32: Int64] = [:]
        for topic in response.topics {
            for p in topic.partitions where p.errorCode == 0 && p.committedOffset >= 0 { committed[p.partitionIndex] = p.committedOffset }
        }
        state.withLock { $0.samples.append(CommitSample(at: at, committed: committed)) }
    }

    /// Deliveries of records below an offset the coordinator had already shown as committed before the
    /// delivering member's ownership of the partition began: "committed, then delivered again".
    func redeliveredAfterCommit() -> [Delivery] {
        let (deliveries, samples) = state.withLock { ($0.deliveries, $0.samples) }
        // Highest commit per partition seen up to each sample (a commit never needs to move back).
        var running: [Int32: Int64] = [:]
        var prefixMax: [[Int32: Int64]] = []
        for sample in samples {
            for (partition, offset) in sample.committed { running[partition] = max(running[partition] ?? -1, offset) }
            prefixMax.append(running)
        }
        return deliveries.filter { delivery in
            // The last sample answered before the ownership began.
            var low = 0
            var high = samples.count
            while low < high {
                let mid = (low + high) / 2
                if samples[mid].at < delivery.ownedSince { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { return false }
            return delivery.offset < (prefixMax[low - 1][delivery.partition] ?? -1)
        }
    }

    /// Offsets committed by one sample that are lower than an earlier sample's (the group's commit moved back).
    func commitsMovingBack() -> [String] {
        var seen: [Int32: Int64] = [:]
        var problems: [String] = []
        for sample in samples {
            for (partition, offset) in sample.committed {
                if let before = seen[partition], offset < before { problems.append("partition \(partition): \(before) -> \(offset)") }
                seen[partition] = max(seen[partition] ?? -1, offset)
            }
        }
        return problems
    }
}

/// One consumer group member slot of the soak: runs a member in a client of its own, kills it on request
/// (its client's task is cancelled: no commit, no LeaveGroup, like a crashed process) and starts a new
/// incarnation, until told to stop (then the member stops gracefully: commits and leaves).
final class SoakMemberSlot: Sendable {
    enum Command: Sendable { case kill, stop }

    let index: Int
    let commands: AsyncStream<Command>
    private let continuation: AsyncStream<Command>.Continuation
    let kills = Mutex(0)
    let startFailures = Mutex<[String]>([])

    init(index: Int) {
        self.index = index
        (commands, continuation) = AsyncStream.makeStream(of: Command.self)
    }

    func send(_ command: Command) { continuation.yield(command) }

    /// Runs incarnations until ``Command/stop``.
    func run(bootstrap: String, group: KafkaConsumerGroupConfiguration, ledger: SoakGroupLedger) async {
        var logger = Logger(label: "klife-soak-member-\(index)")
        logger.logLevel = .critical
        var iterator = commands.makeAsyncIterator()
        var incarnation = 0
        while !Task.isCancelled {
            incarnation += 1
            let member = "m\(index).\(incarnation)"
            let command: Command? = await withTaskGroup(of: Void.self) { tasks -> Command? in
                let client: KafkaClient
                do {
                    var configuration = try ClientTestSupport.configuration(bootstrap: bootstrap)
                    configuration.metadataRefreshInterval = .seconds(1)
                    configuration.connection.requestTimeout = .seconds(5)
                    client = try KafkaClient(configuration: configuration, logger: logger)
                } catch {
                    startFailures.withLock { $0.append("\(member): \(error)") }
                    return .stop
                }
                tasks.addTask { try? await client.run() }
                var started: KafkaConsumerGroup?
                do {
                    try await client.waitUntilReady(timeout: .seconds(60))
                    started = try client.startConsumerGroup(group, handler: ledger.handler(member: member))
                } catch {
                    startFailures.withLock { $0.append("\(member): \(error)") }
                }
                let command = await iterator.next()
                if command == .kill {
                    // The client's task is cancelled: the member vanishes without a commit or a LeaveGroup.
                    tasks.cancelAll()
                } else {
                    if let started { await started.stop() }
                    client.shutdownGracefully()
                }
                return command
            }
            switch command {
            case .kill?: kills.withLock { $0 += 1 }
            case .stop?, nil: return
            }
        }
    }
}
