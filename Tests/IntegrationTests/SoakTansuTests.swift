import Foundation
import Klife
import Synchronization
import Testing

extension SoakRuns {
    /// The duplicate check the mock cluster cannot give: Tansu deduplicates idempotent sequences (answering
    /// DUPLICATE_SEQUENCE_NUMBER to a batch it already has), so a record written twice here is the client's
    /// fault. Two idempotent producers and six readers go through a ``SoakCuttingProxy`` that cuts connections
    /// while Produce responses are on their way back (the producer cannot know whether the batch was written
    /// and must send it again) and every connection at random moments.
    ///
    /// A transactional producer (about one transaction in three aborted on purpose) goes through the same proxy,
    /// in a client of its own that the chaos loop kills (mid-transaction, no EndTxn) and restarts: the new
    /// process's InitProducerId must end what the old one left open.
    ///
    /// Strict checks: every acknowledged record is in the log exactly once (at its reported offset, when the
    /// broker reported one), each producer's records keep their order per partition, no record failed, the
    /// readers saw exactly the log; every record of a committed transaction is in the log exactly once under a
    /// COMMIT marker, every record of an aborted one under an ABORT marker, none is left open; and memory does
    /// not grow.
    ///
    /// `KLIFE_SOAK_SECONDS` scales the chaos phase (this soak runs 3/5 of it, default 12 s); `KLIFE_SOAK_SEED`
    /// seeds the proxy's choices and the chaos loop (printed at the start).
    @Suite("Soak: idempotent produce through cut connections (Tansu, strict no-duplicates)", .serialized)
    struct SoakTansuTests {
        static var seconds: Int { max(5, ReliabilitySoakTests.seconds * 3 / 5) }
        static var seed: UInt64 { ReliabilitySoakTests.seed }
        static let partitions: Int32 = 6

