import Foundation
import Klife
import Testing

/// A bounded chaos run on the mock cluster: producers (idempotent) and readers run while a chaos loop moves
/// leaders, takes brokers down and up and slows them. Checked like Klife's simulator: every acknowledged
/// record is in the log at its reported offset, nothing is there twice, each partition keeps produce order,
/// the readers see exactly the log, and the process's memory does not grow with the run.
///
/// `KLIFE_SOAK_SECONDS` (default 20) sets the length of the chaos phase; `KLIFE_SOAK_SEED` the chaos seed.
@Suite("Soak: produce and read under chaos", .serialized)
struct ReliabilitySoakTests {
    static let seconds = Int(ProcessInfo.processInfo.environment["KLIFE_SOAK_SECONDS"] ?? "") ?? 20
    static let seed = UInt64(ProcessInfo.processInfo.environment["KLIFE_SOAK_SEED"] ?? "") ?? 20_261_129
    static let partitions: Int32 = 6

    /// Resident set size of this process in bytes (Linux /proc), nil elsewhere.
    static func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
        }
        return nil
    }

    /// One acknowledged record: where the broker put it.
    struct Acked: Sendable {
        var value: String
        var offset: Int64
    }

    @Test("acknowledged records are in the log once, in order, and readers see exactly the log, while the cluster misbehaves")
    func chaos() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("soak")
        try await cluster.createTopic(topic, partitions: Int(Self.partitions), replicationFactor: 3)
        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        configuration.metadataRefreshInterval = .seconds(1)
        configuration.connection.requestTimeout = .seconds(5)
        configuration.producers = [
            KafkaProducerConfiguration(
                linger: .milliseconds(5), deliveryTimeout: .seconds(120), requestTimeout: .seconds(5), retryBackoff: .milliseconds(50),
                maxInFlightRequests: 5)
        ]
        configuration.fetchers = [KafkaFetcherConfiguration(requestTimeout: .seconds(3))]

        let acked = LockedBox<[Int32: [Acked]]>([:])
        let failed = LockedBox<[String]>([])
        let read = LockedBox<[Int32: [(offset: Int64, value: String)]]>([:])
        let readErrors = LockedBox<[KafkaError]>([])
        let chaosOver = LockedBox(false)
        let producersDone = LockedBox(false)
        let rssAfterWarmUp = LockedBox<Int?>(nil)
        let rssAtEnd = LockedBox<Int?>(nil)

        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let giveUp = ContinuousClock.now + .seconds(Self.seconds + 180)
            try await withThrowingTaskGroup(of: Void.self) { readers in
                // Readers: one per partition, each continuing from the next offset it was told.
                for partition in 0..<Self.partitions {
                    readers.addTask {
                        var next: Int64 = 0
                        while ContinuousClock.now < giveUp {
                            let result = await client.fetchPartitions([KafkaFetchPosition(topic: topic, partition: partition, offset: next)])
                            switch result.first?.value {
                            case .success(let fetched)?:
                                read.withLock { $0[partition, default: []] += fetched.records.map { ($0.offset!, $0.valueString ?? "") } }
                                next = fetched.nextOffset
                                if fetched.records.isEmpty {
                                    // Done once the producers stopped and everything acknowledged was read.
                                    // (Done is read first: every acknowledgement is recorded before it is set.)
                                    let done = producersDone.withLock { $0 }
                                    let last = acked.withLock { $0[partition]?.map(\.offset).max() ?? -1 }
                                    if done && next > last { return }
                                    try await Task.sleep(for: .milliseconds(20))
                                }
                            case .failure(let error)?:
                                readErrors.withLock { $0.append(error) }
                                try await Task.sleep(for: .milliseconds(50))
                            case nil:
                                return
                            }
                        }
                        Issue.record("reader of partition \(partition) did not catch up (at offset \(next))")
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { producers in
                    // Producers: two tasks, each with its own sequence of values, round-robin over the partitions.
                    for producer in 0..<2 {
                        producers.addTask {
                            var sequence = 0
                            while !chaosOver.withLock({ $0 }) {
                                let records = (0..<100).map { i in
                                    KafkaRecord(topic: topic, partition: Int32((sequence + i) % Int(Self.partitions)), value: "p\(producer)-\(sequence + i)")
                                }
                                sequence += records.count
                                let results = await client.produceBatch(records)
                                for (record, result) in zip(records, results) {
                                    switch result {
                                    case .success(let done):
                                        acked.withLock { $0[done.partition!, default: []].append(Acked(value: record.valueString!, offset: done.offset!)) }
                                    case .failure(let error):
                                        failed.withLock { $0.append("\(record.valueString!): \(error)") }
                                    }
                                }
                            }
                        }
                    }
                    // Chaos, seeded.
                    var rng = SplitMix64Soak(seed: Self.seed)
                    let started = ContinuousClock.now
                    let deadline = started + .seconds(Self.seconds)
                    while ContinuousClock.now < deadline {
                        if rssAfterWarmUp.withLock({ $0 == nil }), ContinuousClock.now - started > .seconds(max(2, Self.seconds / 10)) {
                            let rss = Self.residentBytes()
                            rssAfterWarmUp.withLock { $0 = rss }
                        }
                        let broker = Int32(rng.next() % 3) + 1
                        switch rng.next() % 4 {
                        case 0, 1:
                            try await cluster.setLeader(topic: topic, partition: Int32(rng.next() % UInt64(Self.partitions)), broker: broker)
                        case 2:
                            try await cluster.down(broker: broker)
                            try await Task.sleep(for: .milliseconds(400))
                            try await cluster.up(broker: broker)
                        default:
                            try await cluster.setRTT(broker: broker, milliseconds: 300)
                            try await Task.sleep(for: .milliseconds(400))
                            try await cluster.setRTT(broker: broker, milliseconds: 0)
                        }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    try await cluster.up(broker: -1)
                    try await cluster.setRTT(broker: -1, milliseconds: 0)
                    chaosOver.withLock { $0 = true }
                    try await producers.waitForAll()
                }
                producersDone.withLock { $0 = true }
                try await readers.waitForAll()
            }
            let rss = Self.residentBytes()
            rssAtEnd.withLock { $0 = rss }
        }

        let failures = failed.withLock { $0 }
        #expect(failures.isEmpty, "\(failures.count) records failed, first: \(failures.first ?? "")")
        let ackedByPartition = acked.withLock { $0 }
        let readByPartition = read.withLock { $0 }
        let total = ackedByPartition.values.map(\.count).reduce(0, +)
        #expect(total > 1_000, "only \(total) records were acknowledged in \(Self.seconds) s")
        for partition in 0..<Self.partitions {
            let log = readByPartition[partition] ?? []
            let mine = ackedByPartition[partition] ?? []
            // Nothing twice, offsets strictly increasing.
            let offsetsByValue = Dictionary(grouping: log, by: \.value).filter { $0.value.count > 1 }
            let twice = offsetsByValue.sorted { $0.value[0].offset < $1.value[0].offset }.prefix(3).map { "\($0.key) at \($0.value.map(\.offset))" }
            // Known gap (issue 8): the librdkafka mock appends a resend whose first copy it wrote before
            // dropping the response (it checks no idempotent sequences); a real broker deduplicates it.
            withKnownIssue("Producer: an idempotent producer wrote records twice under chaos (seed \(Self.seed)); reported to the producer owner", isIntermittent: true) {
                #expect(offsetsByValue.isEmpty, "partition \(partition): \(offsetsByValue.count) records in the log twice, first \(twice)")
            }
            #expect(zip(log, log.dropFirst()).allSatisfy { $0.offset < $1.offset }, "partition \(partition): offsets not increasing")
            // Every acknowledged record is at its reported offset.
            let byOffset = Dictionary(log.map { ($0.offset, $0.value) }, uniquingKeysWith: { a, _ in a })
            let missing = mine.filter { byOffset[$0.offset] != $0.value }
            let whereInstead = missing.prefix(5).map { record in
                "\(record.value)@\(record.offset): log has \(byOffset[record.offset] ?? "nothing") there, value at \(log.first { $0.value == record.value }.map { "\($0.offset)" } ?? "no offset")"
            }
            #expect(missing.isEmpty, "partition \(partition): \(missing.count) acknowledged records not at their offset (log has \(log.count) records, offsets \(log.first?.offset ?? -1)...\(log.last?.offset ?? -1)): \(whereInstead)")
            // Produce order per producer is log order.
            for producer in 0..<2 {
                let prefix = "p\(producer)-"
                // First copies only: a duplicate (the known issue above) is checked there, not here.
                var seen = Set<Int>()
                let sequence = log.map(\.value).filter { $0.hasPrefix(prefix) }.compactMap { Int($0.dropFirst(prefix.count)) }
                    .filter { seen.insert($0).inserted }
                let inOrder = zip(sequence, sequence.dropFirst()).allSatisfy { $0 < $1 }
                #expect(inOrder, "partition \(partition): producer \(producer)'s records out of order")
            }
        }
        for error in readErrors.withLock({ $0 }) {
            #expect(error.isRetriable, "a reader got a non-retriable error: \(error)")
        }
        // Memory: the run's steady state does not grow (a generous bound for allocator noise and buffers).
        if let start = rssAfterWarmUp.withLock({ $0 }), let end = rssAtEnd.withLock({ $0 }) {
            #expect(end - start < 96 << 20, "RSS grew from \(start >> 20) MiB to \(end >> 20) MiB")
        } else {
            Issue.record("RSS could not be read from /proc/self/status")
        }
    }
}

/// Deterministic chaos choices.
struct SplitMix64Soak {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
