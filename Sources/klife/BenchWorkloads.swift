/// The workloads `klife bench` runs against a broker. Each one connects, waits for the topic's metadata,
/// then runs the clock over the work itself and reports into `progress` as records complete.
///
/// STUBBED: the producer (`produce`, `produceBatch`, `produceAsync`) and fetch APIs of `KafkaClient` are
/// not on main yet, so every workload throws ``BenchWorkloadError/notWired(_:)`` (exit status 3).
enum BenchWorkloads {
    /// Produce `records` values as fast as possible: record i to partition i % P, `concurrency` tasks
    /// calling the asynchronous produce, waiting for every acknowledgement.
    static func produce(
        _ config: BenchConfiguration, payload: BenchPayload, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        throw BenchWorkloadError.notWired("produce (KafkaClient.produceAsync)")
    }

    /// `concurrency` callers each produce one record and wait for its acknowledgement before the next
    /// (one warm-up record first, outside the clock); latency per record.
    static func syncProduce(
        _ config: BenchConfiguration, payload: BenchPayload, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        throw BenchWorkloadError.notWired("synchronous produce (KafkaClient.produce)")
    }

    /// Read `records` records from offset 0 of every partition of the topic (no consumer group).
    static func consume(
        _ config: BenchConfiguration, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        throw BenchWorkloadError.notWired("consume (KafkaClient.fetch)")
    }

    /// Produce and consume concurrently; each value starts with the send time, latency is send → fetched.
    static func roundtrip(
        _ config: BenchConfiguration, payload: BenchPayload, progress: BenchProgress
    ) async throws -> BenchMeasurement {
        throw BenchWorkloadError.notWired("roundtrip (KafkaClient.produceAsync and fetch)")
    }
}
