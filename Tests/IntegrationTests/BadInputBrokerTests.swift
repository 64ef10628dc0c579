import KafkaProtocol
import Klife
import Logging
import NIOPosix
import Testing

/// Runs `body` but gives up after `timeout`, returning nil: a hang becomes a test failure, not a stuck run.
/// `body` runs in a task of its own that is cancelled, not awaited, at the deadline: what it waits for may not
/// honour cancellation (an event-loop future), and a task group would wait for it anyway.
func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    let resumed = LockedBox(false)
    return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        let finish: @Sendable (T?) -> Void = { value in
            let first = resumed.withLock { done in
                defer { done = true }
                return !done
            }
            if first { continuation.resume(returning: value) }
        }
        let work = Task { finish(await body()) }
        Task {
            try? await Task.sleep(for: timeout)
            work.cancel()
            finish(nil)
        }
    }
}

/// A broker that sends garbage (``BadInputBroker``): the connection is closed, the caller gets a typed
/// error naming the problem, nothing hangs, and the client keeps working with a good broker.
@Suite("A broker sending garbage")
struct BadInputBrokerTests {
    typealias Fault = BadInputBroker.Fault

    static let expectedCode: [Fault: KafkaError.Code] = [
        .garbageBody: .protocolViolation,
        .hugeFrameLength: .frameTooLarge,
        .negativeFrameLength: .frameTooLarge,
        .wrongCorrelationID: .protocolViolation,
        .shortFrame: .protocolViolation,
        .truncatedThenClose: .connectionClosed,
        .closeWithoutAnswer: .connectionClosed,
        .noAnswer: .requestTimedOut,
    ]

    /// Generous budgets: the suite's broker runs on the test process's event loops, and at the start of the
    /// integration run (a hundred tests starting at once on 2 cores) a connect's ApiVersions once took longer
    /// than 5 s to be answered. The request the ``Fault/noAnswer`` case leaves unanswered has its own timeout.
    static func connectionConfiguration(_ broker: BadInputBroker) -> KafkaConnectionConfiguration {
        var configuration = KafkaConnectionConfiguration(bootstrapServers: [broker.address], connectTimeout: .seconds(20))
        configuration.requestTimeout = .seconds(20)
        return configuration
    }

    /// The timeout of the request a fault answers badly (or not at all): on a loaded 2-core machine a 2 s budget
    /// let a prompt close lose the race.
    static let faultedRequestTimeout: Duration = .seconds(6)

    static func connect(_ broker: BadInputBroker) async throws -> KafkaConnection {
        try await KafkaConnection.connect(
            to: broker.address, brokerID: 1, configuration: connectionConfiguration(broker),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: ClientTestSupport.logger)
    }

