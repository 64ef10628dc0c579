/// Which benchmark `klife bench` runs.
enum BenchWorkloadKind: String, CaseIterable, Sendable {
    /// Produce N records as fast as possible (or one at a time per caller with `--sync`).
    case produce
    /// Read N records from the beginning of every partition of the topic.
    case consume
    /// Produce and consume at the same time; latency is produce call → record fetched.
    case roundtrip
}

/// The validated settings of one `klife bench` run.
struct BenchConfiguration: Sendable, Equatable {
    var workload: BenchWorkloadKind
    var bootstrap: String
    var topic: String
    var records: Int
    var recordSize: Int
    /// Produce: records go to partition `i % partitions`. Nil: use the topic's partition count.
    var partitions: Int?
    /// none, gzip, snappy, lz4 or zstd.
    var compression: String
    /// "all", "1" or "0".
    var acks: String
    var idempotence: Bool
    /// Independent producers sharing the records.
    var producers: Int
    /// Concurrent callers (tasks) per run.
    var concurrency: Int
    /// Each caller waits for its record's acknowledgement before producing the next.
    var sync: Bool
    /// Give up when a run makes no progress for this long.
    var timeoutSeconds: Double
    /// Producer linger in milliseconds; nil: the client's default (synchronous produce: 0).
    var lingerMilliseconds: Double? = nil
    /// Producer batch size in bytes; nil: the client's default.
    var batchSizeBytes: Int? = nil
    /// Unacknowledged produce requests per connection; nil: the client's default.
    var maxInFlightRequests: Int? = nil
    /// Bound on produced-but-unacknowledged bytes (MiB); nil: the client's default.
    var maxBufferedMegabytes: Int? = nil
    /// Bound on produced-but-unacknowledged records; nil: the client's default.
    var maxBufferedRecords: Int? = nil
    /// Records per produce call (produce workload): 1 calls `produceAsync` per record, more call
    /// `produceBatchAsync` with that many records and one callback.
    var recordsPerCall: Int = 1
    /// Synchronous produce: each caller's task prefers the producer's event loop for its partition.
    var onEventLoop = false

    static let compressions = ["none", "gzip", "snappy", "lz4", "zstd"]

    /// The mode name in reports (the harness's names): a synchronous produce is `latency`.
    var mode: String {
        switch workload {
        case .produce: sync ? "latency" : "produce"
        case .consume: "consume"
        case .roundtrip: "roundtrip"
        }
    }

    /// Whether this run measures per-record latency.
    var measuresLatency: Bool { mode == "latency" || mode == "roundtrip" }

