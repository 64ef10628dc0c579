import Foundation
import KafkaProtocol
@testable import Klife
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

    /// Records each partition's stop reason.
    struct StopRecordingHandler: KafkaConsumerGroupHandler {
        let stops = LockedBox<[(KafkaTopicPartition, KafkaPartitionStopReason)]>([])
        let busy = LockedBox<Set<Int32>>([])
        let values = LockedBox<[String]>([])
        let handlingTime: Duration

        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            busy.withLock { _ = $0.insert(batch.partition) }
            values.withLock { $0 += batch.records.compactMap(\.valueString) }
            // Slow processing: the scenario, not a wait for something.
            try? await Task.sleep(for: handlingTime)
            return .commit
        }

        func partitionStopped(_ partition: KafkaTopicPartition, reason: KafkaPartitionStopReason) async {
            stops.withLock { $0.append((partition, reason)) }
        }
    }

    /// Starts member B beside A, whose handler holds a record of each of the two partitions, and checks the
    /// revocation that follows: A and B end with a partition each, A kept its session (one stop, `.revoked`, no
    /// failure), and B never gets A's records (A committed the revoked one before B got it). Stops both.
    static func expectASlowRevocationKeepsTheSession(
        a: KafkaConsumerGroup, handlerA: StopRecordingHandler, clientB: KafkaClient,
        configuration: KafkaConsumerGroupConfiguration, values: Set<String>
    ) async throws {
        let handlerB = StopRecordingHandler(handlingTime: .zero)
        let b = try clientB.startConsumerGroup(configuration, handler: handlerB)
        try await ClientTestSupport.eventuallyOrFail("A and B own one partition each", timeout: .seconds(40)) {
            a.assignedPartitions.count == 1 && b.assignedPartitions.count == 1
        }
        let stops = handlerA.stops.withLock { $0 }
        #expect(stops.count == 1, "A's stops: \(stops)")
        if let (_, reason) = stops.first, case .revoked = reason {} else { Issue.record("A's stops: \(stops)") }
        #expect(a.failure == nil)
        #expect(handlerB.values.withLock { $0 }.isEmpty, "B got again: \(handlerB.values.withLock { $0 })")
        #expect(Set(handlerA.values.withLock { $0 }) == values)
        await b.stop()
        await a.stop()
    }

    /// A cooperative revocation that waits for a handler longer than the session timeout: the member heartbeats
    /// in the background meanwhile, keeps its other partition, and commits the revoked one with the generation
    /// the revocation came in (the coordinator refuses the previous one), so the new owner does not get its
    /// record again. Tansu does not
    /// expire a silent member, so this checks that the background heartbeats leave the rebalance intact; it
    /// does not show the expiry they prevent (Kafka's coordinator removes a member silent for a session
    /// timeout; librdkafka's mock cluster would, but answers the first cooperative SyncGroup of a member that
    /// gets nothing with a null assignment, which the protocol does not allow).
    @Test("A classic member revoking a partition whose handler outlasts the session timeout heartbeats meanwhile and keeps its other partition")
    func classicMemberHeartbeatsWhileItRevokes() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("slow-revoke")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        let configuration = KafkaConsumerGroupConfiguration(
            groupID: TestBrokers.uniqueName("g"), topics: [topic], groupProtocol: .classic, sessionTimeout: .seconds(6),
            heartbeatInterval: .milliseconds(300), assignors: [.cooperativeSticky], offsetResetPolicy: .earliest)
        let handlerA = StopRecordingHandler(handlingTime: .seconds(14))
        var debugLogger = ClientTestSupport.logger
        if ProcessInfo.processInfo.environment["KLIFE_TEST_DEBUG"] != nil { debugLogger.logLevel = .debug }
        let logger = debugLogger
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: logger) { clientA in
            try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: logger) { clientB in
                let a = try clientA.startConsumerGroup(configuration, handler: handlerA)
                try await ClientTestSupport.eventuallyOrFail("A owns both partitions") { a.assignedPartitions.count == 2 }
                // Both of A's handlers are busy for 14 s, so whichever partition moves to B is revoked slowly.
                let produced = await clientA.produceBatch([
                    KafkaRecord(topic: topic, partition: 0, value: "slow-0"), KafkaRecord(topic: topic, partition: 1, value: "slow-1"),
                ])
                #expect(produced.allSatisfy { (try? $0.get()) != nil })
                try await ClientTestSupport.eventuallyOrFail("A handles both records") { handlerA.busy.withLock { $0.count } == 2 }
                // The revoked partition's record is committed by A with the generation the revocation came in.
                try await Self.expectASlowRevocationKeepsTheSession(
                    a: a, handlerA: handlerA, clientB: clientB, configuration: configuration, values: ["slow-0", "slow-1"])
            }
        }
    }

    /// Manual mode: a batch the caller holds when its partition is revoked keeps the partition until it is
    /// answered (within the rebalance timeout), so the caller's commit lands and the new owner does not get
    /// the records again.
    @Test("A manual batch held through a revocation is waited for: its commit lands and the new owner does not get it again")
    func manualBatchHeldThroughARevocationIsWaitedFor() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("held-batch")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        for p: Int32 in 0..<2 {
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "held-\(p)")], partition: p)
        }
        let configuration = KafkaConsumerGroupConfiguration(
            groupID: TestBrokers.uniqueName("g"), topics: [topic], groupProtocol: .classic, sessionTimeout: .seconds(6),
            heartbeatInterval: .milliseconds(300), assignors: [.cooperativeSticky], offsetResetPolicy: .earliest)
        try await FetchTests.withClient(bootstrap) { clientA in
            try await FetchTests.withClient(bootstrap) { clientB in
                let a = try clientA.startConsumerGroup(configuration)
                let held = LockedBox<[KafkaConsumerGroupBatch]>([])
                let reader = Task {
                    for try await batch in a.batches { held.withLock { $0.append(batch) } }
                }
                try await ClientTestSupport.eventuallyOrFail("A's caller holds a batch of each partition", timeout: .seconds(30)) {
                    held.withLock { $0.count } == 2
                }
                let handlerB = StopRecordingHandler(handlingTime: .zero)
                let b = try clientB.startConsumerGroup(configuration, handler: handlerB)
                // A's caller works on its batches while B joins and one partition is revoked from A: A has synced
                // the next generation (where the revocation is decided) and still holds both partitions, B none,
                // since the revoked one waits for its batch.
                let heldGeneration = held.withLock { $0[0].groupMetadata.generationID }
                try await ClientTestSupport.eventuallyOrFail("A is in the next generation, revoking for B", timeout: .seconds(45)) {
                    a.runner.partitions.groupMetadata.generationID > heldGeneration
                }
                // The revocation waits for the held batch, however long (within the rebalance timeout).
                try await Task.sleep(for: .seconds(2))  // the scenario: the caller is slow; not a synchronisation
                #expect(a.assignedPartitions.count == 2 && b.assignedPartitions.isEmpty, "A: \(a.assignedPartitions), B: \(b.assignedPartitions)")
                for batch in held.withLock({ $0 }) {
                    #expect(batch.isOpen, "batch of partition \(batch.partition) was abandoned")
                    #expect(throws: Never.self) { try batch.commit() }
                }
                try await Self.waitUntil("A and B own one partition each", timeout: .seconds(45)) {
                    a.assignedPartitions.count == 1 && b.assignedPartitions.count == 1
                }
                #expect(handlerB.values.withLock { $0 }.isEmpty, "B got again: \(handlerB.values.withLock { $0 })")
                await b.stop()
                await a.stop()
                reader.cancel()
            }
        }
    }

    /// A handler that never returns is given up on after the rebalance timeout: the member's stop returns, the
    /// partition counts as lost (nothing committed), and its batch is delivered again.
    @Test("A stuck handler is given up on after the rebalance timeout: stop returns and the batch comes again")
    func stuckHandlerIsGivenUpOnAfterTheRebalanceTimeout() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("stuck")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "stuck")], partition: 0)
        var stuckConfiguration = Self.groupConfiguration(group, topic)
        stuckConfiguration.rebalanceTimeout = .seconds(4)
        let configuration = stuckConfiguration
        // Stuck until cancelled (an hour is "never" here).
        let stuck = StopRecordingHandler(handlingTime: .seconds(3600))
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(configuration, handler: stuck)
            try await ClientTestSupport.eventuallyOrFail("the handler got the record") { !stuck.values.withLock { $0 }.isEmpty }
            let stopped = LockedBox(false)
            let stopping = Task {
                await member.stop()
                stopped.withLock { $0 = true }
            }
            try await ClientTestSupport.eventuallyOrFail("the member's stop returned", timeout: .seconds(30)) { stopped.withLock { $0 } }
            await stopping.value
            let stops = stuck.stops.withLock { $0 }
            #expect(stops.count == 1)
            if let (_, reason) = stops.first, case .lost = reason {} else { Issue.record("stops: \(stops)") }
            // Nothing was committed: the next member of the group gets the record again.
            let seen = Seen()
            let next = try client.startConsumerGroup(configuration) { seen.add($0); return .commit }
            try await Self.waitUntil("the record came again") { seen.count >= 1 }
            await next.stop()
            #expect(seen.all == ["0:0:stuck"])
        }
    }

    /// The default reset policy (latest): a new group starts at the end and does not replay what is there.
    @Test("A new group with the default reset policy starts at the end of the log")
    func defaultResetPolicyStartsAtTheEnd() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("latest")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        // One record per batch: Tansu's ListOffsets LATEST answers the newest batch's base offset + 1
        // (broker/TANSU.md), right only for single-record batches.
        for value in ["old-0", "old-1"] {
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: value)], partition: 0)
        }
        let seen = Seen()
        try await FetchTests.withClient(bootstrap) { client in
            let configuration = KafkaConsumerGroupConfiguration(
                groupID: TestBrokers.uniqueName("g"), topics: [topic], sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(500))
            #expect(configuration.offsetResetPolicy == .latest)
            let member = try client.startConsumerGroup(configuration) { seen.add($0); return .commit }
            // The start offset is looked up before the partition shows as assigned.
            try await Self.waitUntil("the member owns the partition") { member.assignedPartitions.count == 1 }
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "new")], partition: 0)
            try await Self.waitUntil("the new record arrived") { seen.count >= 1 }
            await member.stop()
        }
        #expect(seen.all == ["0:2:new"])
    }

    /// The topic option handlerCooldown pauses a partition after every batch.
    @Test("handlerCooldown pauses the partition after each batch")
    func handlerCooldownPausesAfterEachBatch() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cooldown")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<3).map { (key: nil, value: "c\($0)") }, partition: 0)
        let calls = LockedBox<[ContinuousClock.Instant]>([])
        try await FetchTests.withClient(bootstrap) { client in
            var configuration = Self.groupConfiguration(TestBrokers.uniqueName("g"), topic)
            configuration.defaultTopicOptions.handlerCooldown = .milliseconds(700)
            configuration.defaultTopicOptions.handlerMaxBatchSize = .records(1)
            let member = try client.startConsumerGroup(configuration) { _ in
                calls.withLock { $0.append(.now) }
                return .commit
            }
            try await Self.waitUntil("three batches were handled") { calls.withLock { $0.count } >= 3 }
            await member.stop()
        }
        let times = calls.withLock { $0 }
        #expect(times.count == 3)
        for (earlier, later) in zip(times, times.dropFirst()) {
            #expect(later - earlier >= .milliseconds(700), "batches \(later - earlier) apart")
        }
    }
}
