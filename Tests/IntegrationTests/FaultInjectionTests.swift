import Foundation
import KafkaProtocol
import NIOCore
import Synchronization
import Testing

@testable import Klife

/// Faults outside the producer, injected into the librdkafka mock cluster (errors per API, RTT, brokers
/// down and up, connections cut) and into Tansu (SIGKILL and restart): retriable errors are recovered from
/// within the documented retry budget, non-retriable ones reach the caller as the documented error, nothing
/// hangs, and the client works normally once the fault is gone.
@Suite("Fault injection: fetch, metadata, offsets, coordinators, groups", .serialized)
struct FaultInjectionTests {
    /// A mock cluster with `topic` (1 partition, replicated on all 3 brokers, leader `leader`) holding
    /// `records` records "r-0"…, and a client on it.
    static func withTopic(
        records: Int = 5, leader: Int32 = 1, requestTimeout: Duration = .seconds(10), fetcherRequestTimeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(5),
        _ body: @Sendable (MockCluster, KafkaClient, String) async throws -> Void
    ) async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("fault")
        try await cluster.createTopic(topic, partitions: 1, replicationFactor: 3)
        try await cluster.setLeader(topic: topic, partition: 0, broker: leader)
        var configuration = try ClientTestSupport.configuration(bootstrap: cluster.bootstrap)
        configuration.connection.requestTimeout = requestTimeout
        configuration.connection.connectTimeout = connectTimeout
        configuration.fetchers = [KafkaFetcherConfiguration(requestTimeout: fetcherRequestTimeout)]
        var logger = ClientTestSupport.logger
        if ProcessInfo.processInfo.environment["KLIFE_TEST_DEBUG"] != nil { logger.logLevel = .debug }
        try await KafkaClient.withRunningClient(configuration: configuration, logger: logger) { client in
            let produced = await client.produceBatch((0..<records).map { KafkaRecord(topic: topic, partition: 0, value: "r-\($0)") })
            #expect(produced.allSatisfy { (try? $0.get()) != nil }, "setup produce failed: \(produced)")
            try await body(cluster, client, topic)
        }
    }

    static func values(_ records: [KafkaRecord]) -> [String] { records.compactMap(\.valueString) }

    /// Makes the mock cluster ready for consumer groups: no initial rebalance delay, and the group APIs held to
    /// their last non-flexible versions (the mock closes the connection on our flexible JoinGroup (v6+) and
    /// SyncGroup (v4+) requests; Tansu takes them).
    static func prepareForGroups(_ cluster: MockCluster) async throws {
        try await cluster.setInitialRebalanceDelay(milliseconds: 0)
        for (api, max) in [(Int16(11), Int16(5)), (14, 3), (12, 3), (13, 3), (8, 7), (9, 5)] {
            try await cluster.setApiVersion(apiKey: api, min: 0, max: max)
        }
    }

    /// Starts a classic member of `group` on `topic` (6 s session, 300 ms heartbeats) that commits every
    /// batch; returns it with the values it has handled so far.
    static func startClassicMember(
        _ client: KafkaClient, group: String, topic: String, offsetResetPolicy: KafkaConsumerGroupConfiguration.OffsetResetPolicy = .latest
    ) throws -> (member: KafkaConsumerGroup, seen: LockedBox<[String]>) {
        let seen = LockedBox<[String]>([])
        let member = try client.startConsumerGroup(
            KafkaConsumerGroupConfiguration(
                groupID: group, topics: [topic], groupProtocol: .classic, sessionTimeout: .seconds(6),
                heartbeatInterval: .milliseconds(300), offsetResetPolicy: offsetResetPolicy)
        ) { batch in
            seen.withLock { $0 += batch.records.compactMap(\.valueString) }
            return .commit
        }
        return (member, seen)
    }

    // MARK: Fetch

    @Test("Fetch: retriable errors within the retry budget are recovered from", arguments: [
        Int16(3),  // UNKNOWN_TOPIC_OR_PARTITION
        5,  // LEADER_NOT_AVAILABLE
        6,  // NOT_LEADER_OR_FOLLOWER
        7,  // REQUEST_TIMED_OUT
        9,  // REPLICA_NOT_AVAILABLE
        56,  // KAFKA_STORAGE_ERROR
        74,  // FENCED_LEADER_EPOCH
        -195,  // librdkafka mock: the broker cuts the connection instead of answering
    ])
    func fetchRecovers(code: Int16) async throws {
        try await Self.withTopic { cluster, client, topic in
            try await cluster.pushErrors(apiKey: 1, codes: [code, code])
            let records = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(Self.values(records) == (0..<5).map { "r-\($0)" })
        }
    }

    @Test("Fetch: a retriable error that outlasts the retries is a typed retriable error, and the next fetch works")
    func fetchExhaustsRetries() async throws {
        try await Self.withTopic { cluster, client, topic in
            try await cluster.pushErrors(apiKey: 1, codes: [6, 6, 6, 6, 6, 6])
            let error = await #expect(throws: KafkaError.self) { try await client.fetch(topic: topic, partition: 0, offset: 0) }
            #expect(error?.isRetriable == true)
            #expect(error?.kafkaCode == 6)
            // The mock cluster sends the code at the top level of the response: it goes through the per-partition policy.
            #expect(error?.code == .leaderNotAvailable, "\(String(describing: error))")
            #expect(error?.message.contains(topic) == true)
            try await cluster.clearErrors(apiKey: 1)
            #expect(Self.values(try await client.fetch(topic: topic, partition: 0, offset: 2)) == ["r-2", "r-3", "r-4"])
        }
    }

    @Test("Fetch: non-retriable errors reach the caller as the documented error", arguments: [
        (Int16(29), KafkaError.Code.authorizationFailed),  // TOPIC_AUTHORIZATION_FAILED
        (1, .offsetOutOfRange),  // OFFSET_OUT_OF_RANGE
        (2, .brokerError),  // CORRUPT_MESSAGE
        (-1, .brokerError),  // UNKNOWN_SERVER_ERROR
    ])
    func fetchNonRetriable(code: Int16, expected: KafkaError.Code) async throws {
        try await Self.withTopic { cluster, client, topic in
            try await cluster.pushErrors(apiKey: 1, codes: [code])
            let outcome: Result<[KafkaRecord], any Error>
            do {
                outcome = .success(try await client.fetch(topic: topic, partition: 0, offset: 0))
            } catch {
                outcome = .failure(error)
            }
            // The mock cluster sends the code at the top level of the response: it is reported, not retried.
            guard case .failure(let failure) = outcome, let error = failure as? KafkaError else {
                Issue.record("error \(code) was not reported: \(outcome)")
                return
            }
            #expect(error.code == expected, "\(error)")
            #expect(error.kafkaCode == code)
            #expect(error.isRetriable == false)
            // Not retried: the one pushed error was used up by a single request, and the next call works.
            #expect(Self.values(try await client.fetch(topic: topic, partition: 0, offset: 4)) == ["r-4"])
        }
    }

    @Test("Fetch: a slow broker makes the request time out (no hang); it answers again once fast")
    func slowBrokerFetch() async throws {
        try await Self.withTopic(fetcherRequestTimeout: .seconds(1), connectTimeout: .seconds(2)) { cluster, client, topic in
            try await cluster.setRTT(broker: 1, milliseconds: 2_500)
            let started = ContinuousClock.now
            let error = await #expect(throws: KafkaError.self) { try await client.fetch(topic: topic, partition: 0, offset: 0) }
            let elapsed = ContinuousClock.now - started
            #expect(error?.isRetriable == true, "\(String(describing: error))")
            #expect([.requestTimedOut, .leaderNotAvailable, .connectionClosed].contains(error?.code), "\(String(describing: error))")
            // Bounded by the configured timeouts: each of the 3 attempts waits at most the fetch request timeout
            // (1 s) or, when the timeout closed the connection, the connect timeout (2 s) for the next one.
            #expect(elapsed < .seconds(3 * (1 + 2) + 4), "fetch against a slow broker took \(elapsed)")
            try await cluster.setRTT(broker: 1, milliseconds: 0)
            let recovered = await ClientTestSupport.eventually {
                (try? await client.fetch(topic: topic, partition: 0, offset: 0)).map(Self.values) == (0..<5).map { "r-\($0)" }
            }
            #expect(recovered)
        }
    }

    @Test("Fetch: the leader going down and up while a reader polls loses and duplicates nothing")
    func brokerDownAndUpDuringFetch() async throws {
        try await Self.withTopic(records: 10, leader: 2, requestTimeout: .seconds(2)) { cluster, client, topic in
            let errors = LockedBox<[KafkaError]>([])
            let read = LockedBox<[String]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // A reader that fetches from its next offset until it has 20 records.
                    var next: Int64 = 0
                    let deadline = ContinuousClock.now + .seconds(60)
                    while next < 20 && ContinuousClock.now < deadline {
                        let result = await client.fetchPartitions([KafkaFetchPosition(topic: topic, partition: 0, offset: next)])
                        switch result.first?.value {
                        case .success(let partition)?:
                            read.withLock { $0 += partition.records.compactMap(\.valueString) }
                            next = partition.nextOffset
                            if partition.records.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
                        case .failure(let error)?:
                            errors.withLock { $0.append(error) }
                            try await Task.sleep(for: .milliseconds(50))
                        case nil:
                            Issue.record("fetchPartitions returned no result")
                            return
                        }
                    }
                }
                try await ClientTestSupport.eventuallyOrFail("the first 10 records were read") { read.withLock { $0.count } >= 10 }
                try await cluster.down(broker: 2)
                try await ClientTestSupport.eventuallyOrFail("the reader saw the broker down") { !errors.withLock { $0.isEmpty } }
                try await cluster.up(broker: 2)
                let more = await client.produceBatch((10..<20).map { KafkaRecord(topic: topic, partition: 0, value: "r-\($0)") })
                #expect(more.allSatisfy { (try? $0.get()) != nil }, "\(more)")
                try await group.waitForAll()
            }
            #expect(read.withLock { $0 } == (0..<20).map { "r-\($0)" })
            for error in errors.withLock({ $0 }) {
                #expect(error.isRetriable, "a non-retriable error while the broker was down: \(error)")
            }
        }
    }

    // MARK: ListOffsets and Metadata

    @Test("ListOffsets: retriable errors are recovered from", arguments: [Int16(3), 5, 6, 7, 56, 74])
    func listOffsetsRecovers(code: Int16) async throws {
        try await Self.withTopic { cluster, client, topic in
            try await cluster.pushErrors(apiKey: 2, codes: [code, code])
            let offsets = try await client.listOffsets(topic: topic, at: .latest)
            #expect(offsets[0]?.offset == 5)
        }
    }

    @Test("ListOffsets: REQUEST_TIMED_OUT that outlasts the request timeout is reported as retriable with its code, not sooner and without hanging")
    func listOffsetsGivesUpAtTheRequestTimeout() async throws {
        try await Self.withTopic(requestTimeout: .seconds(2)) { cluster, client, topic in
            try await cluster.pushErrors(apiKey: 2, codes: Array(repeating: 7, count: 200))
            let started = ContinuousClock.now
            let error = await #expect(throws: KafkaError.self) { try await client.listOffsets(topic: topic, at: .latest) }
            let elapsed = ContinuousClock.now - started
            #expect(error?.kafkaCode == 7, "\(String(describing: error))")
            #expect(error?.isRetriable == true)
            #expect(error?.message.contains(topic) == true)
            // Retried for about the request timeout (2 s; backoffs grow to 1 s), then given up.
            #expect(elapsed > .milliseconds(900) && elapsed < .seconds(5), "gave up after \(elapsed)")
            try await cluster.clearErrors(apiKey: 2)
            #expect(try await client.listOffsets(topic: topic, at: .latest)[0]?.offset == 5)
        }
    }

    @Test("Metadata: a topic without a leader is waited out; once it has one, calls work")
    func topicWithoutLeader() async throws {
        try await Self.withTopic { cluster, client, topic in
            try await cluster.setTopicError(topic: topic, code: 5)  // LEADER_NOT_AVAILABLE in Metadata
            // A topic error is not a failed refresh, and a retriable one keeps what was known about the topic.
            let during = try await client.refreshMetadata()
            #expect(during.topic(topic)?.partitionCount == 1)
            try await cluster.setTopicError(topic: topic, code: 0)
            let recovered = await ClientTestSupport.eventually {
                (try? await client.listOffsets(topic: topic, at: .latest))?[0]?.offset == 5
            }
            #expect(recovered)
        }
    }

    // MARK: Coordinators

    /// A client on a ``BadInputBroker``, which answers FindCoordinator errors the way Kafka does.
    static func withScriptedCoordinator(
        adjust: (inout KafkaClient.Configuration) -> Void = { _ in },
        _ body: @Sendable (BadInputBroker, KafkaClient) async throws -> Void
    ) async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        var configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        adjust(&configuration)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            try await body(broker, client)
        }
    }

    @Test("FindCoordinator: coordinator errors are typed and retriable, and the next lookup succeeds", arguments: [
        Int16(14),  // COORDINATOR_LOAD_IN_PROGRESS
        15,  // COORDINATOR_NOT_AVAILABLE
        16,  // NOT_COORDINATOR
    ])
    func coordinatorErrors(code: Int16) async throws {
        try await Self.withScriptedCoordinator { broker, client in
            for type in [CoordinatorCache.KeyType.group, .transaction] {
                let key = CoordinatorCache.Key(type: type, key: TestBrokers.uniqueName("key"))
                broker.injectCoordinatorErrors([code])
                let error = await #expect(throws: KafkaError.self) { try await client.cluster.coordinator(for: key) }
                #expect(error?.code == .coordinatorNotAvailable, "\(String(describing: error))")
                #expect(error?.kafkaCode == code)
                #expect(error?.isRetriable == true)
                let recovered = try await client.cluster.coordinator(for: key)
                #expect(recovered.nodeID == 1)
            }
        }
    }

    @Test("A coordinator that drops every JoinGroup is retried with a backoff, not hammered")
    func droppedJoinGroupIsNotHammered() async throws {
        try await Self.withScriptedCoordinator { broker, client in
            let before = broker.acceptedConnections
            let member = try client.startConsumerGroup(
                KafkaConsumerGroupConfiguration(groupID: TestBrokers.uniqueName("g"), topics: ["t"], assignors: [.range])
            ) { _ in .commit }
            let start = ContinuousClock.now
            // The member retries: waited for (a loaded machine may take longer than the 3 s window below).
            try await ConsumerGroupTests.waitUntil("the member dialled again after a dropped JoinGroup") {
                broker.acceptedConnections - before >= 2
            }
            // A measurement window, not a synchronisation: the rate of the connections the retries open.
            try await Task.sleep(for: .seconds(3))
            let dialled = broker.acceptedConnections - before
            let seconds = Double((ContinuousClock.now - start).components.seconds) + 1
            await member.stop()
            // With any backoff of 100 ms or more this stays around 10 a second; without one it reaches thousands.
            #expect(Double(dialled) / seconds <= 20, "\(dialled) connections in \(seconds) s: JoinGroup is retried without a backoff")
        }
    }

    @Test("A member stopped while its coordinator connection backs off stops at once, without sitting out the backoff")
    func stopWhileTheCoordinatorConnectionBacksOff() async throws {
        // Every JoinGroup closes the connection; a connection that closes that soon makes the next dial wait.
        try await Self.withScriptedCoordinator {
            $0.connection.reconnectBackoff = .seconds(10)
            $0.connection.reconnectBackoffMax = .seconds(10)
        } _: { _, client in
            let member = try client.startConsumerGroup(
                KafkaConsumerGroupConfiguration(groupID: TestBrokers.uniqueName("g"), topics: ["t"], assignors: [.range])
            ) { _ in .commit }
            try await ConsumerGroupTests.waitUntil("the member waits out the reconnect backoff") {
                client.cluster.pool.callersWaitingOutBackoff > 0
            }
            let started = ContinuousClock.now
            await member.stop()
            let elapsed = ContinuousClock.now - started
            // Without the stop ending the wait it takes the rest of the 8-10 s backoff, then a dial and a JoinGroup.
            #expect(elapsed < .seconds(3), "stop() took \(elapsed)")
        }
    }

    @Test("FindCoordinator: a non-retriable error reaches the caller with its code")
    func coordinatorAuthorizationFailure() async throws {
        try await Self.withScriptedCoordinator { broker, client in
            let key = CoordinatorCache.Key(type: .group, key: TestBrokers.uniqueName("g"))
            broker.injectCoordinatorErrors([30])  // GROUP_AUTHORIZATION_FAILED
            let error = await #expect(throws: KafkaError.self) { try await client.cluster.coordinator(for: key) }
            #expect(error?.code == .brokerError)
            #expect(error?.kafkaCode == 30)
            #expect(error?.isRetriable == false)
            #expect(error?.message.contains(key.key) == true, "\(String(describing: error))")
        }
    }

    @Test("FindCoordinator: the mock cluster's error answer (a null host) is a typed protocol error, and the next lookup works")
    func coordinatorErrorFromTheMockCluster() async throws {
        try await Self.withTopic(records: 0) { cluster, client, _ in
            let group = TestBrokers.uniqueName("g")
            try await cluster.setCoordinator(.group, key: group, broker: 3)
            let key = CoordinatorCache.Key(type: .group, key: group)
            try await cluster.pushErrors(apiKey: 10, codes: [15])
            // librdkafka's mock writes a null Host with the error; the field is not nullable, so we refuse it.
            let error = await #expect(throws: KafkaError.self) { try await client.cluster.coordinator(for: key) }
            #expect(error?.code == .protocolViolation && error?.message.contains("host") == true, "\(String(describing: error))")
            #expect(try await client.cluster.coordinator(for: key).nodeID == 3)
        }
    }

    @Test("A consumer group on the mock cluster reads and commits everything, also through FindCoordinator, OffsetFetch and OffsetCommit errors", arguments: [false, true])
    func groupRecoversFromCoordinatorAndOffsetErrors(injectErrors: Bool) async throws {
        try await Self.withTopic(records: 10) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            let group = TestBrokers.uniqueName("g")
            if injectErrors {
                try await cluster.pushErrors(apiKey: 10, codes: [15, 14])  // FindCoordinator
                try await cluster.pushErrors(apiKey: 9, codes: [14, 16])  // OffsetFetch
                try await cluster.pushErrors(apiKey: 8, codes: [14, 15, 16])  // OffsetCommit
            }
            let seen = LockedBox<[String]>([])
            let member = try client.startConsumerGroup(
                KafkaConsumerGroupConfiguration(
                    groupID: group, topics: [topic], sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(500),
                    offsetResetPolicy: .earliest)
            ) { batch in
                seen.withLock { $0 += batch.records.compactMap(\.valueString) }
                return .commit
            }
            try await ClientTestSupport.eventuallyOrFail("the group read all 10 records", timeout: .seconds(45)) { Set(seen.withLock { $0 }).count >= 10 }
            // Every record at least once, in order per partition (redelivery after a failed commit is allowed).
            let values = seen.withLock { $0 }
            #expect(Set(values) == Set((0..<10).map { "r-\($0)" }))
            #expect(values.firstIndex(of: "r-9").map { index in values[..<index].contains("r-0") } ?? false)
            // The commit went through in the end: the group's committed offset is 10.
            let committed = await ClientTestSupport.eventuallyValue(timeout: .seconds(30)) { () -> Int64? in
                let offsets = try? await Self.committedOffset(client: client, group: group, topic: topic)
                return offsets == 10 ? offsets : nil
            }
            #expect(committed == 10)
            await member.stop()
        }
    }

    @Test("A classic member follows its group coordinator to another broker: it keeps its partition, and its commits land on the new coordinator")
    func classicMemberFollowsAMovedCoordinator() async throws {
        try await Self.withTopic(records: 5) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            let group = TestBrokers.uniqueName("g")
            try await cluster.setCoordinator(.group, key: group, broker: 1)
            // Committed offsets are read by a second client: looking them up through the member's client would
            // refresh the coordinator cache the member must refresh itself.
            try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { checker in
                func committed() async -> Int64? {
                    checker.cluster.invalidateCoordinator(.init(type: .group, key: group))
                    return try? await Self.committedOffset(client: checker, group: group, topic: topic)
                }
                let (member, seen) = try Self.startClassicMember(client, group: group, topic: topic, offsetResetPolicy: .earliest)
                try await ClientTestSupport.eventuallyOrFail("the group read and committed the first 5 records", timeout: .seconds(30)) {
                    await committed() == 5
                }
                // The coordinator moves; the old one answers NOT_COORDINATOR from now on. Nothing is committed
                // until the member has found the new one by itself (the mock closes the connection on an
                // OffsetCommit to a broker that is not the coordinator, which would drop the cached entry too;
                // Kafka answers NOT_COORDINATOR instead).
                #expect(client.cluster.cachedCoordinator(for: .init(type: .group, key: group)) == 1)
                try await cluster.setCoordinator(.group, key: group, broker: 2)
                try await ClientTestSupport.eventuallyOrFail("the member's Heartbeat found the new coordinator", timeout: .seconds(15)) {
                    client.cluster.cachedCoordinator(for: .init(type: .group, key: group)) == 2
                }
                let produced = await client.produceBatch((5..<10).map { KafkaRecord(topic: topic, partition: 0, value: "r-\($0)") })
                #expect(produced.allSatisfy { (try? $0.get()) != nil })
                try await ClientTestSupport.eventuallyOrFail("the new coordinator holds offset 10", timeout: .seconds(30)) {
                    await committed() == 10
                }
                #expect(Set(seen.withLock { $0 }) == Set((0..<10).map { "r-\($0)" }))
                #expect(member.assignedPartitions == [KafkaTopicPartition(topic, 0)])
                #expect(member.failure == nil)
                await member.stop()
            }
        }
    }

    /// Starts a classic member of `group` on `topic` (earliest) whose handler holds the first batch until the
    /// returned flag is set, then commits it; returns once the handler holds it.
    static func startMemberHoldingItsFirstBatch(
        _ client: KafkaClient, group: String, topic: String
    ) async throws -> (member: KafkaConsumerGroup, release: LockedBox<Bool>) {
        let entered = LockedBox(false)
        let released = LockedBox(false)
        let member = try client.startConsumerGroup(
            KafkaConsumerGroupConfiguration(
                groupID: group, topics: [topic], groupProtocol: .classic, sessionTimeout: .seconds(6),
                heartbeatInterval: .milliseconds(300), offsetResetPolicy: .earliest)
        ) { _ in
            entered.withLock { $0 = true }
            _ = await ClientTestSupport.eventually(timeout: .seconds(30)) { released.withLock { $0 } }
            return .commit
        }
        try await ClientTestSupport.eventuallyOrFail("the handler holds the first batch", timeout: .seconds(30)) { entered.withLock { $0 } }
        return (member, released)
    }

    @Test("A stopping member's final commit follows a coordinator that moved while its handler ran")
    func finalCommitFollowsAMovedCoordinator() async throws {
        try await Self.withTopic(records: 5) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            let group = TestBrokers.uniqueName("g")
            try await cluster.setCoordinator(.group, key: group, broker: 1)
            try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { checker in
                // Holds the batch until the test has moved the coordinator and asked the member to stop.
                let (member, released) = try await Self.startMemberHoldingItsFirstBatch(client, group: group, topic: topic)
                try await cluster.setCoordinator(.group, key: group, broker: 2)
                async let stopped: Void = member.stop()
                released.withLock { $0 = true }
                await stopped
                // The commit reached the new coordinator (the old one closes the connection on an OffsetCommit).
                #expect(try await Self.committedOffset(client: checker, group: group, topic: topic) == 5)
                #expect(member.failure == nil)
            }
        }
    }

    @Test("A commit whose records' leader epoch a leader change left behind lands (the mock cluster checks that epoch; Kafka stores it)")
    func commitAfterALeaderChangeLands() async throws {
        try await Self.withTopic(records: 5) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            let group = TestBrokers.uniqueName("g")
            try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { checker in
                // Holds the batch (read under the first leader epoch) until the leader has changed.
                let (member, released) = try await Self.startMemberHoldingItsFirstBatch(client, group: group, topic: topic)
                try await cluster.setLeader(topic: topic, partition: 0, broker: 2)
                released.withLock { $0 = true }
                try await ClientTestSupport.eventuallyOrFail("offset 5 is committed", timeout: .seconds(30)) {
                    (try? await Self.committedOffset(client: checker, group: group, topic: topic)) == 5
                }
                #expect(member.failure == nil)
                await member.stop()
            }
        }
    }

    /// Records the fetch failures reported to a group's handler, and the values it handled.
    struct FetchFailureRecordingHandler: KafkaConsumerGroupHandler {
        let failures = LockedBox<[(partition: KafkaTopicPartition, offset: Int64, code: Int16?)]>([])
        let values = LockedBox<[String]>([])
        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            values.withLock { $0 += batch.records.compactMap(\.valueString) }
            return .commit
        }
        func fetchFailed(_ partition: KafkaTopicPartition, offset: Int64, error: KafkaError) async {
            failures.withLock { $0.append((partition, offset, error.kafkaCode)) }
        }
    }

    /// A fetch error that does not pass by itself (TOPIC_AUTHORIZATION_FAILED) is reported to the handler,
    /// not only logged at debug level while the partition silently stands still; once it is gone the records
    /// come.
    @Test("A group member reports a fetch error that does not pass by itself to its handler, and goes on once it is gone")
    func groupReportsUnrecoverableFetchErrors() async throws {
        try await Self.withTopic(records: 5) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            try await cluster.pushErrors(apiKey: 1, codes: [29, 29])  // Fetch: TOPIC_AUTHORIZATION_FAILED twice
            let handler = FetchFailureRecordingHandler()
            var configuration = KafkaConsumerGroupConfiguration(
                groupID: TestBrokers.uniqueName("g"), topics: [topic], groupProtocol: .classic, sessionTimeout: .seconds(6),
                heartbeatInterval: .milliseconds(300), offsetResetPolicy: .earliest)
            configuration.defaultTopicOptions.fetchInterval = .milliseconds(200)
            let member = try client.startConsumerGroup(configuration, handler: handler)
            try await ClientTestSupport.eventuallyOrFail("the 5 records arrived after the errors", timeout: .seconds(30)) {
                handler.values.withLock { $0.count } >= 5
            }
            let failures = handler.failures.withLock { $0 }
            #expect(failures.count == 2, "\(failures)")
            #expect(failures.allSatisfy { $0.code == 29 && $0.offset == 0 && $0.partition == KafkaTopicPartition(topic, 0) })
            #expect(handler.values.withLock { $0 } == (0..<5).map { "r-\($0)" })
            await member.stop()
        }
    }

    @Test("A partition without a committed offset whose reset lookup fails at assignment is not started at 0: the lookup is repeated (latest)")
    func failedResetLookupIsRepeatedNotGuessed() async throws {
        try await Self.withTopic(records: 5) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            // ListOffsets fails (a non-retriable code) for the lookup at assignment and the first repeat.
            try await cluster.pushErrors(apiKey: 2, codes: [29, 29])
            let (member, seen) = try Self.startClassicMember(client, group: TestBrokers.uniqueName("g"), topic: topic)  // latest
            // Records produced once the member has its position arrive; produce until one does.
            var produced = 0
            try await ClientTestSupport.eventuallyOrFail("a record produced after the start arrived", timeout: .seconds(30)) {
                produced += 1
                _ = await client.produceBatch([KafkaRecord(topic: topic, partition: 0, value: "new-\(produced)")])
                return !seen.withLock { $0 }.isEmpty
            }
            let values = seen.withLock { $0 }
            #expect(values.allSatisfy { $0.hasPrefix("new-") }, "the records before the start were replayed: \(values)")
            await member.stop()
        }
    }

    /// A committed offset past the end of the log (the log was truncated or deleted) is out of range: the
    /// member resets per the policy (earliest here) instead of waiting at an offset that will never come.
    /// (Tansu never answers OFFSET_OUT_OF_RANGE; librdkafka's mock cluster does.)
    @Test("A committed offset out of range is reset per the policy")
    func committedOffsetOutOfRangeIsReset() async throws {
        try await Self.withTopic(records: 2) { cluster, client, topic in
            try await Self.prepareForGroups(cluster)
            let group = TestBrokers.uniqueName("g")
            // A standalone commit (no member) of offset 100 for the group.
            let (coordinator, _) = try await client.cluster.coordinatorConnection(for: .init(type: .group, key: group))
            let version = min(coordinator.negotiatedVersion(for: OffsetCommitRequest.self) ?? 2, 7)
            let response = try await coordinator.send(
                OffsetCommitRequest(
                    groupId: group, generationIdOrMemberEpoch: -1, memberId: "",
                    topics: [.init(name: topic, partitions: [.init(partitionIndex: 0, committedOffset: 100)])]),
                version: version)
            #expect(response.topics.first?.partitions.first?.errorCode == 0)
            let (member, seen) = try Self.startClassicMember(client, group: group, topic: topic, offsetResetPolicy: .earliest)
            try await ClientTestSupport.eventuallyOrFail("the records arrived after the reset", timeout: .seconds(30)) { seen.withLock { $0 }.count >= 2 }
            await member.stop()
            #expect(seen.withLock { $0 } == ["r-0", "r-1"])
            // The reset position replaces the out-of-range one, so what was read is committed.
            #expect(try await Self.committedOffset(client: client, group: group, topic: topic) == 2)
        }
    }

    /// The group's committed offset of `topic`/0, read with OffsetFetch (v7 at most) from the coordinator.
    static func committedOffset(client: KafkaClient, group: String, topic: String) async throws -> Int64? {
        let (connection, _) = try await client.cluster.coordinatorConnection(for: .init(type: .group, key: group))
        let version = min(connection.negotiatedVersion(for: OffsetFetchRequest.self) ?? 1, 7)
        let response = try await connection.send(
            OffsetFetchRequest(groupId: group, topics: [.init(name: topic, partitionIndexes: [0])]), version: version)
        return response.topics.first?.partitions.first?.committedOffset
    }

    // MARK: Tansu killed

    @Test("Tansu SIGKILLed and restarted while a reader fetches: typed retriable errors, no hang, reading resumes")
    func tansuKilledWhileFetching() async throws {
        let (tansu, bootstrap) = try await TansuControl.startPrivate(prefix: "tansu-fault")
        do {
            var configuration = try ClientTestSupport.configuration(bootstrap: bootstrap)
            configuration.connection.requestTimeout = .seconds(3)
            try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
                let topic = TestBrokers.uniqueName("killed")
                try await client.createTopic(topic)
                _ = await client.produceBatch((0..<5).map { KafkaRecord(topic: topic, partition: 0, value: "before-\($0)") })
                let errors = LockedBox<[KafkaError]>([])
                let read = LockedBox<[String]>([])
                let stop = LockedBox(false)
                // Set once the restarted (empty) broker has the topic again: the reader starts over at 0.
                let restartAt = LockedBox<Int64?>(nil)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var next: Int64 = 0
                        while !stop.withLock({ $0 }) {
                            if let restart = restartAt.withLock({ value -> Int64? in defer { value = nil }; return value }) { next = restart }
                            let started = ContinuousClock.now
                            let result = await client.fetchPartitions([KafkaFetchPosition(topic: topic, partition: 0, offset: next)])
                            #expect(ContinuousClock.now - started < .seconds(30), "one fetch call took \(ContinuousClock.now - started)")
                            switch result.first?.value {
                            case .success(let partition)?:
                                read.withLock { $0 += partition.records.compactMap(\.valueString) }
                                next = partition.nextOffset
                                try await Task.sleep(for: .milliseconds(20))
                            case .failure(let error)?:
                                errors.withLock { $0.append(error) }
                                // The restarted broker is empty (memory storage): start over at 0.
                                if error.code == .offsetOutOfRange { next = 0 }
                                try await Task.sleep(for: .milliseconds(100))
                            case nil:
                                return
                            }
                        }
                    }
                    try await ClientTestSupport.eventuallyOrFail("the first records were read") { read.withLock { $0.count } >= 5 }
                    try await tansu.kill()
                    try await ClientTestSupport.eventuallyOrFail("the reader saw the broker gone") { !errors.withLock { $0.isEmpty } }
                    _ = try await tansu.restart()
                    // Memory storage: recreate the topic on the restarted broker and write to it again.
                    try await ClientTestSupport.eventuallyOrFail("the topic was recreated", timeout: .seconds(30)) {
                        (try? await client.createTopic(topic)) != nil
                    }
                    let after = await client.produceBatch((0..<3).map { KafkaRecord(topic: topic, partition: 0, value: "after-\($0)") })
                    #expect(after.allSatisfy { (try? $0.get()) != nil }, "produce after the restart: \(after)")
                    restartAt.withLock { $0 = 0 }
                    try await ClientTestSupport.eventuallyOrFail("the reader read the new records", timeout: .seconds(30)) {
                        read.withLock { $0.contains("after-2") }
                    }
                    stop.withLock { $0 = true }
                    try await group.waitForAll()
                }
                let values = read.withLock { $0 }
                #expect(Array(values.prefix(5)) == (0..<5).map { "before-\($0)" })
                #expect(Array(values.suffix(3)) == (0..<3).map { "after-\($0)" })
                for error in errors.withLock({ $0 }) where error.code != .offsetOutOfRange && error.code != .unknownTopicOrPartition {
                    #expect(error.isRetriable, "while the broker was gone: \(error)")
                }
            }
        } catch {
            try? await tansu.stop()
            throw error
        }
        try await tansu.stop()
    }
}

extension ClientTestSupport {
    /// Waits until `condition` holds; records an issue naming `what` and throws when `timeout` passes first.
    static func eventuallyOrFail(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        guard try await eventually(timeout: timeout, condition) else {
            Issue.record("timed out waiting until \(what)")
            throw CancellationError()
        }
    }

    /// Polls `value` until it returns non-nil or `timeout` passes.
    static func eventuallyValue<T>(timeout: Duration = .seconds(20), _ value: () async throws -> T?) async rethrows -> T? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = try await value() { return found }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await value()
    }
}

/// A lock-protected value that escaping closures can share (a `Mutex` itself cannot be captured by them).
final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}
