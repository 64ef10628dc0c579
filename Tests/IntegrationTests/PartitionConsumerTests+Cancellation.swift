import Foundation
import Logging
import Testing

@testable import Klife

extension PartitionConsumerTests {
    /// Cancelling the iterating task ends the iteration at once, not after the fetch the broker holds (a
    /// 10 s long poll here: nothing is past the position); the next iteration goes on from the same position.
    @Test func aCancelledIterationDoesNotWaitOutALongPoll() async throws {
        let fixture = try await GroupTopicFixture("partition-consumer-cancel", records: 3)
        let longPoll = KafkaFetcherConfiguration(name: "long-poll", maxWait: .seconds(10), minBytes: 1)
        var configuration = try FetchTests.configuration(fixture.bootstrap)
        configuration.fetchers = [longPoll]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: Logger(label: "klife-test")) { client in
            let consumer = try client.partitionConsumer(
                [KafkaFetchPosition(topic: fixture.topic, partition: 0, offset: 3)], options: KafkaFetchOptions(fetcher: longPoll.name))
            let reader = Task { () -> Int in
                var batches = 0
                for try await _ in consumer { batches += 1 }
                return batches
            }
            let leader = try await ClientTestSupport.eventuallyValue(timeout: .seconds(15)) {
                client.clusterMetadata.leader(of: fixture.partition)?.nodeID
            }
            let connection = try await client.cluster.connection(toBroker: try #require(leader))
            try await ClientTestSupport.eventuallyOrFail("the broker holds the consumer's fetch", timeout: .seconds(15)) {
                connection.fetchesInFlight.load(ordering: .relaxed) == 1
            }
            let cancelledAt = ContinuousClock.now
            reader.cancel()
            #expect(try await reader.value == 0)
            #expect(ContinuousClock.now - cancelledAt < .seconds(3), "the iteration ended \(ContinuousClock.now - cancelledAt) after the cancellation")
            // A new iteration reads on from offset 3.
            _ = try await client.produce(KafkaRecord(topic: fixture.topic, partition: 0, value: "r3"))
            var iterator = consumer.makeAsyncIterator()
            let next = try #require(try await iterator.next())
            #expect(next.records.first?.offset == 3)
        }
    }
}
