/// The decisions of one fetch call over several partitions: plan requests per leader, collect per-partition
/// results, and send partitions whose leader moved (or whose route was unknown) again after a metadata
/// refresh, up to `maxAttempts` times.
///
/// `Payload` is what a delivered partition yields (the records); the executor turns response partitions into
/// ``PartitionOutcome``s. The machine does no I/O: it returns ``Action``s that the executor performs.
struct FetchCallStateMachine<Payload> {
    enum PartitionOutcome {
        /// The partition's records (error code 0).
        case delivered(Payload)
        /// The partition's Kafka error code.
        case errorCode(Int16)
        /// A client-side failure for this partition alone (e.g. its records did not decode).
        case failed(KafkaError)
    }

    enum Action {
        /// Send these requests (concurrently); report each with ``responseReceived(requestID:outcomes:)`` or
        /// ``requestFailed(requestID:error:)``.
        case send([BrokerFetchRequest])
        /// Wait for the requests already in flight.
        case wait
        /// Refresh the metadata of these topics (none: just back off), then call ``resume(route:)``.
        case retry(refreshMetadataOf: Set<String>)
        /// The call is over.
        case finish([KafkaFetchPosition: Result<Payload, KafkaError>])
    }

    private struct Pending {
        var item: FetchPlanner.Item
        var attempts: Int
        var lastErrorCode: Int16?
        var lastRoute: FetchRoute?
        var needsMetadata: Bool
    }

    let maxAttempts: Int
    private var planner: FetchPlanner
    private var toPlan: [Pending]
    private var retryLater: [Pending] = []
    private var inFlight: [Int: (request: BrokerFetchRequest, items: [KafkaFetchPosition: Pending])] = [:]
    private var results: [KafkaFetchPosition: Result<Payload, KafkaError>] = [:]
    private var finished = false

    init(items: [FetchPlanner.Item], settings: FetchPlanner.Settings, maxAttempts: Int = 3) {
        self.maxAttempts = max(1, maxAttempts)
        self.planner = FetchPlanner(settings: settings)
        // A position asked for twice is fetched once.
        var seen = Set<KafkaFetchPosition>()
        self.toPlan = items.filter { seen.insert($0.position).inserted }.map {
            Pending(item: $0, attempts: 0, lastErrorCode: nil, lastRoute: nil, needsMetadata: false)
        }
    }

    /// Plans the first attempt.
    mutating func start(route: (String, Int32) -> FetchRoute) -> Action {
        planPending(route: route)
    }

    /// Plans the partitions set aside by ``Action/retry(refreshMetadataOf:)``.
    mutating func resume(route: (String, Int32) -> FetchRoute) -> Action {
        toPlan = retryLater
        retryLater = []
        return planPending(route: route)
    }

    mutating func responseReceived(requestID: Int, outcomes: [KafkaFetchPosition: PartitionOutcome]) -> Action {
        guard let (request, items) = inFlight.removeValue(forKey: requestID) else { return next() }
        for position in request.positions {
            guard var pending = items[position] else { continue }
            switch outcomes[position] {
            case .delivered(let payload)?:
                results[position] = .success(payload)
            case .failed(let error)?:
                results[position] = .failure(error)
            case .errorCode(let code)?:
                switch FetchPartitionErrorPolicy.decide(errorCode: code, position: position) {
                case .deliver:
                    // Error code 0 without a payload should not happen; retry it.
                    pending.lastErrorCode = nil
                    pending.needsMetadata = false
                    setAside(pending)
                case .refreshMetadataAndRetry:
                    pending.lastErrorCode = code
                    pending.needsMetadata = true
                    setAside(pending)
                case .retry:
                    pending.lastErrorCode = code
                    pending.needsMetadata = false
                    setAside(pending)
                case .fail(let error):
                    results[position] = .failure(error)
                }
            case nil:
                // The broker left the partition out of its answer; ask again.
                pending.needsMetadata = false
                setAside(pending)
            }
        }
        return next()
    }

    /// The whole request failed (connection lost, timeout, undecodable response).
    mutating func requestFailed(requestID: Int, error: KafkaError) -> Action {
        guard let (_, items) = inFlight.removeValue(forKey: requestID) else { return next() }
        for (position, var pending) in items {
            if error.isRetriable {
                pending.needsMetadata = true
                // This attempt's failure is the transport's: an earlier attempt's broker code no longer says why.
                pending.lastErrorCode = nil
                setAside(pending, failure: error)
            } else {
                results[position] = .failure(error)
            }
        }
        return next()
    }

    // MARK: - Internals

    private var lastFailure: [KafkaFetchPosition: KafkaError] = [:]

    private mutating func setAside(_ pending: Pending, failure: KafkaError? = nil) {
        var pending = pending
        pending.attempts += 1
        if let failure { lastFailure[pending.item.position] = failure }
        if pending.attempts >= maxAttempts {
            results[pending.item.position] = .failure(exhaustedError(pending))
        } else {
            retryLater.append(pending)
        }
    }

    private func exhaustedError(_ pending: Pending) -> KafkaError {
        let position = pending.item.position
        if let code = pending.lastErrorCode {
            return FetchPartitionErrorPolicy.exhausted(errorCode: code, position: position)
        }
        switch pending.lastRoute {
        case .unknownTopic?:
            return KafkaError(.unknownTopicOrPartition, "topic \(position.topic) does not exist")
        case .unknownPartition?:
            return KafkaError(.unknownTopicOrPartition, "topic \(position.topic) has no partition \(position.partition)")
        case .noLeader?:
            return KafkaError(
                .leaderNotAvailable, "\(position.topic)/\(position.partition) has no leader", isRetriable: true)
        default:
            if let failure = lastFailure[position] { return failure }
            return KafkaError(.leaderNotAvailable, "fetch of \(position) did not succeed after \(maxAttempts) attempts", isRetriable: true)
        }
    }

    private mutating func planPending(route: (String, Int32) -> FetchRoute) -> Action {
        let pendingByPosition = Dictionary(toPlan.map { ($0.item.position, $0) }, uniquingKeysWith: { a, _ in a })
        let plan = planner.plan(toPlan.map(\.item), route: route)
        toPlan = []
        for (position, route) in plan.unroutable {
            guard var pending = pendingByPosition[position] else { continue }
            pending.lastRoute = route
            pending.lastErrorCode = nil
            pending.needsMetadata = true
            setAside(pending)
        }
        for request in plan.requests {
            var items: [KafkaFetchPosition: Pending] = [:]
            for position in request.positions { items[position] = pendingByPosition[position] }
            inFlight[request.id] = (request, items)
        }
        if !plan.requests.isEmpty { return .send(plan.requests) }
        return next()
    }

    private mutating func next() -> Action {
        if finished { return .wait }
        if !inFlight.isEmpty { return .wait }
        if !retryLater.isEmpty {
            return .retry(refreshMetadataOf: Set(retryLater.filter(\.needsMetadata).map(\.item.position.topic)))
        }
        finished = true
        return .finish(results)
    }
}

extension FetchCallStateMachine.PartitionOutcome: Sendable where Payload: Sendable {}
