import Klife
import Synchronization
import Testing

/// `KafkaConsumerGroup.seek(_:to:)` against Tansu.
@Suite struct ConsumerGroupSeekTests {
    /// Rewinding a partition whose records were all handled delivers them again from the new offset, and the
    /// group's committed offset moves with the reading.
    @Test func aRewindDeliversTheRecordsAgain() async throws {
        let fixture = try await GroupTopicFixture("group-seek")
        let (bootstrap, topic, group, partition) = (fixture.bootstrap, fixture.topic, fixture.group, fixture.partition)
        let seen = ConsumerGroupTests.Seen()
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { batch in
                seen.add(batch)
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the 5 records arrived") { seen.count >= 5 }
            try member.seek(partition, to: 2)
            try await ConsumerGroupTests.waitUntil("records 2 to 4 came again") { seen.count >= 8 }
            #expect(Array(seen.all.suffix(3)) == ["0:2:r2", "0:3:r3", "0:4:r4"], "\(seen.all)")

            let unassigned = KafkaTopicPartition(topic: topic, partition: 7)
            let notAssigned = #expect(throws: KafkaError.self) { try member.seek(unassigned, to: 0) }
            #expect(notAssigned?.code == .invalidArgument)
            #expect(notAssigned?.message.contains("not assigned") == true)
            let negative = #expect(throws: KafkaError.self) { try member.seek(partition, to: -1) }
            #expect(negative?.code == .invalidArgument)
            await member.stop()
        }
        #expect(seen.count == 8, "\(seen.all)")
        try await FetchTests.withClient(bootstrap) { client in
            let committed = try await client.committedOffsets(group: group, partitions: [partition])
            #expect(committed[partition]?.offset == 5, "\(committed)")
        }
    }

    /// A rewind followed at once by a stop is committed by the stop: the next member starts at the rewound
    /// offset, although the committed offset was past it.
    @Test func aRewindIsCommittedWhenTheMemberStops() async throws {
        let fixture = try await GroupTopicFixture("group-seek-stop")
        let (bootstrap, topic, group, partition) = (fixture.bootstrap, fixture.topic, fixture.group, fixture.partition)
        try await FetchTests.withClient(bootstrap) { client in
            let seen = ConsumerGroupTests.Seen()
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { batch in
                seen.add(batch)
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the 5 records arrived") { seen.count >= 5 }
            try await fixture.waitForCommittedOffset(5, client: client)
            try member.seek(partition, to: 1)
            await member.stop()
            let committed = try await client.committedOffsets(group: group, partitions: [partition])
            #expect(committed[partition]?.offset == 1, "\(committed)")
        }
    }

    /// A handler that chooses where a newly assigned partition starts, from `partitionStarted`.
    final class StartAtOffset: KafkaConsumerGroupHandler {
        let offset: Int64
        let member = Mutex<KafkaConsumerGroup?>(nil)
        let seen = ConsumerGroupTests.Seen()
        init(offset: Int64) { self.offset = offset }

        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            seen.add(batch)
            return .commit
        }

        func partitionStarted(_ partition: KafkaTopicPartition) async {
            // The member is set right after startConsumerGroup returns; the first assignment comes later.
            let deadline = ContinuousClock.now + .seconds(30)
            while member.withLock({ $0 }) == nil {
                guard ContinuousClock.now < deadline else { Issue.record("the member was never set"); return }
                await Task.yield()
            }
            do { try member.withLock { $0 }?.seek(partition, to: offset) } catch { Issue.record("seek failed: \(error)") }
        }
    }

    /// A seek from `partitionStarted` decides where the partition starts: the records before it are never
    /// delivered, and the start is committed.
    @Test func aSeekWhenThePartitionStartsChoosesWhereItStarts() async throws {
        let fixture = try await GroupTopicFixture("group-seek-start")
        let (bootstrap, topic, group) = (fixture.bootstrap, fixture.topic, fixture.group)
        let handler = StartAtOffset(offset: 3)
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic), handler: handler)
            handler.member.withLock { $0 = member }
            try await ConsumerGroupTests.waitUntil("records 3 and 4 arrived") { handler.seen.count >= 2 }
            try await fixture.waitForCommittedOffset(5, client: client)
            await member.stop()
        }
        #expect(handler.seen.all == ["0:3:r3", "0:4:r4"])
    }
}
