#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KafkaProtocol
import NIOCore

extension TransactionalProducer {
    /// Largest uncompressed batch put in one Produce request per partition (Kafka's default
    /// `message.max.bytes` is 1 MiB); more records go in the next request.
    static let maxBatchBytes = 1_000_000

    /// One partition's records waiting to be written, in input order.
    struct PartitionQueue {
        var topicPartition: KafkaTopicPartition
        var indices: [Int]
        /// Records before `cursor` are written (or failed).
        var cursor = 0
        var isDone: Bool { cursor >= indices.count }
    }

    /// One Produce request's answer for one partition.
    struct PartitionAnswer {
        var errorCode: Int16
        var baseOffset: Int64
        var logAppendTime: Int64
        var message: String?
    }

    /// Produces `records` in the open transaction: routes each record to a partition, adds the partitions new
    /// to the transaction (one AddPartitionsToTxn), then sends one Produce request per leader broker with one
    /// transactional batch per partition, retrying retriable errors with the same sequence numbers until the
    /// pool's delivery timeout.
    ///
    /// - Returns: one result per record, in input order. A failed record makes the transaction abort-only.
    func produce(_ records: [KafkaRecord]) async -> [Result<KafkaRecord, KafkaError>] {
        var results = [Result<KafkaRecord, KafkaError>?](repeating: nil, count: records.count)
        func failPending(_ error: KafkaError, where condition: (Int) -> Bool = { _ in true }) {
            for index in results.indices where results[index] == nil && condition(index) {
                results[index] = .failure(error)
            }
        }
        func finish() -> [Result<KafkaRecord, KafkaError>] {
            results.map { $0 ?? .failure(KafkaError(.transactionAbortable, "the record was not produced")) }
        }
        do {
            try machine.withLock { try $0.requireOpen() }
        } catch {
            failPending(ClusterManager.asKafkaError(error))
            return finish()
        }
        let deadline = ContinuousClock.now + configuration.deliveryTimeout

        // Route every record to a partition (topics unknown so far are looked up once).
        var routed = records
        var queues: [PartitionQueue] = []
        var queueIndex: [KafkaTopicPartition: Int] = [:]
        var firstFailure: KafkaError?
        let topics = Set(records.map(\.topic))
        for topic in topics.sorted() where cluster.metadata.partitionCount(of: topic) == nil {
            do {
                _ = try await cluster.topicMetadata(topic)
            } catch {
                let kafkaError = ClusterManager.asKafkaError(error)
                firstFailure = firstFailure ?? kafkaError
                failPending(kafkaError) { records[$0].topic == topic }
            }
        }
        let metadata = cluster.metadata
        let timestamp = Self.currentTimeMilliseconds()
        var keylessPartitions: [String: Int32] = [:]
        for index in records.indices where results[index] == nil {
            do {
                if let error = ProducerEntry.sizeError(
                    records[index], size: ProducerEntry.estimatedSize(of: records[index]), limit: configuration.maxRecordBytes,
                    owner: "transactional pool \(configuration.name)")
                {
                    throw error
                }
                let partition = try route(&routed[index], metadata: metadata)
                if records[index].partition == nil && records[index].key == nil { keylessPartitions[records[index].topic] = partition }
                if routed[index].timestamp == nil { routed[index].timestamp = timestamp }
                let topicPartition = KafkaTopicPartition(topic: routed[index].topic, partition: partition)
                if let position = queueIndex[topicPartition] {
                    queues[position].indices.append(index)
                } else {
                    queueIndex[topicPartition] = queues.count
                    queues.append(PartitionQueue(topicPartition: topicPartition, indices: [index]))
                }
            } catch {
                let kafkaError = ClusterManager.asKafkaError(error)
                firstFailure = firstFailure ?? kafkaError
                failPending(kafkaError) { $0 == index }
            }
        }
        // Keyless records of this call formed one batch per topic: let a sticky partitioner move on (KIP-480).
        for (topic, partition) in keylessPartitions {
            if let count = metadata.partitionCount(of: topic) {
                clientConfiguration.partitioner(forTopic: topic)?.onNewBatch(topic: topic, previousPartition: partition, partitionCount: count)
            }
        }
        if let firstFailure { machine.withLock { $0.recordsFailed(firstFailure) } }
        guard !queues.isEmpty else { return finish() }

        do {
            try await addPartitions(Set(queues.map(\.topicPartition)), deadline: deadline)
        } catch {
            failPending(ClusterManager.asKafkaError(error))
            return finish()
        }

        var attempt = 0
        var lastReason: KafkaError?
        while queues.contains(where: { !$0.isDone }) {
            if case .fatal(let error) = machine.withLock({ $0.state }) {
                failPending(error)
                break
            }
            let snapshot = cluster.metadata
            var byLeader: [Int32: [Int]] = [:]
            var needRefresh = false
            for (position, queue) in queues.enumerated() where !queue.isDone {
                if let leader = snapshot.partition(queue.topicPartition).flatMap({ $0.hasLeader ? $0.leaderID : nil }) {
                    byLeader[leader, default: []].append(position)
                } else {
                    needRefresh = true
                    lastReason = KafkaError(.leaderNotAvailable, "\(queue.topicPartition) has no leader", kafkaCode: 5, isRetriable: true)
                }
            }
            // One Produce request per leader, all in flight together; each partition has one batch in flight.
            let plans: [(leader: Int32, chunks: [(position: Int, count: Int)])] = byLeader.sorted { $0.key < $1.key }.map { leader, positions in
                (leader, positions.map { ($0, chunkSize(queues[$0], records: routed)) })
            }
            let answers = await withTaskGroup(of: (Int, Result<[KafkaTopicPartition: PartitionAnswer], KafkaError>).self) { group in
                for (planIndex, plan) in plans.enumerated() {
                    let batches = plan.chunks.map { chunk in
                        let queue = queues[chunk.position]
                        return (queue.topicPartition, queue.indices[queue.cursor..<(queue.cursor + chunk.count)].map { routed[$0] })
                    }
                    group.addTask { (planIndex, await self.sendProduce(to: plan.leader, batches: batches)) }
                }
                var collected: [Int: Result<[KafkaTopicPartition: PartitionAnswer], KafkaError>] = [:]
                for await (planIndex, answer) in group { collected[planIndex] = answer }
                return collected
            }
            var progressed = false
            for (planIndex, plan) in plans.enumerated() {
                switch answers[planIndex]! {
                case .failure(let error):
                    lastReason = error
                    if !TransactionalProducer.isTransient(error) {
                        machine.withLock { $0.recordsFailed(error) }
                        for chunk in plan.chunks { failQueue(&queues[chunk.position], error, &results, records) }
                    } else {
                        needRefresh = true
                    }
                case .success(let byPartition):
                    for chunk in plan.chunks {
                        let topicPartition = queues[chunk.position].topicPartition
                        guard let answer = byPartition[topicPartition] else {
                            lastReason = KafkaError(.protocolViolation, "the Produce response left out \(topicPartition)", isRetriable: true)
                            continue
                        }
                        let outcome = machine.withLock { $0.produceCompleted(topicPartition, errorCode: answer.errorCode, recordCount: chunk.count) }
                        switch outcome {
                        case .appended:
                            progressed = true
                            let queue = queues[chunk.position]
                            for (offsetDelta, index) in queue.indices[queue.cursor..<(queue.cursor + chunk.count)].enumerated() {
                                var produced = routed[index]
                                produced.offset = answer.baseOffset >= 0 ? answer.baseOffset &+ Int64(offsetDelta) : nil
                                if answer.logAppendTime >= 0 { produced.timestamp = answer.logAppendTime }
                                results[index] = .success(produced)
                            }
                            queues[chunk.position].cursor += chunk.count
                        case .retry(let refresh, let reason):
                            lastReason = reason
                            if refresh { needRefresh = true }
                        case .failed(var error):
                            if let message = answer.message, !message.isEmpty { error.message += ": \(message)" }
                            failQueue(&queues[chunk.position], error, &results, records)
                        }
                    }
                }
            }
            if case .abortableError(let error) = machine.withLock({ $0.state }) {
                // The transaction can only abort now: writing the rest would be wasted.
                failPending(error)
                break
            }
            guard queues.contains(where: { !$0.isDone }) else { break }
            if progressed {
                attempt = 0
                continue
            }
            let delay = backoff(attempt: attempt)
            attempt += 1
            if ContinuousClock.now + delay >= deadline {
                let error = KafkaError(
                    .transactionTimedOut,
                    "the records were not acknowledged within the delivery timeout (\(configuration.deliveryTimeout))"
                        + (lastReason.map { "; last error: \($0.message)" } ?? ""),
                    kafkaCode: lastReason?.kafkaCode, isRetriable: true, underlying: lastReason)
                machine.withLock { $0.recordsFailed(error) }
                failPending(error)
                break
            }
            if Task.isCancelled && attempt > Self.attemptsWhenCancelled {
                let error = KafkaError(.cancelled, "the task was cancelled before the records were acknowledged", underlying: lastReason)
                machine.withLock { $0.recordsFailed(error) }
                failPending(error)
                break
            }
            if needRefresh { _ = try? await cluster.refreshMetadata() }
            try? await Task.sleep(for: delay)
        }
        return finish()
    }

