import Foundation
import Klife
import Testing

/// Transactions per second against Tansu, ours next to librdkafka's transactional producer
/// (scripts/rdkafka_tool.py txn-bench) on the same broker: 1-record and 100-record transactions, run one
/// after another (each transaction waits for its commit). Small, bounded counts: this is a measurement
/// printed for the report (docs/benchmarks/transactions.md), and fails only when transactions fail.
@Suite("Transaction throughput against Tansu", .serialized)
struct TransactionThroughputTests {
    struct Figure: Decodable {
        var transactions: Int
        var records_per_txn: Int
        var seconds: Double
        var per_second: Double
        var cpu_seconds: Double
    }

    static func librdkafka(topic: String, transactions: Int, recordsPerTransaction: Int) async throws -> Figure {
        let result = try await ScriptProcess.run(
            try TestBrokers.python,
            [try TestBrokers.scripts + "/rdkafka_tool.py", "txn-bench", "--bootstrap", try TestBrokers.tansuBootstrap, "--topic", topic,
             "--transactions", String(transactions), "--records-per-txn", String(recordsPerTransaction), "--size", "100"],
            timeout: 300)
        let line = result.stdout.split(separator: UInt8(ascii: "\n")).last.map { Data($0) } ?? Data()
        return try JSONDecoder().decode(Figure.self, from: line)
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    @Test(arguments: [(1, 200), (100, 50)])
    func transactionsPerSecond(recordsPerTransaction: Int, transactions: Int) async throws {
        let topic = TestBrokers.uniqueName("txn-speed")
        try await RdKafkaTool.createTopic(bootstrap: try TestBrokers.tansuBootstrap, topic: topic, partitions: 1)
        var configuration = try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap)
        configuration.transactionalPools = [KafkaTransactionalPoolConfiguration(poolSize: 1, retryBackoff: .milliseconds(50))]
        let payload = String(repeating: "x", count: 100)
        let records = (0..<recordsPerTransaction).map { _ in KafkaRecord(topic: topic, partition: 0, value: payload) }
        let ours = try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            _ = try await client.produceBatchTransactionally(records)  // warm-up: InitProducerId, coordinator, connections
            let cpuStart = Self.processCPUSeconds()
            let start = ContinuousClock.now
            for _ in 0..<transactions {
                let produced = try await client.produceBatchTransactionally(records)
                #expect(produced.count == recordsPerTransaction)
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return (seconds, Self.processCPUSeconds() - cpuStart)
        }
        let theirs = try await Self.librdkafka(topic: topic, transactions: transactions, recordsPerTransaction: recordsPerTransaction)
        let line = String(
            format: "transactions of %d record(s) against Tansu: klife %.0f/s (%.2f ms CPU each), librdkafka %.0f/s (%.2f ms CPU each) over %d transactions",
            recordsPerTransaction, Double(transactions) / ours.0, ours.1 * 1000 / Double(transactions),
            theirs.per_second, theirs.cpu_seconds * 1000 / Double(transactions), transactions)
        print(line)
        #expect(ours.0 > 0 && theirs.transactions == transactions)
    }
}
