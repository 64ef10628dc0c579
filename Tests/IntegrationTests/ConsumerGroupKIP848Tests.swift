import Foundation
import Klife
import Synchronization
import Testing

/// KIP-848 consumer groups (ConsumerGroupHeartbeat) on librdkafka's 3-broker mock cluster.
@Suite("Consumer groups, KIP-848 (mock cluster)", .serialized)
struct ConsumerGroupKIP848Tests {
    /// Every record every member handled, as "partition:offset:value", with the member's name.
    final class Ledger: Sendable {
        let entries = Mutex<[(member: String, record: String)]>([])
        func handler(_ member: String) -> @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            { batch in
                self.entries.withLock { entries in
                    entries += batch.records.map { (member, "\(batch.partition):\($0.offset ?? -1):\($0.valueString ?? "")") }
                }
                return .commit
            }
        }
        var records: [String] { entries.withLock { $0.map(\.record) } }
        var values: [String] { records.map { String($0.split(separator: ":", maxSplits: 2)[2]) } }
    }

    static func configuration(_ group: String, _ topic: String) -> KafkaConsumerGroupConfiguration {
        var configuration = KafkaConsumerGroupConfiguration(groupID: group, topics: [topic], offsetResetPolicy: .earliest)
        configuration.defaultTopicOptions.fetchInterval = .milliseconds(200)
        return configuration
    }

    static func produce(_ cluster: MockCluster, _ topic: String, partitions: Int32, prefix: String, perPartition: Int) async throws {
        for p in 0..<partitions {
            try await RdKafkaTool.produce(
                bootstrap: cluster.bootstrap, topic: topic,
                records: (0..<perPartition).map { (key: nil, value: "\(prefix)-\(p)-\($0)") }, partition: p)
        }
    }

    @Test("3 members share 6 partitions and consume every record exactly once, across a broker outage, a coordinator move and a member leaving")
    func threeMembersSixPartitions() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("kip848")
        let group = TestBrokers.uniqueName("g848")
        try await cluster.createTopic(topic, partitions: 6)
        try await cluster.setCoordinator(.group, key: group, broker: 1)
        let ledger = Ledger()
        var expected: [String] = []

        try await FetchTests.withClient(cluster.bootstrap) { a in
            try await FetchTests.withClient(cluster.bootstrap) { b in
                try await FetchTests.withClient(cluster.bootstrap) { c in
                    let members = try [
                        a.startConsumerGroup(Self.configuration(group, topic), handler: ledger.handler("a")),
                        b.startConsumerGroup(Self.configuration(group, topic), handler: ledger.handler("b")),
                        c.startConsumerGroup(Self.configuration(group, topic), handler: ledger.handler("c")),
                    ]
                    try await ConsumerGroupTests.waitUntil("each member owns 2 of the 6 partitions", timeout: .seconds(60)) {
                        members.allSatisfy { $0.assignedPartitions.count == 2 }
                    }
                    #expect(members.allSatisfy { $0.groupProtocol == .consumer })
                    #expect(Set(members.flatMap(\.assignedPartitions)).count == 6)

                    try await Self.produce(cluster, topic, partitions: 6, prefix: "one", perPartition: 5)
                    try await ConsumerGroupTests.waitUntil("the first 30 records arrived") { ledger.records.count >= 30 }

                    // A broker goes down for a while: its partitions pause, then resume where they were.
                    try await Self.produce(cluster, topic, partitions: 6, prefix: "two", perPartition: 5)
                    try await cluster.down(broker: 2)
                    try await Task.sleep(for: .seconds(2))
                    try await cluster.up(broker: 2)
                    try await ConsumerGroupTests.waitUntil("60 records arrived after the outage", timeout: .seconds(60)) { ledger.records.count >= 60 }

                    // The coordinator moves: members find the new one and keep their membership.
                    try await cluster.setCoordinator(.group, key: group, broker: 3)
                    try await Self.produce(cluster, topic, partitions: 6, prefix: "three", perPartition: 5)
                    try await ConsumerGroupTests.waitUntil("90 records arrived after the coordinator move", timeout: .seconds(60)) {
                        ledger.records.count >= 90
                    }

                    // A member leaves: its partitions move to the others after its last commit.
                    await members[2].stop()
                    try await ConsumerGroupTests.waitUntil("the 2 remaining members own 3 partitions each", timeout: .seconds(60)) {
                        members[0].assignedPartitions.count == 3 && members[1].assignedPartitions.count == 3
                    }
                    try await Self.produce(cluster, topic, partitions: 6, prefix: "four", perPartition: 5)
                    try await ConsumerGroupTests.waitUntil("120 records arrived", timeout: .seconds(60)) { ledger.records.count >= 120 }
                    await members[0].stop()
                    await members[1].stop()
                }
            }
        }
        for prefix in ["one", "two", "three", "four"] {
            for p in 0..<6 { for i in 0..<5 { expected.append("\(prefix)-\(p)-\(i)") } }
        }
        let values = ledger.values
        #expect(values.count == 120, "records handled: \(values.count)")
        #expect(values.sorted() == expected.sorted())
    }

    /// Records every commit failure.
    final class CommitFailureHandler: KafkaConsumerGroupHandler {
        let failures = Mutex<[Int16?]>([])
        let values = Mutex<[String]>([])
        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            values.withLock { $0 += batch.records.compactMap(\.valueString) }
            return .commit
        }
        func commitFailed(_ partition: KafkaTopicPartition, offset: Int64, error: KafkaError) async {
            failures.withLock { $0.append(error.kafkaCode) }
        }
    }

    @Test("a failed commit is reported and retried, never skipped: the next member starts after it")
    func failedCommitIsRetried() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("commitfail")
        let group = TestBrokers.uniqueName("g848")
        try await cluster.createTopic(topic, partitions: 1)
        let handler = CommitFailureHandler()
        try await FetchTests.withClient(cluster.bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic), handler: handler)
            try await ConsumerGroupTests.waitUntil("the member owns the partition", timeout: .seconds(60)) { member.assignedPartitions.count == 1 }
            // The next two OffsetCommit requests fail with COORDINATOR_LOAD_IN_PROGRESS.
            try await cluster.pushErrors(apiKey: 8, codes: [14, 14])
            try await RdKafkaTool.produce(bootstrap: cluster.bootstrap, topic: topic, records: [(key: nil, value: "x1")], partition: 0)
            try await ConsumerGroupTests.waitUntil("two failures were reported") { handler.failures.withLock { $0.count } >= 2 }
            try await RdKafkaTool.produce(bootstrap: cluster.bootstrap, topic: topic, records: [(key: nil, value: "x2")], partition: 0)
            try await ConsumerGroupTests.waitUntil("the second record arrived") { handler.values.withLock { $0.count } >= 2 }
            await member.stop()
        }
        #expect(handler.failures.withLock { $0 } == [14, 14])
        #expect(handler.values.withLock { $0 } == ["x1", "x2"])

        let next = CommitFailureHandler()
        try await RdKafkaTool.produce(bootstrap: cluster.bootstrap, topic: topic, records: [(key: nil, value: "x3")], partition: 0)
        try await FetchTests.withClient(cluster.bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic), handler: next)
            try await ConsumerGroupTests.waitUntil("the new record arrived", timeout: .seconds(60)) { next.values.withLock { $0.count } >= 1 }
            await member.stop()
        }
        #expect(next.values.withLock { $0 } == ["x3"])
        #expect(next.failures.withLock { $0 }.isEmpty)
    }

    @Test("a klife member and a librdkafka group.protocol=consumer member split a KIP-848 group and consume every record once")
    func interopWithLibrdkafkaConsumerProtocol() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("interop848")
        let group = TestBrokers.uniqueName("g848")
        try await cluster.createTopic(topic, partitions: 4)
        let klifeSeen = Mutex<[String]>([])
        let (klifeValues, rdkafkaValues) = try await FetchTests.withClient(cluster.bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic)) { batch in
                klifeSeen.withLock { $0 += batch.records.map { "\(batch.partition):\($0.valueString ?? "")" } }
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("klife owns all 4 partitions", timeout: .seconds(60)) { member.assignedPartitions.count == 4 }
            async let rdkafka = RdKafkaTool.consume(
                bootstrap: cluster.bootstrap, topic: topic, group: group, groupProtocol: .consumer, timeoutMilliseconds: 25_000)
            try await ConsumerGroupTests.waitUntil("librdkafka joined and took 2 partitions", timeout: .seconds(45)) {
                member.assignedPartitions.count == 2
            }
            for p: Int32 in 0..<4 {
                try await RdKafkaTool.produce(
                    bootstrap: cluster.bootstrap, topic: topic, records: (0..<10).map { (key: nil, value: "p\(p)-\($0)") }, partition: p)
            }
            let fromRdkafka = try await rdkafka
            try await ConsumerGroupTests.waitUntil("klife owns all 4 partitions again", timeout: .seconds(60)) { member.assignedPartitions.count == 4 }
            for p: Int32 in 0..<4 {
                try await RdKafkaTool.produce(bootstrap: cluster.bootstrap, topic: topic, records: [(key: nil, value: "end-\(p)")], partition: p)
            }
            try await ConsumerGroupTests.waitUntil("klife got every end marker") { klifeSeen.withLock { $0.filter { $0.contains(":end-") }.count } == 4 }
            await member.stop()
            return (klifeSeen.withLock { $0 }, fromRdkafka.map { "\($0.partition):\(String(decoding: $0.value ?? [], as: UTF8.self))" })
        }
        GroupInteropCheck.expectSplit(klifeValues: klifeValues, rdkafkaValues: rdkafkaValues, partitionsEach: 2, total: 40)
    }
}

