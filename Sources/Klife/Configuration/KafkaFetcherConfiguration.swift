/// One named fetcher of a ``KafkaClient`` (Klife's `fetchers:` entries), used by the fetch API and consumer groups.
///
/// A fetch API call plans its own requests (one per leader broker) and sends them at once. A consumer group
/// member merges the fetches of its partitions per leader broker, honouring ``linger`` and
/// ``maxInFlightRequests`` there. ``batchersCount`` is accepted and validated for Klife compatibility but does
/// not change behaviour yet: a fetcher talks to a broker over one connection.
public struct KafkaFetcherConfiguration: Sendable {
    /// Unique name within the client (Klife: `name`).
    public var name: String
    /// Client id sent in request headers; nil = `klife_fetcher.<connection client id>.<name>`.
    public var clientID: String?
    /// How long a fetch batch may wait for more partitions before it is sent (Klife: `linger_ms`, default 0).
    /// Used by consumer groups; fetch API calls are sent at once.
    public var linger: Duration
    /// Fetch request `max_bytes`, also the batch size limit (Klife: `max_bytes_per_request`, default 5 000 000).
    public var maxBytesPerRequest: Int
    /// Unanswered fetch requests per broker of one consumer group member (Klife: `max_in_flight_requests`
    /// per batcher, default 3). Concurrent fetch API calls each have their own requests in flight.
    public var maxInFlightRequests: Int
    /// Batchers per broker; nil = ceil(active processors / known brokers), Klife's default. Not used yet: a
    /// fetcher talks to a broker over one connection.
    public var batchersCount: Int?
    /// Timeout of one fetch request (default 30 s). Must exceed ``maxWait``.
    public var requestTimeout: Duration
    /// Fetch `max_wait_ms`: how long the broker may hold the request waiting for ``minBytes`` (default 0).
    public var maxWait: Duration
    /// Fetch `min_bytes` (default 1; Klife hard-codes 1).
    public var minBytes: Int

    /// Klife's name of the fetcher that is started when none is configured under the default name.
    public static let defaultName = "klife_default_fetcher"

    public init(
        name: String = KafkaFetcherConfiguration.defaultName,
        clientID: String? = nil,
        linger: Duration = .zero,
        maxBytesPerRequest: Int = 5_000_000,
        maxInFlightRequests: Int = 3,
        batchersCount: Int? = nil,
        requestTimeout: Duration = .seconds(30),
        maxWait: Duration = .zero,
        minBytes: Int = 1
    ) {
        self.name = name
        self.clientID = clientID
        self.linger = linger
        self.maxBytesPerRequest = maxBytesPerRequest
        self.maxInFlightRequests = maxInFlightRequests
        self.batchersCount = batchersCount
        self.requestTimeout = requestTimeout
        self.maxWait = maxWait
        self.minBytes = minBytes
    }

    /// The client id this fetcher sends, given the connection's client id.
    public func effectiveClientID(connectionClientID: String) -> String {
        clientID ?? "klife_fetcher.\(connectionClientID).\(name)"
    }

    /// The batchers per broker to run, given the number of known brokers.
    public func effectiveBatchersCount(knownBrokers: Int, activeProcessors: Int) -> Int {
        if let batchersCount { return batchersCount }
        let brokers = max(knownBrokers, 1)
        return max(1, (max(activeProcessors, 1) + brokers - 1) / brokers)
    }

    func validationProblems(path: String) -> [String] {
        var problems: [String] = []
        if name.isEmpty { problems.append("\(path).name must not be empty") }
        if linger < .zero { problems.append("\(path).linger must be >= 0") }
        if maxBytesPerRequest <= 0 { problems.append("\(path).maxBytesPerRequest must be > 0") }
        if maxInFlightRequests <= 0 { problems.append("\(path).maxInFlightRequests must be > 0") }
        if let batchersCount, batchersCount <= 0 { problems.append("\(path).batchersCount must be > 0") }
        if requestTimeout <= .zero { problems.append("\(path).requestTimeout must be > 0") }
        if maxWait < .zero { problems.append("\(path).maxWait must be >= 0") }
        if minBytes < 0 { problems.append("\(path).minBytes must be >= 0") }
        if requestTimeout > .zero && maxWait >= .zero && maxWait >= requestTimeout {
            problems.append("\(path).maxWait must be < requestTimeout")
        }
        return problems
    }
}
