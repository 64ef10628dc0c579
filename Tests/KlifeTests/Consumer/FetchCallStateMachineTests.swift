import KafkaProtocol
import Testing
@testable import Klife

@Suite struct FetchCallStateMachineTests {
    typealias Machine = FetchCallStateMachine<[Int64]>
    static let settings = FetchPlanner.Settings(
        maxBytesPerRequest: 10_000, maxWaitMs: 0, minBytes: 1, isolationLevel: .readCommitted)
    static let topicID = KafkaUUID(high: 3, low: 3)
    static let p0 = KafkaFetchPosition(topic: "t", partition: 0, offset: 5)
    static let p1 = KafkaFetchPosition(topic: "t", partition: 1, offset: 0)

    static func items(_ positions: KafkaFetchPosition...) -> [FetchPlanner.Item] {
        positions.map { .init(position: $0, maxBytes: 100) }
    }
    static func leaders(_ map: [Int32: Int32]) -> (String, Int32) -> FetchRoute {
        { topic, partition in
            guard topic == "t" else { return .unknownTopic }
            guard let broker = map[partition] else { return .unknownPartition }
            return broker < 0 ? .noLeader : .leader(brokerID: broker, topicID: topicID, leaderEpoch: 0)
        }
    }

    func sent(_ action: Machine.Action) throws -> [BrokerFetchRequest] {
        guard case .send(let requests) = action else { throw Unexpected(action: "\(action)") }
        return requests
    }
    func finished(_ action: Machine.Action) throws -> [KafkaFetchPosition: Result<[Int64], KafkaError>] {
        guard case .finish(let results) = action else { throw Unexpected(action: "\(action)") }
        return results
    }
    struct Unexpected: Error { var action: String }

    @Test func partitionsOnOneBrokerShareOneRequestAndFinish() throws {
        var machine = Machine(items: Self.items(Self.p0, Self.p1), settings: Self.settings)
        let requests = try sent(machine.start(route: Self.leaders([0: 1, 1: 1])))
        #expect(requests.count == 1)
        let results = try finished(machine.responseReceived(
            requestID: requests[0].id, outcomes: [Self.p0: .delivered([5, 6]), Self.p1: .delivered([])]))
        #expect(try results[Self.p0]?.get() == [5, 6])
        #expect(try results[Self.p1]?.get() == [])
    }

    @Test func staleLeaderRefreshesMetadataAndRetriesAtTheNewLeader() throws {
        var machine = Machine(items: Self.items(Self.p0, Self.p1), settings: Self.settings)
        let first = try sent(machine.start(route: Self.leaders([0: 1, 1: 2])))
        #expect(first.count == 2)
        let toBroker1 = try #require(first.first { $0.brokerID == 1 })
        let toBroker2 = try #require(first.first { $0.brokerID == 2 })
        guard case .wait = machine.responseReceived(requestID: toBroker2.id, outcomes: [Self.p1: .delivered([0])]) else {
            Issue.record("expected wait while another request is in flight"); return
        }
        // Broker 1 no longer leads partition 0 (NOT_LEADER_OR_FOLLOWER).
        let action = machine.responseReceived(requestID: toBroker1.id, outcomes: [Self.p0: .errorCode(6)])
        guard case .retry(let topics) = action else { Issue.record("expected retry, got \(action)"); return }
        #expect(topics == ["t"])
        let retried = try sent(machine.resume(route: Self.leaders([0: 3, 1: 2])))
        #expect(retried.count == 1 && retried[0].brokerID == 3)
        #expect(retried[0].positions == [Self.p0])
        let results = try finished(machine.responseReceived(requestID: retried[0].id, outcomes: [Self.p0: .delivered([5])]))
        #expect(try results[Self.p0]?.get() == [5])
        #expect(try results[Self.p1]?.get() == [0])
    }

    /// Kafka's Java consumer: a stale view of the leader (FENCED_LEADER_EPOCH, OFFSET_NOT_AVAILABLE from a
    /// leader just elected) refreshes the metadata; a broker behind our view (UNKNOWN_LEADER_EPOCH) or a slow
    /// one is only waited for.
    @Test(arguments: [(Int16(74), true), (78, true), (6, true), (75, false), (7, false)])
    func leaderEpochCodesRefreshOrWait(code: Int16, refreshes: Bool) throws {
        var machine = Machine(items: Self.items(Self.p0), settings: Self.settings)
        let requests = try sent(machine.start(route: Self.leaders([0: 1])))
        let action = machine.responseReceived(requestID: requests[0].id, outcomes: [Self.p0: .errorCode(code)])
        guard case .retry(let topics) = action else { Issue.record("expected retry, got \(action)"); return }
        #expect(topics == (refreshes ? ["t"] : []))
    }

    @Test func offsetOutOfRangeIsATypedErrorForThatPartitionOnly() throws {
        var machine = Machine(items: Self.items(Self.p0, Self.p1), settings: Self.settings)
        let requests = try sent(machine.start(route: Self.leaders([0: 1, 1: 1])))
        let results = try finished(machine.responseReceived(
            requestID: requests[0].id, outcomes: [Self.p0: .errorCode(1), Self.p1: .delivered([1])]))
        guard case .failure(let error)? = results[Self.p0] else { Issue.record("expected failure"); return }
        #expect(error.code == .offsetOutOfRange)
        #expect(error.kafkaCode == 1)
        #expect(try results[Self.p1]?.get() == [1])
    }

