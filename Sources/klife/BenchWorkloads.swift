import Klife
import NIOCore
import Synchronization

/// The workloads `klife bench` runs against a broker. Each one learns the topic's partitions first, then
/// runs the clock over the work itself and reports into `progress` as records complete.
///
/// `roundtrip` lives in `BenchWorkloads+Roundtrip.swift`.
enum BenchWorkloads {
    /// The names of the benchmark's producers (`--producers K` of them).
    static func producerNames(_ config: BenchConfiguration) -> [String] {
        (0..<config.producers).map { "klife-bench-\($0)" }
    }

    /// Adds the benchmark's producers, with its settings, to the client configuration.
    /// A `--config` file's producers stay (its topics may name them).
    static func adjust(_ clientConfiguration: inout KafkaClient.Configuration, for config: BenchConfiguration) {
        let names = Set(producerNames(config))
        clientConfiguration.producers.removeAll { names.contains($0.name) }
        clientConfiguration.producers += producerNames(config).map { name in
            var producer = KafkaProducerConfiguration(
                name: name,
                acks: KafkaProducerConfiguration.Acks(name: config.acks) ?? .all,
                enableIdempotence: config.idempotence,
                compression: KafkaCompression.allCases.first { $0.description == config.compression } ?? .none
            )
            if let linger = config.lingerMilliseconds { producer.linger = .microseconds(Int64(linger * 1000)) }
            if config.sync { producer.linger = .zero }
            if let batch = config.batchSizeBytes { producer.batchSizeBytes = batch }
            if let inFlight = config.maxInFlightRequests { producer.maxInFlightRequests = inFlight }
            if let buffered = config.maxBufferedMegabytes {
                producer.maxBufferedBytes = max(buffered << 20, producer.batchSizeBytes)
            }
            if let records = config.maxBufferedRecords { producer.maxBufferedRecords = records }
            return producer
        }
        clientConfiguration.defaultProducer = producerNames(config)[0]
    }

    /// The partitions to spread records over: `--partitions` (creating the topic with that many when it does
    /// not exist), else the topic's partition count.
    static func partitionCount(_ client: KafkaClient, _ config: BenchConfiguration) async throws -> Int {
        let existing: KafkaTopicMetadata?
        do {
            existing = try await client.describeTopic(config.topic)
        } catch let error as KafkaError where error.code == .unknownTopicOrPartition {
            existing = nil
        }
        if let existing, existing.partitionCount > 0 {
            guard let wanted = config.partitions else { return Int(existing.partitionCount) }
            guard Int(existing.partitionCount) >= wanted else {
                throw BenchWorkloadError(
                    kind: .failed,
                    description: "klife bench: topic \(config.topic) has \(existing.partitionCount) partitions, fewer than --partitions \(wanted)")
            }
            return wanted
        }
        guard let wanted = config.partitions else {
            throw BenchWorkloadError(
                kind: .failed, description: "klife bench: topic \(config.topic) does not exist (pass --partitions to create it)")
        }
        do {
            try await client.createTopic(config.topic, partitions: Int32(wanted))
        } catch let error as KafkaError where error.code == .topicAlreadyExists {}
        return wanted
    }

    /// Record values as slices of one pool buffer: no copy or allocation per record.
    struct Values: Sendable {
        let payload: BenchPayload

        init(_ payload: BenchPayload) {
            self.payload = payload
        }

        func value(ofRecord index: Int) -> ByteBuffer {
            payload.value(ofRecord: index)
        }
    }

    /// Failures reported by produce callbacks; the first one is kept for the message.
    final class Failures: Sendable {
        private let state = Mutex<(count: Int, first: KafkaError?)>((0, nil))

        func record(_ error: KafkaError) {
            state.withLock { state in
                state.count += 1
                if state.first == nil { state.first = error }
            }
        }

        func check() throws {
            let (count, first) = state.withLock { ($0.count, $0.first) }
            if let first {
                throw BenchWorkloadError(kind: .failed, description: "klife bench: \(count) records failed; the first: \(first)")
            }
        }
    }

