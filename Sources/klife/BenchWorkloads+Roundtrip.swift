#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Klife
import NIOCore

extension BenchWorkloads {
    /// Nanoseconds on the system's monotonic clock: comparable across processes of one boot, so a record
    /// stamped by an earlier run is recognisably older than this run's start.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Produce and consume at the same time: every value starts with its send time (8 bytes, monotonic
    /// nanoseconds), a reader fetches from the log end of every partition and records send → fetched
    /// latency per record. Records stamped before the run started (an earlier run's tail, which Tansu's
    /// ListOffsets "latest" can include) are skipped.
    static func roundtrip(
        _ config: BenchConfiguration, client: KafkaClient, payload: BenchPayload, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        let partitions = try await partitionCount(client, config)
        let ends = try await client.listOffsets(topic: config.topic, partitions: (0..<partitions).map { Int32($0) }, at: .latest)
        let positions = (0..<partitions).map {
            KafkaFetchPosition(topic: config.topic, partition: Int32($0), offset: max(0, ends[Int32($0)]?.offset ?? 0))
        }
        let values = Values(payload)
        let failures = Failures()
        let options = producerNames(config).map { KafkaProduceOptions(producer: $0) }
        let runStart = monotonicNanoseconds()
        let clock = ContinuousClock()
        let start = clock.now

        let latency = try await withThrowingTaskGroup(of: BenchLatencyRecorder?.self) { group in
            group.addTask {
                try await readStamped(config, client: client, from: positions, runStart: runStart, progress: progress)
            }
            for caller in 0..<config.concurrency {
                group.addTask {
                    let allocator = ByteBufferAllocator()
                    var i = caller
                    while i < config.records {
                        let template = values.value(ofRecord: i)
                        var value = allocator.buffer(capacity: template.readableBytes)
                        value.writeInteger(monotonicNanoseconds())
                        value.writeImmutableBuffer(template.getSlice(at: template.readerIndex + 8, length: template.readableBytes - 8)!)
                        let record = KafkaRecord(topic: config.topic, partition: Int32(i % partitions), value: value)
                        try await client.produceAsync(record, options: options[i % options.count]) { result in
                            if case .failure(let error) = result { failures.record(error) }
                        }
                        i += config.concurrency
                    }
                    return nil
                }
            }
            var recorder: BenchLatencyRecorder?
            for try await result in group {
                if let result { recorder = result }
            }
            return recorder ?? BenchLatencyRecorder()
        }
        await client.flush()
        let elapsed = clock.now - start
        try failures.check()
        return BenchMeasurement(
            records: latency.count, bytes: latency.count * config.recordSize, elapsed: elapsed,
            partitions: partitions, latency: latency)
    }

    /// Fetches every partition from `positions` until `config.records` records stamped at or after
    /// `runStart` have arrived, recording each one's latency.
    private static func readStamped(
        _ config: BenchConfiguration, client: KafkaClient, from start: [KafkaFetchPosition], runStart: UInt64,
        progress: BenchProgress
    ) async throws -> BenchLatencyRecorder {
        var recorder = BenchLatencyRecorder()
        var positions = start
        let options = KafkaFetchOptions(maxBytes: 1 << 20)
        let clock = ContinuousClock()
        var lastProgress = clock.now
        var seen = 0
        while seen < config.records {
            try Task.checkCancellation()
            let results = await client.fetchPartitions(positions, options: options)
            let fetchedAt = monotonicNanoseconds()
            var next: [KafkaFetchPosition] = []
            next.reserveCapacity(positions.count)
            for position in positions {
                guard let result = results[position] else {
                    next.append(position)
                    continue
                }
                let fetched = try result.get()
                var count = 0
                for record in fetched.records {
                    guard let stamp = record.value?.getInteger(at: record.value!.readerIndex, as: UInt64.self),
                        stamp >= runStart
                    else { continue }
                    recorder.record(nanoseconds: fetchedAt > stamp ? fetchedAt - stamp : 1)
                    count += 1
                }
                if count > 0 {
                    seen += count
                    progress.add(records: count, bytes: count * config.recordSize)
                    lastProgress = clock.now
                }
                next.append(KafkaFetchPosition(topic: position.topic, partition: position.partition, offset: fetched.nextOffset))
            }
            positions = next
            if seen < config.records && clock.now - lastProgress > .seconds(config.timeoutSeconds) {
                throw BenchWorkloadError(
                    kind: .timedOut,
                    description: "klife bench: roundtrip read \(seen) of \(config.records) records, nothing new for \(Int(config.timeoutSeconds)) s")
            }
        }
        return recorder
    }
}
