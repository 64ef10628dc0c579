import Foundation
import Klife
import Logging
import Synchronization
import Testing

/// Handler semantics, the manual (AsyncSequence) API, a killed member and a librdkafka member, on Tansu's
/// classic groups.
@Suite("Consumer group handlers and members (Tansu)", .serialized)
struct ConsumerGroupHandlerTests {
    static func configuration(_ group: String, _ topic: String, _ options: KafkaConsumerTopicOptions? = nil) -> KafkaConsumerGroupConfiguration {
        var configuration = ConsumerGroupTests.groupConfiguration(group, topic)
        configuration.defaultTopicOptions.fetchInterval = .milliseconds(200)
        if let options { configuration.topicOptions[topic] = options }
        return configuration
    }

    /// A handler that records calls and answers from a script.
    final class ScriptedHandler: KafkaConsumerGroupHandler {
        struct Call: Sendable {
            var offsets: [Int64]
            var attempts: [Int]
            var at: ContinuousClock.Instant
        }
        let calls = Mutex<[Call]>([])
        let events = Mutex<[String]>([])
        let answers: @Sendable (Int, KafkaConsumerBatch) -> KafkaConsumerBatchResult

        init(_ answers: @escaping @Sendable (Int, KafkaConsumerBatch) -> KafkaConsumerBatchResult) {
            self.answers = answers
        }

        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            let n = calls.withLock { calls -> Int in
                calls.append(Call(offsets: batch.records.map { $0.offset ?? -1 }, attempts: batch.records.map(\.consumerAttempts), at: .now))
                return calls.count
            }
            events.withLock { $0.append("batch") }
            return answers(n, batch)
        }

        func partitionStarted(_ partition: KafkaTopicPartition) async {
            events.withLock { $0.append("started \(partition.partition)") }
        }

        func partitionStopped(_ partition: KafkaTopicPartition, reason: KafkaPartitionStopReason) async {
            events.withLock { $0.append("stopped \(partition.partition) \(reason)") }
        }

