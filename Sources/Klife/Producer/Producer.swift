import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One named producer of a client: its engine (``ProducerDriver``) plus record preparation.
///
/// Created on first use by the client and run in the client's task group.
final class Producer<Backend: ProducerDriverBackend>: Sendable, KafkaClientComponent where Backend.Entry == ProducerEntry {
    typealias Item = ProducerDriver<Backend>.Item

    let configuration: KafkaProducerConfiguration
    let driver: ProducerDriver<Backend>
    /// The client's partitioner choice, for routers made by ``submitNow(_:metadata:partitionerOverride:completion:)``.
    let partitioning: ProducerPartitioning?
    /// Keyless bytes routed by a partitioner per topic since its last batch switch (KIP-480 sticky
    /// partitioning moves on after about one batch of data).
    private let keylessBytes = NIOLockedValueBox<[String: Int]>([:])

    init(
        configuration: KafkaProducerConfiguration, backend: Backend, eventLoop: any EventLoop,
        partitioning: ProducerPartitioning? = nil
    ) {
        self.configuration = configuration
        self.partitioning = partitioning
        self.driver = ProducerDriver(
            configuration: Self.engineConfiguration(configuration), backend: backend, eventLoop: eventLoop)
    }

    /// The engine's view of a producer configuration.
    static func engineConfiguration(_ configuration: KafkaProducerConfiguration) -> ProducerStateMachine<ProducerEntry>.Configuration {
        var engine = ProducerStateMachine<ProducerEntry>.Configuration()
        engine.acks = configuration.acks.rawValue
        engine.linger = TimeAmount(configuration.linger)
        engine.batchSizeBytes = configuration.batchSizeBytes
        engine.maxRequestBytes = max(16 << 20, configuration.batchSizeBytes)
        engine.deliveryTimeout = TimeAmount(configuration.deliveryTimeout)
        engine.retryBackoff = TimeAmount(configuration.retryBackoff)
        engine.maxInFlightRequests = configuration.maxInFlightRequests
        engine.lanesPerBroker = configuration.batchersCount
        engine.idempotent = configuration.enableIdempotence && configuration.acks == .all
        engine.maxBufferedBytes = configuration.maxBufferedBytes
        engine.maxBufferedRecords = configuration.maxBufferedRecords
        return engine
    }


    /// Routes `records` (partition and leader), stamps missing timestamps and hands them to the engine in
    /// order.
    ///
    /// - Returns: the records not handed over, by index, with why (routing errors; cancellation or the
    ///   producer stopping while waiting for buffer space). Their completions are not called.
    func submit(
        _ records: [KafkaRecord], router: ProducerRecordRouter, completion: (Int) -> ProducerCompletion
    ) async -> [(Int, KafkaError)] {
        let now = Self.wallClockMilliseconds()
        var rejected: [(Int, KafkaError)] = []
        var items: [Item] = []
        // Input index of each item; only built once a record is rejected (until then item i is record i).
        var itemIndices: [Int]?
        items.reserveCapacity(records.count)
        for index in records.indices {
            do {
                let size = ProducerEntry.estimatedSize(of: records[index])
                if let error = ProducerEntry.sizeError(records[index], size: size, limit: configuration.maxRecordBytes, owner: "producer \(configuration.name)") {
                    throw error
                }
                let route = try router.route(records[index])
                if records[index].partition == nil && records[index].key == nil {
                    noteKeyless(topic: records[index].topic, partition: route.topicPartition.partition, size: size, router: router)
                }
                items.append(Item(
                    entry: ProducerEntry(
                        key: records[index].key, value: records[index].value, headers: records[index].headers,
                        timestamp: records[index].timestamp ?? now, completion: completion(index)),
                    size: size, topicPartition: route.topicPartition, leader: route.leader))
                itemIndices?.append(index)
            } catch {
                if itemIndices == nil { itemIndices = Array(0..<items.count) }
                rejected.append((index, error as? KafkaError ?? KafkaError(.invalidArgument, "\(error)")))
            }
        }
        let appended = await driver.append(items)
        if appended < items.count {
            let error = driver.isStopped
                ? KafkaError(.clientNotRunning, "the producer \(configuration.name) stopped before the record was buffered")
                : KafkaError(.cancelled, "the produce call was cancelled while waiting for buffer space")
            for position in appended..<items.count { rejected.append((itemIndices?[position] ?? position, error)) }
            rejected.sort { $0.0 < $1.0 }
        }
        return rejected
    }

