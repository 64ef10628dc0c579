import KafkaProtocol
import NIOCore
import NIOPosix
import Synchronization

@testable import Klife

/// A broker impostor in the test process that answers ApiVersions, Metadata, FindCoordinator, InitProducerId
/// and Produce correctly (it advertises itself as node 1, coordinator of everything and leader of the one
/// partition of ``topic``, and acknowledges every Produce) until a test queues a fault for an API:
/// then the next request of that API gets garbage instead of an answer. What a broken, hostile or half-dead
/// broker can send. FindCoordinator errors can be queued too, answered the way Kafka does (node -1, host "").
final class BadInputBroker: Sendable {
    enum Fault: String, Sendable, CaseIterable, CustomStringConvertible {
        /// A well-framed response with the right correlation id whose body is not the response.
        case garbageBody
        /// A frame size of ~2 GiB (above any maxFrameBytes).
        case hugeFrameLength
        /// A negative frame size.
        case negativeFrameLength
        /// A valid response under a correlation id that was never sent.
        case wrongCorrelationID
        /// A frame too short to hold a correlation id.
        case shortFrame
        /// The first half of a valid response, then the connection closes.
        case truncatedThenClose
        /// The connection closes without an answer.
        case closeWithoutAnswer
        /// Nothing is answered (the client's request timeout must fire).
        case noAnswer

        var description: String { rawValue }
    }

    /// One record batch received in a Produce request.
    struct ProducedBatch: Sendable, Equatable {
        var producerID: Int64
        var baseSequence: Int32
        var records: Int32
        /// Whether the request it came in was answered with a fault instead of an acknowledgement.
        var faulted: Bool
        /// When its request arrived.
        var arrived = ContinuousClock.now
    }

    /// What Fetch answers for partition 0 of ``topic`` from any offset below the high watermark (the whole log,
    /// as a broker may return batches before the fetch offset), with its aborted transactions. Empty by default.
    struct FetchLog: Sendable {
        var records = ByteBuffer()
        var abortedTransactions: [(producerID: Int64, firstOffset: Int64)] = []
        var highWatermark: Int64 = 0
        /// The leader's epochs and where each starts, oldest first (Kafka's leader-epoch cache). When set, a
        /// fetch with a last fetched epoch is checked against it as Kafka checks it (KIP-320): the largest epoch
        /// up to the one given, and its end; if that epoch is older or ends before the fetch offset, the answer
        /// carries it as the diverging epoch and no records.
        var epochStarts: [(epoch: Int32, startOffset: Int64)] = []

        /// Kafka's divergence check for a fetch from `offset` after `lastFetchedEpoch`; nil when none.
        func divergence(offset: Int64, lastFetchedEpoch: Int32) -> FetchResponse.EpochEndOffset? {
            guard lastFetchedEpoch >= 0, !epochStarts.isEmpty else { return nil }
            guard let index = epochStarts.lastIndex(where: { $0.epoch <= lastFetchedEpoch }) else {
                return FetchResponse.EpochEndOffset(epoch: -1, endOffset: -1)
            }
            let epoch = epochStarts[index].epoch
            let end = index + 1 < epochStarts.count ? epochStarts[index + 1].startOffset : highWatermark
            guard epoch < lastFetchedEpoch || end < offset else { return nil }
            return FetchResponse.EpochEndOffset(epoch: epoch, endOffset: end)
        }
    }

    /// The (current leader epoch, last fetched epoch) of every partition fetched so far, in order.
    var fetchEpochs: [(current: Int32, lastFetched: Int32)] { epochs.withLock { $0 } }
    private let epochs = Mutex<[(current: Int32, lastFetched: Int32)]>([])
    fileprivate func noteFetchEpochs(_ partition: FetchRequest.FetchPartition) {
        epochs.withLock { $0.append((partition.currentLeaderEpoch, partition.lastFetchedEpoch)) }
    }

    /// Sets what Fetch answers (see ``FetchLog``).
    func serveFetch(_ fetchLog: FetchLog) { log.withLock { $0 = fetchLog } }

    fileprivate var fetchLog: FetchLog { log.withLock { $0 } }

    private let fetchClients = Mutex<[String?]>([])
    /// The client id of every Fetch request so far.
    var fetchClientIDs: [String?] { fetchClients.withLock { $0 } }
    fileprivate func noteFetch(clientID: String?) { fetchClients.withLock { $0.append(clientID) } }

    /// The topic the broker leads (1 partition) and accepts Produce requests for.
    static let topic = "bad-input-topic"

