import KafkaProtocol
import NIOCore

/// The producer engine's link to the cluster: encodes planned requests (record batches written straight
/// into buffers by ``RecordBatchWriter``), writes them on the leader's connection, decodes answers, obtains
/// producer ids and refreshes leaders.
struct ProducerNetworkBackend: ProducerDriverBackend {
    typealias Entry = ProducerEntry

    enum PendingRequest: Sendable {
        case awaitingResponse(EventLoopFuture<ByteBuffer>, version: Int16, connection: KafkaConnection)
        case awaitingWrite(EventLoopFuture<Void>)
        case finished(ProduceRequestResult)
    }

    let cluster: ClusterManager
    let configuration: KafkaProducerConfiguration
    let clientID: String
    /// The client's metrics, looked up once (not per request).
    let metrics: KafkaMetrics

    init(cluster: ClusterManager, configuration: KafkaProducerConfiguration, clientID: String) {
        self.cluster = cluster
        self.configuration = configuration
        self.clientID = clientID
        self.metrics = cluster.metrics
    }
    /// Produce v3 is the first with record batches (magic 2).
    static let minimumProduceVersion: Int16 = 3

    func write(_ plan: ProduceRequestPlan<ProducerEntry>, pinnedTo link: KafkaConnection?) async -> (PendingRequest, KafkaConnection?) {
        let connection: KafkaConnection
        if let link {
            guard link.isActive else {
                return (.finished(.notSent(message: "the connection to broker \(plan.sink.broker) closed with requests outstanding")), nil)
            }
            connection = link
        } else {
            do {
                connection = try await cluster.connection(toBroker: plan.sink.broker, slot: plan.sink.lane == 0 ? nil : plan.sink.lane)
            } catch {
                return (.finished(.notSent(message: "no connection to broker \(plan.sink.broker): \(error)")), nil)
            }
        }
        guard let version = connection.negotiatedVersion(for: ProduceRequest.self), version >= Self.minimumProduceVersion else {
            return (.finished(.notSent(message: "broker \(plan.sink.broker) offers no Produce version >= 3")), nil)
        }
        let frame: ByteBuffer
        do {
            frame = try encode(plan, version: version, allocator: connection.allocator, recycler: connection.frameBuffers)
        } catch {
            // Encoding failures (compression) would repeat on every retry; report them as broker-side
            // corrupt-message rejections so the records fail instead of looping until the timeout.
            // Nothing was written, but the batches fail for good, so later requests may follow.
            return (.finished(.response(plan.batches.map {
                ProducePartitionResult($0.topicPartition, errorCode: ProducerErrorCodes.invalidRecord,
                                       errorMessage: "could not encode the record batch: \(error)")
            })), connection)
        }
        if plan.expectsResponse {
            let timeout = configuration.requestTimeout + .seconds(5)
            return (.awaitingResponse(connection.enqueueFrame(consume frame, timeout: timeout), version: version, connection: connection),
                    connection)
        }
        return (.awaitingWrite(connection.enqueueFrameWithoutResponse(consume frame)), connection)
    }

    func whenAnswered(_ request: PendingRequest, _ answered: @escaping @Sendable (ProduceRequestResult) -> Void) {
        switch request {
        case .finished(let result):
            answered(result)
        case .awaitingWrite(let future):
            future.whenComplete { written in
                switch written {
                case .success: answered(.sentWithoutResponse)
                case .failure(let error): answered(.transportFailure(message: "\(error)"))
                }
            }
        case .awaitingResponse(let future, let version, let connection):
            future.whenComplete { response in
                switch response {
                case .success(var frame): answered(Self.result(decoding: &frame, version: version, connection: connection))
                case .failure(let error): answered(.transportFailure(message: "\(error)"))
                }
            }
        }
    }

    /// The per-partition results of a Produce response frame.
    static func result(decoding frame: inout ByteBuffer, version: Int16, connection: KafkaConnection) -> ProduceRequestResult {
        let response: ProduceResponse
        do {
            // An undecodable answer closes the connection (nothing more from it can be trusted); the
            // requests behind it then fail as closed. The batches' outcome is unknown: retried as such.
            response = try connection.decodeResponse(to: ProduceRequest.self, from: &frame, version: version)
        } catch {
            return .transportFailure(message: "\(error)")
        }
        var results: [ProducePartitionResult] = []
        for topic in response.responses {
            for partition in topic.partitionResponses {
                results.append(ProducePartitionResult(
                    ProducerTopicPartition(topic.name, partition.index), errorCode: partition.errorCode,
                    baseOffset: partition.baseOffset, logAppendTime: partition.logAppendTimeMs,
                    recordErrors: partition.recordErrors.map {
                        .init(batchIndex: $0.batchIndex, message: $0.batchIndexErrorMessage)
                    },
                    errorMessage: partition.errorMessage))
            }
        }
        return .response(results)
    }

    /// One Produce request, every batch written straight into the frame (see ``ProduceFrameEncoder``).
    func encode(
        _ plan: ProduceRequestPlan<ProducerEntry>, version: Int16, allocator: ByteBufferAllocator, recycler: FrameBufferRecycler? = nil
    ) throws -> ByteBuffer {
        try ProduceFrameEncoder.encode(
            plan, version: version,
            timeoutMs: Int32(clamping: configuration.requestTimeout.components.seconds * 1000
                + configuration.requestTimeout.components.attoseconds / 1_000_000_000_000_000),
            clientID: clientID, compression: KafkaCompressionCodec(rawValue: configuration.compression.rawValue) ?? .none,
            compressionLevel: configuration.compressionLevel.map { Int32($0) },
            allocator: allocator, recycler: recycler
        ) { batch, bytes in
            metrics.recordEncodedBatch(producer: configuration.name, attempt: batch.attempt, records: batch.records.count, bytes: bytes)
        }
    }

    func fetchProducerID(_ request: ProducerIDRequest) async throws -> (id: Int64, epoch: Int16) {
        let connection = try await cluster.anyConnection()
        var current = request.current
        if let version = connection.negotiatedVersion(for: InitProducerIdRequest.self), version < 3 {
            current = (-1, -1)  // before v3 a bump cannot be asked for; a new producer id does as well
        }
        let response = try await connection.send(
            InitProducerIdRequest(
                transactionalId: nil, transactionTimeoutMs: 60_000, producerId: current.id, producerEpoch: current.epoch))
        guard response.errorCode == 0 else {
            throw KafkaError(
                .brokerError, "InitProducerId failed with Kafka error code \(response.errorCode)",
                kafkaCode: response.errorCode, isRetriable: ProducerErrorCodes.isRetriable(response.errorCode))
        }
        return (response.producerId, response.producerEpoch)
    }

    func refreshLeaders(of partitions: [ProducerTopicPartition]) async -> [(ProducerTopicPartition, Int32?)] {
        let metadata = (try? await cluster.refreshMetadata()) ?? cluster.metadata
        return partitions.map { topicPartition in
            (topicPartition, metadata.partition(topicPartition).flatMap { $0.hasLeader ? $0.leaderID : nil })
        }
    }

    func eventLoop(of link: KafkaConnection) -> (any EventLoop)? { link.eventLoop }

    func deliver(_ completions: inout [ProducerStateMachineOutput<ProducerEntry>.Completion]) {
        metrics.recordCompletions(producer: configuration.name, completions)
        ProducerEntry.deliver(&completions)
    }
}
