import KafkaProtocol
import Logging
import NIOCore

/// Runs one fetch call: drives a ``FetchCallStateMachine`` with the client's metadata and connections.
/// Requests to different brokers run concurrently in a task group; each decodes its own response.
struct FetchExecutor: Sendable {
    let cluster: ClusterManager
    let logger: Logger
    let fetcher: KafkaFetcherConfiguration
    let isolationLevel: KafkaIsolationLevel
    /// Handed to every ``FetchedPartitionDecoder`` of the call (the call's ``KafkaFetchOptions/decompression``).
    let decompression: KafkaFetchDecompression
    /// The client id of the call's Fetch requests (``KafkaFetcherConfiguration/effectiveClientID(connectionClientID:)``).
    let clientID: String
    /// The client's rack, sent in Fetch v11+ (KIP-392); empty for none.
    var rackID: String = ""
    let maxAttempts = 3
    /// Pause before retrying partitions that need no metadata change (a broker asking us to wait).
    let retryBackoff: Duration = .milliseconds(100)

    typealias Output = FetchedPartitionDecoder.Output
    typealias Results = [KafkaFetchPosition: Result<Output, KafkaError>]
    typealias Outcomes = [KafkaFetchPosition: FetchCallStateMachine<Output>.PartitionOutcome]

    /// The divergence a Fetch v12+ answer reports for a position sent with a last fetched epoch (KIP-320), or nil.
    /// An undefined one (epoch and end offset -1, the field's default) is no divergence: Kafka leaves the field
    /// out then.
    static func divergence(_ diverging: FetchResponse.EpochEndOffset, at position: KafkaFetchPosition) -> KafkaLogDivergence? {
        guard (position.lastFetchedEpoch ?? -1) >= 0, diverging.epoch >= 0, diverging.endOffset >= 0 else { return nil }
        return KafkaLogDivergence(epoch: diverging.epoch, endOffset: diverging.endOffset)
    }

    /// Connections fetch requests to one broker are spread over: the general one (lane 0), then an extra
    /// fetch connection (``BrokerConnectionPool/fetchLaneConnection(to:brokerID:lane:eventLoop:)``). A broker
    /// serves one connection's requests one after the other, so concurrent fetches (the requests of one call
    /// above `maxBytesPerRequest`, or concurrent calls: several fetch loops, consumer-group partition
    /// workers) used to wait for each other on the broker; on two connections it prepares them in parallel.
    /// A request takes a lane with no fetch in flight, lane 0 first (see ``connection(toBroker:)``); only
    /// for uncompressed data.
    static let fetchLanesPerBroker = 2

    func run(_ positions: [KafkaFetchPosition], maxBytes: Int) async -> Results {
        let partitionMaxBytes = Int32(clamping: maxBytes)
        var machine = FetchCallStateMachine<Output>(
            items: positions.map { .init(position: $0, maxBytes: partitionMaxBytes) },
            settings: FetchPlanner.Settings(
                maxBytesPerRequest: Int32(clamping: fetcher.maxBytesPerRequest),
                maxWaitMs: Int32(clamping: fetcher.maxWait.milliseconds),
                minBytes: Int32(clamping: fetcher.minBytes), isolationLevel: isolationLevel),
            maxAttempts: maxAttempts)
        cluster.noteTopicsInUse(Set(positions.map(\.topic)))
        return await withTaskGroup(of: (Int, Result<Outcomes, KafkaError>).self) { group in
            var action = machine.start(route: routes(cluster.metadata))
            while true {
                switch action {
                case .send(let requests):
                    for request in requests {
                        group.addTask { (request.id, await self.perform(request)) }
                    }
                    action = .wait
                case .wait:
                    guard let (id, result) = await group.next() else { return [:] }
                    switch result {
                    case .success(let outcomes): action = machine.responseReceived(requestID: id, outcomes: outcomes)
                    case .failure(let error): action = machine.requestFailed(requestID: id, error: error)
                    }
                case .retry(let topics):
                    if topics.isEmpty {
                        try? await Task.sleep(for: retryBackoff)
                    } else {
                        cluster.noteTopicsInUse(topics)
                        _ = try? await cluster.refreshMetadata()
                    }
                    action = machine.resume(route: routes(cluster.metadata))
                case .finish(let results):
                    return results
                }
            }
        }
    }

    private func routes(_ metadata: KafkaClusterMetadata) -> (String, Int32) -> FetchRoute {
        let replicas = cluster.preferredReadReplicas.withLock { $0.isEmpty ? nil : $0 }
        guard let replicas else { return { topic, partition in FetchRoute(metadata: metadata, topic: topic, partition: partition) } }
        let now = ContinuousClock.now
        return { topic, partition in
            FetchRoute(
                metadata: metadata, topic: topic, partition: partition,
                preferredReplica: replicas.replica(for: KafkaTopicPartition(topic, partition), at: now))
        }
    }

