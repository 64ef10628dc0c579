import Foundation
import Klife
import Testing

/// Issue 8's "Tansu killed with SIGKILL and restarted while producing": an idempotent producer keeps
/// producing while its only broker dies and comes back empty (memory storage: its topics and producer ids
/// are gone). Every record must get exactly one result, no call may hang, failures must be typed, and the
/// same producer must then deliver to the restarted broker correctly: a topic created there afterwards holds
/// each acknowledged record once, at its reported offset, in produce order.
///
/// The topic written before the kill is not checked afterwards: Tansu answers a Produce to a topic it does
/// not have with success and offset 0 (`../shared/broker/TANSU.md` §4; Kafka answers
/// UNKNOWN_TOPIC_OR_PARTITION), and re-creating that topic under the producer's feet leaves offsets that
/// Fetch does not confirm. That is the broker's fault, so this test gives the restarted broker a new topic.
@Suite("Producing while Tansu is SIGKILLed and restarted")
struct TansuKilledWhileProducingTests {
    /// One produced record's outcome, as its callback reported it.
    struct Outcome: Sendable {
        var offset: Int64?
        var error: KafkaError?
    }

    /// Produces `topic`'s records `prefix-0`, `prefix-1`, … in batches of 20 until `stop`, recording outcomes.
    static func produceUntilStopped(
        _ client: KafkaClient, topic: String, prefix: String, outcomes: LockedBox<[String: Outcome]>,
        produced: LockedBox<[String: Int]>, stop: LockedBox<Bool>
    ) async throws {
        var index = 0
        while !stop.withLock({ $0 }) {
            let records = (0..<20).map { KafkaRecord(topic: topic, partition: 0, value: "\(prefix)-\(index + $0)") }
            index += records.count
            await client.produceBatchAsync(records) { results in
                outcomes.withLock { outcomes in
                    for (record, result) in zip(records, results) {
                        let key = record.valueString!
                        if outcomes[key] != nil { Issue.record("record \(key) got a second result") }
                        switch result {
                        case .success(let done): outcomes[key] = Outcome(offset: done.offset, error: nil)
                        case .failure(let error): outcomes[key] = Outcome(offset: nil, error: error)
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        produced.withLock { $0[prefix] = index }
    }

    @Test(
        "every record gets one result, failures are typed, and the producer delivers to the restarted broker exactly once, in order",
        .timeLimit(.minutes(3)))
    func killedWhileProducing() async throws {
        let (tansu, bootstrap) = try await TansuControl.startPrivate(prefix: "tansu-killprod")
        do {
            var configuration = try ClientTestSupport.configuration(bootstrap: bootstrap)
            configuration.connection.requestTimeout = .seconds(3)
            configuration.metadataRefreshInterval = .seconds(1)
            configuration.producers = [
                KafkaProducerConfiguration(
                    linger: .milliseconds(5), deliveryTimeout: .seconds(30), requestTimeout: .seconds(3),
                    retryBackoff: .milliseconds(100), maxInFlightRequests: 5)
            ]
            let before = TestBrokers.uniqueName("killprod-a")
            let after = TestBrokers.uniqueName("killprod-b")
            let outcomes = LockedBox<[String: Outcome]>([:])
            let produced = LockedBox<[String: Int]>([:])
            try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
                try await client.createTopic(before)
                _ = try await client.refreshMetadata()
                let stopBefore = LockedBox(false)
                let stopAfter = LockedBox(false)
                func acknowledged(_ prefix: String) -> Int {
                    outcomes.withLock { $0.filter { $0.key.hasPrefix(prefix + "-") && $0.value.offset != nil }.count }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await Self.produceUntilStopped(client, topic: before, prefix: "a", outcomes: outcomes, produced: produced, stop: stopBefore) }
                    try await ClientTestSupport.eventuallyOrFail("records acknowledged before the kill", timeout: .seconds(30)) {
                        acknowledged("a") >= 200
                    }
                    try await tansu.kill()
                    // The producer runs into the dead broker for a while (connections refused, batches waiting).
                    let killedAt = ContinuousClock.now
                    try await ClientTestSupport.eventuallyOrFail("two seconds without a broker") { ContinuousClock.now - killedAt > .seconds(2) }
                    _ = try await tansu.restart()
                    try await ClientTestSupport.eventuallyOrFail("a topic created on the restarted broker", timeout: .seconds(30)) {
                        (try? await client.createTopic(after)) != nil
                    }
                    group.addTask { try await Self.produceUntilStopped(client, topic: after, prefix: "b", outcomes: outcomes, produced: produced, stop: stopAfter) }
                    try await ClientTestSupport.eventuallyOrFail("records acknowledged by the restarted broker", timeout: .seconds(45)) {
                        acknowledged("b") >= 300
                    }
                    stopBefore.withLock { $0 = true }
                    stopAfter.withLock { $0 = true }
                    try await group.waitForAll()
                }
                // Every record is settled within its delivery timeout: flush returns (the time limit catches a hang).
                let flushStarted = ContinuousClock.now
                try await client.flush()
                #expect(ContinuousClock.now - flushStarted < .seconds(45), "flush took \(ContinuousClock.now - flushStarted)")
            }

            let all = outcomes.withLock { $0 }
            let unsettled = produced.withLock { $0 }.flatMap { prefix, count in (0..<count).map { "\(prefix)-\($0)" } }.filter { all[$0] == nil }
            #expect(unsettled.isEmpty, "\(unsettled.count) records never got a result, e.g. \(unsettled.prefix(3))")
            for (value, outcome) in all {
                if let error = outcome.error {
                    // Records caught by the kill fail only with what a lost broker can cause.
                    let expected: Set<KafkaError.Code> = [
                        .deliveryTimeout, .deliveryOutcomeUnknown, .unknownTopicOrPartition, .brokerError, .connectionFailed,
                    ]
                    #expect(expected.contains(error.code), "record \(value): \(error)")
                }
            }
            // The topic created on the restarted broker: every acknowledged record once, at its offset, in order.
            let acknowledgedAfter = all.filter { $0.key.hasPrefix("b-") && $0.value.offset != nil }
            let log = try await RdKafkaTool.consume(bootstrap: bootstrap, topic: after, isolation: .readUncommitted, timeoutMilliseconds: 5_000)
            let values = log.map { String(decoding: $0.value ?? [], as: UTF8.self) }
            let valueAt = Dictionary(zip(log.map(\.offset), values), uniquingKeysWith: { first, _ in first })
            for (value, outcome) in acknowledgedAfter where valueAt[outcome.offset!] != value {
                Issue.record("\(value) acknowledged at offset \(outcome.offset!), the log has \(valueAt[outcome.offset!] ?? "nothing") there")
            }
            #expect(Set(values).count == values.count, "the log holds a record twice")
            let indices = values.compactMap { Int($0.dropFirst(2)) }
            #expect(zip(indices, indices.dropFirst()).allSatisfy { $0 < $1 }, "the log is out of produce order")
            #expect(acknowledgedAfter.count >= 300)
        } catch {
            try? await tansu.stop()
            throw error
        }
        try await tansu.stop()
    }
}
