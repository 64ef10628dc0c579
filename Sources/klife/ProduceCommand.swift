import ArgumentParser
import Klife
import NIOCore

/// `klife produce`: records from stdin, one per line; prints `partition<TAB>offset` per record in input order.
/// Each line is sent as soon as no further input is waiting (typed or trickling lines go out at once).
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce records read from stdin, one per line (value, or key SEP value).",
        discussion: """
            Each line is sent as soon as no more input is waiting; lines are bytes (a key or value need not be \
            UTF-8). Prints partition<TAB>offset per record on stdout, in input order (--quiet: only a summary on stderr). \
            Exits with status 1 if any record failed; the failed records and their error codes go to stderr. \
            Ctrl-C or SIGTERM ends the input: the whole lines read so far are delivered (not a last line cut off \
            mid-way), then it exits with status 130.
            --producer-config FILE reads producer options as KEY=VALUE lines: acks, linger_ms, batch_size_bytes, \
            delivery_timeout_ms, request_timeout_ms, retry_backoff_ms, max_in_flight_requests, batchers_count, \
            enable_idempotence, compression, compression_level, max_buffered_bytes, max_buffered_records, max_record_bytes; command-line \
            flags win.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Topic to produce to.") var topic: String
    @Option(name: .long, help: "Partition (default: the partitioner picks one).") var partition: Int32?
    @Option(name: .customLong("key-separator"), help: "Split each line into key and value at the first SEP.") var keySeparator: String?
    @Option(name: .customLong("header"), help: "Header K=V added to every record (repeatable; K alone: null value).") var headers: [String] = []
    @Option(name: .long, help: "Compression: none, gzip, snappy, lz4, zstd.") var compression: String?
    @Option(name: .customLong("compression-level"), help: "Compression level: gzip 1-9, lz4 0-17, zstd -131072-22 (default: the codec's).")
    var compressionLevel: Int?
    @Option(name: .long, help: "Acks: all, 1 or 0.") var acks: String?
    @Flag(name: .customLong("no-idempotence"), help: "Disable the idempotent producer.") var noIdempotence = false
    @Option(name: .customLong("linger-ms"), help: "Linger in milliseconds.") var lingerMs: Int?
    @Option(name: .customLong("producer-config"), help: "File of producer options (KEY=VALUE lines).") var producerConfig: String?
    @Flag(name: .long, help: "Print only a summary on stderr.") var quiet = false

    func validate() throws {
        if let compression, KafkaCompression(name: compression) == nil { throw ValidationError("--compression \(compression): expected none, gzip, snappy, lz4 or zstd") }
        if let acks, KafkaProducerConfiguration.Acks(name: acks) == nil { throw ValidationError("--acks \(acks): expected all, 1 or 0") }
        if let lingerMs, lingerMs < 0 { throw ValidationError("--linger-ms must be >= 0") }
        if let partition, partition < 0 { throw ValidationError("--partition must be >= 0") }
        if let keySeparator, keySeparator.isEmpty { throw ValidationError("--key-separator must not be empty") }
    }

    func run() async throws {
        try await runReportingErrors {
            let producer = try makeProducerConfiguration()
            let recordHeaders = headers.map { header -> KafkaRecord.Header in
                let parts = header.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return KafkaRecord.Header(key: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : nil)
            }
            let (topic, partition, quiet) = (self.topic, self.partition, self.quiet)
            let separator = keySeparator.map { Array($0.utf8) }
            let options = KafkaProduceOptions(producer: producer.name)
            let failed = try await global.withClient(adjust: { configuration in
                // Beside the file's producers (its topics may name them); the records go to this one.
                configuration.producers.removeAll { $0.name == producer.name }
                configuration.producers.append(producer)
            }) { client in
                var failed = 0
                var reported = 0
                var chunk: [KafkaRecord] = []
                // Chunks being produced, oldest first: results are printed in input order. Each chunk is handed
                // to the producer here, in input order (produceBatchAsync returns once it is buffered); only
                // the results are awaited later.
                var inFlight: [ProduceChunkResults] = []
                func send() async {
                    guard !chunk.isEmpty else { return }
                    let pending = ProduceChunkResults()
                    await client.produceBatchAsync(chunk, options: options) { pending.deliver($0) }
                    inFlight.append(pending)
                    chunk.removeAll(keepingCapacity: true)
                }
                func reportOldest() async {
                    let results = await inFlight.removeFirst().wait()
                    var out = ""
                    for (index, result) in results.enumerated() {
                        switch result {
                        case .success(let record):
                            if !quiet { out += "\(record.partition ?? -1)\t\(record.offset ?? -1)\n" }
                        case .failure(let error):
                            failed += 1
                            printError("record \(reported + index + 1) failed: \(error.code)\(error.kafkaCode.map { " (Kafka error code \($0))" } ?? ""): \(error.message)")
                            if !quiet { out += "-1\t-1\n" }
                        }
                    }
                    if !out.isEmpty { writeToStandardOutput(out) }
                    reported += results.count
                }
                // Ctrl-C or SIGTERM ends the input, not the process: what was read is still delivered.
                StopSignals.trap()
                defer { StopSignals.release() }
                var input = StandardInputLines(stopRequested: { StopSignals.wasReceived })
                while let line = input.next() {
                    var key: ByteBuffer?
                    var value = line[...]
                    if let separator, let range = line.firstRange(of: separator) {
                        key = ByteBuffer(bytes: line[..<range.lowerBound])
                        value = line[range.upperBound...]
                    }
                    chunk.append(KafkaRecord(topic: topic, partition: partition, key: key, value: ByteBuffer(bytes: value), headers: recordHeaders))
                    // Lines typed or trickling in go out at once; a fast stream goes in chunks of up to 10,000,
                    // a few of them in flight while the next is read.
                    if chunk.count >= 10_000 || !input.hasLineReady() {
                        await send()
                        if !input.hasLineReady() {
                            while !inFlight.isEmpty { await reportOldest() }
                        }
                    }
                    while inFlight.count > 4 { await reportOldest() }
                }
                await send()
                while !inFlight.isEmpty { await reportOldest() }
                if input.droppedFragmentBytes > 0 {
                    printError("klife: the interrupted input ended mid-line; its last \(input.droppedFragmentBytes) bytes were not sent")
                }
                if quiet || StopSignals.wasReceived {
                    printError("produced \(reported - failed) of \(reported) records to \(topic)\(StopSignals.wasReceived ? " (interrupted)" : "")")
                }
                return failed
            }
            if failed > 0 { throw ExitCode.failure }
            if StopSignals.wasReceived { throw ExitCode(130) }
        }
    }

    /// The producer options: defaults, then the --producer-config file, then the flags.
    func makeProducerConfiguration() throws -> KafkaProducerConfiguration {
        var producer = KafkaProducerConfiguration(name: "klife-cli", maxInFlightRequests: 5)
        if let producerConfig {
            let text = try readTextFile(producerConfig)
            for rawLine in text.split(whereSeparator: \.isNewline) {
                let line = rawLine.trimmingBlanks
                if line.isEmpty || line.hasPrefix("#") { continue }
                let parts = line.split(separator: "=", maxSplits: 1).map(\.trimmingBlanks)
                guard parts.count == 2 else { throw ValidationError("\(producerConfig): expected KEY=VALUE, got \(line)") }
                try apply(key: parts[0], value: parts[1], to: &producer, file: producerConfig)
            }
        }
        if let compression { producer.compression = KafkaCompression(name: compression)! }
        if let compressionLevel { producer.compressionLevel = compressionLevel }
        if let acks { producer.acks = KafkaProducerConfiguration.Acks(name: acks)! }
        if let lingerMs { producer.linger = .milliseconds(lingerMs) }
        if noIdempotence || producer.acks != .all { producer.enableIdempotence = false }
        if producer.enableIdempotence { producer.maxInFlightRequests = min(producer.maxInFlightRequests, 5) }
        return producer
    }

    private func apply(key: String, value: String, to producer: inout KafkaProducerConfiguration, file: String) throws {
        func int() throws -> Int {
            guard let number = Int(value) else { throw ValidationError("\(file): \(key) must be an integer, got \(value)") }
            return number
        }
        switch key {
        case "acks":
            guard let acks = KafkaProducerConfiguration.Acks(name: value) else { throw ValidationError("\(file): acks must be all, 1 or 0") }
            producer.acks = acks
        case "linger_ms": producer.linger = .milliseconds(try int())
        case "batch_size_bytes": producer.batchSizeBytes = try int()
        case "delivery_timeout_ms": producer.deliveryTimeout = .milliseconds(try int())
        case "request_timeout_ms": producer.requestTimeout = .milliseconds(try int())
        case "retry_backoff_ms": producer.retryBackoff = .milliseconds(try int())
        case "max_in_flight_requests": producer.maxInFlightRequests = try int()
        case "batchers_count": producer.batchersCount = try int()
        case "max_buffered_bytes": producer.maxBufferedBytes = try int()
        case "max_buffered_records": producer.maxBufferedRecords = try int()
        case "max_record_bytes": producer.maxRecordBytes = try int()
        case "compression_level": producer.compressionLevel = try int()
        case "enable_idempotence":
            guard let flag = Bool(value) else { throw ValidationError("\(file): enable_idempotence must be true or false") }
            producer.enableIdempotence = flag
        case "compression":
            guard let codec = KafkaCompression(name: value) else { throw ValidationError("\(file): unknown compression \(value)") }
            producer.compression = codec
        default:
            throw ValidationError("\(file): unknown producer option \(key)")
        }
    }
}
