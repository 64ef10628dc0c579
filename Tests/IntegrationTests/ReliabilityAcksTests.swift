import Klife
import Testing

/// What each acks setting promises (docs/GUARANTEES.md), against Tansu: acks=all and acks=1 report the offset
/// every record got and the log holds exactly those records in produce order; acks=0 reports no offsets and
/// promises nothing, yet on a healthy broker the records arrive.
@Suite("Delivery per acks setting")
struct ReliabilityAcksTests {
    static func producer(_ acks: KafkaProducerConfiguration.Acks) -> KafkaProducerConfiguration {
        KafkaProducerConfiguration(
            name: "acks-\(acks.rawValue)", acks: acks, linger: .milliseconds(5), maxInFlightRequests: acks == .all ? 5 : 1,
            enableIdempotence: acks == .all)
    }

    @Test("acks all/1 report the offsets the log holds, in order; acks 0 reports none", arguments: [
        KafkaProducerConfiguration.Acks.all, .leader, .none,
    ])
    func acknowledgedMeansInTheLog(_ acks: KafkaProducerConfiguration.Acks) async throws {
        let topic = TestBrokers.uniqueName("acks")
        var configuration = try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap)
        configuration.producers = [Self.producer(acks)]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            try await client.createTopics([.init(name: topic, partitions: 2)])
            _ = try await client.refreshMetadata()
            let records = (0..<200).map { KafkaRecord(topic: topic, partition: Int32($0 % 2), value: "v-\($0)") }
            let results = await client.produceBatch(records, options: .init(producer: "acks-\(acks.rawValue)"))
            let produced = results.compactMap { try? $0.get() }
            #expect(produced.count == records.count, "failures: \(results.filter { (try? $0.get()) == nil })")
            for partition: Int32 in 0..<2 {
                let mine = produced.filter { $0.partition == partition }
                let log = try await ClientTestSupport.eventuallyValue {
                    let fetched = try await client.fetch(topic: topic, partition: partition, offset: 0)
                    return fetched.count >= 100 ? fetched : nil
                }
                let fetched = try #require(log, "partition \(partition) did not receive its 100 records")
                // Exactly the records produced to the partition, once each, in produce order.
                #expect(fetched.map(\.valueString) == mine.map(\.valueString))
                if acks == .none {
                    #expect(mine.allSatisfy { $0.offset == nil }, "acks=0 cannot know offsets")
                } else {
                    // The reported offsets are where the records are.
                    #expect(mine.map(\.offset) == fetched.map(\.offset))
                    #expect(mine.map(\.offset) == (0..<100).map { Int64?($0) })
                }
            }
        }
    }
}