    let channel: any Channel
    private let faults = Mutex<[Int16: [Fault]]>([:])
    private let produced = Mutex<[ProducedBatch]>([])
    private let nextOffset = Mutex<Int64>(0)
    private let coordinatorErrors = Mutex<[Int16]>([])
    private let metadataWithoutBrokers = Mutex(0)
    private let log = Mutex<FetchLog>(FetchLog())
    /// Throttle times (ms) for the next Produce answers, in order (KIP-219: answered at once, the throttle
    /// in the answer).
    private let produceThrottles = Mutex<[Int32]>([])
    /// Topics created with CreateTopics (one partition each, led by this broker), in Metadata answers too.
    private let createdTopics = Mutex<Set<String>>([])
    fileprivate let accepted = Mutex(0)

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    /// Read once: Metadata answers name it, and a client connection can still ask after the listening channel
    /// closed (its address is gone then).
    let port: Int
    var address: KafkaConnectionConfiguration.BrokerAddress { .init(host: "127.0.0.1", port: port) }
    var bootstrap: String { "127.0.0.1:\(port)" }
    /// Connections accepted so far.
    var acceptedConnections: Int { accepted.withLock { $0 } }

    /// Starts a broker; `permanent` faults apply to every request of their API, forever.
    static func start(permanent: [Int16: Fault] = [:]) async throws -> BadInputBroker {
        let box = BrokerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let broker = box.broker.withLock { $0 }!
                    broker.accepted.withLock { $0 += 1 }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20)))
                    try channel.pipeline.syncOperations.addHandler(BadInputBrokerHandler(broker: broker, permanent: permanent))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let broker = BadInputBroker(channel: channel)
        box.broker.withLock { $0 = broker }
        return broker
    }

    /// Queues `fault` for the next `times` requests with `apiKey`.
    func inject(_ fault: Fault, apiKey: Int16, times: Int = 1) {
        faults.withLock { $0[apiKey, default: []] += Array(repeating: fault, count: times) }
    }

    /// The next `times` Metadata answers list no brokers (what a broker still starting may send).
    func answerMetadataWithoutBrokers(times: Int) {
        metadataWithoutBrokers.withLock { $0 += times }
    }

    fileprivate func takeMetadataWithoutBrokers() -> Bool {
        metadataWithoutBrokers.withLock { count in
            guard count > 0 else { return false }
            count -= 1
            return true
        }
    }

    /// The next FindCoordinator answers carry these error codes, one per request.
    func injectCoordinatorErrors(_ codes: [Int16]) {
        coordinatorErrors.withLock { $0 += codes }
    }

    fileprivate func takeCoordinatorError() -> Int16 {
        coordinatorErrors.withLock { $0.isEmpty ? 0 : $0.removeFirst() }
    }

    /// Faults still queued for `apiKey` (one is taken when a request of that API arrives).
    func queuedFaults(apiKey: Int16) -> Int { faults.withLock { $0[apiKey]?.count ?? 0 } }

    /// Removes the next queued fault for `apiKey`.
    fileprivate func takeFault(apiKey: Int16) -> Fault? {
        faults.withLock { queue in
            guard var list = queue[apiKey], !list.isEmpty else { return nil }
            let fault = list.removeFirst()
            queue[apiKey] = list
            return fault
        }
    }

    /// Every record batch received in Produce requests so far, in arrival order.
    var producedBatches: [ProducedBatch] { produced.withLock { $0 } }

    fileprivate func noteProduced(_ batches: [ProducedBatch]) -> Int64 {
        produced.withLock { $0 += batches }
        return nextOffset.withLock { offset in
            defer { offset += Int64(batches.reduce(0) { $0 + $1.records }) }
            return offset
        }
    }

    func stop() async { try? await channel.close() }

    /// Answers the next Produce requests with these throttle times.
    func throttleProduceAnswers(_ milliseconds: [Int32]) { produceThrottles.withLock { $0 += milliseconds } }
    fileprivate func takeProduceThrottle() -> Int32 {
        produceThrottles.withLock { $0.isEmpty ? 0 : $0.removeFirst() }
    }

    /// Error codes for the next CreateTopics / DeleteTopics topic answers, in order (0: answer normally).
    private let topicErrors = Mutex<[Int16]>([])
    func injectTopicErrors(_ codes: [Int16]) { topicErrors.withLock { $0 += codes } }
    var queuedTopicErrors: Int { topicErrors.withLock { $0.count } }
    fileprivate func takeTopicError() -> Int16 { topicErrors.withLock { $0.isEmpty ? 0 : $0.removeFirst() } }

    /// Error codes for the next DeleteRecords partition answers, in order.
    private let deleteRecordsErrors = Mutex<[Int16]>([])
    func injectDeleteRecordsErrors(_ codes: [Int16]) { deleteRecordsErrors.withLock { $0 += codes } }
    var queuedDeleteRecordsErrors: Int { deleteRecordsErrors.withLock { $0.count } }
    fileprivate func takeDeleteRecordsError() -> Int16 {
        deleteRecordsErrors.withLock { $0.isEmpty ? 0 : $0.removeFirst() }
    }
    /// The end of every partition's log here: the records produced so far.
    fileprivate var highWatermark: Int64 { nextOffset.withLock { $0 } }

    /// Creates `name` (true) or finds it exists (false).
    fileprivate func create(topic name: String) -> Bool { createdTopics.withLock { $0.insert(name).inserted } }
    /// Deletes `name` (true) or finds it absent (false).
    fileprivate func delete(topic name: String) -> Bool { createdTopics.withLock { $0.remove(name) != nil } }
    fileprivate var topicsCreated: [String] { createdTopics.withLock { $0.sorted() } }
}

