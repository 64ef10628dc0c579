import Foundation
import KafkaProtocol
import NIOCore
import Synchronization
import Testing
@testable import Klife

/// Transactions against Tansu: the full call flow, fencing, offsets in transactions, pool waiting.
///
/// Tansu hides open transactions from read_committed readers (the last stable offset stays behind) but
/// shows aborted records (its Fetch answers carry no aborted-transaction list), so these tests check that an
/// abort completed by the LSO moving on, not by aborted records being hidden.
@Suite("Transactions against Tansu", .serialized)
struct TransactionTansuTests {
    static func configuration(
        base: String = "", poolSize: Int = 2, _ configure: (inout KafkaClient.Configuration) -> Void = { _ in }
    ) throws -> KafkaClient.Configuration {
        var configuration = try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap)
        configuration.transactionalPools = [KafkaTransactionalPoolConfiguration(
            baseTransactionalID: base, poolSize: poolSize, transactionTimeout: .seconds(30), deliveryTimeout: .seconds(20),
            requestTimeout: .seconds(10), retryBackoff: .milliseconds(200))]
        configure(&configuration)
        return configuration
    }

    static func topic(partitions: Int = 2) async throws -> String {
        let topic = TestBrokers.uniqueName("txn")
        try await RdKafkaTool.createTopic(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, partitions: partitions)
        return topic
    }

    /// The offset committed for `group` on `topicPartition` (-1 when none), read with OffsetFetch (≤ v7).
    static func committedOffset(_ client: KafkaClient, group: String, _ topicPartition: KafkaTopicPartition) async throws -> Int64 {
        let (connection, _) = try await client.cluster.coordinatorConnection(for: .init(type: .group, key: group))
        let version = min(connection.negotiatedVersion(for: OffsetFetchRequest.self) ?? 1, 7)
        let response = try await connection.send(
            OffsetFetchRequest(groupId: group, topics: [.init(name: topicPartition.topic, partitionIndexes: [topicPartition.partition])]),
            version: version)
        let partition = response.topics.first?.partitions.first { $0.partitionIndex == topicPartition.partition }
        return partition?.committedOffset ?? -1
    }

    @Test func committedTransactionIsReadByLibrdkafkaReadCommitted() async throws {
        let topic = try await Self.topic()
        let other = try await Self.topic(partitions: 1)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(), logger: ClientTestSupport.logger) { client in
            let (first, batch, single) = try await client.withTransaction { txn in
                let first = try await txn.produce(KafkaRecord(topic: topic, partition: 0, key: "k", value: "t1-a"))
                let batch = await txn.produceBatch([
                    KafkaRecord(topic: topic, partition: 1, value: "t1-b"), KafkaRecord(topic: topic, partition: 0, value: "t1-c"),
                    KafkaRecord(topic: other, partition: 0, value: "t1-d"),
                ])
                let single = try await txn.produce(KafkaRecord(topic: topic, partition: 1, value: "t1-e"))
                return (first, batch.map { try? $0.get() }, single)
            }
            #expect(first.partition == 0 && first.offset == 0)
            #expect(batch.map { $0?.offset } == [0, 1, 0])
            #expect(single.offset == 1)

            // A second transaction on a warm member, through the batch API.
            let produced = try await client.produceBatchTransactionally((0..<5).map { KafkaRecord(topic: topic, partition: Int32($0 % 2), value: "t2-\($0)") })
            #expect(produced.map(\.valueString) == (0..<5).map { "t2-\($0)" })
            #expect(produced.allSatisfy { $0.offset != nil && $0.error == nil })
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, isolation: .readCommitted, count: 9)
        #expect(Set(consumed.compactMap(\.valueString)) == Set(["t1-a", "t1-b", "t1-c", "t1-e"] + (0..<5).map { "t2-\($0)" }))
        let consumedOther = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: other, isolation: .readCommitted, count: 1)
        #expect(consumedOther.map(\.valueString) == ["t1-d"])
    }

    @Test(arguments: Klife.KafkaCompression.allCases.map { ($0, Int?.none) } + [(.gzip, 1), (.zstd, -3)])
    func poolCompressionIsReadBackByLibrdkafka(_ compression: Klife.KafkaCompression, level: Int?) async throws {
        let topic = try await Self.topic(partitions: 1)
        var configuration = try Self.configuration()
        configuration.transactionalPools[0].compression = compression
        configuration.transactionalPools[0].compressionLevel = level
        let values = (0..<20).map { String(repeating: "value \($0) ", count: 10) }
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let produced = try await client.produceBatchTransactionally(values.map { KafkaRecord(topic: topic, partition: 0, key: "k", value: $0) })
            #expect(produced.map(\.offset) == (0..<20).map { Int64($0) })
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, isolation: .readCommitted, count: 20)
        #expect(consumed.sorted { $0.offset < $1.offset }.map(\.valueString) == values)
    }

    @Test func openTransactionIsHiddenUntilCommit() async throws {
        let topic = try await Self.topic(partitions: 1)
        let bootstrap = try TestBrokers.tansuBootstrap
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(), logger: ClientTestSupport.logger) { client in
            try await client.withTransaction { txn in
                _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "pending"))
                // The record is in the log (high watermark 1) but behind the last stable offset (0): an empty read
                // below is the broker hiding it, not a reader that had no time to get there.
                let end = try await client.listOffsets(topic: topic, partitions: [0], at: .latest, isolation: .readUncommitted)[0]?.offset
                let stable = try await client.listOffsets(topic: topic, partitions: [0], at: .latest, isolation: .readCommitted)[0]?.offset
                #expect(end == 1 && stable == 0, "high watermark \(end ?? -1), last stable offset \(stable ?? -1)")
                #expect(try await client.fetch(topic: topic, partition: 0, offset: 0).isEmpty)
                let whileOpen = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, isolation: .readCommitted, timeoutMilliseconds: 2000)
                #expect(whileOpen.isEmpty)
            }
        }
        let afterCommit = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, isolation: .readCommitted, count: 1)
        #expect(afterCommit.map(\.valueString) == ["pending"])
    }

    struct Boom: Error {}

    @Test func closureErrorAbortsAndTheNextTransactionCommits() async throws {
        let topic = try await Self.topic(partitions: 1)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(poolSize: 1), logger: ClientTestSupport.logger) { client in
            do {
                try await client.withTransaction { txn in
                    _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "aborted"))
                    throw Boom()
                }
                Issue.record("withTransaction must rethrow")
            } catch let error as KafkaTransactionError {
                #expect(error.closureError is Boom)
                #expect(error.abortError == nil && error.commitError == nil && error.beginError == nil)
                #expect(error.transactionalID?.hasSuffix("_0") == true)
            }
            // The same (only) member runs the next transaction.
            try await client.withTransaction { txn in
                _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "committed"))
            }
        }
        // Had the abort not completed, the open transaction would hold the last stable offset back and hide
        // "committed". (Tansu also returns the aborted record: it sends no aborted-transaction list.)
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, isolation: .readCommitted, timeoutMilliseconds: 5000)
        #expect(consumed.compactMap(\.valueString).contains("committed"))
    }

    @Test func handleIsClosedAfterTheClosure() async throws {
        let topic = try await Self.topic(partitions: 1)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(), logger: ClientTestSupport.logger) { client in
            let escaped = try await client.withTransaction { txn in
                #expect(txn.isActive)
                return txn
            }
            #expect(!escaped.isActive)
            await #expect(throws: KafkaError.self) { try await escaped.produce(KafkaRecord(topic: topic, value: "late")) }
            do {
                _ = try await escaped.produce(KafkaRecord(topic: topic, value: "late"))
            } catch let error as KafkaError {
                #expect(error.code == .transactionNotActive)
            }
        }
    }

    @Test func failedRecordMakesTheTransactionAbortOnlyAndTheBatchCarriesEveryRecord() async throws {
        let topic = try await Self.topic(partitions: 2)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(poolSize: 1), logger: ClientTestSupport.logger) { client in
            let records = [
                KafkaRecord(topic: topic, partition: 0, value: "ok-0"), KafkaRecord(topic: topic, partition: 7, value: "bad"),
                KafkaRecord(topic: topic, partition: 1, value: "ok-1"),
            ]
            do {
                _ = try await client.produceBatchTransactionally(records)
                Issue.record("the batch must fail")
            } catch let error as KafkaError {
                #expect(error.code == .transactionAborted)
                let all = try #require(error.transactionRecords)
                #expect(all.count == 3)
                #expect(all.map(\.valueString) == ["ok-0", "bad", "ok-1"])
                #expect(all[1].error?.code == .invalidPartition)
                #expect(all[0].error?.code == .transactionAborted && all[2].error?.code == .transactionAborted)
                #expect(all[0].offset == nil)
            }

            // Inside a closure: the failed produce leaves the transaction abort-only, so the commit is refused.
            do {
                try await client.withTransaction { txn in
                    _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "x"))
                    _ = try? await txn.produce(KafkaRecord(topic: topic, partition: 9, value: "y"))
                }
                Issue.record("the commit must be refused")
            } catch let error as KafkaTransactionError {
                #expect(error.commitError?.code == .invalidPartition)
                #expect(error.abortError == nil)
            }
            // The member is fine afterwards.
            let produced = try await client.produceBatchTransactionally([KafkaRecord(topic: topic, partition: 0, value: "after")])
            #expect(produced.count == 1 && produced[0].offset != nil)
        }
    }

    @Test func secondProducerWithTheSameTransactionalIDFencesTheFirst() async throws {
        let topic = try await Self.topic(partitions: 1)
        let base = TestBrokers.uniqueName("fence")
        let configuration = try Self.configuration(base: base, poolSize: 1)
        let bootstrap = try TestBrokers.tansuBootstrap
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { first in
            do {
                try await first.withTransaction { txn in
                    _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "zombie-1"))
                    // Another process starts with the same transactional id: its InitProducerId bumps the epoch
                    // and aborts our open transaction.
                    try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { second in
                        let produced = try await second.produceBatchTransactionally([KafkaRecord(topic: topic, partition: 0, value: "new-owner")])
                        #expect(produced.count == 1)
                    }
                    _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "zombie-2"))
                }
                Issue.record("the fenced producer must fail")
            } catch let error as KafkaTransactionError {
                // Tansu answers PRODUCER_FENCED (90) to the zombie's next request.
                let fenced = try #require((error.closureError as? KafkaError) ?? error.commitError)
                #expect(fenced.code == .producerFenced)
                #expect(fenced.kafkaCode == 90 || fenced.kafkaCode == 47)
                #expect(error.abortError == nil)
            }
            // The fenced member re-initialises (a new epoch) and works again.
            let again = try await first.produceBatchTransactionally([KafkaRecord(topic: topic, partition: 0, value: "replaced")])
            #expect(again.count == 1)
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, isolation: .readCommitted, timeoutMilliseconds: 5000)
        let values = consumed.compactMap(\.valueString)
        #expect(values.contains("new-owner") && values.contains("replaced"))
        #expect(!values.contains("zombie-2"))
    }

    @Test func leftoverTransactionOfACrashedProcessIsAbortedOnFirstUse() async throws {
        let topic = try await Self.topic(partitions: 1)
        let base = TestBrokers.uniqueName("crash")
        let bootstrap = try TestBrokers.tansuBootstrap
        // A process opens a transaction and dies without ending it (no EndTxn is ever sent).
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(base: base), logger: ClientTestSupport.logger) { client in
            let pool = try client.transactionalPool(named: client.configuration.defaultTransactionalPool)
            let member = try await pool.checkout()
            try await member.begin()
            let results = await member.produce([KafkaRecord(topic: topic, partition: 0, value: "leftover")])
            #expect(results.count == 1 && (try? results[0].get()) != nil)
            // Back to the pool without EndTxn: as far as the broker knows the process died (a member kept
            // checked out would hold the graceful shutdown for the transaction timeout).
            pool.checkin(member)
        }
        // The open transaction holds read_committed readers back: the record is in the log (high watermark 1)
        // but behind the last stable offset (0), so the empty read is the broker hiding it.
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            let end = try await client.listOffsets(topic: topic, partitions: [0], at: .latest, isolation: .readUncommitted)[0]?.offset
            let stable = try await client.listOffsets(topic: topic, partitions: [0], at: .latest, isolation: .readCommitted)[0]?.offset
            #expect(end == 1 && stable == 0, "high watermark \(end ?? -1), last stable offset \(stable ?? -1)")
        }
        let blocked = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, isolation: .readCommitted, timeoutMilliseconds: 2000)
        #expect(blocked.isEmpty)
        // The next process with the same ids: its first transaction's InitProducerId aborts the leftover.
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(base: base), logger: ClientTestSupport.logger) { client in
            _ = try await client.produceBatchTransactionally([KafkaRecord(topic: topic, partition: 0, value: "next")])
        }
        let consumed = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, isolation: .readCommitted, timeoutMilliseconds: 5000)
        #expect(consumed.compactMap(\.valueString).contains("next"))
    }

    @Test func offsetsAreCommittedOnlyWhenTheTransactionCommits() async throws {
        let input = try await Self.topic(partitions: 1)
        let output = try await Self.topic(partitions: 1)
        let group = TestBrokers.uniqueName("txn-group")
        let inputPartition = KafkaTopicPartition(topic: input, partition: 0)
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(), logger: ClientTestSupport.logger) { client in
            #expect(try await Self.committedOffset(client, group: group, inputPartition) == -1)
            do {
                try await client.withTransaction { txn in
                    _ = try await txn.produce(KafkaRecord(topic: output, partition: 0, value: "transformed-aborted"))
                    try await txn.sendOffsets([inputPartition: 5], groupMetadata: KafkaConsumerGroupMetadata(groupID: group))
                    throw Boom()
                }
            } catch is KafkaTransactionError {}
            #expect(try await Self.committedOffset(client, group: group, inputPartition) == -1)

            try await client.withTransaction { txn in
                _ = try await txn.produce(KafkaRecord(topic: output, partition: 0, value: "transformed"))
                try await txn.sendOffsets([inputPartition: 7], groupMetadata: KafkaConsumerGroupMetadata(groupID: group))
            }
            let committed = await ClientTestSupport.eventually(timeout: .seconds(10)) {
                (try? await Self.committedOffset(client, group: group, inputPartition)) == 7
            }
            #expect(committed)
        }
    }

    /// How many transactions run at once, and on which transactional ids.
    final class ConcurrencyTally: Sendable {
        let state = Mutex((now: 0, max: 0, ids: Set<String>()))
    }

    @Test func moreConcurrentTransactionsThanMembersWaitForOne() async throws {
        let topic = try await Self.topic(partitions: 2)
        let active = ConcurrencyTally()
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(poolSize: 2), logger: ClientTestSupport.logger) { client in
            try await withThrowingTaskGroup(of: Int64?.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await client.withTransaction { txn in
                            active.state.withLock {
                                $0.now += 1
                                $0.max = max($0.max, $0.now)
                                $0.ids.insert(txn.transactionalID)
                            }
                            defer { active.state.withLock { $0.now -= 1 } }
                            let record = try await txn.produce(KafkaRecord(topic: topic, partition: Int32(index % 2), value: "c\(index)"))
                            try await Task.sleep(for: .milliseconds(50))
                            return record.offset
                        }
                    }
                }
                var offsets: [Int64?] = []
                for try await offset in group { offsets.append(offset) }
                #expect(offsets.count == 8 && offsets.allSatisfy { $0 != nil })
            }
        }
        let observed = active.state.withLock { $0 }
        #expect(observed.max <= 2)
        #expect(observed.ids.count <= 2)
        let consumed = try await RdKafkaTool.consume(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, isolation: .readCommitted, count: 8)
        #expect(Set(consumed.compactMap(\.valueString)) == Set((0..<8).map { "c\($0)" }))
    }

    @Test func disabledFeatureAndUnknownPoolFailBeforeAnythingStarts() async throws {
        let topic = try await Self.topic(partitions: 1)
        let configuration = try Self.configuration { $0.disabledFeatures = [.transactionalProducer] }
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            do {
                try await client.withTransaction { _ in Issue.record("must not run") }
                Issue.record("a transaction ran with transactions disabled")
            } catch let error as KafkaTransactionError {
                #expect(error.beginError?.code == .featureDisabled)
            }
            do {
                _ = try await client.produceBatchTransactionally([KafkaRecord(topic: topic, value: "v")])
                Issue.record("a transactional batch was produced with transactions disabled")
            } catch let error as KafkaError {
                #expect(error.code == .featureDisabled)
                #expect(error.transactionRecords?.first?.error?.code == .featureDisabled)
            }
        }
        try await KafkaClient.withRunningClient(configuration: try Self.configuration(), logger: ClientTestSupport.logger) { client in
            do {
                try await client.withTransaction(options: .init(pool: "nope")) { _ in Issue.record("must not run") }
                Issue.record("a transaction ran in an unknown pool")
            } catch let error as KafkaTransactionError {
                #expect(error.beginError?.code == .unknownTransactionalPool)
            }
        }
    }
}
