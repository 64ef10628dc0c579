import Foundation
import Testing

@testable import Klife

extension FaultInjectionTests {
    /// A classic member's lookup of where its new partitions start repeats while the coordinator answers
    /// UNSTABLE_OFFSET_COMMIT (an open transaction's offset commit, KIP-447). When a heartbeat meanwhile
    /// answers REBALANCE_IN_PROGRESS, the member must rejoin at once rather than finish the lookup first:
    /// the group's rebalance would otherwise wait for it as long as the transaction stays open (up to the
    /// rebalance timeout). The heartbeats go on through a lost connection.
    ///
    /// The rebalance is announced by an injected Heartbeat answer: a second member joining would be the
    /// natural trigger, but the mock cluster answers a follower's SyncGroup that arrives after the leader's
    /// with INVALID_REQUEST (Kafka answers it with the assignment), which makes such a test a race.
    @Test("A classic member whose start-offset lookup repeats (UNSTABLE_OFFSET_COMMIT) heartbeats on through a lost connection and rejoins when a heartbeat reports a rebalance, then reads everything once")
    func repeatingStartLookupLetsARebalanceThrough() async throws {
        try await Self.withTopic(records: 6) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            let group = TestBrokers.uniqueName("g")
            // About 20 s of OffsetFetch answers of UNSTABLE_OFFSET_COMMIT at the member's 500 ms retries.
            try await cluster.pushErrors(apiKey: 9, codes: Array(repeating: 88, count: 40))
            let (member, seen) = try Self.startClassicMember(client, group: group, topic: topic, offsetResetPolicy: .earliest)
            try await ClientTestSupport.eventuallyOrFail("the member joined and looks up where its partition starts", timeout: .seconds(15)) {
                member.runner.partitions.groupMetadata.generationID >= 0
            }
            let first = member.runner.partitions.groupMetadata.generationID
            // The coordinator cuts the connection of the next Heartbeat (-195: the mock closes it instead of
            // answering); the one after, on a fresh connection, learns that a rebalance has begun.
            try await cluster.pushErrors(apiKey: 12, codes: [-195, 27])
            let reported = ContinuousClock.now
            // The mock cluster completes a rebalance of a stable group after session timeout - 1 s (5 s here)
            // even when every member rejoined at once; the lookup's errors last 20 s.
            try await ClientTestSupport.eventuallyOrFail("the member rejoined while the lookup still repeated", timeout: .seconds(12)) {
                member.runner.partitions.groupMetadata.generationID > first
            }
            print("rejoined \(ContinuousClock.now - reported) after the rebalance was reported")
            #expect(seen.withLock { $0 }.isEmpty, "read before its start offset was known: \(seen.withLock { $0 })")
            try await ClientTestSupport.eventuallyOrFail("the member read all 6 records once the lookup succeeded", timeout: .seconds(45)) {
                seen.withLock { $0 }.count >= 6
            }
            #expect(seen.withLock { $0 } == (0..<6).map { "r-\($0)" })
            #expect(member.assignedPartitions == [KafkaTopicPartition(topic, 0)])
            #expect(member.failure == nil)
            await member.stop()
        }
    }
}