    /// Checks and normalises raw command-line values; the error names the bad option.
    init(
        workload: BenchWorkloadKind, bootstrap: String, topic: String, records: Int, recordSize: Int,
        partitions: Int?, compression: String, acks: String, idempotence: String, producers: Int,
        concurrency: Int, sync: Bool, timeoutSeconds: Double, lingerMilliseconds: Double? = nil,
        batchSizeBytes: Int? = nil, maxInFlightRequests: Int? = nil, maxBufferedMegabytes: Int? = nil,
        maxBufferedRecords: Int? = nil, recordsPerCall: Int = 1, onEventLoop: Bool = false
    ) throws(BenchOptionError) {
        if onEventLoop && !(sync && workload == .produce) { throw BenchOptionError("--on-event-loop applies to produce --sync") }
        guard recordsPerCall >= 1 else { throw BenchOptionError("--records-per-call must be at least 1, not \(recordsPerCall)") }
        if recordsPerCall > 1 && (sync || workload != .produce) {
            throw BenchOptionError("--records-per-call applies to the produce workload without --sync")
        }
        guard !topic.isEmpty else { throw BenchOptionError("--topic must not be empty") }
        guard !bootstrap.isEmpty else { throw BenchOptionError("--bootstrap must not be empty") }
        guard records > 0 else { throw BenchOptionError("--records must be at least 1, not \(records)") }
        guard (0...(64 << 20)).contains(recordSize) else {
            throw BenchOptionError("--record-size must be 0…67108864 bytes, not \(recordSize)")
        }
        if workload == .roundtrip && recordSize < 8 {
            throw BenchOptionError("--record-size must be at least 8 for roundtrip (the value carries the send time)")
        }
        if let partitions, partitions <= 0 {
            throw BenchOptionError("--partitions must be at least 1, not \(partitions)")
        }
        let codec = compression.lowercased()
        guard Self.compressions.contains(codec) else {
            throw BenchOptionError("--compression must be one of \(Self.compressions.joined(separator: ", ")), not '\(compression)'")
        }
        let normalizedAcks: String
        switch acks.lowercased() {
        case "all", "-1": normalizedAcks = "all"
        case "1", "leader": normalizedAcks = "1"
        case "0", "none": normalizedAcks = "0"
        default: throw BenchOptionError("--acks must be all, 1 or 0, not '\(acks)'")
        }
        let idempotent: Bool
        switch idempotence.lowercased() {
        case "on", "true", "yes", "1": idempotent = true
        case "off", "false", "no", "0": idempotent = false
        default: throw BenchOptionError("--idempotence must be on or off, not '\(idempotence)'")
        }
        if idempotent && normalizedAcks != "all" {
            throw BenchOptionError("--idempotence on needs --acks all (use --idempotence off for acks \(normalizedAcks))")
        }
        guard producers > 0 else { throw BenchOptionError("--producers must be at least 1, not \(producers)") }
        guard concurrency > 0 else { throw BenchOptionError("--concurrency must be at least 1, not \(concurrency)") }
        if sync && workload != .produce { throw BenchOptionError("--sync only applies to produce") }
        guard timeoutSeconds > 0 else { throw BenchOptionError("--timeout must be positive") }
        if let lingerMilliseconds, !(lingerMilliseconds >= 0 && lingerMilliseconds <= 60_000) {
            throw BenchOptionError("--linger-ms must be 0…60000, not \(lingerMilliseconds)")
        }
        if let batchSizeBytes, batchSizeBytes <= 0 {
            throw BenchOptionError("--batch-size must be at least 1, not \(batchSizeBytes)")
        }
        if let maxBufferedMegabytes, maxBufferedMegabytes <= 0 {
            throw BenchOptionError("--max-buffered-mb must be at least 1, not \(maxBufferedMegabytes)")
        }
        if let maxBufferedRecords, maxBufferedRecords <= 0 {
            throw BenchOptionError("--max-buffered-records must be at least 1, not \(maxBufferedRecords)")
        }
        if let maxInFlightRequests, !(1...(idempotent ? 5 : 1000)).contains(maxInFlightRequests) {
            throw BenchOptionError("--max-in-flight must be 1…\(idempotent ? 5 : 1000)\(idempotent ? " with idempotence" : ""), not \(maxInFlightRequests)")
        }

        self.workload = workload
        self.bootstrap = bootstrap
        self.topic = topic
        self.records = records
        self.recordSize = recordSize
        self.partitions = partitions
        self.compression = codec
        self.acks = normalizedAcks
        self.idempotence = idempotent
        self.producers = producers
        self.concurrency = concurrency
        self.sync = sync
        self.timeoutSeconds = timeoutSeconds
        self.lingerMilliseconds = lingerMilliseconds
        self.batchSizeBytes = batchSizeBytes
        self.maxInFlightRequests = maxInFlightRequests
        self.onEventLoop = onEventLoop
        self.maxBufferedMegabytes = maxBufferedMegabytes
        self.maxBufferedRecords = maxBufferedRecords
        self.recordsPerCall = recordsPerCall
    }
}

/// A `klife bench` option has a bad value; the message names the option.
struct BenchOptionError: Error, CustomStringConvertible, Equatable {
    var description: String
    init(_ description: String) { self.description = description }
}