        @Test("acknowledged records are in the log exactly once and in order, while connections are cut mid-response")
        func cutConnections() async throws {
            print("SoakTansuTests: seed \(Self.seed), \(Self.seconds) s (KLIFE_SOAK_SEED / KLIFE_SOAK_SECONDS reproduce or vary it)")
            let tansuPort = Mutex<Int?>(nil)
            let proxy = try await SoakCuttingProxy.start(
                policy: .init(produceCutProbability: 0.03, enabled: false), seed: Self.seed, targetPort: { tansuPort.withLock { $0 } })
            let name = TestBrokers.uniqueName("tansu-soak")
            let started = try await ScriptProcess.run(
                "/bin/bash", [try TestBrokers.scripts + "/tansu.sh", "start", "--name", name, "--advertise", proxy.address], timeout: 60)
            let listen = try TestBrokers.hostAndPort(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
            tansuPort.withLock { $0 = listen.port }
            do {
                try await run(proxy: proxy)
            } catch {
                await proxy.stop()
                _ = try? await ScriptProcess.run("/bin/bash", [try TestBrokers.scripts + "/tansu.sh", "stop", "--name", name], timeout: 60)
                throw error
            }
            await proxy.stop()
            _ = try await ScriptProcess.run("/bin/bash", [try TestBrokers.scripts + "/tansu.sh", "stop", "--name", name], timeout: 60)
        }

        private func run(proxy: SoakCuttingProxy) async throws {
            let topic = TestBrokers.uniqueName("soak-tansu")
            let txnTopic = TestBrokers.uniqueName("soak-tansu-txn")
            var configuration = try ClientTestSupport.configuration(bootstrap: proxy.address)
            configuration.metadataRefreshInterval = .seconds(1)
            configuration.connection.requestTimeout = .seconds(5)
            configuration.producers = [
                KafkaProducerConfiguration(
                    linger: .milliseconds(5), deliveryTimeout: .seconds(120), requestTimeout: .seconds(5), retryBackoff: .milliseconds(50),
                    maxInFlightRequests: 5)
            ]
            configuration.fetchers = [KafkaFetcherConfiguration(requestTimeout: .seconds(3))]
            // The transactional producer: a client of its own with a fixed id, killed and restarted.
            var txnConfiguration = try ClientTestSupport.configuration(bootstrap: proxy.address)
            txnConfiguration.metadataRefreshInterval = .seconds(1)
            txnConfiguration.connection.requestTimeout = .seconds(5)
            txnConfiguration.transactionalPools = [KafkaTransactionalPoolConfiguration(
                baseTransactionalID: TestBrokers.uniqueName("soak-tansu-txid"), poolSize: 1, transactionTimeout: .seconds(60),
                deliveryTimeout: .seconds(60), requestTimeout: .seconds(5), retryBackoff: .milliseconds(100))]
            let transactionalConfiguration = txnConfiguration

            let acked = LockedBox<[Int32: [ReliabilitySoakTests.Acked]]>([:])
            let ackedWithoutOffset = LockedBox<[Int32: [String]]>([:])
            let failed = LockedBox<[String]>([])
            let read = LockedBox<[Int32: [(offset: Int64, value: String)]]>([:])
            let readErrors = LockedBox<[KafkaError]>([])
            let chaosOver = LockedBox(false)
            let producersDone = LockedBox(false)
            let rssAfterWarmUp = LockedBox<Int?>(nil)
            let rssAtEnd = LockedBox<Int?>(nil)
            let finalLog = LockedBox<[Int32: [(offset: Int64, value: String)]]>([:])
            let transactional = SoakTransactionalSlot(seed: Self.seed)
            let rawTxnLog = LockedBox<[Int32: [SoakRawLog.Entry]]>([:])

            try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
                try await client.createTopic(topic, partitions: Self.partitions)
                try await client.createTopic(txnTopic, partitions: ReliabilitySoakTests.txnPartitions)
                proxy.setPolicy(.init(produceCutProbability: 0.08, enabled: true))
                let giveUp = ContinuousClock.now + .seconds(Self.seconds + 180)
                try await withThrowingTaskGroup(of: Void.self) { readers in
                    for partition in 0..<Self.partitions {
                        readers.addTask {
                            var next: Int64 = 0
                            while ContinuousClock.now < giveUp {
                                // Done after an empty answer to a fetch sent once every produce call had returned.
                                let doneBefore = producersDone.withLock { $0 }
                                let result = await client.fetchPartitions([KafkaFetchPosition(topic: topic, partition: partition, offset: next)])
                                switch result.first?.value {
                                case .success(let fetched)?:
                                    read.withLock { $0[partition, default: []] += fetched.records.map { ($0.offset!, $0.valueString ?? "") } }
                                    next = fetched.nextOffset
                                    if fetched.records.isEmpty {
                                        if doneBefore { return }
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
                        for producer in 0..<2 {
                            producers.addTask {
                                await SoakIdempotentProducer.run(
                                    client, topic: topic, partitions: Self.partitions, producer: producer, until: chaosOver
                                ) { value, result in
                                    switch result {
                                    case .success(let done) where (done.offset ?? -1) >= 0:
                                        acked.withLock { $0[done.partition!, default: []].append(.init(value: value, offset: done.offset!)) }
                                    case .success(let done):
                                        // DUPLICATE_SEQUENCE_NUMBER: Tansu says it has the batch, without its offset.
                                        ackedWithoutOffset.withLock { $0[done.partition!, default: []].append(value) }
                                    case .failure(let error):
                                        failed.withLock { $0.append("\(value): \(error)") }
                                    }
                                }
                            }
                        }
                        producers.addTask {
                            await transactional.run(configuration: transactionalConfiguration, topic: txnTopic, partitions: ReliabilitySoakTests.txnPartitions)
                        }
                        var rng = SplitMix64Soak(seed: Self.seed ^ 0x7A45)
                        let started = ContinuousClock.now
                        let deadline = started + .seconds(Self.seconds)
                        while ContinuousClock.now < deadline {
                            if rssAfterWarmUp.withLock({ $0 == nil }), ContinuousClock.now - started > .seconds(max(2, Self.seconds / 5)) {
                                let rss = ProcessMemory.residentBytes()
                                rssAfterWarmUp.withLock { $0 = rss }
                            }
                            switch rng.next() % 8 {
                            case 0, 1, 2: proxy.cutAll()
                            case 3: transactional.send(.kill)
                            default: break
                            }
                            try await Task.sleep(for: .milliseconds(200 + Int(rng.next() % 600)))
                        }
                        proxy.setPolicy(.init(produceCutProbability: 0, enabled: false))
                        chaosOver.withLock { $0 = true }
                        transactional.send(.stop)
                        try await producers.waitForAll()
                    }
                    producersDone.withLock { $0 = true }
                    try await readers.waitForAll()
                }
                // The log once more, from the start, with the proxy quiet: what the readers saw must be it.
                for partition in 0..<Self.partitions {
                    var next: Int64 = 0
                    var log: [(offset: Int64, value: String)] = []
                    while true {
                        let fetched = try await client.fetch(topic: topic, partition: partition, offset: next)
                        if fetched.isEmpty { break }
                        log += fetched.map { ($0.offset!, $0.valueString ?? "") }
                        next = fetched.last!.offset! + 1
                    }
                    finalLog.withLock { $0[partition] = log }
                }
                for partition in 0..<ReliabilitySoakTests.txnPartitions {
                    let entries = try await SoakRawLog.read(client: client, topic: txnTopic, partition: partition)
                    rawTxnLog.withLock { $0[partition] = entries }
                }
                let rss = ProcessMemory.residentBytes()
                rssAtEnd.withLock { $0 = rss }
            }
            print("SoakTansuTests: proxy \(proxy.counts)")

            let failures = failed.withLock { $0 }
            #expect(failures.isEmpty, "\(failures.count) records failed, first: \(failures.first ?? "")")
            let ackedByPartition = acked.withLock { $0 }
            let withoutOffset = ackedWithoutOffset.withLock { $0 }
            let readByPartition = read.withLock { $0 }
            let logs = finalLog.withLock { $0 }
            let total = ackedByPartition.values.map(\.count).reduce(0, +) + withoutOffset.values.map(\.count).reduce(0, +)
            #expect(total > 1_000, "only \(total) records were acknowledged in \(Self.seconds) s")
            #expect(proxy.counts.produceResponsesCut > 0, "the proxy cut no Produce response: the run proved nothing (\(proxy.counts))")
            print("SoakTansuTests: \(total) records acknowledged, \(withoutOffset.values.map(\.count).reduce(0, +)) of them as duplicates without offset")
            for partition in 0..<Self.partitions {
                let log = logs[partition] ?? []
                #expect((readByPartition[partition] ?? []).map(\.offset) == log.map(\.offset), "partition \(partition): the readers' view differs from the log")
                #expect((readByPartition[partition] ?? []).map(\.value) == log.map(\.value), "partition \(partition): the readers' values differ from the log")
                let twice = Dictionary(grouping: log, by: \.value).filter { $0.value.count > 1 }
                let example = twice.sorted { $0.value[0].offset < $1.value[0].offset }.prefix(3).map { "\($0.key) at \($0.value.map(\.offset))" }
                #expect(twice.isEmpty, "partition \(partition): \(twice.count) records in the log twice (seed \(Self.seed)), first \(example)")
                #expect(zip(log, log.dropFirst()).allSatisfy { $0.offset < $1.offset }, "partition \(partition): offsets not increasing")
                let byOffset = Dictionary(log.map { ($0.offset, $0.value) }, uniquingKeysWith: { a, _ in a })
                let missing = (ackedByPartition[partition] ?? []).filter { byOffset[$0.offset] != $0.value }
                #expect(missing.isEmpty, "partition \(partition): \(missing.count) acknowledged records not at their offset, first \(missing.prefix(3).map { "\($0.value)@\($0.offset)" })")
                let values = Set(log.map(\.value))
                let absent = (withoutOffset[partition] ?? []).filter { !values.contains($0) }
                #expect(absent.isEmpty, "partition \(partition): \(absent.count) records acknowledged as duplicates are not in the log, first \(absent.prefix(3))")
                for producer in 0..<2 {
                    let prefix = "p\(producer)-"
                    let sequence = log.map(\.value).filter { $0.hasPrefix(prefix) }.compactMap { Int($0.dropFirst(prefix.count)) }
                    #expect(zip(sequence, sequence.dropFirst()).allSatisfy { $0 < $1 }, "partition \(partition): producer \(producer)'s records out of order")
                }
            }
            ReliabilitySoakTests.checkTransactions(
                transactional.outcomes.withLock { $0 }, rawTxnLog.withLock { $0 }, readCommitted: [], killed: transactional.killedDuring.withLock { $0 },
                strictDuplicates: true, name: "SoakTansuTests")
            print("SoakTansuTests: transactional producer killed \(transactional.kills.withLock { $0 }) times")
            for failure in transactional.startFailures.withLock({ $0 }).prefix(3) { print("  transactional producer start failed: \(failure)") }
            for error in readErrors.withLock({ $0 }) {
                #expect(error.isRetriable, "a reader got a non-retriable error: \(error)")
            }
            // As in the mock soak: 32 MiB plus 64 bytes per record this test keeps (acknowledged, read twice).
            let kept = total + readByPartition.values.map(\.count).reduce(0, +) + logs.values.map(\.count).reduce(0, +)
            let bound = (32 << 20) + 64 * kept
            if let start = rssAfterWarmUp.withLock({ $0 }), let end = rssAtEnd.withLock({ $0 }) {
                print("SoakTansuTests: RSS \(start >> 20) MiB after warm-up, \(end >> 20) MiB at the end; bound on the growth \(bound >> 20) MiB")
                #expect(end - start < bound, "RSS grew from \(start >> 20) MiB to \(end >> 20) MiB (bound \(bound >> 20) MiB)")
            } else {
                Issue.record("RSS could not be read from /proc/self/status")
            }
        }
    }
}