        var callCount: Int { calls.withLock { $0.count } }
    }

    @Test("per-record answers retry only the named records, a cooldown pauses the partition, start/stop callbacks bracket the batches")
    func perRecordCooldownAndCallbacks() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("handler")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<5).map { (key: nil, value: "r\($0)") }, partition: 0)
        let handler = ScriptedHandler { n, _ in
            switch n {
            case 1: return .perRecord([0: .commit, 1: .commit, 2: .retry, 3: .commit])  // 4 left out: retried too
            case 2: return .commit(cooldown: .milliseconds(700))
            default: return .commit
            }
        }
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic), handler: handler)
            try await ConsumerGroupTests.waitUntil("the retried records came back") { handler.callCount >= 2 }
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "r5")], partition: 0)
            try await ConsumerGroupTests.waitUntil("the record after the cooldown arrived") { handler.callCount >= 3 }
            await member.stop()
        }
        let calls = handler.calls.withLock { $0 }
        #expect(calls.count == 3)
        guard calls.count == 3 else { return }
        #expect(calls[0].offsets == [0, 1, 2, 3, 4])
        #expect(calls[0].attempts == [0, 0, 0, 0, 0])
        #expect(calls[1].offsets == [2, 4])
        #expect(calls[1].attempts == [1, 1])
        #expect(calls[2].offsets == [5])
        #expect(calls[2].at - calls[1].at >= .milliseconds(700))
        #expect(handler.events.withLock { $0 } == ["started 0", "batch", "batch", "batch", "stopped 0 shutdown"])

        // Everything was committed: a new member of the group gets only what is produced next.
        let after = ScriptedHandler { _, _ in .commit }
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "r6")], partition: 0)
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic), handler: after)
            try await ConsumerGroupTests.waitUntil("the new record arrived") { after.callCount >= 1 }
            await member.stop()
        }
        #expect(after.calls.withLock { $0.flatMap(\.offsets) } == [6])
    }

    /// Holds the member for its own handler, which is started before `startConsumerGroup` returns it.
    final class MemberBox: Sendable {
        let member = Mutex<KafkaConsumerGroup?>(nil)
        func wait() async -> KafkaConsumerGroup? {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if let member = member.withLock({ $0 }) { return member }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }
    }

    @Test("a handler that stops its own member: the stop returns at once, the batch's commit stands")
    func aHandlerStopsItsOwnMember() async throws {
        let fixture = try await GroupTopicFixture("group-self-stop")
        let box = MemberBox()
        let stopReturned = Atomic<Bool>(false)
        try await FetchTests.withClient(fixture.bootstrap) { client in
            var configuration = Self.configuration(fixture.group, fixture.topic)
            // Long enough that a stop waiting for its own handler (until the partition is given up) shows.
            configuration.rebalanceTimeout = .seconds(90)
            let member = try client.startConsumerGroup(configuration) { batch in
                guard let member = await box.wait() else {
                    Issue.record("the member was never set")
                    return .retry
                }
                await member.stop()
                stopReturned.store(true, ordering: .releasing)
                return .commit
            }
            box.member.withLock { $0 = member }
            try await ConsumerGroupTests.waitUntil("the handler's stop returned") { stopReturned.load(ordering: .acquiring) }
            await member.stop()
            let committed = try await client.committedOffsets(group: fixture.group, partitions: [fixture.partition])
            #expect(committed[fixture.partition]?.offset == 5, "\(committed)")
        }
    }

    @Test("manual mode: batches come from an AsyncSequence and are committed by the caller; uncommitted ones come back")
    func manualBatches() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("manual")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        for p: Int32 in 0..<2 {
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<3).map { (key: nil, value: "m\(p)-\($0)") }, partition: p)
        }
        let options = KafkaConsumerTopicOptions(offsetResetPolicy: .earliest, fetchInterval: .milliseconds(200), handlerMaxBatchSize: .records(1))
        let seen = try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic, options))
            var seen: [String] = []
            var retried = false
            for try await batch in member.batches {
                let value = batch.records.first?.valueString ?? ""
                if value == "m1-1" && !retried {
                    retried = true
                    #expect(batch.records.first?.consumerAttempts == 0)
                    try batch.retry()
                    continue
                }
                seen.append(value + "@\(batch.records.first?.consumerAttempts ?? -1)")
                try batch.commit()
                #expect(throws: KafkaError.self) { try batch.commit() }
                if seen.count == 6 { break }
            }
            await member.stop()
            return seen
        }
        #expect(Set(seen) == ["m0-0@0", "m0-1@0", "m0-2@0", "m1-0@0", "m1-1@1", "m1-2@0"])
        #expect(seen.count == 6)

        // The commits stuck: a new member sees only new records, and its sequence ends when it stops.
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "late")], partition: 1)
        let late = try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic, options))
            var values: [String] = []
            for try await batch in member.batches {
                values += batch.records.compactMap(\.valueString)
                try batch.commit()
                break
            }
            await member.stop()
            for try await _ in member.batches { Issue.record("a batch arrived after stop()") }
            return values
        }
        #expect(late == ["late"])
    }

    @Test("a member killed mid-batch: its partitions move after the session timeout and only its uncommitted batch is delivered again")
    func killedMemberRedeliversOnlyTheUncommittedBatch() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("killed")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        let options = KafkaConsumerTopicOptions(offsetResetPolicy: .earliest, fetchInterval: .milliseconds(200), handlerMaxBatchSize: .records(1))
        let victimCommitted = Mutex<[String]>([])
        let blocked = Mutex<Bool>(false)
        let survivorSeen = Mutex<[String]>([])
        try await FetchTests.withClient(bootstrap) { survivorClient in
            var logger = Logger(label: "klife-test-victim")
            logger.logLevel = .critical
            let victimClient = try KafkaClient(configuration: try FetchTests.configuration(bootstrap), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await victimClient.run() }
                try await victimClient.waitUntilReady()
                let victim = try victimClient.startConsumerGroup(Self.configuration(group, topic, options)) { batch in
                    let value = batch.records.first?.valueString ?? ""
                    if value == "block" {
                        blocked.withLock { $0 = true }
                        try await Task.sleep(for: .seconds(3600))
                    }
                    victimCommitted.withLock { $0.append(value) }
                    return .commit
                }
                try await ConsumerGroupTests.waitUntil("the victim owns both partitions") { victim.assignedPartitions.count == 2 }
                let survivor = try survivorClient.startConsumerGroup(Self.configuration(group, topic, options)) { batch in
                    survivorSeen.withLock { $0 += batch.records.compactMap(\.valueString) }
                    return .commit
                }
                try await ConsumerGroupTests.waitUntil("each member owns one partition", timeout: .seconds(45)) {
                    victim.assignedPartitions.count == 1 && survivor.assignedPartitions.count == 1
                }
                let victimPartition = victim.assignedPartitions[0].partition
                try await RdKafkaTool.produce(
                    bootstrap: bootstrap, topic: topic, records: ["v1", "v2", "block", "v4"].map { (key: nil, value: $0) }, partition: victimPartition)
                try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "s1")], partition: 1 - victimPartition)
                try await ConsumerGroupTests.waitUntil("the victim is stuck in its third batch") { blocked.withLock { $0 } }
                // Killed: its client's task is cancelled; it neither commits nor leaves the group.
                tasks.cancelAll()
                try? await tasks.waitForAll()
                try await ConsumerGroupTests.waitUntil("the survivor took over the victim's partition", timeout: .seconds(60)) {
                    survivor.assignedPartitions.count == 2
                }
                try await ConsumerGroupTests.waitUntil("the survivor got the victim's uncommitted records") {
                    survivorSeen.withLock { $0.contains("v4") }
                }
                await survivor.stop()
            }
        }
        #expect(victimCommitted.withLock { $0 } == ["v1", "v2"])
        #expect(survivorSeen.withLock { $0 } .sorted() == ["block", "s1", "v4"])
    }

    @Test("a klife member and a librdkafka member split a classic group and together consume every record once")
    func interopWithLibrdkafkaClassic() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("interop")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 4)
        let klifeSeen = Mutex<[String]>([])
        let (klifeValues, rdkafkaValues) = try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(Self.configuration(group, topic)) { batch in
                klifeSeen.withLock { $0 += batch.records.map { "\(batch.partition):\($0.valueString ?? "")" } }
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("klife owns all 4 partitions") { member.assignedPartitions.count == 4 }
            async let rdkafka = RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, group: group, timeoutMilliseconds: 25_000)
            try await ConsumerGroupTests.waitUntil("librdkafka joined and took 2 partitions", timeout: .seconds(45)) {
                member.assignedPartitions.count == 2
            }
            for p: Int32 in 0..<4 {
                try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<10).map { (key: nil, value: "p\(p)-\($0)") }, partition: p)
            }
            let fromRdkafka = try await rdkafka
            // librdkafka left (committing on close): klife takes its partitions back at librdkafka's offsets.
            try await ConsumerGroupTests.waitUntil("klife owns all 4 partitions again", timeout: .seconds(45)) { member.assignedPartitions.count == 4 }
            for p: Int32 in 0..<4 {
                try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "end-\(p)")], partition: p)
            }
            try await ConsumerGroupTests.waitUntil("klife got every end marker") { klifeSeen.withLock { $0.filter { $0.contains(":end-") }.count } == 4 }
            await member.stop()
            return (klifeSeen.withLock { $0 }, fromRdkafka.map { "\($0.partition):\(String(decoding: $0.value ?? [], as: UTF8.self))" })
        }
        GroupInteropCheck.expectSplit(klifeValues: klifeValues, rdkafkaValues: rdkafkaValues, partitionsEach: 2, total: 40)
    }

    // Not checked here: a new member resuming after both stop. Tansu (0.6) keeps a member that left as the
    // leader of the next generation when two members leave at once, so the newcomer's SyncGroup fails with
    // REBALANCE_IN_PROGRESS for longer than the test waits; resuming after commits is covered above.
    @Test("two members read 100,000 records of 4 partitions, each record once")
    func volume() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("volume")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 4)
        let produced = try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, count: 100_000, size: 100)
        #expect(produced == 100_000)
        let offsets = Mutex<[Int32: [Int64]]>([:])
        let started = ContinuousClock.now
        try await FetchTests.withClient(bootstrap) { a in
            try await FetchTests.withClient(bootstrap) { b in
                let handler: @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult = { batch in
                    offsets.withLock { $0[batch.partition, default: []] += batch.records.compactMap(\.offset) }
                    return .commit
                }
                let first = try a.startConsumerGroup(Self.configuration(group, topic), handler: handler)
                let second = try b.startConsumerGroup(Self.configuration(group, topic), handler: handler)
                try await ConsumerGroupTests.waitUntil("100,000 records arrived", timeout: .seconds(120)) {
                    offsets.withLock { $0.values.reduce(0) { $0 + $1.count } } >= 100_000
                }
                await first.stop()
                await second.stop()
            }
        }
        let elapsed = ContinuousClock.now - started
        let perPartition = offsets.withLock { $0 }
        var total = 0
        for (partition, seen) in perPartition {
            total += seen.count
            // A rebalance may deliver a handled-but-uncommitted batch again; never a gap, never out of order
            // within one delivery run.
            #expect(Set(seen).count == Int(seen.max()! + 1), "partition \(partition) has gaps")
        }
        #expect(total >= 100_000)
        #expect(Set(perPartition.flatMap { p, o in o.map { "\(p):\($0)" } }).count == 100_000)
        print("volume: 100,000 records through a 2-member group in \(elapsed), \(total - 100_000) delivered twice")
    }
}
