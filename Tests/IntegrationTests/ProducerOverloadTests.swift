import Foundation
import Klife
import Testing

/// Issue 7's "bounded under sustained overload": a caller offers records far faster than a slow broker
/// takes them. `produceAsync` must hold the caller back once `maxBufferedBytes` is reached (backpressure,
/// not memory growth), the process's memory must stay flat, and every accepted record must still be
/// delivered once the overload stops.
@Suite("Producer under sustained overload", .serialized)
struct ProducerOverloadTests {
    static let recordSize = 1_024
    static let maxBufferedBytes = 4 << 20
    static let batchSizeBytes = 64 << 10
    // The mock keeps only the last 5 MB of each partition: spread the run over enough partitions that the
    // whole of it stays readable.
    static let partitions: Int32 = 8

    @Test("maxBufferedBytes bounds what is accepted but not yet acknowledged, RSS stays flat, nothing accepted is lost")
    func overloadIsBounded() async throws {
        let cluster = try await MockCluster.create(brokers: 1)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("overload")
        try await cluster.createTopic(topic, partitions: Int(Self.partitions))
        // Every response from the broker takes 300 ms: with one request in flight of at most 8 x 64 kB the
        // broker takes under 2 MB/s, while the caller offers as much as it can.
        try await cluster.setRTT(broker: -1, milliseconds: 300)

        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        configuration.producers = [
            KafkaProducerConfiguration(
                linger: .milliseconds(5), batchSizeBytes: Self.batchSizeBytes, deliveryTimeout: .seconds(120),
                maxInFlightRequests: 1, maxBufferedBytes: Self.maxBufferedBytes)
        ]
        let value = String(repeating: "x", count: Self.recordSize)
        let completed = LockedBox(0)
        let failures = LockedBox<[String]>([])
        let accepted = try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            var accepted = 0
            var worstOutstandingBytes = 0
            var rssAfterWarmUp: Int?
            _ = try await client.refreshMetadata()
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .seconds(8) {
                try await client.produceAsync(KafkaRecord(topic: topic, partition: Int32(accepted % Int(Self.partitions)), value: value)) { result in
                    if case .failure(let error) = result { failures.withLock { $0.append("\(error)") } }
                    completed.withLock { $0 += 1 }
                }
                accepted += 1
                let outstanding = (accepted - completed.withLock { $0 }) * Self.recordSize
                worstOutstandingBytes = max(worstOutstandingBytes, outstanding)
                if rssAfterWarmUp == nil, ContinuousClock.now - started > .seconds(2) {
                    rssAfterWarmUp = ProcessMemory.residentBytes()
                }
            }
            let rssAtEnd = ProcessMemory.residentBytes()
            try await cluster.setRTT(broker: -1, milliseconds: 0)
            await client.flush()

            // Records whose acknowledgement arrived but whose callbacks have not run yet count as outstanding
            // here: with one request in flight that is at most one batch per partition more than the bound.
            #expect(
                worstOutstandingBytes <= Self.maxBufferedBytes + Int(Self.partitions) * Self.batchSizeBytes,
                "\(worstOutstandingBytes) bytes accepted and not yet acknowledged (bound \(Self.maxBufferedBytes))")
            // The broker was the bottleneck: the caller really was held back (it offered far more than 8 s at
            // the broker's rate could take if it had not been).
            #expect(worstOutstandingBytes >= Self.maxBufferedBytes / 2, "the buffer never filled: \(worstOutstandingBytes) bytes")
            // Other suites run in this process at the same time, so the bound is loose; an unbounded buffer
            // grows by about 500 MB in these 8 s.
            if let before = rssAfterWarmUp, let after = rssAtEnd {
                #expect(after - before < 128 << 20, "RSS grew from \(before >> 20) MB to \(after >> 20) MB under overload")
            } else {
                Issue.record("no RSS reading (/proc/self/status)")
            }
            return accepted
        }
        #expect(completed.withLock { $0 } == accepted, "\(accepted) accepted, \(completed.withLock { $0 }) completed")
        #expect(failures.withLock { $0 }.isEmpty, "failed: \(failures.withLock { $0.prefix(3) })")
        // The log holds each accepted record once (read back with a second client from offset 0).
        let logCount = try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { reader in
            var count = 0
            let giveUp = ContinuousClock.now + .seconds(60)
            for partition in 0..<Self.partitions {
                let expected = accepted / Int(Self.partitions) + (Int(partition) < accepted % Int(Self.partitions) ? 1 : 0)
                var next: Int64 = 0
                var inPartition = 0
                // Read to the end of the partition (an empty fetch once every record sent there was counted).
                while ContinuousClock.now < giveUp {
                    let records = try await reader.fetch(
                        topic: topic, partition: partition, offset: next, options: KafkaFetchOptions(maxBytes: 4 << 20))
                    if records.isEmpty && inPartition >= expected { break }
                    inPartition += records.count
                    if let last = records.last?.offset { next = last + 1 }
                }
                count += inPartition
            }
            return count
        }
        #expect(logCount == accepted, "the log holds \(logCount) records, \(accepted) were accepted")
    }
}