/// Lets the child initializer reach the broker object created after bind.
private final class BrokerBox: Sendable {
    let broker = Mutex<BadInputBroker?>(nil)
}

private final class BadInputBrokerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let broker: BadInputBroker
    let permanent: [Int16: BadInputBroker.Fault]

    init(broker: BadInputBroker, permanent: [Int16: BadInputBroker.Fault]) {
        self.broker = broker
        self.permanent = permanent
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        do {
            try handle(context: context, frame: &frame)
        } catch {
            context.close(promise: nil)
        }
    }

    private func handle(context: ChannelHandlerContext, frame: inout ByteBuffer) throws {
        guard let apiKey = frame.getInteger(at: frame.readerIndex, as: Int16.self),
            let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self),
            let correlationID = frame.getInteger(at: frame.readerIndex + 4, as: Int32.self)
        else { return context.close(promise: nil) }
        var response = context.channel.allocator.buffer(capacity: 256)
        response.writeInteger(Int32(0))
        switch apiKey {
        case ApiVersionsRequest.apiKey:
            let answered = min(version, 3)
            KafkaResponseHeader(correlationID: correlationID).encode(into: &response, headerVersion: 0)
            // Group APIs are advertised (so a consumer group starts) but answered by closing the connection.
            // Fetch up to v12 (topics by name); ListOffsets is advertised for the fetch feature, not answered.
            let apis: [(Int16, ClosedRange<Int16>)] = [(0, 3...9), (1, 4...12), (2, 1...7), (22, 0...4), (3, 0...12), (8, 0...8), (9, 0...7), (10, 0...4), (11, 0...7), (12, 0...4), (13, 0...4), (14, 0...5), (18, 0...3), (19, 0...7), (20, 0...6), (21, 0...2)]
            try ApiVersionsResponse(
                errorCode: version > 3 ? 35 : 0,
                apiKeys: apis.map { .init(apiKey: $0.0, minVersion: $0.1.lowerBound, maxVersion: $0.1.upperBound) }
            ).encode(into: &response, version: version > 3 ? 0 : answered)
        case MetadataRequest.apiKey:
            KafkaResponseHeader(correlationID: correlationID).encode(into: &response, headerVersion: MetadataRequest.responseHeaderVersion(for: version))
            try MetadataResponse(
                brokers: broker.takeMetadataWithoutBrokers() ? [] : [.init(nodeId: 1, host: "127.0.0.1", port: Int32(broker.port), rack: nil)],
                clusterId: "bad-input", controllerId: 1,
                topics: ([BadInputBroker.topic] + broker.topicsCreated).enumerated().map { index, name in
                    .init(
                        name: name, topicId: KafkaUUID(high: 0xBAD, low: UInt64(index + 1)),
                        partitions: [.init(partitionIndex: 0, leaderId: 1, leaderEpoch: 0, replicaNodes: [1], isrNodes: [1])])
                }
            ).encode(into: &response, version: version)
        case CreateTopicsRequest.apiKey:
            _ = try KafkaRequestHeader(from: &frame, headerVersion: CreateTopicsRequest.requestHeaderVersion(for: version))
            let request = try CreateTopicsRequest(from: &frame, version: version)
            KafkaResponseHeader(correlationID: correlationID)
                .encode(into: &response, headerVersion: CreateTopicsRequest.responseHeaderVersion(for: version))
            try CreateTopicsResponse(topics: request.topics.map { topic in
                let injected = broker.takeTopicError()
                if injected != 0 { return .init(name: topic.name, errorCode: injected, errorMessage: "injected") }
                return .init(name: topic.name, errorCode: broker.create(topic: topic.name) ? 0 : 36, errorMessage: nil)
            }).encode(into: &response, version: version)
        case DeleteTopicsRequest.apiKey:
            _ = try KafkaRequestHeader(from: &frame, headerVersion: DeleteTopicsRequest.requestHeaderVersion(for: version))
            let request = try DeleteTopicsRequest(from: &frame, version: version)
            KafkaResponseHeader(correlationID: correlationID)
                .encode(into: &response, headerVersion: DeleteTopicsRequest.responseHeaderVersion(for: version))
            let names = version >= 6 ? request.topics.compactMap(\.name) : request.topicNames
            try DeleteTopicsResponse(responses: names.map { name in
                let injected = broker.takeTopicError()
                if injected != 0 { return .init(name: name, errorCode: injected) }
                return .init(name: name, errorCode: broker.delete(topic: name) ? 0 : 3)
            }).encode(into: &response, version: version)
        case DeleteRecordsRequest.apiKey:
            // Kafka's rules: -1 is the high watermark, past it OFFSET_OUT_OF_RANGE; the low watermark comes back.
            _ = try KafkaRequestHeader(from: &frame, headerVersion: DeleteRecordsRequest.requestHeaderVersion(for: version))
            let request = try DeleteRecordsRequest(from: &frame, version: version)
            KafkaResponseHeader(correlationID: correlationID)
                .encode(into: &response, headerVersion: DeleteRecordsRequest.responseHeaderVersion(for: version))
            let end = broker.highWatermark
            try DeleteRecordsResponse(topics: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { partition in
                    let injected = broker.takeDeleteRecordsError()
                    if injected != 0 { return .init(partitionIndex: partition.partitionIndex, lowWatermark: -1, errorCode: injected) }
                    let offset = partition.offset == -1 ? end : partition.offset
                    return offset > end
                        ? .init(partitionIndex: partition.partitionIndex, lowWatermark: -1, errorCode: 1)
                        : .init(partitionIndex: partition.partitionIndex, lowWatermark: offset, errorCode: 0)
                })
            }).encode(into: &response, version: version)
        case InitProducerIdRequest.apiKey:
            KafkaResponseHeader(correlationID: correlationID)
                .encode(into: &response, headerVersion: InitProducerIdRequest.responseHeaderVersion(for: version))
            try InitProducerIdResponse(producerId: 4242, producerEpoch: 0).encode(into: &response, version: version)
        case ProduceRequest.apiKey:
            _ = try KafkaRequestHeader(from: &frame, headerVersion: ProduceRequest.requestHeaderVersion(for: version))
            let request = try ProduceRequest(from: &frame, version: version)
            let fault = permanent[apiKey] ?? broker.takeFault(apiKey: apiKey)
            // One batch per partition (what the client sends); the fields at their record batch v2 offsets.
            var partitions: [(topic: String, index: Int32, batch: BadInputBroker.ProducedBatch)] = []
            for topic in request.topicData {
                for data in topic.partitionData {
                    guard let records = data.records, let producerID = records.getInteger(at: records.readerIndex + 43, as: Int64.self),
                        let sequence = records.getInteger(at: records.readerIndex + 53, as: Int32.self),
                        let count = records.getInteger(at: records.readerIndex + 57, as: Int32.self)
                    else { return context.close(promise: nil) }
                    partitions.append((topic.name, data.index, .init(producerID: producerID, baseSequence: sequence, records: count, faulted: fault != nil)))
                }
            }
            let baseOffset = broker.noteProduced(partitions.map(\.batch))
            if request.acks == 0 { return }
            KafkaResponseHeader(correlationID: correlationID)
                .encode(into: &response, headerVersion: ProduceRequest.responseHeaderVersion(for: version))
            var offset = baseOffset
            try ProduceResponse(responses: partitions.map { partition in
                defer { offset += Int64(partition.batch.records) }
                return .init(name: partition.topic, partitionResponses: [.init(index: partition.index, baseOffset: offset)])
            }, throttleTimeMs: broker.takeProduceThrottle()).encode(into: &response, version: version)
            response.setInteger(Int32(response.readableBytes - 4), at: response.readerIndex)
            answer(context: context, response: response, fault: fault, apiKey: apiKey, version: version, correlationID: correlationID)
            return
        case FetchRequest.apiKey:
            let header = try KafkaRequestHeader(from: &frame, headerVersion: FetchRequest.requestHeaderVersion(for: version))
            let request = try FetchRequest(from: &frame, version: version)
            broker.noteFetch(clientID: header.clientID)
            let log = broker.fetchLog
            KafkaResponseHeader(correlationID: header.correlationID)
                .encode(into: &response, headerVersion: FetchRequest.responseHeaderVersion(for: version))
            try FetchResponse(responses: request.topics.map { topic in
                .init(topic: topic.topic, topicId: topic.topicId, partitions: topic.partitions.map { partition in
                    broker.noteFetchEpochs(partition)
                    if let diverging = log.divergence(offset: partition.fetchOffset, lastFetchedEpoch: partition.lastFetchedEpoch) {
                        return .init(
                            partitionIndex: partition.partition, highWatermark: log.highWatermark, lastStableOffset: log.highWatermark,
                            logStartOffset: 0, divergingEpoch: diverging, abortedTransactions: [], records: ByteBuffer())
                    }
                    let serves = partition.partition == 0 && partition.fetchOffset < log.highWatermark
                    return .init(
                        partitionIndex: partition.partition, highWatermark: log.highWatermark, lastStableOffset: log.highWatermark,
                        logStartOffset: 0,
                        abortedTransactions: serves ? log.abortedTransactions.map { .init(producerId: $0.producerID, firstOffset: $0.firstOffset) } : [],
                        records: serves ? log.records : ByteBuffer())
                })
            }).encode(into: &response, version: version)
        case FindCoordinatorRequest.apiKey:
            let header = try KafkaRequestHeader(from: &frame, headerVersion: FindCoordinatorRequest.requestHeaderVersion(for: version))
            let request = try FindCoordinatorRequest(from: &frame, version: version)
            KafkaResponseHeader(correlationID: header.correlationID)
                .encode(into: &response, headerVersion: FindCoordinatorRequest.responseHeaderVersion(for: version))
            let code = broker.takeCoordinatorError()
            let (node, host, port): (Int32, String, Int32) = code == 0 ? (1, "127.0.0.1", Int32(broker.port)) : (-1, "", -1)
            let message: String? = code == 0 ? nil : "injected error \(code)"
            let answer =
                version >= 4
                ? FindCoordinatorResponse(coordinators: request.coordinatorKeys.map {
                    .init(key: $0, nodeId: node, host: host, port: port, errorCode: code, errorMessage: message)
                })
                : FindCoordinatorResponse(errorCode: code, errorMessage: message, nodeId: node, host: host, port: port)
            try answer.encode(into: &response, version: version)
        default:
            return context.close(promise: nil)
        }
        response.setInteger(Int32(response.readableBytes - 4), at: response.readerIndex)
        answer(
            context: context, response: response, fault: permanent[apiKey] ?? broker.takeFault(apiKey: apiKey), apiKey: apiKey,
            version: version, correlationID: correlationID)
    }

    /// Sends `response`, or what `fault` sends instead.
    private func answer(
        context: ChannelHandlerContext, response: ByteBuffer, fault: BadInputBroker.Fault?, apiKey: Int16, version: Int16, correlationID: Int32
    ) {
        guard let fault else {
            context.writeAndFlush(wrapOutboundOut(response), promise: nil)
            return
        }
        var bad = context.channel.allocator.buffer(capacity: 64)
        switch fault {
        case .garbageBody:
            bad.writeInteger(Int32(4 + 7))
            bad.writeInteger(correlationID)
            if apiKey != ApiVersionsRequest.apiKey && MetadataRequest.responseHeaderVersion(for: version) == 1 { bad.writeInteger(UInt8(0)) }
            bad.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            bad.setInteger(Int32(bad.readableBytes - 4), at: 0)
        case .hugeFrameLength:
            bad.writeInteger(Int32(0x7FFF_FFF0))
            bad.writeInteger(correlationID)
        case .negativeFrameLength:
            bad.writeInteger(Int32(-5))
            bad.writeInteger(correlationID)
        case .wrongCorrelationID:
            bad = response
            bad.setInteger(correlationID &+ 1000, at: bad.readerIndex + 4)
        case .shortFrame:
            bad.writeInteger(Int32(2))
            bad.writeInteger(UInt16(7))
        case .truncatedThenClose:
            bad = response.getSlice(at: response.readerIndex, length: response.readableBytes / 2)!
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(bad)).whenComplete { _ in channel.close(promise: nil) }
            return
        case .closeWithoutAnswer:
            return context.close(promise: nil)
        case .noAnswer:
            return
        }
        context.writeAndFlush(wrapOutboundOut(bad), promise: nil)
    }
}
