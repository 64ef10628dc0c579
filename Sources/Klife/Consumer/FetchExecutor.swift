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
    let maxAttempts = 3
    /// Pause before retrying partitions that need no metadata change (a broker asking us to wait).
    let retryBackoff: Duration = .milliseconds(100)

    typealias Output = FetchedPartitionDecoder.Output
    typealias Results = [KafkaFetchPosition: Result<Output, KafkaError>]
    typealias Outcomes = [KafkaFetchPosition: FetchCallStateMachine<Output>.PartitionOutcome]

    /// Connections one call spreads its requests to a broker over: the general one, then extra fetch
    /// connections (``BrokerConnectionPool/fetchLaneConnection(to:brokerID:lane:eventLoop:)``). A broker
    /// serves one connection's requests one after the other, so the two requests that 8 partitions of 1 MiB
    /// make (above `maxBytesPerRequest`) used to wait for each other on the broker; on two connections it
    /// prepares them in parallel. The data in flight is the same (both requests were in flight together).
    /// Only for uncompressed data (see ``connection(toBroker:lane:)``).
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
                    var sentToBroker: [Int32: Int] = [:]
                    for request in requests {
                        // The k-th request of this batch to a broker goes on its k-th connection (see
                        // `fetchLanesPerBroker`), so that the broker prepares them in parallel.
                        let lane = sentToBroker[request.brokerID, default: 0] % Self.fetchLanesPerBroker
                        sentToBroker[request.brokerID, default: 0] += 1
                        group.addTask { (request.id, await self.perform(request, lane: lane)) }
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
        { topic, partition in FetchRoute(metadata: metadata, topic: topic, partition: partition) }
    }

    /// Sends one request and turns its answer into per-partition outcomes.
    ///
    /// The response is decoded on the connection's event loop, where its frame arrived (see
    /// ``EventLoopTaskExecutor``): no hop to the cooperative pool, and the decompressed batches and records
    /// are allocated by the same thread for every response. Decoded on whichever pool thread resumed,
    /// successive responses spread over several malloc arenas, each keeping a response's worth of freed
    /// memory: 10 KB zstd records took 13 MB more peak RSS and 25% more CPU (page faults).
    private func perform(_ request: BrokerFetchRequest, lane: Int) async -> Result<Outcomes, KafkaError> {
        let general: KafkaConnection
        let connection: KafkaConnection
        do {
            (general, connection) = try await self.connection(toBroker: request.brokerID, lane: lane)
        } catch let error as KafkaError {
            return .failure(error)
        } catch {
            return .failure(KafkaError(.brokerError, "Fetch to broker \(request.brokerID) failed: \(error)", isRetriable: true, underlying: error))
        }
        return await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: connection.eventLoop)) {
            await perform(request, on: connection, general: general)
        }
    }

    /// Lane 0 is the broker's general connection; a higher lane is an extra fetch connection on the same
    /// event loop (responses of one broker decoded by one thread, see ``perform(_:lane:)``).
    /// Until a response has shown uncompressed data, and after one with compressed batches, all requests go
    /// on the general connection (see ``KafkaConnection/lastFetchWasUncompressed``).
    private func connection(toBroker brokerID: Int32, lane: Int) async throws -> (general: KafkaConnection, lane: KafkaConnection) {
        let general = try await cluster.connection(toBroker: brokerID)
        guard lane > 0, general.lastFetchWasUncompressed.load(ordering: .relaxed),
            let broker = cluster.metadata.broker(brokerID)
        else { return (general, general) }
        let laneConnection = try await cluster.pool.fetchLaneConnection(
            to: broker.address, brokerID: brokerID, lane: lane, eventLoop: general.eventLoop)
        return (general, laneConnection)
    }

    private func perform(_ request: BrokerFetchRequest, on connection: KafkaConnection, general: KafkaConnection) async -> Result<Outcomes, KafkaError> {
        do {
            guard let negotiated = connection.negotiatedVersion(for: FetchRequest.self) else {
                throw KafkaError(.unsupportedByBroker, "broker \(request.brokerID) supports no usable Fetch version")
            }
            let version = request.usableVersion(negotiated: negotiated)
            let response = try await connection.send(
                request.wireRequest(version: version), version: version, timeout: fetcher.requestTimeout + fetcher.maxWait)
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
                    outcomes[position] = .errorCode(data.errorCode)
                    if KafkaClusterMetadata.requiresMetadataRefresh(errorCode: data.errorCode) { cluster.requestRefresh() }
                    continue
                }
                let decoder = FetchedPartitionDecoder(
                    topic: position.topic, partition: position.partition, fetchOffset: position.offset,
                    isolationLevel: isolationLevel)
                do {
                    let output = try decoder.decode(
                        records: data.records,
                        abortedTransactions: (data.abortedTransactions ?? []).map {
                            .init(producerID: $0.producerId, firstOffset: $0.firstOffset)
                        })
                    outcomes[position] = .delivered(output)
                    if let first = output.records.first, compressed != true {
                        compressed = (first.batchAttributes?.compression ?? .none) != .none
                    }
                    cluster.metrics.recordFetchedPartition(position, records: output.records.count, bytes: data.records?.readableBytes ?? 0, highWatermark: data.highWatermark)
                } catch let error as KafkaError {
                    outcomes[position] = .failed(error)
                }
            }
            return .success(outcomes)
        } catch let error as KafkaError {
            return .failure(error)
        } catch {
            return .failure(KafkaError(.brokerError, "Fetch to broker \(request.brokerID) failed: \(error)", isRetriable: true, underlying: error))
        }
    }
}