    /// The partition of `record` (set on it): the record's own, else the partitioner's.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unknownTopicOrPartition``, ``KafkaError/Code/invalidPartition``
    ///   or ``KafkaError/Code/invalidArgument``.
    func route(_ record: inout KafkaRecord, metadata: KafkaClusterMetadata) throws -> Int32 {
        guard !record.topic.isEmpty else { throw KafkaError(.invalidArgument, "a record needs a topic name") }
        guard let count = metadata.partitionCount(of: record.topic), count > 0 else {
            throw KafkaError(.unknownTopicOrPartition, "topic \(record.topic) is not in the cluster metadata", kafkaCode: 3)
        }
        if !clientConfiguration.acceptsRecords(forTopic: record.topic) {
            throw ProducerPartitioning.notConfiguredError(record.topic)
        }
        if let partition = record.partition {
            guard partition >= 0 && partition < count else {
                throw KafkaError(.invalidPartition, "partition \(partition) of topic \(record.topic) does not exist (the topic has \(count) partitions)")
            }
            return partition
        }
        guard let partitioner = clientConfiguration.partitioner(forTopic: record.topic) else {
            throw KafkaError(.invalidArgument, "no partitioner is configured for topic \(record.topic)")
        }
        var partition = partitioner.partition(for: record, partitionCount: count)
        guard partition >= 0 && partition < count else {
            throw KafkaError(.invalidPartition, "the partitioner chose partition \(partition) of topic \(record.topic), which has \(count) partitions")
        }
        if record.key == nil, let topic = metadata.topics[record.topic] {
            partition = ProducerRecordRouter.avoidingLeaderless(partition, record: record, partitioner: partitioner, topic: topic)
        }
        record.partition = partition
        return partition
    }