    /// Produce `records` values as fast as possible: record i to partition i % P (and producer i % K),
    /// `concurrency` tasks calling `produceAsync` (or, with `--records-per-call N`, `produceBatchAsync` with N
    /// records), then `flush` waits for every acknowledgement.
    static func produce(
        _ config: BenchConfiguration, client: KafkaClient, payload: BenchPayload, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        let partitions = try await partitionCount(client, config)
        let values = Values(payload)
        let failures = Failures()
        let options = producerNames(config).map { KafkaProduceOptions(producer: $0) }
        let size = config.recordSize
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<config.concurrency where config.recordsPerCall > 1 {
                // Calls of `recordsPerCall` consecutive records (all to one producer), one callback per call.
                group.addTask {
                    let step = config.recordsPerCall
                    var start = caller * step
                    while start < config.records {
                        let end = min(start + step, config.records)
                        let records = (start..<end).map { i in
                            KafkaRecord(topic: config.topic, partition: Int32(i % partitions), value: values.value(ofRecord: i))
                        }
                        await client.produceBatchAsync(records, options: options[(start / step) % options.count]) { results in
                            var done = 0
                            for result in results {
                                switch result {
                                case .success: done += 1
                                case .failure(let error): failures.record(error)
                                }
                            }
                            progress.add(records: done, bytes: done * size)
                        }
                        start += step * config.concurrency
                    }
                }
            }
            // One callback for every record, made once (as the librdkafka harness registers one delivery report
            // callback): a closure literal inside the loop would allocate its context per record.
            let delivered: @Sendable (Result<KafkaRecord, KafkaError>) -> Void = { result in
                switch result {
                case .success: progress.add(records: 1, bytes: size)
                case .failure(let error): failures.record(error)
                }
            }
            for caller in 0..<config.concurrency where config.recordsPerCall == 1 {
                group.addTask {
                    var i = caller
                    while i < config.records {
                        try await client.produceAsync(
                            KafkaRecord(topic: config.topic, partition: Int32(i % partitions), value: values.value(ofRecord: i)),
                            options: options[i % options.count], callback: delivered)
                        i += config.concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        await client.flush()
        let elapsed = clock.now - start
        try failures.check()
        return BenchMeasurement(
            records: config.records, bytes: config.records * size, elapsed: elapsed, partitions: partitions, latency: nil)
    }

    /// `concurrency` callers each produce one record with `produce` and wait for its acknowledgement
    /// before the next; one warm-up record first, outside the clock.
    static func syncProduce(
        _ config: BenchConfiguration, client: KafkaClient, payload: BenchPayload, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        let partitions = try await partitionCount(client, config)
        let values = Values(payload)
        let options = producerNames(config).map { KafkaProduceOptions(producer: $0) }
        for option in options {
            _ = try await client.produce(
                KafkaRecord(topic: config.topic, partition: 0, value: values.value(ofRecord: 0)), options: option)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let recorder = BenchLatencyRecorder.Shared()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<config.concurrency {
                // A caller's records go to partitions caller, caller + C, ...: its first one picks the loop.
                let executor = config.onEventLoop
                    ? try await client.producerTaskExecutor(
                        topic: config.topic, partition: Int32(caller % partitions), options: options[caller % options.count])
                    : nil
                group.addTask(executorPreference: executor) {
                    var i = caller
                    while i < config.records {
                        let record = KafkaRecord(
                            topic: config.topic, partition: Int32(i % partitions), value: values.value(ofRecord: i))
                        let sent = clock.now
                        _ = try await client.produce(record, options: options[i % options.count])
                        recorder.record(clock.now - sent)
                        progress.add(records: 1, bytes: config.recordSize)
                        i += config.concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        let latency = recorder.snapshot
        let elapsed = clock.now - start
        return BenchMeasurement(
            records: config.records, bytes: config.records * config.recordSize, elapsed: elapsed,
            partitions: partitions, latency: latency)
    }

    /// Read `records` records from offset 0 of every partition of the topic (no consumer group), 1 MiB per
    /// partition (librdkafka's max.partition.fetch.bytes), until N records have arrived.
    ///
    /// The partitions are split into groups of as many as one Fetch request carries (the fetcher's
    /// maxBytesPerRequest over 1 MiB: 4 with the default 5,000,000), each read by its own loop of
    /// `fetchPartitions` calls, concurrently: each response is handled as soon as it arrives and released
    /// before the loop asks for more, as librdkafka hands out each fetch response while its other fetches are in
    /// flight, instead of waiting for every response of a round and holding them all. Batches are decompressed
    /// lazily (``KafkaFetchDecompression/lazy``), one at a time as the loop reaches them, as librdkafka and
    /// Java's consumer do (docs/benchmarks/consumer.md, Session 6).
    static func consume(
        _ config: BenchConfiguration, client: KafkaClient, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        let topic = try await client.describeTopic(config.topic)
        let partitions = Int(topic.partitionCount)
        guard partitions > 0 else {
            throw BenchWorkloadError(kind: .failed, description: "klife bench: topic \(config.topic) has no partitions")
        }
        let partitionMaxBytes = 1 << 20
        let options = KafkaFetchOptions(maxBytes: partitionMaxBytes, decompression: .lazy)
        let fetcher = client.configuration.fetcher(named: client.configuration.defaultFetcher)
        let perRequest = max(1, (fetcher?.maxBytesPerRequest ?? partitionMaxBytes) / partitionMaxBytes)
        let groups = stride(from: 0, to: partitions, by: perRequest).map { first in
            (first..<min(partitions, first + perRequest)).map {
                KafkaFetchPosition(topic: config.topic, partition: Int32($0), offset: 0)
            }
        }
        let counter = BenchConsumeCounter(target: config.records)
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for positions in groups {
                group.addTask {
                    try await consumeLoop(positions, options: options, client: client, counter: counter, progress: progress, config: config)
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        let (records, bytes) = counter.totals
        return BenchMeasurement(records: records, bytes: bytes, elapsed: elapsed, partitions: partitions, latency: nil)
    }

    /// One group's fetch loop of ``consume(_:client:progress:)``: runs until the counter has its N records.
    ///
    /// The next fetch goes out as soon as a response is in (its offsets are known before its records are
    /// read), so reading one response overlaps the broker's preparing the next, as a consumer's prefetch does.
    /// It is not sent when the response in hand holds every record still wanted.
    private static func consumeLoop(
        _ start: [KafkaFetchPosition], options: KafkaFetchOptions, client: KafkaClient, counter: BenchConsumeCounter,
        progress: BenchProgress, config: BenchConfiguration
    ) async throws {
        var positions = start
        let clock = ContinuousClock()
        var lastProgress = clock.now
        var lastTotal = 0
        var results = await client.fetchPartitions(positions, options: options)
        while true {
            var next: [KafkaFetchPosition] = []
            next.reserveCapacity(positions.count)
            var fetchedPartitions: [KafkaFetchedPartition] = []
            fetchedPartitions.reserveCapacity(positions.count)
            var incoming = 0
            for position in positions {
                guard let result = results[position] else {
                    next.append(position)
                    continue
                }
                let fetched = try result.get()
                for batch in fetched.batches { incoming += batch.recordCount }
                fetchedPartitions.append(fetched)
                next.append(KafkaFetchPosition(topic: position.topic, partition: position.partition, offset: fetched.nextOffset))
            }
            results = [:]
            let wantsMore = counter.remaining > incoming
            let nextPositions = next
            async let prefetched = wantsMore ? client.fetchPartitions(nextPositions, options: options) : nil
            for fetched in fetchedPartitions {
                for batch in fetched.batches {
                    // One batch decompressed at a time; its records (and decompressed bytes) are freed before
                    // the next. Each record's value length is read in place (as the librdkafka harness reads
                    // m->len), without copying the record out of the array.
                    let batchRecords = try batch.records()
                    let taken = counter.claim(batchRecords.count)
                    guard taken > 0 else { break }
                    var size = 0
                    for index in 0..<taken {
                        size += batchRecords[index].value?.readableBytes ?? 0
                    }
                    counter.add(bytes: size)
                    progress.add(records: taken, bytes: size)
                }
            }
            fetchedPartitions = []  // drops this response before waiting for the next, so its buffer can be reused
            positions = next
            let total = progress.records
            if total != lastTotal {
                lastTotal = total
                lastProgress = clock.now
            } else if !counter.isDone && clock.now - lastProgress > .seconds(config.timeoutSeconds) {
                throw BenchWorkloadError(
                    kind: .timedOut,
                    description: "klife bench: consumed \(total) of \(config.records) records, nothing new for \(Int(config.timeoutSeconds)) s")
            }
            if let following = await prefetched {
                results = following
            } else if counter.isDone {
                return
            } else {
                results = await client.fetchPartitions(positions, options: options)
            }
        }
    }
}

/// The records and bytes the consume loops of ``BenchWorkloads/consume(_:client:progress:)`` have taken, shared
/// by the loops so that together they take exactly N records.
final class BenchConsumeCounter: Sendable {
    let target: Int
    private let state = Mutex<(records: Int, bytes: Int)>((0, 0))

    init(target: Int) { self.target = target }

    /// Takes up to `available` records of the ones still wanted; returns how many were taken.
    func claim(_ available: Int) -> Int {
        state.withLock { state in
            let taken = min(available, target - state.records)
            state.records += taken
            return taken
        }
    }

    func add(bytes: Int) { state.withLock { $0.bytes += bytes } }

    var isDone: Bool { state.withLock { $0.records >= target } }
    /// Records still wanted.
    var remaining: Int { state.withLock { max(0, target - $0.records) } }
    var totals: (records: Int, bytes: Int) { state.withLock { ($0.records, $0.bytes) } }
}
