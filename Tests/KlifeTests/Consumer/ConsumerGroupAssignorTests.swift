import Testing
@testable import Klife

@Suite struct ConsumerGroupAssignorTests {
    typealias TP = KafkaTopicPartition

    static func parts(_ r: [String: ConsumerGroupAssignment], _ member: String) -> [String] {
        (r[member]?.partitions ?? []).map(\.description)
    }

    @Test func rangeGivesConsecutiveRangesPerTopicWithTheRemainderFirst() {
        let members = [
            ConsumerGroupMember(memberID: "c", topics: ["t0", "t1"]),
            ConsumerGroupMember(memberID: "a", topics: ["t0", "t1"]),
        ]
        let r = RangeAssignor().assign(members: members, partitionCounts: ["t0": 3, "t1": 3])
        #expect(Self.parts(r, "a") == ["t0/0", "t0/1", "t1/0", "t1/1"])
        #expect(Self.parts(r, "c") == ["t0/2", "t1/2"])
    }

    @Test func rangeOnlyDealsATopicToItsSubscribers() {
        let members = [
            ConsumerGroupMember(memberID: "a", topics: ["t0"]),
            ConsumerGroupMember(memberID: "b", topics: ["t0", "t1"]),
        ]
        let r = RangeAssignor().assign(members: members, partitionCounts: ["t0": 2, "t1": 2, "other": 5])
        #expect(Self.parts(r, "a") == ["t0/0"])
        #expect(Self.parts(r, "b") == ["t0/1", "t1/0", "t1/1"])
    }

    @Test func rangeOrdersStaticMembersByInstanceID() {
        let members = [
            ConsumerGroupMember(memberID: "a", instanceID: "z", topics: ["t"]),
            ConsumerGroupMember(memberID: "b", instanceID: "y", topics: ["t"]),
        ]
        let r = RangeAssignor().assign(members: members, partitionCounts: ["t": 2])
        #expect(Self.parts(r, "b") == ["t/0"])
        #expect(Self.parts(r, "a") == ["t/1"])
    }

    @Test func roundRobinDealsAllPartitionsInTurn() {
        let members = [ConsumerGroupMember(memberID: "b", topics: ["t0", "t1"]), ConsumerGroupMember(memberID: "a", topics: ["t0", "t1"])]
        let r = RoundRobinAssignor().assign(members: members, partitionCounts: ["t0": 3, "t1": 2])
        #expect(Self.parts(r, "a") == ["t0/0", "t0/2", "t1/1"])
        #expect(Self.parts(r, "b") == ["t0/1", "t1/0"])
    }

    @Test func roundRobinSkipsUnsubscribedMembers() {
        let members = [
            ConsumerGroupMember(memberID: "a", topics: ["t0"]),
            ConsumerGroupMember(memberID: "b", topics: ["t0", "t1"]),
            ConsumerGroupMember(memberID: "c", topics: ["t0"]),
        ]
        let r = RoundRobinAssignor().assign(members: members, partitionCounts: ["t0": 3, "t1": 2])
        #expect(Self.parts(r, "a") == ["t0/0"])
        #expect(Self.parts(r, "b") == ["t0/1", "t1/0", "t1/1"])
        #expect(Self.parts(r, "c") == ["t0/2"])
    }

    @Test func everyMemberAppearsEvenWithNothing() {
        let members = (0..<3).map { ConsumerGroupMember(memberID: "m\($0)", topics: ["t"]) }
        for assignor in [RangeAssignor() as any ConsumerGroupAssignor, RoundRobinAssignor(), CooperativeStickyAssignor()] {
            let r = assignor.assign(members: members, partitionCounts: ["t": 1])
            #expect(r.count == 3, "\(assignor.name)")
            #expect(r.values.map(\.partitions.count).sorted() == [0, 0, 1], "\(assignor.name)")
        }
    }

    @Test func stickyFirstAssignmentIsBalanced() {
        let members = (0..<3).map { ConsumerGroupMember(memberID: "m\($0)", topics: ["t"]) }
        let r = CooperativeStickyAssignor().assign(members: members, partitionCounts: ["t": 7])
        #expect(r.values.map(\.partitions.count).sorted() == [2, 2, 3])
        #expect(Set(r.values.flatMap(\.partitions)).count == 7)
    }

    @Test func stickyNewMemberOnlyTakesWhatMustMoveAndMovedPartitionsAreWithheldOneRound() {
        // a owns 0,1,2; b owns 3,4,5; c joins. Each should end with 2; one partition from a and one from b move
        // to c, but cooperatively: this round c gets nothing that someone else still owns.
        let a = ConsumerGroupMember(memberID: "a", topics: ["t"], ownedPartitions: [TP("t", 0), TP("t", 1), TP("t", 2)], generation: 4)
        let b = ConsumerGroupMember(memberID: "b", topics: ["t"], ownedPartitions: [TP("t", 3), TP("t", 4), TP("t", 5)], generation: 4)
        let c = ConsumerGroupMember(memberID: "c", topics: ["t"])
        let first = CooperativeStickyAssignor().assign(members: [a, b, c], partitionCounts: ["t": 6])
        #expect(Self.parts(first, "a") == ["t/0", "t/1"])
        #expect(Self.parts(first, "b") == ["t/3", "t/4"])
        #expect(Self.parts(first, "c") == [])
        // a and b revoke t/2 and t/5, rejoin with what they kept; now c gets the two free partitions.
        let a2 = ConsumerGroupMember(memberID: "a", topics: ["t"], ownedPartitions: [TP("t", 0), TP("t", 1)], generation: 5)
        let b2 = ConsumerGroupMember(memberID: "b", topics: ["t"], ownedPartitions: [TP("t", 3), TP("t", 4)], generation: 5)
        let second = CooperativeStickyAssignor().assign(members: [a2, b2, c], partitionCounts: ["t": 6])
        #expect(Self.parts(second, "a") == ["t/0", "t/1"])
        #expect(Self.parts(second, "b") == ["t/3", "t/4"])
        #expect(Self.parts(second, "c") == ["t/2", "t/5"])
    }

    @Test func stickyMemberLeavingHandsItsPartitionsOverAtOnce() {
        // c left: its partitions have no owner among the members, so they move immediately.
        let a = ConsumerGroupMember(memberID: "a", topics: ["t"], ownedPartitions: [TP("t", 0), TP("t", 1)], generation: 2)
        let b = ConsumerGroupMember(memberID: "b", topics: ["t"], ownedPartitions: [TP("t", 2), TP("t", 3)], generation: 2)
        let r = CooperativeStickyAssignor().assign(members: [a, b], partitionCounts: ["t": 6])
        #expect(Set(Self.parts(r, "a")).isSuperset(of: ["t/0", "t/1"]))
        #expect(Set(Self.parts(r, "b")).isSuperset(of: ["t/2", "t/3"]))
        #expect(r["a"]!.partitions.count == 3 && r["b"]!.partitions.count == 3)
    }

    @Test func stickyConflictingClaimsGoToTheNewestGeneration() {
        // A zombie (old generation) still claims t/0; the member of the newer generation keeps it.
        let old = ConsumerGroupMember(memberID: "old", topics: ["t"], ownedPartitions: [TP("t", 0)], generation: 1)
        let new = ConsumerGroupMember(memberID: "new", topics: ["t"], ownedPartitions: [TP("t", 0)], generation: 3)
        let r = CooperativeStickyAssignor().assign(members: [old, new], partitionCounts: ["t": 2])
        #expect(Self.parts(r, "new") == ["t/0"])
        #expect(Self.parts(r, "old") == ["t/1"])
    }
}