    /// How many of the queue's next records fit one batch (at least one).
    private func chunkSize(_ queue: PartitionQueue, records: [KafkaRecord]) -> Int {
        var bytes = 0
        var count = 0
        for index in queue.indices[queue.cursor...] {
            let record = records[index]
            bytes += (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0) + 24
                + record.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.readableBytes ?? 0) + 8 }
            if count > 0 && bytes > Self.maxBatchBytes { break }
            count += 1
        }
        return count
    }

    private func failQueue(_ queue: inout PartitionQueue, _ error: KafkaError, _ results: inout [Result<KafkaRecord, KafkaError>?], _ records: [KafkaRecord]) {
        for index in queue.indices[queue.cursor...] where results[index] == nil {
            results[index] = .failure(error)
        }
        queue.cursor = queue.indices.count
    }

    /// Sends one Produce request with one transactional batch per partition to broker `leader`.
    private func sendProduce(
        to leader: Int32, batches: [(KafkaTopicPartition, [KafkaRecord])]
    ) async -> Result<[KafkaTopicPartition: PartitionAnswer], KafkaError> {
        do {
            let connection = try await cluster.connection(toBroker: leader)
            guard let version = connection.negotiatedVersion(for: ProduceRequest.self) else {
                throw KafkaError(.unsupportedByBroker, "broker \(leader) offers no Produce version >= 3")
            }
            let (producerID, epoch, sequences) = machine.withLock { machine in
                (machine.producerID, machine.producerEpoch, batches.map { machine.sequence(for: $0.0) })
            }
            let request = try Self.produceRequest(
                transactionalID: transactionalID, producerID: producerID, producerEpoch: epoch,
                batches: zip(batches, sequences).map { ($0.0, $1, $0.1) },
                compression: KafkaCompressionCodec(rawValue: configuration.compression.rawValue) ?? .none,
                compressionLevel: configuration.compressionLevel.map { Int32($0) },
                timeoutMs: Self.wholeMilliseconds(configuration.requestTimeout), allocator: connection.allocator)
            let size = request.topicData.reduce(128) { total, topic in
                total + topic.partitionData.reduce(topic.name.utf8.count + 16) { $0 + ($1.records?.readableBytes ?? 0) + 16 }
            }
            var frame = connection.allocator.buffer(capacity: size)
            try request.encodeFrame(into: &frame, version: version, correlationID: 0, clientID: connection.clientID)
            var responseFrame = try await connection.sendFrame(frame, timeout: configuration.requestTimeout + .seconds(5))
            let response = try connection.decodeResponse(to: ProduceRequest.self, from: &responseFrame, version: version)
            var answers: [KafkaTopicPartition: PartitionAnswer] = [:]
            for topic in response.responses {
                for partition in topic.partitionResponses {
                    answers[KafkaTopicPartition(topic: topic.name, partition: partition.index)] = PartitionAnswer(
                        errorCode: partition.errorCode, baseOffset: partition.baseOffset, logAppendTime: partition.logAppendTimeMs,
                        message: partition.errorMessage)
                }
            }
            return .success(answers)
        } catch {
            return .failure(ClusterManager.asKafkaError(error))
        }
    }

    /// A transactional Produce request (acks = all): each batch carries the producer id, epoch, its base
    /// sequence and the transactional attribute.
    ///
    /// - Throws: a compression failure from ``RecordBatchWriter/finish()``.
    static func produceRequest(
        transactionalID: String, producerID: Int64, producerEpoch: Int16,
        batches: [(topicPartition: KafkaTopicPartition, baseSequence: Int32, records: [KafkaRecord])],
        compression: KafkaCompressionCodec, compressionLevel: Int32? = nil, timeoutMs: Int32, allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws -> ProduceRequest {
        var topicIndex: [String: Int] = [:]
        var topicData: [ProduceRequest.TopicProduceData] = []
        for batch in batches {
            let estimate = batch.records.reduce(61) {
                $0 + ($1.key?.readableBytes ?? 0) + ($1.value?.readableBytes ?? 0) + 24
            }
            var writer = RecordBatchWriter(
                buffer: allocator.buffer(capacity: estimate), producerId: producerID, producerEpoch: producerEpoch,
                baseSequence: batch.baseSequence, isTransactional: true, compression: compression,
                compressionLevel: compressionLevel)
            for record in batch.records {
                writer.append(
                    key: record.key, value: record.value, headers: record.headers.map { RecordHeader(key: $0.key, value: $0.value) },
                    timestamp: record.timestamp ?? 0)
            }
            let partition = ProduceRequest.PartitionProduceData(index: batch.topicPartition.partition, records: try writer.finish())
            if let position = topicIndex[batch.topicPartition.topic] {
                topicData[position].partitionData.append(partition)
            } else {
                topicIndex[batch.topicPartition.topic] = topicData.count
                topicData.append(ProduceRequest.TopicProduceData(name: batch.topicPartition.topic, partitionData: [partition]))
            }
        }
        return ProduceRequest(transactionalId: transactionalID, acks: -1, timeoutMs: timeoutMs, topicData: topicData)
    }

    /// Milliseconds since the Unix epoch (the record timestamp of records that bring none).
    static func currentTimeMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
