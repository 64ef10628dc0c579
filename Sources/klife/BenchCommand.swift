import ArgumentParser
import Klife

/// `klife bench produce|consume|roundtrip`: measures the client against a broker and prints records/s,
/// MB/s, latency percentiles, CPU seconds and peak RSS (or the same as JSON with `--json`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure produce, consume or end-to-end throughput and latency against a broker.",
        discussion: """
            Progress goes to stderr; the summary (or one JSON line with --json, the same keys as \
            Benchmarks/rdkafka's harness) goes to stdout. Values are the same bytes the librdkafka harness \
            sends, so scripts/bench.sh compares like with like.
            """
    )

    @Argument(help: "produce, consume or roundtrip.")
    var workload: BenchWorkloadKind

    @OptionGroup var global: GlobalOptions

    @Option(help: "Topic to produce to or consume from.")
    var topic: String

    @Option(help: "Records to produce or consume.")
    var records: Int = 1_000_000

    @Option(name: .customLong("record-size"), help: "Value bytes per record.")
    var recordSize: Int = 100

    @Option(help: "Spread records over partitions 0..<P (default: the topic's partition count).")
    var partitions: Int?

    @Option(help: "none, gzip, snappy, lz4 or zstd.")
    var compression: String = "none"

    @Option(help: "all, 1 or 0.")
    var acks: String = "all"

    @Option(help: "on or off.")
    var idempotence: String = "on"

    @Option(help: "Independent producers sharing the records.")
    var producers: Int = 1

    @Option(help: "Concurrent callers.")
    var concurrency: Int = 1

    @Flag(help: "Each caller waits for its record's acknowledgement before the next (reports latency).")
    var sync = false

    @Flag(name: .customLong("on-event-loop"), help: "With --sync: each caller's task prefers its partition's producer event loop (KafkaClient.producerTaskExecutor), so a produce call costs no thread hop.")
    var onEventLoop = false

    @Flag(help: "Print the summary as one line of JSON.")
    var json = false

    @Option(name: .customLong("linger-ms"), help: "Producer linger in milliseconds (default: the client's; --sync: 0).")
    var lingerMilliseconds: Double?

    @Option(name: .customLong("batch-size"), help: "Producer batch size in bytes (default: the client's).")
    var batchSize: Int?

    @Option(name: .customLong("max-in-flight"), help: "Unacknowledged produce requests per connection (default: the client's).")
    var maxInFlight: Int?

    @Option(name: .customLong("max-buffered-mb"), help: "Bound on produced but unacknowledged data in MiB (default: the client's).")
    var maxBufferedMegabytes: Int?

    @Option(name: .customLong("max-buffered-records"), help: "Bound on produced but unacknowledged records (default: the client's, 100000).")
    var maxBufferedRecords: Int?

    @Option(name: .customLong("records-per-call"), help: "produce: records per call; above 1, produceBatchAsync with one callback per call instead of produceAsync per record.")
    var recordsPerCall: Int = 1

    @Option(help: "Give up after this many seconds without progress.")
    var timeout: Double = 300

    func validate() throws {
        do { _ = try makeConfiguration() } catch { throw ValidationError(error.description) }
    }

    func makeConfiguration() throws(BenchOptionError) -> BenchConfiguration {
        try BenchConfiguration(
            workload: workload, bootstrap: global.effectiveBootstrap, topic: topic, records: records, recordSize: recordSize,
            partitions: partitions, compression: compression, acks: acks, idempotence: idempotence,
            producers: producers, concurrency: concurrency, sync: sync, timeoutSeconds: timeout,
            lingerMilliseconds: lingerMilliseconds, batchSizeBytes: batchSize, maxInFlightRequests: maxInFlight,
            maxBufferedMegabytes: maxBufferedMegabytes, maxBufferedRecords: maxBufferedRecords,
            recordsPerCall: recordsPerCall, onEventLoop: onEventLoop
        )
    }

    func run() async throws {
        let config = try makeConfiguration()
        try await runReportingErrors {
            let report: BenchReport
            do {
                report = try await global.withClient(adjust: { BenchWorkloads.adjust(&$0, for: config) }) { client in
                    try await Self.run(config, client: client)
                }
            } catch let error as BenchWorkloadError {
                printError(error.description)
                throw ExitCode(1)
            }
            print(json ? report.json : report.table)
        }
    }

    /// Runs the workload with the progress line on stderr and returns the full report.
    static func run(_ config: BenchConfiguration, client: KafkaClient) async throws -> BenchReport {
        let progress = BenchProgress(totalRecords: config.records)
        let needsPayload = config.workload != .consume
        let payload = needsPayload ? BenchPayload(recordSize: config.recordSize) : .none
        let reporter = BenchProgressReporter(progress: progress)
        let start = reporter.clock.now
        let measurement = try await withThrowingTaskGroup(of: BenchMeasurement?.self) { group in
            group.addTask {
                await reporter.run(startedAt: start)
                return nil
            }
            group.addTask {
                switch (config.workload, config.sync) {
                case (.produce, false):
                    try await BenchWorkloads.produce(config, client: client, payload: payload, progress: progress)
                case (.produce, true):
                    try await BenchWorkloads.syncProduce(config, client: client, payload: payload, progress: progress)
                case (.consume, _):
                    try await BenchWorkloads.consume(config, client: client, progress: progress)
                case (.roundtrip, _):
                    try await BenchWorkloads.roundtrip(config, client: client, payload: payload, progress: progress)
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            fatalError("the workload task always returns or throws")
        }
        return BenchReport(measurement, config: config, usage: .current())
    }
}

extension BenchWorkloadKind: ExpressibleByArgument {}

extension BenchReport {
    init(_ m: BenchMeasurement, config: BenchConfiguration, usage: BenchProcessUsage) {
        self.init(
            mode: config.mode, topic: config.topic, records: m.records, recordSize: config.recordSize,
            bytes: m.bytes, partitions: m.partitions, compression: config.compression, acks: config.acks,
            idempotence: config.idempotence, producers: config.producers, concurrency: config.concurrency,
            elapsedSeconds: BenchProgressReporter.seconds(m.elapsed), usage: usage, latency: m.latency?.summary,
            onEventLoop: config.onEventLoop
        )
    }
}
