import Synchronization
import Testing
@testable import Klife

/// The lock that serialises calls on one transaction handle.
@Suite struct AsyncSerialLockTests {
    final class Probe: Sendable {
        let state = Mutex((inside: 0, maxInside: 0, order: [Int]()))
    }

    @Test func holdersNeverOverlap() async {
        let lock = AsyncSerialLock()
        let probe = Probe()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    await lock.withLock {
                        probe.state.withLock {
                            $0.inside += 1
                            $0.maxInside = max($0.maxInside, $0.inside)
                            $0.order.append(index)
                        }
                        await Task.yield()
                        probe.state.withLock { $0.inside -= 1 }
                    }
                }
            }
        }
        let state = probe.state.withLock { $0 }
        #expect(state.maxInside == 1)
        #expect(state.order.sorted() == Array(0..<50))
    }

    @Test func aThrowingHolderReleasesTheLock() async {
        struct Failure: Error {}
        let lock = AsyncSerialLock()
        await #expect(throws: Failure.self) { try await lock.withLock { throw Failure() } }
        let value = await lock.withLock { 42 }
        #expect(value == 42)
    }
}

/// Retry pacing of the transactional producer's coordinator steps.
@Suite struct TransactionalProducerBackoffTests {
    @Test func backoffDoublesFrom20MillisecondsUpToThePoolsRetryBackoff() {
        #expect(Self.backoffs(retryBackoff: .seconds(1)) == [20, 40, 80, 160, 320, 640, 1000, 1000].map { Duration.milliseconds($0) })
        #expect(Self.backoffs(retryBackoff: .milliseconds(50)) == [20, 40, 50, 50, 50, 50, 50, 50].map { Duration.milliseconds($0) })
    }

    @Test func transportFailuresAndRetriableErrorsAreTransient() {
        #expect(TransactionalProducer.isTransient(KafkaError(.connectionClosed, "x")))
        #expect(TransactionalProducer.isTransient(KafkaError(.coordinatorNotAvailable, "x", isRetriable: true)))
        #expect(!TransactionalProducer.isTransient(KafkaError(.protocolViolation, "x")))
        #expect(!TransactionalProducer.isTransient(KafkaError(.unsupportedByBroker, "x")))
    }

    static func backoffs(retryBackoff: Duration) -> [Duration] {
        var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9)])
        let pool = KafkaTransactionalPoolConfiguration(retryBackoff: retryBackoff)
        configuration.transactionalPools = [pool]
        let client = try! KafkaClient(configuration: configuration)
        let producer = TransactionalProducer(
            index: 0, transactionalID: "t_0", configuration: pool, clientConfiguration: configuration, cluster: client.cluster, logger: client.logger)
        return (0..<8).map { producer.backoff(attempt: $0) }
    }
}