extension ConsumerGroupKIP848Tests {
    @Test("a static member (instance id) that restarts gets its partitions back and resumes after its commits")
    func staticMemberRestarts() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("static848")
        let group = TestBrokers.uniqueName("g848")
        try await cluster.createTopic(topic, partitions: 4)
        var configuration = Self.configuration(group, topic)
        configuration.instanceID = "instance-a"
        let staticConfiguration = configuration
        let ledger = Ledger()
        try await Self.produce(cluster, topic, partitions: 4, prefix: "one", perPartition: 3)
        let firstOwned = try await FetchTests.withClient(cluster.bootstrap) { client in
            let member = try client.startConsumerGroup(staticConfiguration, handler: ledger.handler("a"))
            try await ConsumerGroupTests.waitUntil("12 records arrived", timeout: .seconds(60)) { ledger.records.count >= 12 }
            let owned = member.assignedPartitions
            await member.stop()
            return owned
        }
        #expect(firstOwned.count == 4)
        try await Self.produce(cluster, topic, partitions: 4, prefix: "two", perPartition: 3)
        try await FetchTests.withClient(cluster.bootstrap) { client in
            let member = try client.startConsumerGroup(staticConfiguration, handler: ledger.handler("a2"))
            try await ConsumerGroupTests.waitUntil("24 records arrived", timeout: .seconds(60)) { ledger.records.count >= 24 }
            #expect(member.assignedPartitions == firstOwned)
            await member.stop()
        }
        var expected: [String] = []
        for prefix in ["one", "two"] { for p in 0..<4 { for i in 0..<3 { expected.append("\(prefix)-\(p)-\(i)") } } }
        #expect(ledger.values.sorted() == expected.sorted())
    }
}