    @Test("a bad response fails the request with a typed error and closes the connection", arguments: Fault.allCases)
    func badResponse(_ fault: Fault) async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        let connection = try await Self.connect(broker)
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "bad-input")

        broker.inject(fault, apiKey: MetadataRequest.apiKey)
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await connection.send(MetadataRequest(topics: []), timeout: Self.faultedRequestTimeout)
        }
        #expect(error?.code == Self.expectedCode[fault], "\(fault): \(String(describing: error))")
        #expect(error?.message.contains("127.0.0.1:\(broker.port)") == true, "the message names the broker: \(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(15), "\(fault) took \(ContinuousClock.now - started)")
        // The connection is closed (promptly), and later requests on it fail fast instead of hanging.
        let closed = await withDeadline(.seconds(5)) { await connection.waitUntilClosed() }
        #expect(closed != nil, "\(fault): the connection stayed open")
        let late = await withDeadline(.seconds(5)) { () -> KafkaError? in
            do {
                _ = try await connection.send(MetadataRequest(topics: []))
                return nil
            } catch {
                return error as? KafkaError
            }
        }
        // A later request fails with the reason the connection closed (or as plainly closed).
        let lateCode = try #require(late, "\(fault): a request after the close hung")?.code
        #expect(lateCode == .connectionClosed || lateCode == Self.expectedCode[fault], "\(fault): a request after the close gave \(String(describing: late))")

        // The same broker, now behaving, is usable again on a fresh connection.
        let fresh = try await Self.connect(broker)
        #expect(try await fresh.send(MetadataRequest(topics: [])).clusterId == "bad-input")
        await fresh.close()
    }

    @Test("requests pipelined behind a bad response succeed or fail retriably, none hangs")
    func pipelinedRequestsBehindABadResponse() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        let connection = try await Self.connect(broker)
        broker.inject(.wrongCorrelationID, apiKey: MetadataRequest.apiKey)
        let outcomes = await withDeadline(.seconds(10)) {
            await withTaskGroup(of: KafkaError?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        do {
                            _ = try await connection.send(MetadataRequest(topics: []))
                            return nil
                        } catch {
                            return error as? KafkaError ?? KafkaError(.init("untyped"), "\(error)")
                        }
                    }
                }
                return await group.reduce(into: [KafkaError?]()) { $0.append($1) }
            }
        }
        let errors = try #require(outcomes, "pipelined requests hung").compactMap { $0 }
        #expect(errors.contains { $0.code == .protocolViolation }, "\(errors)")
        // Behind the mismatch the stream cannot be trusted: every other request fails as a retriable close.
        for error in errors where error.code != .protocolViolation {
            #expect(error.code == .connectionClosed && error.isRetriable, "\(error)")
        }
    }

    @Test("garbage during connection setup fails the connect with a typed error; a retry works", arguments: [
        Fault.garbageBody, .hugeFrameLength, .wrongCorrelationID, .shortFrame, .truncatedThenClose, .closeWithoutAnswer,
    ])
    func badApiVersionsAnswer(_ fault: Fault) async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        broker.inject(fault, apiKey: ApiVersionsRequest.apiKey)
        let error = await #expect(throws: KafkaError.self) {
            let connection = try await Self.connect(broker)
            await connection.close()
        }
        #expect(error?.message.isEmpty == false)
        #expect(error?.code != nil)
        let connection = try await Self.connect(broker)
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "bad-input")
        await connection.close()
    }

    @Test("the client reports garbage from its broker, then reconnects and keeps working", arguments: [
        Fault.garbageBody, .wrongCorrelationID, .hugeFrameLength, .truncatedThenClose,
    ])
    func clientSurvivesGarbage(_ fault: Fault) async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        try await KafkaClient.withRunningClient(
            configuration: try ClientTestSupport.configuration(bootstrap: broker.bootstrap), logger: ClientTestSupport.logger
        ) { client in
            #expect(try await client.refreshMetadata().sortedBrokers.map(\.nodeID) == [1])
            let connectionsBefore = broker.acceptedConnections
            broker.inject(fault, apiKey: MetadataRequest.apiKey)
            let error = await #expect(throws: KafkaError.self) { try await client.refreshMetadata() }
            #expect(error?.code == Self.expectedCode[fault], "\(String(describing: error))")
            // The next refresh dials a new connection and succeeds.
            let recovered = try await client.refreshMetadata()
            #expect(recovered.sortedBrokers.map(\.nodeID) == [1])
            #expect(broker.acceptedConnections > connectionsBefore)
        }
    }

    @Test("a Produce answer that does not decode closes the connection; the batch is resent on a fresh one with the same sequence", arguments: [
        Fault.garbageBody, .wrongCorrelationID, .truncatedThenClose, .closeWithoutAnswer,
    ])
    func produceSurvivesGarbage(_ fault: Fault) async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        var configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        configuration.producers = [KafkaProducerConfiguration(deliveryTimeout: .seconds(30), retryBackoff: .milliseconds(100))]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            _ = try await client.produce(KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "warm-up"))
            let connectionsBefore = broker.acceptedConnections
            broker.inject(fault, apiKey: ProduceRequest.apiKey)
            let results = await client.produceBatch((0..<5).map { KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "r-\($0)") })
            let offsets = results.compactMap { try? $0.get().offset }
            #expect(offsets.count == 5, "\(fault): \(results)")
            #expect(offsets == offsets.sorted(), "\(fault): \(offsets)")
            // The connection that carried the bad answer was closed and a new one dialled.
            #expect(broker.acceptedConnections > connectionsBefore, "\(fault): the connection was not closed")
            // The batch answered with garbage was resent with its sequence (idempotence: no duplicate).
            let batches = broker.producedBatches
            let faulted = batches.filter(\.faulted)
            #expect(faulted.count == 1, "\(batches)")
            for bad in faulted {
                #expect(batches.contains { !$0.faulted && $0.baseSequence == bad.baseSequence && $0.producerID == bad.producerID }, "\(batches)")
            }
            let acknowledged = batches.filter { !$0.faulted }.map(\.baseSequence)
            #expect(acknowledged == acknowledged.sorted() && Set(acknowledged).count == acknowledged.count, "\(batches)")
        }
    }

    /// KIP-219: a broker over a quota answers at once with a throttle time and reads nothing more from the
    /// connection until it passes; the client holds its next request that long instead of sending it into
    /// the muted connection.
    @Test func aThrottleTimeHoldsTheConnectionsNextRequest() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        var configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        configuration.producers = [KafkaProducerConfiguration(deliveryTimeout: .seconds(30))]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            _ = try await client.produce(KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "warm-up"))
            broker.throttleProduceAnswers([1500])
            _ = try await client.produce(KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "throttled"))
            let second = try await client.produce(KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "held"))
            #expect(second.offset == 2)
            let arrivals = broker.producedBatches.map(\.arrived)
            try #require(arrivals.count == 3)
            #expect(arrivals[2] - arrivals[1] >= .milliseconds(1400), "the request after the throttled answer came \(arrivals[2] - arrivals[1]) later")
        }
    }

    /// The first CreateTopics (DeleteTopics) is carried out but its answer is lost with the connection: the
    /// resent request finds the topic there (gone), which is this call's own work, not an error.
    @Test func aResentCreateOrDeleteFindsItsOwnWork() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        let configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            broker.inject(.closeWithoutAnswer, apiKey: CreateTopicsRequest.apiKey)
            try await client.createTopic("resent-create", timeout: .seconds(10))
            #expect(broker.queuedFaults(apiKey: CreateTopicsRequest.apiKey) == 0, "the fault was not used")
            // A plain second create still says the topic exists.
            await #expect(throws: KafkaError.self) { try await client.createTopic("resent-create", timeout: .seconds(10)) }

            broker.inject(.closeWithoutAnswer, apiKey: DeleteTopicsRequest.apiKey)
            try await client.deleteTopic("resent-create", timeout: .seconds(10))
            #expect(broker.queuedFaults(apiKey: DeleteTopicsRequest.apiKey) == 0, "the fault was not used")
            await #expect(throws: KafkaError.self) { try await client.deleteTopic("resent-create", timeout: .seconds(10)) }
        }
    }

    /// NOT_CONTROLLER (a ZooKeeper-era broker that is not the controller) is sent again after a metadata refresh,
    /// for the refused topics only; refused every time, the code comes back.
    @Test func notControllerIsSentAgain() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        let configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            broker.injectTopicErrors([0, 41])  // the second topic of the first request
            let created = try await client.createTopics([.init(name: "nc-a"), .init(name: "nc-b")], timeout: .seconds(10))
            #expect(created.values.allSatisfy { $0 == nil }, "\(created)")
            #expect(broker.queuedTopicErrors == 0)

            broker.injectTopicErrors([41])
            try await client.deleteTopic("nc-a", timeout: .seconds(10))
            #expect(broker.queuedTopicErrors == 0)

            broker.injectTopicErrors(Array(repeating: 41, count: 3))
            let refused = try await client.deleteTopics(["nc-b"], timeout: .seconds(10))
            #expect((refused["nc-b"] ?? nil)?.kafkaCode == 41, "\(refused)")
        }
    }

    @Test("a broker that answers every Produce with garbage: the records fail with a typed error by the delivery timeout, no hang")
    func produceToAGarbageBrokerFailsInTime() async throws {
        let broker = try await BadInputBroker.start(permanent: [ProduceRequest.apiKey: .garbageBody])
        defer { Task { await broker.stop() } }
        var configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        configuration.producers = [KafkaProducerConfiguration(
            deliveryTimeout: .seconds(3), requestTimeout: .seconds(2), retryBackoff: .milliseconds(100))]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            let started = ContinuousClock.now
            let results = await withDeadline(.seconds(20)) {
                await client.produceBatch((0..<3).map { KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "r-\($0)") })
            }
            let elapsed = ContinuousClock.now - started
            let outcomes = try #require(results, "produce to a garbage broker hung")
            for outcome in outcomes {
                guard case .failure(let error) = outcome else {
                    Issue.record("a record answered with garbage succeeded: \(outcome)")
                    continue
                }
                // It may have been written (the broker did get it): the error must say so.
                #expect([.deliveryTimeout, .deliveryOutcomeUnknown].contains(error.code), "\(error)")
            }
            #expect(elapsed < .seconds(12), "took \(elapsed)")
            #expect(broker.producedBatches.count >= 2, "not retried: \(broker.producedBatches)")
        }
    }

    @Test("a bootstrap server that always sends garbage is skipped for the next one", arguments: [
        (ApiVersionsRequest.apiKey, Fault.garbageBody), (MetadataRequest.apiKey, .garbageBody),
        (MetadataRequest.apiKey, .hugeFrameLength), (MetadataRequest.apiKey, .wrongCorrelationID), (MetadataRequest.apiKey, .noAnswer),
    ])
    func bootstrapSkipsAGarbageBroker(apiKey: Int16, fault: Fault) async throws {
        let broker = try await BadInputBroker.start(permanent: [apiKey: fault])
        defer { Task { await broker.stop() } }
        let tansu = try TestBrokers.tansuBootstrap
        var configuration = try ClientTestSupport.configuration(bootstrap: "\(broker.bootstrap),\(tansu)")
        configuration.connection.requestTimeout = .seconds(2)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger, readyTimeout: .seconds(20)) { client in
            let addresses = client.clusterMetadata.sortedBrokers.map(\.address.description)
            #expect(!addresses.contains(broker.bootstrap), "\(addresses)")
            #expect(!addresses.isEmpty)
            _ = try await client.listTopics()
        }
        #expect(broker.acceptedConnections >= 1, "the bad bootstrap server was never tried")
    }
}

