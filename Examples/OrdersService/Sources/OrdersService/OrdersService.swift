import Configuration
import Hummingbird
import Klife
import Logging
import ServiceLifecycle

/// An HTTP service that produces an order record per `POST /orders` and runs a consumer group that processes
/// them; `GET /stats` shows what the group processed. Configuration comes from environment variables
/// (`KLIFE_CONNECTION_BOOTSTRAP_SERVERS`, `ORDERS_HTTP_PORT`, …) with defaults for the demo broker.
@main
struct OrdersService {
    static func main() async throws {
        var logger = Logger(label: "orders-service")
        logger.logLevel = .info

        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider(),
            InMemoryProvider(values: [
                "klife.connection.bootstrapServers": "127.0.0.1:9092",
                "klife.connection.clientID": "orders-service",
                "klife.producers.klife_default_producer.linger": "2ms",
                "orders.topic": "orders",
                "orders.http.port": 8080,
                "orders.consumer.groupID": "orders-processor",
                "orders.consumer.topics": "orders",
                "orders.consumer.offsetResetPolicy": "earliest",
            ]),
        ])
        let configuration = try KafkaClient.Configuration(configReader: reader.scoped(to: "klife"))
        let groupConfiguration = try KafkaConsumerGroupConfiguration(configReader: reader.scoped(to: ["orders", "consumer"]))
        let topic = reader.string(forKey: "orders.topic", default: "orders")
        let port = reader.int(forKey: "orders.http.port", default: 8080)

        let client = try KafkaClient(configuration: configuration, logger: logger)
        let stats = ProcessedOrders()
        let processor = OrderProcessor(client: client, configuration: groupConfiguration, stats: stats, logger: logger)
        let app = Application(
            router: makeRouter(client: client, topic: topic, stats: stats),
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            logger: logger)

        // Shut down in reverse order: HTTP first, then the consumer, then the client (which flushes producers).
        let services = ServiceGroup(
            configuration: .init(
                services: [client, processor, app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await services.run()
    }

    static func makeRouter(client: KafkaClient, topic: String, stats: ProcessedOrders) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("orders") { request, _ -> StoredOrder in
            let body = try await request.body.collect(upTo: 1 << 20)
            let record = KafkaRecord(
                topic: topic, key: request.headers[.init("X-Customer")!].map { ByteBuffer(string: $0) }, value: body,
                headers: [.init(key: "content-type", value: request.headers[.contentType] ?? "application/json")])
            do {
                let stored = try await client.produce(record)
                return StoredOrder(partition: stored.partition ?? -1, offset: stored.offset ?? -1)
            } catch let error as KafkaError {
                throw HTTPError(error.isRetriable ? .serviceUnavailable : .badGateway, message: error.message)
            }
        }
        router.get("stats") { _, _ -> ProcessedOrders.Snapshot in
            stats.snapshot
        }
        return router
    }
}

/// What `POST /orders` answers.
struct StoredOrder: ResponseEncodable {
    var partition: Int32
    var offset: Int64
}
