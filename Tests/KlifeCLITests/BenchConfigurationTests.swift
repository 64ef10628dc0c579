import Testing

@testable import klife

@Suite struct BenchConfigurationTests {
    static func make(
        _ workload: BenchWorkloadKind = .produce, records: Int = 10, recordSize: Int = 100, partitions: Int? = nil,
        compression: String = "none", acks: String = "all", idempotence: String = "on", producers: Int = 1,
        concurrency: Int = 1, sync: Bool = false, linger: Double? = nil, batchSize: Int? = nil, maxInFlight: Int? = nil,
        maxBuffered: Int? = nil, maxBufferedRecords: Int? = nil, recordsPerCall: Int = 1, onEventLoop: Bool = false
    ) throws(BenchOptionError) -> BenchConfiguration {
        try BenchConfiguration(
            workload: workload, bootstrap: "127.0.0.1:9092", topic: "t", records: records, recordSize: recordSize,
            partitions: partitions, compression: compression, acks: acks, idempotence: idempotence,
            producers: producers, concurrency: concurrency, sync: sync, timeoutSeconds: 60,
            lingerMilliseconds: linger, batchSizeBytes: batchSize, maxInFlightRequests: maxInFlight,
            maxBufferedMegabytes: maxBuffered, maxBufferedRecords: maxBufferedRecords, recordsPerCall: recordsPerCall,
            onEventLoop: onEventLoop
        )
    }

    @Test func recordsPerCallIsForAsyncProduceOnly() throws {
        #expect(try Self.make(recordsPerCall: 1000).recordsPerCall == 1000)
        #expect(throws: BenchOptionError.self) { () throws(BenchOptionError) in try Self.make(recordsPerCall: 0) }
        #expect(throws: BenchOptionError.self) { () throws(BenchOptionError) in try Self.make(sync: true, recordsPerCall: 10) }
        #expect(throws: BenchOptionError.self) { () throws(BenchOptionError) in try Self.make(.consume, recordsPerCall: 10) }
    }

    @Test func normalises() throws {
        let c = try Self.make(compression: "LZ4", acks: "-1", idempotence: "true")
        #expect(c.compression == "lz4")
        #expect(c.acks == "all")
        #expect(c.idempotence)
        #expect(c.mode == "produce")
        #expect(!c.measuresLatency)
    }

    @Test func onEventLoopIsForSyncProduce() throws {
        #expect(try Self.make(sync: true, onEventLoop: true).onEventLoop)
        #expect(try !Self.make(sync: true).onEventLoop)
    }

    @Test func modes() throws {
        #expect(try Self.make(sync: true).mode == "latency")
        #expect(try Self.make(sync: true).measuresLatency)
        #expect(try Self.make(.consume).mode == "consume")
        #expect(try Self.make(.roundtrip).mode == "roundtrip")
        #expect(try Self.make(.roundtrip).measuresLatency)
    }

    @Test func rejectsBadValuesNamingTheOption() {
        let cases: [(String, () throws(BenchOptionError) -> BenchConfiguration)] = [
            ("--records", { () throws(BenchOptionError) in try Self.make(records: 0) }),
            ("--record-size", { () throws(BenchOptionError) in try Self.make(recordSize: -1) }),
            ("--record-size", { () throws(BenchOptionError) in try Self.make(.roundtrip, recordSize: 4) }),
            ("--partitions", { () throws(BenchOptionError) in try Self.make(partitions: 0) }),
            ("--compression", { () throws(BenchOptionError) in try Self.make(compression: "brotli") }),
            ("--acks", { () throws(BenchOptionError) in try Self.make(acks: "2") }),
            ("--idempotence", { () throws(BenchOptionError) in try Self.make(idempotence: "maybe") }),
            ("--idempotence", { () throws(BenchOptionError) in try Self.make(acks: "1") }),
            ("--producers", { () throws(BenchOptionError) in try Self.make(producers: 0) }),
            ("--concurrency", { () throws(BenchOptionError) in try Self.make(concurrency: 0) }),
            ("--sync", { () throws(BenchOptionError) in try Self.make(.consume, sync: true) }),
            ("--on-event-loop", { () throws(BenchOptionError) in try Self.make(onEventLoop: true) }),
            ("--on-event-loop", { () throws(BenchOptionError) in try Self.make(.roundtrip, onEventLoop: true) }),
            ("--linger-ms", { () throws(BenchOptionError) in try Self.make(linger: -1) }),
            ("--batch-size", { () throws(BenchOptionError) in try Self.make(batchSize: 0) }),
            ("--max-in-flight", { () throws(BenchOptionError) in try Self.make(maxInFlight: 6) }),
            ("--max-buffered-mb", { () throws(BenchOptionError) in try Self.make(maxBuffered: 0) }),
            ("--max-buffered-records", { () throws(BenchOptionError) in try Self.make(maxBufferedRecords: 0) }),
        ]
        for (option, make) in cases {
            do {
                _ = try make()
                Issue.record("expected an error naming \(option)")
            } catch {
                #expect(error.description.contains(option), "\(error.description)")
            }
        }
    }

    @Test func producerTuning() throws {
        let c = try Self.make(linger: 5, batchSize: 1_000_000, maxInFlight: 5)
        #expect(c.lingerMilliseconds == 5)
        #expect(c.batchSizeBytes == 1_000_000)
        #expect(c.maxInFlightRequests == 5)
        #expect(try Self.make(acks: "1", idempotence: "off", maxInFlight: 10).maxInFlightRequests == 10)
    }

    @Test func acksOneWithoutIdempotence() throws {
        let c = try Self.make(acks: "1", idempotence: "off")
        #expect(c.acks == "1")
        #expect(!c.idempotence)
    }
}
