import Foundation
import Klife
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// Graceful shutdown as swift-service-lifecycle drives it: buffered records are delivered, consumer groups
/// commit and leave, all before `run()` returns (Tansu).
@Suite("Graceful shutdown", .serialized)
struct GracefulShutdownTests {
    static func quietLogger() -> Logger {
        var logger = Logger(label: "graceful-shutdown-test")
        logger.logLevel = .critical
        return logger
    }

    @Test("graceful shutdown delivers records still lingering in the producer")
    func gracefulShutdownFlushesProducers() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("graceful-produce")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        var configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap))
        // A long linger: without the flush on shutdown the records would wait a minute.
        configuration.producers = [KafkaProducerConfiguration(linger: .seconds(60), deliveryTimeout: .seconds(120))]
        let client = try KafkaClient(configuration: configuration, logger: Self.quietLogger())
        let delivered = Mutex<[Result<KafkaRecord, KafkaError>]>([])

        let elapsed = try await ContinuousClock().measure {
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await client.run() }
                    try await client.waitUntilReady(timeout: .seconds(30))
                    for index in 0..<20 {
                        try await client.produceAsync(KafkaRecord(topic: topic, value: "r\(index)")) { result in
                            delivered.withLock { $0.append(result) }
                        }
                    }
                    #expect(delivered.withLock { $0.isEmpty })  // still lingering
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()  // run() returned
                }
            }
        }
        let results = delivered.withLock { $0 }
        #expect(results.count == 20)
        #expect(results.allSatisfy { if case .success(let record) = $0 { record.offset != nil } else { false } })
        #expect(elapsed < .seconds(30))
    }

    struct BodyFailed: Error {}

    @Test("a handler finishing its batch during a graceful shutdown may still produce (consume-transform-produce)")
    func handlersProduceWhileTheShutdownStopsTheirMember() async throws {
        let fixture = try await GroupTopicFixture("graceful-transform")
        let output = TestBrokers.uniqueName("graceful-transform-out")
        try await RdKafkaTool.createTopic(bootstrap: fixture.bootstrap, topic: output, partitions: 1)
        let configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(fixture.bootstrap))
        let client = try KafkaClient(configuration: configuration, logger: Self.quietLogger())
        let inHandler = Atomic<Bool>(false)
        let shutdownBegun = Atomic<Bool>(false)
        let produced = Mutex<[Result<Int64, KafkaError>]>([])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.run() }
            try await client.waitUntilReady(timeout: .seconds(30))
            _ = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(fixture.group, fixture.topic)) { batch in
                inHandler.store(true, ordering: .releasing)
                let deadline = ContinuousClock.now + .seconds(30)
                while !shutdownBegun.load(ordering: .acquiring), ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                // The client's first produce: its producer is made while the shutdown stops the member.
                for record in batch.records {
                    do {
                        let written = try await client.produce(KafkaRecord(topic: output, value: record.value))
                        produced.withLock { $0.append(.success(written.offset ?? -1)) }
                    } catch let error as KafkaError {
                        produced.withLock { $0.append(.failure(error)) }
                        throw error
                    }
                }
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("a batch is being handled") { inHandler.load(ordering: .acquiring) }
            client.shutdownGracefully()
            shutdownBegun.store(true, ordering: .releasing)
            try await tasks.waitForAll()
        }
        let results = produced.withLock { $0 }
        #expect(results.count == 5, "\(results)")
        #expect(results.allSatisfy { if case .success(let offset) = $0 { offset >= 0 } else { false } }, "\(results)")
        try await FetchTests.withClient(fixture.bootstrap) { client in
            let committed = try await client.committedOffsets(group: fixture.group, partitions: [fixture.partition])
            #expect(committed[fixture.partition]?.offset == 5, "\(committed)")
        }
    }

    @Test("withRunningClient whose body throws still delivers the records the body handed over, then rethrows")
    func withRunningClientDeliversWhenTheBodyThrows() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("graceful-throw")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        var configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap))
        // A long linger: the records still wait in the producer when the body throws.
        configuration.producers = [KafkaProducerConfiguration(linger: .seconds(60), deliveryTimeout: .seconds(120))]
        let delivered = Mutex<[Result<KafkaRecord, KafkaError>]>([])
        await #expect(throws: BodyFailed.self) {
            try await KafkaClient.withRunningClient(configuration: configuration, logger: Self.quietLogger()) { client in
                for index in 0..<5 {
                    try await client.produceAsync(KafkaRecord(topic: topic, value: "r\(index)")) { result in
                        delivered.withLock { $0.append(result) }
                    }
                }
                throw BodyFailed()
            }
        }
        let results = delivered.withLock { $0 }
        #expect(results.count == 5)
        #expect(results.allSatisfy { if case .success(let record) = $0 { record.offset != nil } else { false } }, "\(results)")
    }

    @Test("graceful shutdown waits for an open transaction to commit before run() returns")
    func gracefulShutdownLetsOpenTransactionsFinish() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("graceful-txn")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        var configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap))
        configuration.transactionalPools = [KafkaTransactionalPoolConfiguration(poolSize: 2)]
        let client = try KafkaClient(configuration: configuration, logger: Self.quietLogger())
        let (inside, insideContinuation) = AsyncStream.makeStream(of: Void.self)
        let (gate, gateContinuation) = AsyncStream.makeStream(of: Void.self)
        let (runDone, runDoneContinuation) = AsyncStream.makeStream(of: Void.self)

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: String.self) { group in
                group.addTask {
                    try await client.run()
                    runDoneContinuation.finish()
                    return "run"
                }
                try await client.waitUntilReady(timeout: .seconds(30))
                group.addTask {
                    try await client.withTransaction { txn in
                        _ = try await txn.produce(KafkaRecord(topic: topic, partition: 0, value: "inside"))
                        insideContinuation.yield()
                        for await _ in gate { break }  // held open until the test lets it commit
                    }
                    return "transaction"
                }
                for await _ in inside { break }
                trigger.triggerGracefulShutdown()
                // While the transaction is open, run() must not return (give it 2 s to do so wrongly).
                let early = await withDeadline(.seconds(2)) { () -> Bool in
                    while client.isFeatureAvailable(.transactionalProducer) {
                        do {
                            try await client.withTransaction { _ in }
                        } catch {
                            // clientNotRunning before any transaction started: the client is shutting down.
                            if (error as? KafkaTransactionError)?.beginError?.code == .clientNotRunning { break }
                        }
                    }
                    return true
                }
                #expect(early == true, "the client never started shutting down")
                let runReturnedEarly = await withDeadline(.seconds(2)) { () -> Bool in
                    for await _ in runDone {}
                    return true
                }
                #expect(runReturnedEarly == nil, "run() returned while the transaction was open")
                gateContinuation.finish()
                var finished: [String] = []
                while let next = try await group.next() { finished.append(next) }
                #expect(Set(finished) == ["run", "transaction"])
            }
        }
        let committed = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: topic, isolation: .readCommitted, count: 1)
        #expect(committed.map(\.valueString) == ["inside"])
    }

    /// (Leaving is not observable here: Tansu holds every first join for about half the session timeout
    /// either way; the member state machine's tests cover the LeaveGroup.)
    @Test("a ServiceGroup's graceful shutdown stops the group member after committing what it handled")
    func gracefulShutdownCommitsAndLeaves() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("graceful-group")
        let groupID = TestBrokers.uniqueName("graceful")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<5).map { (key: nil, value: "old-\($0)") }, partition: 0)
        let groupConfiguration = KafkaConsumerGroupConfiguration(
            groupID: groupID, topics: [topic], sessionTimeout: .seconds(6),
            heartbeatInterval: .milliseconds(500), offsetResetPolicy: .earliest)
        let configuration = KafkaClient.Configuration(bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap))

        let firstSeen = Mutex<[String]>([])
        let first = try KafkaClient(configuration: configuration, logger: Self.quietLogger())
        var serviceConfiguration = ServiceGroupConfiguration(services: [first], logger: Self.quietLogger())
        serviceConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        let serviceGroup = ServiceGroup(configuration: serviceConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await serviceGroup.run() }
            try await first.waitUntilReady(timeout: .seconds(30))
            _ = try first.startConsumerGroup(groupConfiguration) { batch in
                firstSeen.withLock { $0 += batch.records.compactMap(\.valueString) }
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the first member handled the old records") { firstSeen.withLock { $0.count } >= 5 }
            let shutdownStart = ContinuousClock.now
            await serviceGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(ContinuousClock.now - shutdownStart < .seconds(20))
        }
        #expect(firstSeen.withLock { $0 } == (0..<5).map { "old-\($0)" })

        // A new member resumes after the commit: it sees only the new record.
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: "new")], partition: 0)
        let secondSeen = Mutex<[String]>([])
        let start = ContinuousClock.now
        try await FetchTests.withClient(bootstrap) { client in
            let member = try client.startConsumerGroup(groupConfiguration) { batch in
                secondSeen.withLock { $0 += batch.records.compactMap(\.valueString) }
                return .commit
            }
            try await ConsumerGroupTests.waitUntil("the second member handled the new record") { !secondSeen.withLock { $0.isEmpty } }
            await member.stop()
        }
        #expect(secondSeen.withLock { $0 } == ["new"])
        #expect(ContinuousClock.now - start < .seconds(30))
    }
}
