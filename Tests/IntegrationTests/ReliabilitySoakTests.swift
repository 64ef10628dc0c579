import Foundation
import Klife
import Testing

extension SoakRuns {
    /// A bounded chaos run on the mock cluster: idempotent producers, a transactional producer (committing and
    /// deliberately aborting), per-partition readers and three KIP-848 consumer group members run while a chaos
    /// loop moves leaders and coordinators, takes brokers down and up, slows them and kills group members (their
    /// client's task is cancelled: no commit, no LeaveGroup) that come back as new members. Checked like Klife's simulator:
    /// - every acknowledged record is in the log at its reported offset, each partition keeps produce order,
    ///   the readers see exactly the log (nothing twice is a known issue of the mock here: it checks no
    ///   idempotent sequences; `SoakTansuTests` checks it strictly against a broker that does);
    /// - every record of a committed transaction is in the log under a COMMIT marker, every record of a
    ///   deliberately aborted one under an ABORT marker, and no transaction is left open;
    /// - the group: no record is delivered again after the coordinator showed its offset committed, every
    ///   record of the log is processed, and the committed offsets reach the log end within a bound after the
    ///   producers stop (bounded lag);
    /// - the process's memory does not grow with the run.
    ///
    /// `KLIFE_SOAK_SECONDS` (default 20) sets the length of the chaos phase; `KLIFE_SOAK_SEED` the chaos seed
    /// (printed at the start).
    @Suite("Soak: produce and read under chaos", .serialized)
    struct ReliabilitySoakTests {
        static let seconds = Int(ProcessInfo.processInfo.environment["KLIFE_SOAK_SECONDS"] ?? "") ?? 20
        static let seed = UInt64(ProcessInfo.processInfo.environment["KLIFE_SOAK_SEED"] ?? "") ?? 20_261_129
        static let partitions: Int32 = 6


        /// One acknowledged record: where the broker put it.
        struct Acked: Sendable {
            var value: String
            var offset: Int64
        }

        /// How a transaction of the soak ended, as `withTransaction` reported it.
        enum TransactionOutcome: Sendable, Equatable {
            case committed
            /// The closure threw on purpose and the abort succeeded.
            case aborted
            /// Anything else (a failed commit, a failed begin, …): the records' fate is whatever the markers say.
            case failed(String)
        }

        struct DeliberateAbort: Error {}

        static let txnPartitions: Int32 = 3

        static let testStarted = LockedBox(ContinuousClock.now)

        /// Prints how far the run got (where the time goes when a run is slow).
        static func phase(_ what: String) {
            print("ReliabilitySoakTests: at \(Duration.seconds(0) + (ContinuousClock.now - testStarted.withLock { $0 })): \(what)")
        }
        static let memberSlots = 3

