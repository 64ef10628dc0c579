import Hummingbird
import Klife
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the consumer group once the client knows the cluster; the client's graceful shutdown commits and
/// leaves the group.
struct OrderProcessor: Service {
    let client: KafkaClient
    let configuration: KafkaConsumerGroupConfiguration
    let stats: ProcessedOrders
    let logger: Logger

    func run() async throws {
        try await client.waitUntilReady(timeout: .seconds(60))
        let stats = stats
        let logger = logger
        let member = try client.startConsumerGroup(configuration) { batch in
            for record in batch.records {
                logger.info("processing order", metadata: ["partition": "\(batch.partition)", "offset": "\(record.offset ?? -1)"])
            }
            stats.add(batch.records.count)
            return .commit
        }
        try? await gracefulShutdown()
        await member.stop()
    }
}

/// Counts processed orders for `GET /stats`.
final class ProcessedOrders: Sendable {
    struct Snapshot: Codable, Sendable {
        var processed: Int
    }

    private let count = Mutex(0)

    func add(_ processed: Int) { count.withLock { $0 += processed } }

    var snapshot: Snapshot { Snapshot(processed: count.withLock { $0 }) }
}

extension ProcessedOrders.Snapshot: ResponseEncodable {}
