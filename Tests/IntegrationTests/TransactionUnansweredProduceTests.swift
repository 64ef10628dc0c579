import Foundation
import Synchronization
import Testing
@testable import Klife

/// A transaction whose Produce answers never arrive, on Tansu behind ``SoakCuttingProxy`` (every Produce
/// response cut): the batch is in the log, aborted, at sequences the producer never saw acknowledged. The next
/// transaction must not send its own batch under the same epoch and sequences, or the broker takes it for a
/// duplicate of the aborted one and drops it (answering with the aborted batch's offset).
@Suite("Transactions: a produce left unanswered", .serialized)
struct TransactionUnansweredProduceTests {
    @Test("after a transaction whose produce went unanswered is aborted, the next transaction's record is written, at the offset reported")
    func theNextTransactionIsNotTakenForADuplicate() async throws {
        let tansuPort = Mutex<Int?>(nil)
        let proxy = try await SoakCuttingProxy.start(
            policy: .init(produceCutProbability: 1.0), seed: 7, targetPort: { tansuPort.withLock { $0 } })
        let name = TestBrokers.uniqueName("tansu-cut-txn")
        let scripts = try TestBrokers.scripts
        let started = try await ScriptProcess.run("/bin/bash", [scripts + "/tansu.sh", "start", "--name", name, "--advertise", proxy.address], timeout: 60)
        tansuPort.withLock { $0 = try? TestBrokers.hostAndPort(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)).port }
        defer {
            Task {
                await proxy.stop()
                _ = try? await ScriptProcess.run("/bin/bash", [scripts + "/tansu.sh", "stop", "--name", name], timeout: 60)
            }
        }
        let topic = TestBrokers.uniqueName("txn-cut")
        try await RdKafkaTool.createTopic(bootstrap: proxy.address, topic: topic, partitions: 1)
        var configuration = try ClientTestSupport.configuration(bootstrap: proxy.address)
        configuration.transactionalPools = [KafkaTransactionalPoolConfiguration(
            baseTransactionalID: TestBrokers.uniqueName("cut"), poolSize: 1, transactionTimeout: .seconds(30),
            deliveryTimeout: .seconds(3), requestTimeout: .seconds(2), retryBackoff: .milliseconds(100))]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            do {
                try await client.withTransaction { txn in
                    _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "unanswered"))
                }
                Issue.record("the produce must fail: every Produce answer is cut")
            } catch let error as KafkaTransactionError {
                #expect(error.abortError == nil, "the abort failed: \(error)")
            }
            #expect(proxy.counts.produceResponsesCut >= 1)
            proxy.setPolicy(.init(produceCutProbability: 0, enabled: false))

            let produced = try await client.produceBatchTransactionally([KafkaRecord(topic: topic, partition: 0, value: "next")])
            let offset = try #require(produced.first?.offset)
            var options = KafkaFetchOptions()
            options.isolationLevel = .readUncommitted
            let records = try await client.fetch(topic: topic, partition: 0, offset: 0, options: options)
            let values = records.compactMap(\.valueString)
            #expect(values.contains("next"), "the next transaction's record is not in the log: \(values)")
            #expect(records.first { $0.offset == offset }?.valueString == "next", "offset \(offset) holds \(records.map { "\($0.offset ?? -1): \($0.valueString ?? "")" })")
        }
    }
}