    @Test func leaderThatNeverSettlesFailsAfterMaxAttempts() throws {
        var machine = Machine(items: Self.items(Self.p0), settings: Self.settings, maxAttempts: 2)
        var requests = try sent(machine.start(route: Self.leaders([0: 1])))
        guard case .retry = machine.responseReceived(requestID: requests[0].id, outcomes: [Self.p0: .errorCode(6)]) else {
            Issue.record("expected retry"); return
        }
        requests = try sent(machine.resume(route: Self.leaders([0: 1])))
        let results = try finished(machine.responseReceived(requestID: requests[0].id, outcomes: [Self.p0: .errorCode(6)]))
        guard case .failure(let error)? = results[Self.p0] else { Issue.record("expected failure"); return }
        #expect(error.code == .leaderNotAvailable)
        #expect(error.kafkaCode == 6)
        #expect(error.isRetriable)
    }

    /// Attempts that end in transport failures after one answered NOT_LEADER report the transport's error,
    /// not the earlier broker code.
    @Test func theLastAttemptsFailureIsReported() throws {
        var machine = Machine(items: Self.items(Self.p0), settings: Self.settings, maxAttempts: 2)
        var requests = try sent(machine.start(route: Self.leaders([0: 1])))
        guard case .retry = machine.responseReceived(requestID: requests[0].id, outcomes: [Self.p0: .errorCode(6)]) else {
            Issue.record("expected retry"); return
        }
        requests = try sent(machine.resume(route: Self.leaders([0: 1])))
        let results = try finished(machine.requestFailed(
            requestID: requests[0].id, error: KafkaError(.connectionFailed, "could not connect to broker 1", isRetriable: true)))
        guard case .failure(let error)? = results[Self.p0] else { Issue.record("expected failure"); return }
        #expect(error.code == .connectionFailed)
        #expect(error.kafkaCode == nil)
    }

    @Test func unknownTopicGetsOneMetadataRefreshThenAClearError() throws {
        let unknown = KafkaFetchPosition(topic: "nope", partition: 0, offset: 0)
        var machine = Machine(items: Self.items(unknown), settings: Self.settings, maxAttempts: 2)
        let action = machine.start(route: Self.leaders([:]))
        guard case .retry(let topics) = action else { Issue.record("expected retry, got \(action)"); return }
        #expect(topics == ["nope"])
        let results = try finished(machine.resume(route: Self.leaders([:])))
        guard case .failure(let error)? = results[unknown] else { Issue.record("expected failure"); return }
        #expect(error.code == .unknownTopicOrPartition)
        #expect(error.message.contains("nope"))
    }

    @Test func leaderlessPartitionIsRetriedOnceALeaderAppears() throws {
        var machine = Machine(items: Self.items(Self.p0), settings: Self.settings)
        guard case .retry = machine.start(route: Self.leaders([0: -1])) else { Issue.record("expected retry"); return }
        let requests = try sent(machine.resume(route: Self.leaders([0: 2])))
        #expect(requests[0].brokerID == 2)
        let results = try finished(machine.responseReceived(requestID: requests[0].id, outcomes: [Self.p0: .delivered([])]))
        #expect(try results[Self.p0]?.get() == [])
    }

    @Test func retriableRequestFailureRetriesAndNonRetriableFails() throws {
        var machine = Machine(items: Self.items(Self.p0, Self.p1), settings: Self.settings)
        let requests = try sent(machine.start(route: Self.leaders([0: 1, 1: 2])))
        let toBroker1 = try #require(requests.first { $0.brokerID == 1 })
        let toBroker2 = try #require(requests.first { $0.brokerID == 2 })
        _ = machine.requestFailed(requestID: toBroker2.id, error: KafkaError(.protocolViolation, "garbage"))
        guard case .retry = machine.requestFailed(
            requestID: toBroker1.id, error: KafkaError(.brokerError, "connection reset", isRetriable: true))
        else { Issue.record("expected retry"); return }
        let again = try sent(machine.resume(route: Self.leaders([0: 1, 1: 2])))
        #expect(again.map(\.positions) == [[Self.p0]])
        let results = try finished(machine.responseReceived(requestID: again[0].id, outcomes: [Self.p0: .delivered([9])]))
        #expect(try results[Self.p0]?.get() == [9])
        guard case .failure(let error)? = results[Self.p1] else { Issue.record("expected failure"); return }
        #expect(error.code == .protocolViolation)
    }

    @Test func partitionMissingFromTheResponseIsAskedAgain() throws {
        var machine = Machine(items: Self.items(Self.p0), settings: Self.settings)
        let requests = try sent(machine.start(route: Self.leaders([0: 1])))
        guard case .retry(let topics) = machine.responseReceived(requestID: requests[0].id, outcomes: [:]) else {
            Issue.record("expected retry"); return
        }
        #expect(topics.isEmpty)  // no metadata needed, just ask again
    }

    @Test func duplicatePositionsAreFetchedOnce() throws {
        var machine = Machine(items: Self.items(Self.p0, Self.p0), settings: Self.settings)
        let requests = try sent(machine.start(route: Self.leaders([0: 1])))
        #expect(requests.count == 1 && requests[0].partitionCount == 1)
    }
}
