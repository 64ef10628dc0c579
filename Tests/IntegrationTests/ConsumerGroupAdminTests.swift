import Klife
import Testing

/// Group administration against Tansu: `describeConsumerGroups`, `alterConsumerGroupOffsets` and
/// `committedOffsets(group:)` (every partition).
@Suite struct ConsumerGroupAdminTests {
    /// A live member is described with its partitions; once it is gone the group is empty, its offsets can be
    /// rewound, and the next member starts from the rewound offset.
    @Test func describeAMemberThenRewindTheEmptyGroup() async throws {
        let fixture = try await GroupTopicFixture("group-admin", partitions: 2)
        let (bootstrap, topic, group) = (fixture.bootstrap, fixture.topic, fixture.group)
        let partitions = [KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1)]

        try await FetchTests.withClient(bootstrap) { client in
            let seen = ConsumerGroupTests.Seen()
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { batch in
                seen.add(batch)
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the 5 records arrived") { seen.count >= 5 }
            let described = try await client.describeConsumerGroup(group)
            #expect(described.groupID == group)
            #expect(described.state == "Stable", "\(described)")
            #expect(described.groupProtocol == .classic)
            #expect(described.protocolType == "consumer")
            // Tansu describes a member by its id only (no client id, host, assignor or assignment): the rest of
            // the mapping is checked by ConsumerGroupDescriptionTests.
            #expect(described.members.count == 1, "\(described)")
            #expect(described.members.first?.memberID.isEmpty == false)

            // The member's own commits show up among all of the group's offsets; committing over a live member
            // is refused.
            try await fixture.waitForCommittedOffset(5, client: client)
            let refused = try await client.alterConsumerGroupOffsets(group: group, offsets: [partitions[0]: KafkaCommittedOffset(offset: 2)])
            #expect(refused[partitions[0]]??.kafkaCode == 25, "\(refused)")   // UNKNOWN_MEMBER_ID
            await member.stop()
        }

        try await FetchTests.withClient(bootstrap) { client in
            let empty = try await client.describeConsumerGroup(group)
            #expect(empty.state == "Empty", "\(empty)")
            #expect(empty.members.isEmpty)

            let altered = try await client.alterConsumerGroupOffsets(group: group, offsets: [partitions[0]: KafkaCommittedOffset(offset: 2)])
            #expect(altered.count == 1)
            #expect((altered[partitions[0]] ?? nil) == nil, "\(altered)")
            let committed = try await client.committedOffsets(group: group)
            #expect(committed[partitions[0]]?.offset == 2, "\(committed)")

            let seen = ConsumerGroupTests.Seen()
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { batch in
                seen.add(batch)
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the 3 records after the rewound offset arrived") { seen.count >= 3 }
            #expect(seen.all.sorted() == ["0:2:r2", "0:3:r3", "0:4:r4"])
            await member.stop()
        }
    }

    /// A group that never existed is described as dead, with nothing committed.
    @Test func aGroupThatNeverExisted() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        try await FetchTests.withClient(bootstrap) { client in
            let never = TestBrokers.uniqueName("g-never")
            let described = try await client.describeConsumerGroups([never])
            let description = try #require(try described[never]?.get())
            #expect(description.members.isEmpty)
            #expect(["Dead", "Empty"].contains(description.state), "\(description)")
            #expect(try await client.committedOffsets(group: never).isEmpty)
        }
    }
}