        @Test("acknowledged records are in the log once, in order, transactions end as reported, group members killed and restarted never get committed records again and process everything, while the cluster misbehaves")
        func chaos() async throws {
            Self.testStarted.withLock { $0 = .now }
            print("ReliabilitySoakTests: seed \(Self.seed), \(Self.seconds) s of chaos (KLIFE_SOAK_SEED / KLIFE_SOAK_SECONDS reproduce or vary it)")
            let cluster = try await MockCluster.create(brokers: 3)
            defer { Task { try? await cluster.destroy() } }
            let topic = TestBrokers.uniqueName("soak")
            let txnTopic = TestBrokers.uniqueName("soak-txn")
            let group = TestBrokers.uniqueName("soak-group")
            try await cluster.createTopic(topic, partitions: Int(Self.partitions), replicationFactor: 3)
            try await cluster.createTopic(txnTopic, partitions: Int(Self.txnPartitions), replicationFactor: 3)
            // A killed member's partitions wait for its session to expire: 3 s instead of the mock's 30.
            try await cluster.setConsumerGroupTimeouts(sessionMilliseconds: 3000, heartbeatMilliseconds: 500)
            var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
            configuration.metadataRefreshInterval = .seconds(1)
            configuration.connection.requestTimeout = .seconds(5)
            configuration.producers = [
                KafkaProducerConfiguration(
                    linger: .milliseconds(5), deliveryTimeout: .seconds(120), requestTimeout: .seconds(5), retryBackoff: .milliseconds(50),
                    maxInFlightRequests: 5)
            ]
            configuration.fetchers = [KafkaFetcherConfiguration(requestTimeout: .seconds(3))]
            // The transactional producer runs in a client of its own (it is killed and restarted), with a fixed id.
            let transactionalID = KafkaTransactionalPoolConfiguration.transactionalID(base: group, worker: 0)
            var txnConfiguration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
            txnConfiguration.metadataRefreshInterval = .seconds(1)
            txnConfiguration.connection.requestTimeout = .seconds(5)
            txnConfiguration.transactionalPools = [KafkaTransactionalPoolConfiguration(
                baseTransactionalID: group, poolSize: 1, transactionTimeout: .seconds(60), deliveryTimeout: .seconds(60), requestTimeout: .seconds(5),
                retryBackoff: .milliseconds(100))]
            let transactionalConfiguration = txnConfiguration
            var groupConfiguration = KafkaConsumerGroupConfiguration(
                groupID: group, topics: [topic], groupProtocol: .consumer, offsetResetPolicy: .earliest)
            groupConfiguration.defaultTopicOptions.fetchInterval = .milliseconds(100)
            let memberConfiguration = groupConfiguration

            let acked = LockedBox<[Int32: [Acked]]>([:])
            let failed = LockedBox<[String]>([])
            let read = LockedBox<[Int32: [(offset: Int64, value: String)]]>([:])
            let readEnd = LockedBox<[Int32: Int64]>([:])
            let readErrors = LockedBox<[KafkaError]>([])
            let chaosOver = LockedBox(false)
            let producersDone = LockedBox(false)
            let observing = LockedBox(true)
            let rss = LockedBox<[Int]>([])
            let lagAtChaosEnd = LockedBox<[Int32: Int64]>([:])
            let lagWait = LockedBox<Duration?>(nil)
            let rawTxnLog = LockedBox<[Int32: [SoakRawLog.Entry]]>([:])
            let readCommittedTxnValues = LockedBox<Set<String>>([])
            let readCommittedTxnError = LockedBox<String?>(nil)
            let ledger = SoakGroupLedger()
            let slots = (1...Self.memberSlots).map { SoakMemberSlot(index: $0) }
            let transactional = SoakTransactionalSlot(seed: Self.seed)

            try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
                let giveUp = ContinuousClock.now + .seconds(Self.seconds + 180)
                try await withThrowingTaskGroup(of: Void.self) { background in
                    // Group members, each in a client of its own; killed and restarted by the chaos loop.
                    for slot in slots {
                        background.addTask { await slot.run(bootstrap: cluster.bootstrap, group: memberConfiguration, ledger: ledger) }
                    }
                    background.addTask {
                        await transactional.run(configuration: transactionalConfiguration, topic: txnTopic, partitions: Self.txnPartitions)
                    }
                    // What the group coordinator has committed, sampled all along.
                    background.addTask {
                        while observing.withLock({ $0 }) {
                            try? await ledger.sample(client: client, group: group, topic: topic, partitions: Self.partitions)
                            try await Task.sleep(for: .milliseconds(200))
                        }
                    }
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
                                            if done && next > last {
                                                readEnd.withLock { $0[partition] = next }
                                                return
                                            }
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
                                    await SoakIdempotentProducer.run(
                                        client, topic: topic, partitions: Self.partitions, producer: producer, until: chaosOver
                                    ) { value, result in
                                        switch result {
                                        case .success(let done):
                                            acked.withLock { $0[done.partition!, default: []].append(Acked(value: value, offset: done.offset!)) }
                                        case .failure(let error):
                                            failed.withLock { $0.append("\(value): \(error)") }
                                        }
                                    }
                                }
                            }
                            // Chaos, seeded.
                            Self.phase("chaos starts")
                            var rng = SplitMix64Soak(seed: Self.seed)
                            let started = ContinuousClock.now
                            let deadline = started + .seconds(Self.seconds)
                            var nextRSS = started + .seconds(max(2, Self.seconds / 10))
                            while ContinuousClock.now < deadline {
                                if ContinuousClock.now >= nextRSS {
                                    // After warm-up, then every tenth of the run.
                                    if let bytes = ProcessMemory.residentBytes() { rss.withLock { $0.append(bytes) } }
                                    nextRSS = nextRSS + .seconds(max(1, Self.seconds / 10))
                                }
                                let broker = Int32(rng.next() % 3) + 1
                                switch rng.next() % 6 {
                                case 0, 1:
                                    let txn = rng.next() % 4 == 0
                                    try await cluster.setLeader(
                                        topic: txn ? txnTopic : topic,
                                        partition: Int32(rng.next() % UInt64(txn ? Self.txnPartitions : Self.partitions)), broker: broker)
                                case 2:
                                    try await cluster.down(broker: broker)
                                    try await Task.sleep(for: .milliseconds(400))
                                    try await cluster.up(broker: broker)
                                case 3:
                                    try await cluster.setRTT(broker: broker, milliseconds: 300)
                                    try await Task.sleep(for: .milliseconds(400))
                                    try await cluster.setRTT(broker: broker, milliseconds: 0)
                                case 4:
                                    // A group member (three times in four) or the transactional producer dies.
                                    let victim = Int(rng.next() % UInt64(slots.count + 1))
                                    if victim < slots.count { slots[victim].send(.kill) } else { transactional.send(.kill) }
                                default:
                                    // The group's or the transactional id's coordinator moves.
                                    if rng.next() % 2 == 0 {
                                        try await cluster.setCoordinator(.group, key: group, broker: broker)
                                    } else {
                                        try await cluster.setCoordinator(.transaction, key: transactionalID, broker: broker)
                                    }
                                }
                                try await Task.sleep(for: .milliseconds(200))
                            }
                            try await cluster.up(broker: -1)
                            try await cluster.setRTT(broker: -1, milliseconds: 0)
                            chaosOver.withLock { $0 = true }
                            Self.phase("chaos over")
                            transactional.send(.stop)
                            try await producers.waitForAll()
                        }
                        producersDone.withLock { $0 = true }
                        Self.phase("producers stopped")
                        let committed = ledger.latestCommitted
                        let ends = acked.withLock { $0.mapValues { ($0.map(\.offset).max() ?? -1) + 1 } }
                        lagAtChaosEnd.withLock { lag in for (p, end) in ends { lag[p] = end - (committed[p] ?? 0) } }
                        try await readers.waitForAll()
                        Self.phase("readers caught up")
                    }
                    // Bounded lag: the group commits up to the log end soon after the producers stop.
                    let ends = readEnd.withLock { $0 }
                    let waitStart = ContinuousClock.now
                    while ContinuousClock.now - waitStart < .seconds(30) {
                        let committed = ledger.latestCommitted
                        if (0..<Self.partitions).allSatisfy({ committed[$0] == ends[$0] }) {
                            lagWait.withLock { $0 = ContinuousClock.now - waitStart }
                            break
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    observing.withLock { $0 = false }
                    Self.phase("lag wait over")
                    for slot in slots { slot.send(.stop) }
                    try await background.waitForAll()
                    Self.phase("members and the transactional producer stopped")
                }
                // The transactional topic as stored, markers included, and as read_committed returns it.
                try await withThrowingTaskGroup(of: Void.self) { readers in
                    for partition in 0..<Self.txnPartitions {
                        readers.addTask {
                            let entries = try await SoakRawLog.read(client: client, topic: txnTopic, partition: partition)
                            rawTxnLog.withLock { $0[partition] = entries }
                            var next: Int64 = 0
                            while true {
                                let fetched = await client.fetchPartitions([KafkaFetchPosition(topic: txnTopic, partition: partition, offset: next)])
                                if case .failure(let error)? = fetched.first?.value {
                                    readCommittedTxnError.withLock { $0 = "\(error)" }
                                    break
                                }
                                guard case .success(let answer)? = fetched.first?.value, answer.nextOffset > next else { break }
                                readCommittedTxnValues.withLock { $0.formUnion(answer.records.compactMap(\.valueString)) }
                                next = answer.nextOffset
                            }
                        }
                    }
                    try await readers.waitForAll()
                }
                Self.phase("transactional topic read")
                if let bytes = ProcessMemory.residentBytes() { rss.withLock { $0.append(bytes) } }
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
                // Known issue of the mock (issue 8): it appends a resend whose first copy it wrote before dropping
                // the response (it checks no idempotent sequences); a real broker deduplicates it.
                // SoakTansuTests/cutConnections checks "nothing twice" strictly against Tansu, which deduplicates.
                let recordsTwice = offsetsByValue.count
                withKnownIssue("the librdkafka mock cluster appends resent idempotent batches again (seed \(Self.seed))", isIntermittent: true) {
                    #expect(recordsTwice == 0, "partition \(partition): \(recordsTwice) records in the log twice, first \(twice)")
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
            let logCount = readByPartition.values.map(\.count).reduce(0, +)
            let distinct = readByPartition.values.map { Set($0.map(\.value)).count }.reduce(0, +)
            print("ReliabilitySoakTests: \(total) records acknowledged, \(logCount) in the log, \(logCount - distinct) of them second copies (the mock's known issue)")

            Self.checkTransactions(
                transactional.outcomes.withLock { $0 }, rawTxnLog.withLock { $0 }, readCommitted: readCommittedTxnValues.withLock { $0 },
                killed: transactional.killedDuring.withLock { $0 }, killedTransactionsStayOpen: true)
            print("ReliabilitySoakTests: transactional producer killed \(transactional.kills.withLock { $0 }) times")
            for failure in transactional.startFailures.withLock({ $0 }).prefix(3) { print("  transactional producer start failed: \(failure)") }
            if let error = readCommittedTxnError.withLock({ $0 }) {
                print("ReliabilitySoakTests: the client's read_committed fetch of the transactional topic failed: \(error)")
            }
            Self.checkGroup(
                ledger, slots: slots, log: readByPartition, lagAtChaosEnd: lagAtChaosEnd.withLock { $0 }, lagWait: lagWait.withLock { $0 })

            // Memory: from the end of warm-up to the end, RSS grows by at most 32 MiB (allocator noise, buffers,
            // connections of restarted members) plus 64 bytes per record this test itself keeps (acknowledged,
            // read, delivered to the group: about 40 bytes each), which grows with the run.
            let samples = rss.withLock { $0 }
            let kept = total + readByPartition.values.map(\.count).reduce(0, +) + ledger.deliveries.count
            let bound = (32 << 20) + 64 * kept
            print("ReliabilitySoakTests: RSS over the run (MiB): \(samples.map { $0 >> 20 }); bound on the growth \(bound >> 20) MiB for \(kept) records kept by the test")
            if let start = samples.first, let end = samples.last, samples.count >= 2 {
                #expect(end - start < bound, "RSS grew from \(start >> 20) MiB to \(end >> 20) MiB (bound \(bound >> 20) MiB)")
            } else {
                Issue.record("RSS could not be read from /proc/self/status")
            }
        }

        /// Committed transactions are in the log under a COMMIT marker, deliberately aborted ones under an ABORT
        /// marker, and none is left open.
        /// `strictDuplicates`: a committed record in the log twice is a failure (a broker that deduplicates);
        /// else a known issue (the mock cluster).
        static func checkTransactions(
            _ outcomes: [Int: TransactionOutcome], _ logs: [Int32: [SoakRawLog.Entry]], readCommitted: Set<String>, killed: Set<Int> = [],
            strictDuplicates: Bool = false, killedTransactionsStayOpen: Bool = false, name: String = "ReliabilitySoakTests"
        ) {
            let committed = outcomes.filter { $0.value == .committed }.count
            let aborted = outcomes.filter { $0.value == .aborted }.count
            let failedOnes = outcomes.filter { if case .failed = $0.value { true } else { false } }
            print("\(name): transactions: \(committed) committed, \(aborted) aborted on purpose, \(failedOnes.count) failed")
            #expect(committed >= 3 && aborted >= 1, "too few transactions to check: \(committed) committed, \(aborted) aborted")
            for failure in failedOnes.sorted(by: { $0.key < $1.key }).prefix(3) { print("  transaction \(failure.key) failed: \(failure.value)") }
            var fates: [String: [SoakRawLog.Fate]] = [:]
            for (_, entries) in logs {
                for record in SoakRawLog.transactionalFates(entries) { fates[record.value, default: []].append(record.fate) }
            }
            let open = fates.filter { $0.value.contains(.open) }.keys.sorted()
            // A transaction cut short by a kill stays open unless the broker ends it when the next process
            // with the same transactional id calls InitProducerId, as Kafka and Tansu do; the mock cluster
            // only hands out a new producer id (see `killedTransactionsStayOpen`).
            let killedNumbers = Set(killed.map { "t\($0)-" })
            let openKilled = open.filter { value in killedNumbers.contains(String(value[...value.firstIndex(of: "-")!])) }
            let openOthers = open.filter { !openKilled.contains($0) }
            #expect(openOthers.isEmpty, "\(openOthers.count) transactional records have no marker after them (transaction left open), first \(openOthers.prefix(6))")
            if killedTransactionsStayOpen {
                // Known issue of the mock (issue 8): its InitProducerId does not end the open transaction of the
                // killed process; strict on Tansu (SoakTansuTests/cutConnections).
                let count = openKilled.count
                withKnownIssue("the librdkafka mock cluster does not end a killed producer's open transaction when its successor calls InitProducerId", isIntermittent: true) {
                    #expect(count == 0, "\(count) records of transactions cut short by a kill were left open, first \(openKilled.prefix(6))")
                }
            } else {
                #expect(openKilled.isEmpty, "\(openKilled.count) records of transactions cut short by a kill were left open (the successor's InitProducerId must end them), first \(openKilled.prefix(6))")
            }
            var wrong: [String] = []
            var missing: [String] = []
            var twice: [String] = []
            var abortedVisible: [String] = []
            // A transaction whose process was killed: the log decides, but all its records share one fate.
            var killedFates: [String: Int] = [:]
            for number in killed {
                let all = Set((0..<6).flatMap { fates["t\(number)-\($0)"] ?? [] })
                if all.count > 1 { wrong.append("t\(number) killed, records disagree: \(all)") }
                killedFates["\(all.first.map { "\($0)" } ?? "not written")", default: 0] += 1
            }
            if !killed.isEmpty { print("\(name): transactions cut short by a kill, by fate in the log: \(killedFates)") }
            for (number, outcome) in outcomes {
                for i in 0..<6 {
                    let value = "t\(number)-\(i)"
                    let copies = fates[value] ?? []
                    switch outcome {
                    case .committed:
                        if copies.isEmpty { missing.append(value) }
                        if copies.contains(where: { $0 != .committed }) { wrong.append("\(value) committed, log says \(copies)") }
                        if copies.count > 1 { twice.append(value) }
                    case .aborted:
                        if copies.contains(where: { $0 != .aborted }) { wrong.append("\(value) aborted, log says \(copies)") }
                        if readCommitted.contains(value) { abortedVisible.append(value) }
                    case .failed:
                        // The commit's outcome may be unknown; the log decides, but all copies agree.
                        if Set(copies).count > 1 { wrong.append("\(value) failed, copies disagree: \(copies)") }
                    }
                }
            }
            #expect(missing.isEmpty, "\(missing.count) records of committed transactions are not in the log, first \(missing.sorted().prefix(3))")
            #expect(wrong.isEmpty, "\(wrong.count) transactional records under the wrong marker, first \(wrong.sorted().prefix(3))")
            // Strict on Tansu (SoakTansuTests/cutConnections sets strictDuplicates). On the mock, recorded as a known
            // issue (see below).
            let recordsTwice = twice.count
            if strictDuplicates {
                #expect(recordsTwice == 0, "\(recordsTwice) records of committed transactions are in the log twice, first \(twice.sorted().prefix(3))")
            } else {
                // Recorded, not required, on the mock (issue 8). Its source checks a transactional producer's
                // sequences in a window of the last 5 requests per partition (a resend inside it is acknowledged,
                // not appended; an older one is refused), so a copy here would mean the records were sent again
                // under new sequence numbers: worth a look whenever it shows. It has not shown in the runs since
                // session 16; strict on Tansu (SoakTansuTests/cutConnections), which deduplicates.
                withKnownIssue("a committed transactional record is in the mock cluster's log twice", isIntermittent: true) {
                    #expect(recordsTwice == 0, "\(recordsTwice) records of committed transactions are in the log twice, first \(twice.sorted().prefix(3))")
                }
            }
            // Neither test broker sends an aborted-transactions list in Fetch answers, so read_committed readers
            // cannot hide aborted records there (the client's filter is unit-tested); recorded, not required.
            print("\(name): read_committed returned \(abortedVisible.count) records of aborted transactions (the broker sends no aborted-transactions list)")
        }

        /// The group never got a record again after its offset was committed, processed every record of the
        /// log, and committed up to the log end within a bound after the producers stopped.
        static func checkGroup(
            _ ledger: SoakGroupLedger, slots: [SoakMemberSlot], log: [Int32: [(offset: Int64, value: String)]], lagAtChaosEnd: [Int32: Int64],
            lagWait: Duration?
        ) {
            let deliveries = ledger.deliveries
            let kills = slots.map { $0.kills.withLock { $0 } }.reduce(0, +)
            let members = Set(deliveries.map(\.member))
            var deliveredCount: [Int32: [Int64: Int]] = [:]
            for delivery in deliveries { deliveredCount[delivery.partition, default: [:]][delivery.offset, default: 0] += 1 }
            let redelivered = deliveredCount.values.map { $0.values.filter { $0 > 1 }.count }.reduce(0, +)
            print("ReliabilitySoakTests: group: \(deliveries.count) deliveries to \(members.count) members, \(kills) kills, \(redelivered) records delivered more than once, \(ledger.samples.count) commit samples; lag when the producers stopped \(lagAtChaosEnd.sorted { $0.key < $1.key }.map(\.value)), caught up after \(lagWait.map { "\($0)" } ?? "never")")
            for failure in slots.flatMap({ $0.startFailures.withLock { $0 } }).prefix(3) { print("  member start failed: \(failure)") }
            #expect(kills >= 1, "no member was killed: the run proved nothing about killed members")
            // The "nothing again after a commit" check compares deliveries with these samples (taken every
            // 200 ms, some failing under chaos): with too few it would check next to nothing.
            #expect(ledger.samples.count >= Self.seconds, "only \(ledger.samples.count) commit samples in \(Self.seconds) s of chaos")
            let afterCommit = ledger.redeliveredAfterCommit()
            let examples = afterCommit.prefix(3).map { "\($0.member) got \($0.partition)@\($0.offset)" }
            #expect(afterCommit.isEmpty, "\(afterCommit.count) records were delivered again after the coordinator showed them committed, first \(examples)")
            let backwards = ledger.commitsMovingBack()
            #expect(backwards.isEmpty, "the group's committed offset moved back: \(backwards.prefix(3))")
            for (partition, records) in log {
                let delivered = deliveredCount[partition] ?? [:]
                let unprocessed = records.filter { delivered[$0.offset] == nil }
                #expect(unprocessed.isEmpty, "partition \(partition): \(unprocessed.count) records never reached a member, first offsets \(unprocessed.prefix(3).map(\.offset))")
            }
            #expect(lagWait != nil, "the group's committed offsets did not reach the log end within 30 s after the producers stopped (last seen \(ledger.latestCommitted))")
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