    /// Fetching `request`'s partitions from the broker it went to failed: a preferred read replica among them
    /// is forgotten, so the next attempt asks the leader (KIP-392).
    private func forgetPreferredReplicas(of request: BrokerFetchRequest) {
        cluster.preferredReadReplicas.withLock { replicas in
            replicas.clear(request.positions.map { KafkaTopicPartition($0.topic, $0.partition) })
        }
    }

    /// Sends one request and turns its answer into per-partition outcomes.
    ///
    /// The response is decoded on the connection's event loop, where its frame arrived (see
    /// ``EventLoopTaskExecutor``): no hop to the cooperative pool, and the decompressed batches and records
    /// are allocated by the same thread for every response. Decoded on whichever pool thread resumed,
    /// successive responses spread over several malloc arenas, each keeping a response's worth of freed
    /// memory: 10 KB zstd records took 13 MB more peak RSS and 25% more CPU (page faults).
    private func perform(_ request: BrokerFetchRequest) async -> Result<Outcomes, KafkaError> {
        let general: KafkaConnection
        let connection: KafkaConnection
        do {
            (general, connection) = try await self.connection(toBroker: request.brokerID)
        } catch let error as KafkaError {
            forgetPreferredReplicas(of: request)
            return .failure(error)
        } catch {
            forgetPreferredReplicas(of: request)
            return .failure(KafkaError(.brokerError, "Fetch to broker \(request.brokerID) failed: \(error)", isRetriable: true, underlying: error))
        }
        defer { connection.fetchesInFlight.subtract(1, ordering: .relaxed) }
        return await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: connection.eventLoop)) {
            await perform(request, on: connection, general: general)
        }
    }

    /// The connection a request to `brokerID` goes on, its ``KafkaConnection/fetchesInFlight`` already
    /// counted (the caller subtracts it when done). Lane 0 is the broker's general connection, lane 1 an extra
    /// fetch connection on the same event loop (responses of one broker decoded by one thread, see
    /// ``perform(_:)``): lane 0 when it has no fetch in flight (claimed with one compare-exchange, so two
    /// concurrent requests cannot both take it), else lane 1 when it has none, else the one with fewer.
    /// Until a response has shown uncompressed data, and after one with compressed batches, all requests go
    /// on the general connection (see ``KafkaConnection/lastFetchWasUncompressed``).
    private func connection(toBroker brokerID: Int32) async throws -> (general: KafkaConnection, chosen: KafkaConnection) {
        let general = try await cluster.connection(toBroker: brokerID)
        if general.fetchesInFlight.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged {
            return (general, general)
        }
        guard Self.fetchLanesPerBroker > 1, general.lastFetchWasUncompressed.load(ordering: .relaxed),
            let broker = cluster.metadata.broker(brokerID)
        else {
            general.fetchesInFlight.add(1, ordering: .relaxed)
            return (general, general)
        }
        let lane: KafkaConnection
        do {
            lane = try await cluster.pool.fetchLaneConnection(
                to: broker.address, brokerID: brokerID, lane: 1, eventLoop: general.eventLoop)
        } catch {
            // The lane only adds parallelism: a broker the general connection reaches is still fetched from.
            logger.debug("Fetch lane to broker \(brokerID) unavailable, using the general connection: \(error)")
            general.fetchesInFlight.add(1, ordering: .relaxed)
            return (general, general)
        }
        if lane.fetchesInFlight.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged {
            return (general, lane)
        }
        // Both busy: the one with fewer fetches in flight.
        let chosen = lane.fetchesInFlight.load(ordering: .relaxed) < general.fetchesInFlight.load(ordering: .relaxed) ? lane : general
        chosen.fetchesInFlight.add(1, ordering: .relaxed)
        return (general, chosen)
    }

    private func perform(_ request: BrokerFetchRequest, on connection: KafkaConnection, general: KafkaConnection) async -> Result<Outcomes, KafkaError> {
        do {
            guard let negotiated = connection.negotiatedVersion(for: FetchRequest.self) else {
                throw KafkaError(.unsupportedByBroker, "broker \(request.brokerID) supports no usable Fetch version")
            }
            let version = request.usableVersion(negotiated: negotiated)
            connection.fetchesSent.add(1, ordering: .relaxed)
            let response = try await connection.send(
                request.wireRequest(version: version, rackID: rackID), version: version, timeout: fetcher.requestTimeout + fetcher.maxWait,
                clientID: clientID)
            var outcomes: Outcomes = [:]
            if response.errorCode != 0 {
                // A top-level error code applies to every partition of the request (the librdkafka mock
                // cluster sends injected errors there): the per-partition policy decides retry or report.
                for position in request.positions { outcomes[position] = .errorCode(response.errorCode) }
                if KafkaClusterMetadata.requiresMetadataRefresh(errorCode: response.errorCode) { cluster.requestRefresh() }
                return .success(outcomes)
            }
            let matched = request.matchResponse(response, version: version)
            if matched.count != request.partitionCount {
                logger.debug("Fetch response from broker \(request.brokerID) (v\(version)) answered \(matched.count) of \(request.partitionCount) partitions", metadata: [
                    "response.topics": "\(response.responses.map { "\($0.topic)/\($0.topicId): \($0.partitions.map(\.partitionIndex))" })",
                    "request.topics": "\(request.topics.map { "\($0.name)/\($0.topicID)" })",
                ])
            }
            // Remembered on the broker's general connection (a lane's responses count for their broker);
            // a response without records leaves it as it was.
            var compressed: Bool?
            defer { if let compressed { general.lastFetchWasUncompressed.store(!compressed, ordering: .relaxed) } }
            for (position, data) in matched {
                if data.errorCode != 0 {
                    outcomes[position] = .errorCode(preferredReplicaFailed(position, errorCode: data.errorCode, broker: request.brokerID))
                    if KafkaClusterMetadata.requiresMetadataRefresh(errorCode: data.errorCode) { cluster.requestRefresh() }
                    continue
                }
                if version >= 11, data.preferredReadReplica >= 0, data.preferredReadReplica != request.brokerID {
                    // KIP-392: the leader names a replica to fetch from (and sends no records): the next fetch of
                    // the partition goes there.
                    let partition = KafkaTopicPartition(position.topic, position.partition)
                    let replica = data.preferredReadReplica
                    let changed = cluster.preferredReadReplicas.withLock { replicas in
                        defer { replicas.set(partition, to: replica) }
                        return replicas.replica(for: partition) != replica
                    }
                    if changed { logger.debug("fetching \(partition) from broker \(replica), the replica its leader \(request.brokerID) prefers") }
                }
                if version >= 12, let divergence = Self.divergence(data.divergingEpoch, at: position) {
                    logger.warning("The log of \(position.topic)/\(position.partition) parts from what was read at epoch \(divergence.epoch), offset \(divergence.endOffset) (fetch of \(position)); continuing there")
                    var parted = Output(
                        records: [], nextOffset: min(divergence.endOffset, position.offset), lastFetchedEpoch: divergence.epoch,
                        truncatedTailBytes: 0)
                    parted.divergence = divergence
                    parted.highWatermark = data.highWatermark
                    parted.lastStableOffset = data.lastStableOffset
                    parted.logStartOffset = data.logStartOffset
                    parted.readCommitted = isolationLevel == .readCommitted
                    outcomes[position] = .delivered(parted)
                    continue
                }
                let decoder = FetchedPartitionDecoder(
                    topic: position.topic, partition: position.partition, fetchOffset: position.offset,
                    lastFetchedEpoch: position.lastFetchedEpoch, isolationLevel: isolationLevel, decompression: decompression)
                do {
                    var output = try decoder.decode(
                        records: data.records,
                        abortedTransactions: (data.abortedTransactions ?? []).map {
                            .init(producerID: $0.producerId, firstOffset: $0.firstOffset)
                        })
                    output.highWatermark = data.highWatermark
                    output.lastStableOffset = data.lastStableOffset
                    output.logStartOffset = data.logStartOffset
                    output.readCommitted = isolationLevel == .readCommitted
                    outcomes[position] = .delivered(output)
                    if compressed != true {
                        // Eager: the first record's batch; lazy (records empty): any batch compressed.
                        if let first = output.records.first {
                            compressed = (first.batchAttributes?.compression ?? .none) != .none
                        } else if !output.batches.isEmpty {
                            compressed = output.batches.contains { $0.compression != .none }
                        }
                    }
                    // Lazy batches count by their header's record count when fetched (not when decompressed,
                    // which may never happen): the first batch may include records before the fetch offset.
                    var recordCount = output.records.count
                    for batch in output.batches { recordCount += batch.recordCount }
                    cluster.metrics.recordFetchedPartition(position, records: recordCount, bytes: data.records?.readableBytes ?? 0, highWatermark: data.highWatermark)
                } catch let error as KafkaError {
                    outcomes[position] = .failed(error)
                }
            }
            return .success(outcomes)
        } catch let error as KafkaError {
            forgetPreferredReplicas(of: request)
            return .failure(error)
        } catch {
            forgetPreferredReplicas(of: request)
            return .failure(KafkaError(.brokerError, "Fetch to broker \(request.brokerID) failed: \(error)", isRetriable: true, underlying: error))
        }
    }

    /// The error code to act on for a partition that `broker` answered with `errorCode`. When the partition
    /// was fetched from a replica other than its leader (KIP-392), that replica is forgotten and the next
    /// attempt goes to the leader; an OFFSET_OUT_OF_RANGE from such a replica (a follower behind the leader)
    /// is then no reason to reset the position, and counts as REPLICA_NOT_AVAILABLE (retry at the leader), as
    /// in Kafka's consumer.
    private func preferredReplicaFailed(_ position: KafkaFetchPosition, errorCode: Int16, broker: Int32) -> Int16 {
        let partition = KafkaTopicPartition(position.topic, position.partition)
        let hadReplica = cluster.preferredReadReplicas.withLock { replicas in
            guard replicas.replica(for: partition) != nil else { return false }
            replicas.clear([partition])
            return true
        }
        guard hadReplica || errorCode == 1, let leader = cluster.metadata.partition(partition)?.leaderID, leader != broker else {
            return errorCode
        }
        return errorCode == 1 ? 9 : errorCode
    }
}