extension BadInputBrokerTests {
    /// A Metadata answer that lists no brokers (a broker still starting may send one) is not applied: the
    /// client keeps its brokers and their connections, and the next refresh goes on as usual.
    @Test("a Metadata answer without brokers is ignored: the brokers and their connections stay")
    func metadataWithoutBrokersIsIgnored() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        let configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            _ = try await client.produce(KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "before"))
            let connections = broker.acceptedConnections
            broker.answerMetadataWithoutBrokers(times: 1)
            do {
                let metadata = try await client.refreshMetadata()
                Issue.record("the empty answer was taken: \(metadata.sortedBrokers)")
            } catch let error as KafkaError {
                #expect(error.message.contains("lists no brokers"), "\(error)")
            }
            #expect(client.clusterMetadata.sortedBrokers.map(\.nodeID) == [1])
            let refreshed = try await client.refreshMetadata()
            #expect(refreshed.sortedBrokers.map(\.nodeID) == [1])
            _ = try await client.produce(KafkaRecord(topic: BadInputBroker.topic, partition: 0, value: "after"))
            #expect(broker.acceptedConnections == connections, "connections were closed and dialled again")
        }
    }
}

extension BadInputBrokerTests {
    /// Stopping a client while its Metadata request goes unanswered does not wait for that request's
    /// timeout: cancellation closes the connections.
    @Test("a client stops at once while a Metadata request is unanswered, not after the request timeout")
    func stopsWhileAMetadataRequestIsUnanswered() async throws {
        let broker = try await BadInputBroker.start()
        defer { Task { await broker.stop() } }
        var configuration = try ClientTestSupport.configuration(bootstrap: broker.bootstrap)
        configuration.connection.requestTimeout = .seconds(30)
        let client = try KafkaClient(configuration: configuration, logger: ClientTestSupport.logger)
        let run = Task { try await client.run() }
        try await client.waitUntilReady(timeout: .seconds(20))
        broker.inject(.noAnswer, apiKey: MetadataRequest.apiKey)
        let refresh = Task { try? await client.refreshMetadata() }  // its answer never comes
        try await ClientTestSupport.eventuallyOrFail("the Metadata request reached the broker", timeout: .seconds(10)) {
            broker.queuedFaults(apiKey: MetadataRequest.apiKey) == 0
        }
        let stopped = await ContinuousClock().measure {
            run.cancel()
            try? await run.value
        }
        _ = await refresh.value
        #expect(stopped < .seconds(10), "stopping took \(stopped)")
    }
}
