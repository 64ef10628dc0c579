import Foundation
import Klife
import Synchronization
import Testing

/// Classic-protocol consumer groups on Tansu.
@Suite("Consumer groups", .serialized)
struct ConsumerGroupTests {
    /// Collects what a handler saw.
    final class Seen: Sendable {
        let records = Mutex<[String]>([])
        func add(_ batch: KafkaConsumerBatch) {
            records.withLock { $0 += batch.records.map { "\(batch.partition):\($0.offset ?? -1):\($0.valueString ?? "")" } }
        }
        var count: Int { records.withLock { $0.count } }
        var all: [String] { records.withLock { $0 } }
    }

    static func groupConfiguration(_ group: String, _ topic: String) -> KafkaConsumerGroupConfiguration {
        KafkaConsumerGroupConfiguration(
            groupID: group, topics: [topic], sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(500),
            offsetResetPolicy: .earliest)
    }

    /// Waits until `condition` holds, failing after `timeout`.
    static func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("one member consumes everything, commits, and a restarted member resumes after the commit")
    func singleMemberCommitsAndResumes() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("group-one")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        for p: Int32 in 0..<2 {
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<5).map { (key: nil, value: "first-\(p)-\($0)") }, partition: p)
        }
        let first = Seen()
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.groupConfiguration(group, topic)) { batch in
                first.add(batch)
                return .commit
            }
            try await Self.waitUntil("10 records arrived") { first.count >= 10 }
            #expect(Set(member.assignedPartitions.map(\.partition)) == [0, 1])
            await member.stop()
        }
        #expect(first.count == 10)
        #expect(Set(first.all).count == 10)

        for p: Int32 in 0..<2 {
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "second-\(p)")], partition: p)
        }
        let second = Seen()
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.groupConfiguration(group, topic)) { batch in
                second.add(batch)
                return .commit
            }
            try await Self.waitUntil("2 new records arrived") { second.count >= 2 }
            await member.stop()
        }
        #expect(Set(second.all) == ["0:5:second-0", "1:5:second-1"])
    }

    @Test("a batch the handler retries (or throws on) is delivered again, not skipped")
    func retryRedelivers() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("group-retry")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "a"), (key: nil, value: "b")], partition: 0)
        struct Boom: Error {}
        let calls = Mutex<[Int]>([])
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.groupConfiguration(TestBrokers.uniqueName("g"), topic)) { batch in
                let n = calls.withLock { calls -> Int in
                    calls.append(batch.records.first?.consumerAttempts ?? -1)
                    return calls.count
                }
                if n == 1 { return .retry }
                if n == 2 { throw Boom() }
                return .commit
            }
            try await Self.waitUntil("the batch was committed on the third delivery") { calls.withLock { $0.count } >= 3 }
            await member.stop()
        }
        #expect(calls.withLock { $0 } == [0, 1, 2])
    }

    @Test(
        "two members split the partitions, and the survivor takes over when one leaves",
        arguments: [[KafkaConsumerGroupConfiguration.Assignor.range], [.roundRobin], [.cooperativeSticky]])
    func twoMembersSplitAndRebalance(assignors: [KafkaConsumerGroupConfiguration.Assignor]) async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("group-two")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 4)
        let seenA = Seen()
        let seenB = Seen()
        try await FetchTests.withClient(bootstrap) { clientA in
            try await FetchTests.withClient(bootstrap) { clientB in
                var configuration = Self.groupConfiguration(group, topic)
                configuration.assignors = assignors
                let a = try clientA.startConsumerGroup(configuration) { seenA.add($0); return .commit }
                try await Self.waitUntil("A owns all 4 partitions") { a.assignedPartitions.count == 4 }
                let b = try clientB.startConsumerGroup(configuration) { seenB.add($0); return .commit }
                try await Self.waitUntil("A and B own 2 partitions each", timeout: .seconds(45)) {
                    a.assignedPartitions.count == 2 && b.assignedPartitions.count == 2
                }
                #expect(Set(a.assignedPartitions).isDisjoint(with: b.assignedPartitions))
                for p: Int32 in 0..<4 {
                    try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "x\(p)")], partition: p)
                }
                try await Self.waitUntil("4 records arrived") { seenA.count + seenB.count >= 4 }
                #expect(seenA.count == 2 && seenB.count == 2)
                await b.stop()
                try await Self.waitUntil("A owns all 4 partitions again", timeout: .seconds(45)) { a.assignedPartitions.count == 4 }
                for p: Int32 in 0..<4 {
                    try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "y\(p)")], partition: p)
                }
                try await Self.waitUntil("A got the 4 new records") { seenA.all.filter { $0.hasSuffix(":y0") || $0.contains(":y") }.count >= 4 }
                await a.stop()
            }
        }
        // Every record exactly once across the two members.
        let all = seenA.all + seenB.all
        #expect(all.count == 8)
        #expect(Set(all).count == 8)
    }

    @Test("a stopped member's group can be started again in the same client, and a second member of a running group is refused")
    func restartInTheSameClient() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("group-restart")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "one")], partition: 0)
        let seen = Seen()
        try await FetchTests.withClient(bootstrap) { client in
            let first = try client.startConsumerGroup(Self.groupConfiguration(group, topic)) { seen.add($0); return .commit }
            #expect(throws: KafkaError.self) { try client.startConsumerGroup(Self.groupConfiguration(group, topic)) { _ in .commit } }
            try await Self.waitUntil("the first record arrived") { seen.count >= 1 }
            await first.stop()
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "two")], partition: 0)
            let second = try client.startConsumerGroup(Self.groupConfiguration(group, topic)) { seen.add($0); return .commit }
            try await Self.waitUntil("the second record arrived") { seen.count >= 2 }
            await second.stop()
        }
        #expect(seen.all == ["0:0:one", "0:1:two"])
    }
}
