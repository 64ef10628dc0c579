/// Per-call options of the fetch API (Klife's `fetch`/`fetch_async` options).
public struct KafkaFetchOptions: Sendable, Hashable {
    /// The default `maxBytes` of ``KafkaClient/fetch(topic:partition:offset:options:)``.
    public static let defaultFetchMaxBytes = 100_000
    /// The default `maxBytes` of the asynchronous fetch.
    public static let defaultFetchAsyncMaxBytes = 500_000

    /// The fetcher that sends the request; nil means the client's default fetcher.
    public var fetcher: String?
    /// Which records of transactional producers may be returned (default ``KafkaIsolationLevel/readCommitted``).
    public var isolationLevel: KafkaIsolationLevel
    /// The most bytes of record batches to return for one partition (the Fetch `PartitionMaxBytes`). The
    /// broker still returns a first batch that is larger, so progress is always possible. nil: the call's
    /// default, ``defaultFetchMaxBytes`` for the fetch calls and ``defaultFetchAsyncMaxBytes`` for
    /// `fetchAsync` (as Klife, whose default applies whenever `max_bytes` is left out).
    public var maxBytes: Int?
    /// When compressed batches are decompressed (default ``KafkaFetchDecompression/eager``). Only
    /// ``KafkaClient/fetchPartitions(_:options:)`` hands out lazily decompressed batches
    /// (``KafkaFetchedPartition/batches``); the calls returning `[KafkaRecord]` always decompress eagerly.
    public var decompression: KafkaFetchDecompression

    public init(
        fetcher: String? = nil, isolationLevel: KafkaIsolationLevel = .readCommitted,
        maxBytes: Int? = nil, decompression: KafkaFetchDecompression = .eager
    ) {
        self.fetcher = fetcher
        self.isolationLevel = isolationLevel
        self.maxBytes = maxBytes
        self.decompression = decompression
    }

    /// The defaults of the asynchronous fetch (max bytes 500_000).
    public static var async: KafkaFetchOptions { KafkaFetchOptions(maxBytes: defaultFetchAsyncMaxBytes) }

    /// These options with ``maxBytes`` set: `defaultMaxBytes` when it was left out.
    func withMaxBytes(default defaultMaxBytes: Int) -> KafkaFetchOptions {
        var options = self
        if options.maxBytes == nil { options.maxBytes = defaultMaxBytes }
        return options
    }
}