    /// Routes one record and appends it if the engine has buffer space right now (see
    /// ``KafkaClient/submitNow(_:options:completion:)``); never waits.
    func submitNow(
        _ record: KafkaRecord, metadata: KafkaClusterMetadata, partitionerOverride: String?, completion: ProducerCompletion
    ) -> ProducerSubmitNow {
        guard let partitioning else { return .notNow }
        let size = ProducerEntry.estimatedSize(of: record)
        if let error = ProducerEntry.sizeError(record, size: size, limit: configuration.maxRecordBytes, owner: "producer \(configuration.name)") {
            return .rejected(error)
        }
        let router = ProducerRecordRouter(metadata: metadata, partitioning: partitioning, partitionerOverride: partitionerOverride)
        let route: ProducerRecordRouter.Route
        do {
            route = try router.route(record)
        } catch {
            return .rejected(error as? KafkaError ?? KafkaError(.invalidArgument, "\(error)"))
        }
        let timestamp = record.timestamp ?? Self.wallClockMilliseconds()
        guard driver.appendNow(size: size, to: route.topicPartition, leader: route.leader, entry: {
            ProducerEntry(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp, completion: completion)
        }) else {
            return .notNow
        }
        if record.partition == nil && record.key == nil {
            noteKeyless(topic: record.topic, partition: route.topicPartition.partition, size: size, router: router)
        }
        return .buffered
    }

    /// Routes one record by a remembered route (``ProducerTopicRoute``) and appends it if the engine has
    /// buffer space right now; never waits. A record the route cannot place (partition out of range, no
    /// partitioner) is ``ProducerSubmitNow/notNow``: the general path then reports why.
    func submitNow(_ record: KafkaRecord, route: ProducerTopicRoute<Backend>, completion: ProducerCompletion) -> ProducerSubmitNow {
        var record = record
        var completion = completion
        return submitNow(&record, route: route, completion: &completion)
    }

    /// ``submitNow(_:route:completion:)`` that moves the record's key, value and headers and the completion
    /// into the engine (no reference counting per record): when buffered, `record` is left without them and
    /// `completion` is ``ProducerCompletion/none``; otherwise (``ProducerSubmitNow/notNow``) both are as given.
    func submitNow(
        _ record: inout KafkaRecord, route: ProducerTopicRoute<Backend>, completion: inout ProducerCompletion
    ) -> ProducerSubmitNow {
        let partition: Int32
        if let explicit = record.partition {
            guard explicit >= 0 && explicit < route.partitionCount else { return .notNow }
            partition = explicit
        } else {
            guard let partitioner = route.partitioner else { return .notNow }
            partition = partitioner.partition(for: record, partitionCount: route.partitionCount)
            guard partition >= 0 && partition < route.partitionCount else { return .notNow }
            // A keyless record bound for a partition without a leader: the general path may place it elsewhere.
            if record.key == nil && route.leader(of: partition) == nil { return .notNow }
        }
        let size = ProducerEntry.estimatedSize(of: record)
        // Too large: the general path reports it.
        guard size <= configuration.maxRecordBytes else { return .notNow }
        let keyless = record.partition == nil && record.key == nil
        let timestamp = record.timestamp ?? Self.wallClockMilliseconds()
        // The entry is made only once the engine has room: a refused record keeps everything.
        guard driver.appendNow(
            size: size, to: ProducerTopicPartition(route.topic, partition), leader: route.leader(of: partition),
            entry: { ProducerEntry(taking: &record, timestamp: timestamp, completion: &completion) })
        else { return .notNow }
        if keyless, let partitioner = route.partitioner,
           route.noteKeyless(size: size, batchSize: configuration.batchSizeBytes) {
            partitioner.onNewBatch(topic: route.topic, previousPartition: partition, partitionCount: route.partitionCount)
        }
        return .buffered
    }

    /// Tells the record's partitioner that a batch is full once a batch's worth of keyless bytes went to
    /// the current sticky partition, so that it moves on (Kafka's KIP-480 behaviour).
    private func noteKeyless(topic: String, partition: Int32, size: Int, router: ProducerRecordRouter) {
        guard let partitioner = router.partitioner(forTopic: topic), let count = router.metadata.partitionCount(of: topic) else {
            return
        }
        noteKeyless(topic: topic, partition: partition, size: size, partitioner: partitioner, partitionCount: count)
    }

    private func noteKeyless(topic: String, partition: Int32, size: Int, partitioner: any KafkaPartitioner, partitionCount: Int32) {
        let full = keylessBytes.withLockedValue { bytes -> Bool in
            bytes[topic, default: 0] += size
            guard bytes[topic]! >= configuration.batchSizeBytes else { return false }
            bytes[topic] = 0
            return true
        }
        guard full else { return }
        partitioner.onNewBatch(topic: topic, previousPartition: partition, partitionCount: partitionCount)
    }

    func run() async {
        await driver.run()
        driver.stop()
    }

    /// Flushes, then stops (graceful shutdown).
    func shutdownGracefully() async {
        await driver.flush()
        driver.stop()
    }

    static func wallClockMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of a produce call's attempt to buffer a record without waiting.
enum ProducerSubmitNow {
    /// Buffered; the completion will be called.
    case buffered
    /// Refused for good (routing: unknown topic, bad partition, …); the completion will not be called.
    case rejected(KafkaError)
    /// Not buffered, for a reason the waiting path handles (buffer full, producer stopped or not created,
    /// client not running, metadata to refresh); the completion will not be called.
    case notNow
}
