import Klife
import Testing

/// `KafkaConsumerGroup.pause(_:)` and `resume(_:)` against Tansu.
@Suite struct ConsumerGroupPauseTests {
    /// A paused partition gets nothing new while the member keeps reading its other partition (fetched in the
    /// same requests, so the paused one's records would have come with them); resumed, it reads on from where
    /// it stopped, and the member kept both partitions throughout.
    @Test func aPausedPartitionIsNotReadUntilResumed() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("group-pause")
        let group = TestBrokers.uniqueName("g-pause")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        @Sendable func produce(_ round: String) async throws {
            for p: Int32 in 0..<2 {
                try await RdKafkaTool.produce(
                    bootstrap: bootstrap, topic: topic, records: (0..<3).map { (key: nil, value: "\(round)-\(p)-\($0)") }, partition: p)
            }
        }
        try await produce("first")
        let seen = ConsumerGroupTests.Seen()
        @Sendable func count(_ partition: Int32) -> Int { seen.all.filter { $0.hasPrefix("\(partition):") }.count }
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { batch in
                seen.add(batch)
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the first 6 records arrived") { seen.count >= 6 }
            let paused = KafkaTopicPartition(topic: topic, partition: 0)
            member.pause([paused])
            #expect(member.pausedPartitions == [paused])
            try await produce("second")
            try await ConsumerGroupTests.waitUntil("partition 1 got its second round") { count(1) >= 6 }
            #expect(count(0) == 3, "the paused partition was read: \(seen.all)")
            #expect(Set(member.assignedPartitions.map(\.partition)) == [0, 1])
            member.resume([paused])
            #expect(member.pausedPartitions.isEmpty)
            try await ConsumerGroupTests.waitUntil("partition 0 read on after the resume") { count(0) >= 6 }
            await member.stop()
        }
        #expect(Set(seen.all).count == 12)
        #expect(seen.all.filter { $0.hasPrefix("0:") } == (0..<3).map { "0:\($0):first-0-\($0)" } + (0..<3).map { "0:\($0 + 3):second-0-\($0)" })
    }
}
