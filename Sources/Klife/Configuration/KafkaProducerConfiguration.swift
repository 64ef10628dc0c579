/// One named producer of a ``KafkaClient`` (Klife's `producers:` entries).
///
/// Every producer batches per broker: records for all partitions led by one broker travel in one Produce
/// request, bounded by ``linger`` and ``batchSizeBytes``. Defaults are Klife's unless noted.
public struct KafkaProducerConfiguration: Sendable {
    /// Which acknowledgement the producer waits for (the Produce request's `acks`).
    public enum Acks: Int16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Wait until every in-sync replica has the records (`acks = -1`, Klife `:all`).
        case all = -1
        /// Wait for the leader only (`acks = 1`).
        case leader = 1
        /// Do not wait at all (`acks = 0`): the broker sends no response, offsets stay unknown. Klife refuses this.
        case none = 0

        public var description: String {
            switch self {
            case .all: "all"
            case .leader: "1"
            case .none: "0"
            }
        }

        /// Parses `all`, `-1`, `1` or `0`.
        public init?(name: String) {
            switch name.lowercased() {
            case "all", "-1": self = .all
            case "1", "leader": self = .leader
            case "0", "none": self = .none
            default: return nil
            }
        }
    }

    /// Unique name within the client (Klife: `name`).
    public var name: String
    /// Client id sent in request headers; nil = `klife_producer.<connection client id>.<name>` (Klife's default form).
    public var clientID: String?
    /// Acknowledgement level (default ``Acks/all``).
    public var acks: Acks
    /// How long a batch may wait for more records before it is sent (Klife: `linger_ms`, default 0).
    public var linger: Duration
    /// Largest estimated size of one batch per request (Klife: `batch_size_bytes`, default 512 000).
    public var batchSizeBytes: Int
    /// Total time budget of a record from the produce call to its acknowledgement, retries included
    /// (Klife: `delivery_timeout_ms`, default 60 s). Must be at least ``linger`` + ``requestTimeout``.
    public var deliveryTimeout: Duration
    /// Timeout of one Produce request; also sent as the request's `timeout_ms` (default 30 s).
    public var requestTimeout: Duration
    /// Wait before retrying a failed batch (Klife: `retry_backoff_ms`, default 1 s).
    public var retryBackoff: Duration
    /// Unacknowledged requests per batcher (Klife: `max_in_flight_requests`, default 1). At most 5 with idempotence.
    public var maxInFlightRequests: Int
    /// Batchers per broker for this producer (Klife: `batchers_count`, default 1).
    public var batchersCount: Int
    /// Idempotent delivery: InitProducerId plus per-partition sequence numbers (default true). Requires ``Acks/all``.
    public var enableIdempotence: Bool
    /// Batch compression (default ``KafkaCompression/none``).
    public var compression: KafkaCompression
    /// The codec's compression level (not in Klife; Kafka's `compression.gzip.level`, `compression.lz4.level`
    /// and `compression.zstd.level`, librdkafka's `compression.level`); nil (the default) uses the codec's own
    /// default. Must be within ``KafkaCompression/levels`` of ``compression``, and nil for none and snappy.
    public var compressionLevel: Int?
    /// Bound on bytes buffered and not yet acknowledged; produce calls wait (backpressure) when it is reached
    /// (not in Klife; default 64 MiB). Must be at least ``batchSizeBytes``.
    public var maxBufferedBytes: Int
    /// Bound on records buffered and not yet acknowledged or failed (not in Klife; default 100,000, like
    /// librdkafka's `queue.buffering.max.messages`). Must be > 0.
    ///
    /// It bounds what ``maxBufferedBytes`` does not see: each waiting record's own memory (its entry, key,
    /// value and completion), which for small records is about as large again as its wire bytes. Reaching it
    /// has the same effect as reaching ``maxBufferedBytes``: `produce`, `produceBatch` and `produceAsync` wait
    /// (backpressure) until acknowledgements free room; they never fail because of it and nothing accepted is
    /// lost. A record is admitted only when both bounds allow it; an empty buffer always takes one record.
    public var maxBufferedRecords: Int
    /// Largest record a produce call accepts, by its estimated encoded size (key, value, headers and about 24
    /// bytes of framing; not in Klife; default 1 MiB, as Java's `max.request.size` and librdkafka's
    /// `message.max.bytes`). A larger record fails at once with ``KafkaError/Code/recordTooLarge`` instead of
    /// going to a broker that refuses it (MESSAGE_TOO_LARGE) or closes the connection on it. Raise it with the
    /// topic's `max.message.bytes` (and the broker's `socket.request.max.bytes` past 100 MB). Must be > 0.
    public var maxRecordBytes: Int

    /// The default of ``maxRecordBytes``: 1 MiB.
    public static let defaultMaxRecordBytes = 1 << 20
    /// The largest ``batchSizeBytes`` and ``maxRecordBytes`` accepted: 1 GiB (a request's size is an int32).
    static let largestSizeBytes = 1 << 30

    /// Klife's name of the producer that is started when none is configured under the default name.
    public static let defaultName = "klife_default_producer"

    public init(
        name: String = KafkaProducerConfiguration.defaultName,
        clientID: String? = nil,
        acks: Acks = .all,
        linger: Duration = .zero,
        batchSizeBytes: Int = 512_000,
        deliveryTimeout: Duration = .seconds(60),
        requestTimeout: Duration = .seconds(30),
        retryBackoff: Duration = .seconds(1),
        maxInFlightRequests: Int = 1,
        batchersCount: Int = 1,
        enableIdempotence: Bool = true,
        compression: KafkaCompression = .none,
        compressionLevel: Int? = nil,
        maxBufferedBytes: Int = 64 * 1024 * 1024,
        maxBufferedRecords: Int = 100_000,
        maxRecordBytes: Int = KafkaProducerConfiguration.defaultMaxRecordBytes
    ) {
        self.name = name
        self.clientID = clientID
        self.acks = acks
        self.linger = linger
        self.batchSizeBytes = batchSizeBytes
        self.deliveryTimeout = deliveryTimeout
        self.requestTimeout = requestTimeout
        self.retryBackoff = retryBackoff
        self.maxInFlightRequests = maxInFlightRequests
        self.batchersCount = batchersCount
        self.enableIdempotence = enableIdempotence
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.maxBufferedBytes = maxBufferedBytes
        self.maxBufferedRecords = maxBufferedRecords
        self.maxRecordBytes = maxRecordBytes
    }

    /// The client id this producer sends, given the connection's client id.
    public func effectiveClientID(connectionClientID: String) -> String {
        clientID ?? "klife_producer.\(connectionClientID).\(name)"
    }

    /// The problems of this producer's options, each naming the option under `path` (e.g. `producers[1]`).
    func validationProblems(path: String) -> [String] {
        var problems: [String] = []
        if name.isEmpty { problems.append("\(path).name must not be empty") }
        if linger < .zero { problems.append("\(path).linger must be >= 0") }
        if batchSizeBytes <= 0 { problems.append("\(path).batchSizeBytes must be > 0") }
        // A request frame's size is an int32 (and brokers refuse far less: socket.request.max.bytes, 100 MB).
        if batchSizeBytes > Self.largestSizeBytes { problems.append("\(path).batchSizeBytes must be <= \(Self.largestSizeBytes)") }
        if maxRecordBytes > Self.largestSizeBytes { problems.append("\(path).maxRecordBytes must be <= \(Self.largestSizeBytes)") }
        if deliveryTimeout <= .zero { problems.append("\(path).deliveryTimeout must be > 0") }
        if requestTimeout <= .zero { problems.append("\(path).requestTimeout must be > 0") }
        if retryBackoff < .zero { problems.append("\(path).retryBackoff must be >= 0") }
        if maxInFlightRequests <= 0 { problems.append("\(path).maxInFlightRequests must be > 0") }
        if batchersCount <= 0 { problems.append("\(path).batchersCount must be > 0") }
        if maxBufferedBytes <= 0 {
            problems.append("\(path).maxBufferedBytes must be > 0")
        } else if batchSizeBytes > 0 && maxBufferedBytes < batchSizeBytes {
            problems.append("\(path).maxBufferedBytes must be >= batchSizeBytes (\(batchSizeBytes))")
        }
        if let problem = compression.levelProblem(compressionLevel, option: "\(path).compressionLevel") { problems.append(problem) }
        if maxBufferedRecords <= 0 { problems.append("\(path).maxBufferedRecords must be > 0") }
        if maxRecordBytes <= 0 { problems.append("\(path).maxRecordBytes must be > 0") }
        if deliveryTimeout > .zero && requestTimeout > .zero && linger >= .zero && deliveryTimeout < linger + requestTimeout {
            problems.append("\(path).deliveryTimeout must be >= linger + requestTimeout")
        }
        if enableIdempotence {
            if acks != .all { problems.append("\(path).acks must be all when enableIdempotence is true") }
            if maxInFlightRequests > 5 { problems.append("\(path).maxInFlightRequests must be <= 5 when enableIdempotence is true") }
        }
        return problems
    }
}