extension ConsumerGroupKIP848Tests {
    /// A KIP-848 member looks its committed offsets up beside its heartbeats: while the lookup keeps failing
    /// for several session timeouts, the heartbeats go on, so the coordinator does not fence the member and
    /// the partition is not lost (stopped without a commit, then assigned again).
    @Test("a KIP-848 member heartbeats while its committed-offset lookup keeps failing: it is not fenced and loses nothing")
    func memberHeartbeatsWhileItsOffsetLookupFails() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("slowstart848")
        let group = TestBrokers.uniqueName("g848")
        try await cluster.createTopic(topic, partitions: 1)
        try await cluster.setCoordinator(.group, key: group, broker: 1)
        try await cluster.setConsumerGroupTimeouts(sessionMilliseconds: 2000, heartbeatMilliseconds: 300)
        try await Self.produce(cluster, topic, partitions: 1, prefix: "one", perPartition: 3)
        // OffsetFetch answers COORDINATOR_LOAD_IN_PROGRESS 12 times: the member asks every 500 ms, so its
        // lookup takes about 6 s, three session timeouts.
        try await cluster.pushErrors(apiKey: 9, codes: Array(repeating: 14, count: 12))
        let handler = ConsumerGroupTests.StopRecordingHandler(handlingTime: .zero)
        try await FetchTests.withClient(cluster.bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic), handler: handler)
            try await ConsumerGroupTests.waitUntil("the first 3 records arrived", timeout: .seconds(60)) {
                handler.values.withLock { $0.count } >= 3
            }
            // A fenced member learns it from its next heartbeat, right after the start: by the time records
            // produced now have arrived, it would have lost the partition.
            try await Self.produce(cluster, topic, partitions: 1, prefix: "two", perPartition: 3)
            try await ConsumerGroupTests.waitUntil("the next 3 records arrived", timeout: .seconds(60)) {
                handler.values.withLock { $0.count } >= 6
            }
            #expect(handler.stops.withLock { $0.map { "\($0.0): \($0.1)" } } == [], "the member lost its partition")
            #expect(handler.values.withLock { $0 } == (0..<3).map { "one-0-\($0)" } + (0..<3).map { "two-0-\($0)" })
            #expect(member.failure == nil)
            await member.stop()
        }
    }

    @Test("a KIP-848 member keeps its session while a revocation waits for a slow handler: it is not fenced, and the new owner does not get the record again")
    func memberHeartbeatsWhileItRevokes() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("slowrevoke848")
        let group = TestBrokers.uniqueName("g848")
        try await cluster.createTopic(topic, partitions: 2)
        try await cluster.setCoordinator(.group, key: group, broker: 1)
        try await cluster.setConsumerGroupTimeouts(sessionMilliseconds: 4000, heartbeatMilliseconds: 300)
        var slowConfiguration = Self.configuration(group, topic)
        slowConfiguration.rebalanceTimeout = .seconds(30)
        let configuration = slowConfiguration
        // Each handler call takes 12 s, three session timeouts (with room for a slow machine's pauses).
        let handlerA = ConsumerGroupTests.StopRecordingHandler(handlingTime: .seconds(12))
        try await FetchTests.withClient(cluster.bootstrap) { clientA in
            try await FetchTests.withClient(cluster.bootstrap) { clientB in
                let a = try clientA.startConsumerGroup(configuration, handler: handlerA)
                try await ClientTestSupport.eventuallyOrFail("A owns both partitions", timeout: .seconds(30)) { a.assignedPartitions.count == 2 }
                try await Self.produce(cluster, topic, partitions: 2, prefix: "slow", perPartition: 1)
                try await ClientTestSupport.eventuallyOrFail("A handles both records", timeout: .seconds(30)) { handlerA.busy.withLock { $0.count } == 2 }
                // Keep-alive heartbeats keep A's session through the 12 s revocation.
                try await ConsumerGroupTests.expectASlowRevocationKeepsTheSession(
                    a: a, handlerA: handlerA, clientB: clientB, configuration: configuration, values: ["slow-0-0", "slow-1-0"])
            }
        }
    }

    @Test("an automatic member the coordinator refuses as a KIP-848 member (a classic group it does not upgrade) joins with the classic protocol", arguments: [
        Int16(69),  // GROUP_ID_NOT_FOUND: Kafka's coordinator ("not a consumer group")
        23,  // INCONSISTENT_GROUP_PROTOCOL
    ])
    func automaticFallsBackToClassic(code: Int16) async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        try await FaultInjectionTests.prepareForGroups(cluster)
        let topic = TestBrokers.uniqueName("fallback")
        let group = TestBrokers.uniqueName("g")
        try await cluster.createTopic(topic, partitions: 1)
        try await cluster.setCoordinator(.group, key: group, broker: 1)
        try await Self.produce(cluster, topic, partitions: 1, prefix: "r", perPartition: 3)
        // The first ConsumerGroupHeartbeat (68) is refused as a coordinator refuses a KIP-848 member of a classic
        // group it does not upgrade.
        try await cluster.pushErrors(apiKey: 68, codes: [code])
        let ledger = Ledger()
        try await FetchTests.withClient(cluster.bootstrap) { client in
            var configuration = Self.configuration(group, topic)
            configuration.sessionTimeout = .seconds(6)
            configuration.heartbeatInterval = .milliseconds(300)
            let member = try client.startConsumerGroup(configuration, handler: ledger.handler("m"))
            try await ConsumerGroupTests.waitUntil("the 3 records arrived", timeout: .seconds(60)) { ledger.values.count >= 3 }
            #expect(member.groupProtocol == .classic)
            #expect(member.failure == nil)
            #expect(ledger.values == (0..<3).map { "r-0-\($0)" })
            await member.stop()
        }
    }
}
