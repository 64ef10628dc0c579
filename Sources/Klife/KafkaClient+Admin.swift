import KafkaProtocol

extension KafkaClient {
    /// A topic to create with ``KafkaClient/createTopics(_:timeout:)``.
    public struct NewTopic: Sendable, Hashable {
        public var name: String
        /// Number of partitions; -1 = the broker's default.
        public var partitions: Int32
        /// Replication factor; -1 = the broker's default.
        public var replicationFactor: Int16
        /// Topic configs (`cleanup.policy`, `retention.ms`, …).
        public var configs: [String: String]

        public init(name: String, partitions: Int32 = 1, replicationFactor: Int16 = 1, configs: [String: String] = [:]) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.configs = configs
        }
    }

    /// Which offset ``KafkaClient/listOffsets(topic:partitions:at:isolation:)`` looks up.
    public enum OffsetSpec: Sendable, Hashable {
        /// The log start offset (ListOffsets timestamp -2).
        case earliest
        /// The log end offset: the offset the next record will get (timestamp -1); the last stable offset
        /// under read_committed.
        case latest
        /// The earliest offset whose record timestamp is at least this many milliseconds since the epoch.
        case timestamp(Int64)

        var wireTimestamp: Int64 {
            switch self {
            case .earliest: -2
            case .latest: -1
            case .timestamp(let ms): ms
            }
        }
    }

    /// The answer of ``KafkaClient/listOffsets(topic:partitions:at:isolation:)`` for one partition.
    public struct PartitionOffset: Sendable, Hashable {
        public var partition: Int32
        /// The offset; -1 when no record matches a timestamp lookup.
        public var offset: Int64
        /// The timestamp of the record at ``offset`` for timestamp lookups; -1 otherwise.
        public var timestamp: Int64
        /// The leader epoch of the record at ``offset``; -1 when unknown.
        public var leaderEpoch: Int32

        public init(partition: Int32, offset: Int64, timestamp: Int64 = -1, leaderEpoch: Int32 = -1) {
            self.partition = partition
            self.offset = offset
            self.timestamp = timestamp
            self.leaderEpoch = leaderEpoch
        }
    }

    // MARK: Topics

    /// Creates one topic and waits until the cluster metadata shows it with a leader for every partition.
    ///
    /// - Throws: ``KafkaError``: ``KafkaError/Code/topicAlreadyExists``, ``KafkaError/Code/invalidArgument``
    ///   (illegal name, partitions or replication factor), ``KafkaError/Code/brokerError`` with the Kafka code
    ///   for other refusals, ``KafkaError/Code/featureDisabled`` when the broker lacks CreateTopics,
    ///   ``KafkaError/Code/requestTimedOut`` when the topic does not get leaders within `timeout`,
    ///   connection errors, ``KafkaError/Code/clientNotRunning``.
    public func createTopic(
        _ name: String, partitions: Int32 = 1, replicationFactor: Int16 = 1, configs: [String: String] = [:], timeout: Duration = .seconds(30)
    ) async throws {
        let results = try await createTopics(
            [NewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor, configs: configs)], timeout: timeout)
        if let error = results[name] ?? nil { throw error }
    }

    /// Creates topics and waits until the metadata shows each created one with a leader for every partition.
    ///
    /// A request whose answer was lost (a closed connection, a timeout) is sent again; should the second answer
    /// say a topic exists already, it counts as created (most likely by the first attempt). Topics refused with
    /// NOT_CONTROLLER are sent again to the controller a fresh metadata answer names (three attempts in all).
    ///
    /// Note: the broker's `validate_only` mode is not offered: Tansu creates the topic even then.
    ///
    /// - Returns: per topic name, nil when it was created, else the error the broker gave for it
    ///   (``KafkaError/Code/topicAlreadyExists``, ``KafkaError/Code/brokerError`` with the Kafka code, …).
    /// - Throws: ``KafkaError`` for failures of the whole call: ``KafkaError/Code/invalidArgument`` (empty
    ///   list, duplicate or illegal names, partitions or replication factor below -1 or 0),
    ///   ``KafkaError/Code/featureDisabled``, ``KafkaError/Code/requestTimedOut``, connection errors,
    ///   ``KafkaError/Code/clientNotRunning``.
    @discardableResult
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(30)) async throws -> [String: KafkaError?] {
        try requireRunning()
        try requireFeature(.admin)
        guard !topics.isEmpty else { throw KafkaError(.invalidArgument, "createTopics needs at least one topic") }
        var seen = Set<String>()
        for topic in topics {
            try KafkaTopicConfiguration.validateTopicName(topic.name)
            guard seen.insert(topic.name).inserted else { throw KafkaError(.invalidArgument, "topic \(topic.name) is listed twice") }
            guard topic.partitions == -1 || topic.partitions > 0 else {
                throw KafkaError(.invalidArgument, "topic \(topic.name): partitions must be > 0 (or -1 for the broker default)")
            }
            guard topic.replicationFactor == -1 || topic.replicationFactor > 0 else {
                throw KafkaError(.invalidArgument, "topic \(topic.name): replicationFactor must be > 0 (or -1 for the broker default)")
            }
        }
        var results: [String: KafkaError?] = [:]
        var pending = topics
        for round in 1...Self.notControllerRounds where !pending.isEmpty {
            let request = CreateTopicsRequest(
                topics: pending.map { topic in
                    CreateTopicsRequest.CreatableTopic(
                        name: topic.name, numPartitions: topic.partitions, replicationFactor: topic.replicationFactor,
                        assignments: [],
                        configs: topic.configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
                },
                timeoutMs: Self.milliseconds(timeout))
            let (response, resent) = try await sendToController(request, timeout: timeout)
            var again: Set<String> = []
            for result in response.topics {
                // TOPIC_ALREADY_EXISTS after an attempt that went unanswered is most likely that attempt's work.
                if resent && result.errorCode == 36 {
                    logger.info("topic exists after a resent CreateTopics; taking it as created by the first attempt", metadata: ["topic": "\(result.name)"])
                    results[result.name] = .some(nil)
                    continue
                }
                if result.errorCode == Self.notController && round < Self.notControllerRounds { again.insert(result.name) }
                results[result.name] = Self.topicError(result.errorCode, result.errorMessage, topic: result.name, operation: "create")
            }
            pending = pending.filter { again.contains($0.name) }
            if !pending.isEmpty { await controllerMoved() }
        }
        for topic in topics where results[topic.name] == nil {
            results[topic.name] = KafkaError(.protocolViolation, "CreateTopics answered without topic \(topic.name)")
        }
        let created = results.filter { $0.value == nil }.map(\.key).sorted()
        if !created.isEmpty {
            logger.info("created topics", metadata: ["topics": "\(created)"])
            try await waitForTopics(created, present: true, timeout: timeout)
        }
        return results
    }

    /// Deletes one topic and waits until the metadata no longer shows it.
    ///
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` for an illegal topic name (nothing is sent),
    ///   ``KafkaError/Code/unknownTopicOrPartition`` when there is no such topic,
    ///   ``KafkaError/Code/brokerError`` with the Kafka code for other refusals, ``KafkaError/Code/featureDisabled``,
    ///   ``KafkaError/Code/requestTimedOut``, connection errors, ``KafkaError/Code/clientNotRunning``.
    public func deleteTopic(_ name: String, timeout: Duration = .seconds(30)) async throws {
        let results = try await deleteTopics([name], timeout: timeout)
        if let error = results[name] ?? nil { throw error }
    }

    /// Deletes topics and waits until the metadata no longer shows the deleted ones.
    ///
    /// A request whose answer was lost is sent again; should the second answer say a topic does not exist, it
    /// counts as deleted (most likely by the first attempt). Topics refused with NOT_CONTROLLER are sent again to
    /// the controller a fresh metadata answer names (three attempts in all).
    ///
    /// - Returns: per topic name, nil when it was deleted, else the broker's error for it.
    /// - Throws: ``KafkaError`` for failures of the whole call (``KafkaError/Code/invalidArgument`` for an empty
    ///   list or an illegal topic name, before anything is sent; ``KafkaError/Code/featureDisabled``, ``KafkaError/Code/requestTimedOut``, connection errors,
    ///   ``KafkaError/Code/clientNotRunning``).
    @discardableResult
    public func deleteTopics(_ names: [String], timeout: Duration = .seconds(30)) async throws -> [String: KafkaError?] {
        try requireRunning()
        try requireFeature(.admin)
        guard !names.isEmpty else { throw KafkaError(.invalidArgument, "deleteTopics needs at least one topic") }
        for name in names { try KafkaTopicConfiguration.validateTopicName(name) }
        var results: [String: KafkaError?] = [:]
        var pending = names
        for round in 1...Self.notControllerRounds where !pending.isEmpty {
            let request = DeleteTopicsRequest(
                topics: pending.map { DeleteTopicsRequest.DeleteTopicState(name: $0, topicId: .zero) }, topicNames: pending,
                timeoutMs: Self.milliseconds(timeout))
            let (response, resent) = try await sendToController(request, timeout: timeout)
            var again: Set<String> = []
            for result in response.responses {
                guard let name = result.name else { continue }
                // UNKNOWN_TOPIC_OR_PARTITION after an attempt that went unanswered is most likely that attempt's work.
                if resent && result.errorCode == 3 {
                    logger.info("topic gone after a resent DeleteTopics; taking it as deleted by the first attempt", metadata: ["topic": "\(name)"])
                    results[name] = .some(nil)
                    continue
                }
                if result.errorCode == Self.notController && round < Self.notControllerRounds { again.insert(name) }
                results[name] = Self.topicError(result.errorCode, result.errorMessage, topic: name, operation: "delete")
            }
            pending = pending.filter { again.contains($0) }
            if !pending.isEmpty { await controllerMoved() }
        }
        for name in names where results[name] == nil {
            results[name] = KafkaError(.protocolViolation, "DeleteTopics answered without topic \(name)")
        }
        let deleted = results.filter { $0.value == nil }.map(\.key).sorted()
        if !deleted.isEmpty {
            logger.info("deleted topics", metadata: ["topics": "\(deleted)"])
            try await waitForTopics(deleted, present: false, timeout: timeout)
        }
        return results
    }

    /// Every topic of the cluster, sorted by name, fresh from a Metadata request.
    ///
    /// - Parameter includeInternal: include internal topics such as `__consumer_offsets`.
    /// - Throws: ``KafkaError``: connection errors, ``KafkaError/Code/clientNotRunning``.
    public func listTopics(includeInternal: Bool = false) async throws -> [KafkaTopicMetadata] {
        try requireRunning()
        let response = try await cluster.describe(topics: nil)
        return response.topics.filter { $0.errorCode == 0 && (includeInternal || !$0.isInternal) }.sorted { $0.name < $1.name }
    }

    /// One topic's partitions, leaders, leader epochs and replicas, fresh from a Metadata request.
    ///
    /// - Throws: ``KafkaError``: ``KafkaError/Code/unknownTopicOrPartition`` when there is no such topic,
    ///   ``KafkaError/Code/brokerError`` for other topic errors, connection errors, ``KafkaError/Code/clientNotRunning``.
    public func describeTopic(_ name: String) async throws -> KafkaTopicMetadata {
        guard let topic = try await describeTopics([name]).first else {
            throw KafkaError(.unknownTopicOrPartition, "topic \(name) does not exist", kafkaCode: 3)
        }
        return topic
    }

    /// Several topics' metadata, in the order asked, fresh from one Metadata request.
    ///
    /// - Throws: ``KafkaError`` as ``describeTopic(_:)`` for the first topic that fails.
    public func describeTopics(_ names: [String]) async throws -> [KafkaTopicMetadata] {
        try requireRunning()
        guard !names.isEmpty else { return [] }
        let response = try await cluster.describe(topics: names)
        let byName = Dictionary(response.topics.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        return try names.map { name in
            guard let topic = byName[name] else {
                throw KafkaError(.unknownTopicOrPartition, "topic \(name) does not exist", kafkaCode: 3)
            }
            if let error = Self.topicError(topic.errorCode, nil, topic: name, operation: "describe") { throw error }
            return topic
        }
    }

    // MARK: Offsets

    /// Looks up an offset per partition of `topic` with ListOffsets, asking each partition's leader.
    ///
    /// Tansu quirk: its LATEST answer is the base offset of the last batch + 1, which is wrong when that
    /// batch holds more than one record; a Fetch's high watermark is right there (see the broker notes).
    ///
    /// Retriable failures (a moved leader, REQUEST_TIMED_OUT and other retriable Kafka codes, lost
    /// connections) are retried with a growing backoff until the connection's `requestTimeout` has passed.
    ///
    /// - Parameters:
    ///   - partitions: the partitions to ask about; nil = all of the topic's partitions.
    ///   - spec: earliest, latest or by timestamp.
    ///   - isolation: under read_committed, latest is the last stable offset.
    /// - Returns: one entry per partition asked, keyed by partition.
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` (illegal topic name, negative partition),
    ///   ``KafkaError/Code/unknownTopicOrPartition`` (unknown topic or partition),
    ///   ``KafkaError/Code/leaderNotAvailable`` after retries, ``KafkaError/Code/brokerError`` with the Kafka
    ///   code (retriable when the code still failed after the retries), ``KafkaError/Code/featureDisabled``
    ///   when the broker lacks ListOffsets, connection errors, ``KafkaError/Code/clientNotRunning``.
    public func listOffsets(
        topic: String, partitions: [Int32]? = nil, at spec: OffsetSpec, isolation: KafkaIsolationLevel = .readUncommitted
    ) async throws -> [Int32: PartitionOffset] {
        try requireRunning()
        let topicMetadata = try await cluster.topicMetadata(topic)
        if let negative = partitions?.first(where: { $0 < 0 }) {
            throw KafkaError(.invalidArgument, "listOffsets: partition \(negative) of topic \(topic) is negative")
        }
        let wanted = partitions ?? topicMetadata.partitions.map(\.partition)
        let specs = Dictionary(wanted.map { (KafkaTopicPartition(topic: topic, partition: $0), spec) }, uniquingKeysWith: { first, _ in first })
        let offsets = try await listOffsets(specs, isolation: isolation)
        return Dictionary(offsets.map { ($0.key.partition, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// Looks up an offset per partition, of any topics, with one ListOffsets request per leader (all leaders
    /// asked at once); each partition has its own spec. Kafka's `Admin.listOffsets`.
    ///
    /// Retriable failures (a moved leader, REQUEST_TIMED_OUT and other retriable Kafka codes, lost
    /// connections) are retried with a growing backoff until the connection's `requestTimeout` has passed.
    /// See ``listOffsets(topic:partitions:at:isolation:)`` for Tansu's LATEST quirk.
    ///
    /// - Parameters:
    ///   - specs: per partition, earliest, latest or by timestamp. Empty: nothing is asked.
    ///   - isolation: under read_committed, latest is the last stable offset.
    /// - Returns: one entry per partition asked.
    /// - Throws: ``KafkaError``: ``KafkaError/Code/invalidArgument`` (illegal topic name, negative partition),
    ///   ``KafkaError/Code/unknownTopicOrPartition`` (unknown topic or partition),
    ///   ``KafkaError/Code/leaderNotAvailable`` after retries, ``KafkaError/Code/brokerError`` with the Kafka
    ///   code (retriable when the code still failed after the retries), ``KafkaError/Code/featureDisabled``
    ///   when the broker lacks ListOffsets, connection errors, ``KafkaError/Code/clientNotRunning``. The first
    ///   partition that fails for good fails the call.
    public func listOffsets(
        _ specs: [KafkaTopicPartition: OffsetSpec], isolation: KafkaIsolationLevel = .readUncommitted
    ) async throws -> [KafkaTopicPartition: PartitionOffset] {
        try requireRunning()
        for partition in specs.keys.sorted() where partition.partition < 0 {
            throw KafkaError(.invalidArgument, "listOffsets: partition \(partition.partition) of topic \(partition.topic) is negative")
        }
        for topic in Set(specs.keys.map(\.topic)).sorted() {
            let topicMetadata = try await cluster.topicMetadata(topic)
            for partition in specs.keys.sorted() where partition.topic == topic && topicMetadata.partition(partition.partition) == nil {
                throw KafkaError(
                    .unknownTopicOrPartition, "topic \(topic) has no partition \(partition.partition) (it has \(topicMetadata.partitionCount))",
                    kafkaCode: 3)
            }
        }
        var results: [KafkaTopicPartition: PartitionOffset] = [:]
        var remaining = Set(specs.keys)
        var lastError: KafkaError?
        let requestTimeout = configuration.connection.requestTimeout
        // Retriable failures are retried with a growing backoff until the request timeout has passed.
        try await roundsByLeader(
            &remaining, until: .now + requestTimeout,
            noLeader: { _, error in
                lastError = error
                return false
            },
            ask: { client, leaderID, partitions -> Result<(ListOffsetsResponse, version: Int16), any Error> in
                do {
                    let connection = try await client.cluster.connection(toBroker: leaderID)
                    guard let version = connection.negotiatedVersion(for: ListOffsetsRequest.self) else {
                        throw KafkaError(.featureDisabled, "the broker offers no usable ListOffsets version")
                    }
                    let byTopic = Dictionary(grouping: partitions, by: \.topic)
                    let request = ListOffsetsRequest(
                        replicaId: -1, isolationLevel: version >= 2 ? isolation.wireValue : 0,
                        topics: byTopic.keys.sorted().map { topic in
                            .init(name: topic, partitions: byTopic[topic]!.map {
                                .init(partitionIndex: $0.partition, currentLeaderEpoch: -1, timestamp: specs[$0]!.wireTimestamp)
                            })
                        },
                        timeoutMs: Self.milliseconds(requestTimeout))
                    return .success((try await connection.send(request), version))
                } catch {
                    return .failure(error)
                }
            }
        ) { answer, _, remaining in
            let response: ListOffsetsResponse
            let version: Int16
            switch answer {
            case .success(let answered): (response, version) = answered
            case .failure(let error as KafkaError) where error.isRetriable:
                lastError = error
                return
            case .failure(let error): throw error
            }
            for topic in response.topics {
                for partition in topic.partitions {
                    let topicPartition = KafkaTopicPartition(topic: topic.name, partition: partition.partitionIndex)
                    guard remaining.contains(topicPartition) else { continue }
                    if partition.errorCode == 0 {
                        let offset = version == 0 ? (partition.oldStyleOffsets.first ?? -1) : partition.offset
                        results[topicPartition] = PartitionOffset(
                            partition: partition.partitionIndex, offset: offset, timestamp: partition.timestamp, leaderEpoch: partition.leaderEpoch)
                        remaining.remove(topicPartition)
                    } else if cluster.requestRefreshIfStale(errorCode: partition.errorCode) {
                        lastError = KafkaError(
                            .leaderNotAvailable, "ListOffsets for \(topicPartition) failed with Kafka error code \(partition.errorCode)",
                            kafkaCode: partition.errorCode, isRetriable: true)
                    } else if KafkaErrorCode(rawValue: partition.errorCode).isRetriable {
                        // REQUEST_TIMED_OUT and other transient broker states: the same leader may answer next time.
                        lastError = KafkaError(
                            .brokerError, "ListOffsets for \(topicPartition) kept failing with Kafka error code \(partition.errorCode)",
                            kafkaCode: partition.errorCode, isRetriable: true)
                    } else {
                        throw KafkaError(.brokerError, "ListOffsets for \(topicPartition) failed", kafkaCode: partition.errorCode)
                    }
                }
            }
        }
        guard remaining.isEmpty else {
            throw lastError ?? KafkaError(
                .leaderNotAvailable, "no offsets for \(remaining.sorted().map(\.description).joined(separator: ", "))", isRetriable: true)
        }
        return results
    }

    // MARK: Helpers

    /// Sends one request per leader for the partitions still in `remaining`, in rounds, until none is left or the
    /// next round would start after `deadline`. A round asks every leader at once (`ask`, one child task per
    /// leader, so a round takes as long as its slowest leader, not the sum of them); when all have answered,
    /// `settle` takes the answers in leader order, removes the partitions each settles and leaves the others for
    /// the next round, which comes after a growing backoff (100 ms more each time, at most 1 s) and a metadata
    /// refresh. A partition without a known leader is handed to `noLeader`, which says whether that settles it
    /// (it is then removed) or it waits for the next round.
    func roundsByLeader<Answer: Sendable>(
        _ remaining: inout Set<KafkaTopicPartition>, until deadline: ContinuousClock.Instant,
        noLeader: (KafkaTopicPartition, KafkaError) -> Bool,
        ask: @escaping @Sendable (_ client: KafkaClient, _ leaderID: Int32, _ partitions: [KafkaTopicPartition]) async -> Answer,
        settle: (_ answer: Answer, _ partitions: [KafkaTopicPartition], _ remaining: inout Set<KafkaTopicPartition>) throws -> Void
    ) async throws {
        var attempt = 0
        while !remaining.isEmpty {
            if attempt > 0 {
                let backoff = Duration.milliseconds(min(100 * attempt, 1_000))
                guard ContinuousClock.now + backoff < deadline else { return }
                try await Task.sleep(for: backoff)
                _ = try? await cluster.refreshMetadata()
            }
            attempt += 1
            var byLeader: [Int32: [KafkaTopicPartition]] = [:]
            for partition in remaining.sorted() {
                do {
                    byLeader[try cluster.leader(of: partition).nodeID, default: []].append(partition)
                } catch {
                    if noLeader(partition, ClusterManager.asKafkaError(error)) { remaining.remove(partition) }
                }
            }
            let answers = await withTaskGroup(of: (Int32, [KafkaTopicPartition], Answer).self) { group in
                for (leaderID, partitions) in byLeader {
                    group.addTask { [self] in (leaderID, partitions, await ask(self, leaderID, partitions)) }
                }
                var answers: [(Int32, [KafkaTopicPartition], Answer)] = []
                for await answer in group { answers.append(answer) }
                return answers.sorted { $0.0 < $1.0 }
            }
            for (_, partitions, answer) in answers {
                try settle(answer, partitions, &remaining)
            }
        }
    }

    /// NOT_CONTROLLER: a ZooKeeper-era broker that is not the controller (KRaft brokers forward admin requests).
    private static let notController: Int16 = 41
    /// How many times topics refused with NOT_CONTROLLER are sent (to the controller the refreshed metadata names).
    static let notControllerRounds = 3

    /// The controller moved: the next request goes to the one a fresh metadata answer names, after a short pause.
    private func controllerMoved() async {
        logger.debug("the broker asked is not the controller; looking the controller up again")
        _ = try? await cluster.refreshMetadata()
        try? await Task.sleep(for: .milliseconds(100))
    }

    /// Sends an admin request to the controller, trying up to three times on a retriable transport error (a
    /// per-topic NOT_CONTROLLER in the answer is not retried: KRaft brokers forward admin requests).
    ///
    /// - Returns: the answer, and whether an earlier attempt was sent without its answer arriving (it may have
    ///   been carried out). An attempt that failed before sending (no connection) does not count.
    func sendToController<R: KafkaRequestMessage>(_ request: R, timeout: Duration) async throws -> (R.Response, resent: Bool) {
        var attempt = 0
        var sentUnanswered = false
        while true {
            attempt += 1
            do {
                let connection = try await cluster.controllerConnection()
                guard connection.negotiatedVersion(for: R.self) != nil else {
                    throw KafkaError(.featureDisabled, "the broker offers no usable version of \(R.self)")
                }
                do {
                    return (try await connection.send(request, timeout: timeout + configuration.connection.requestTimeout), sentUnanswered)
                } catch {
                    sentUnanswered = true
                    throw error
                }
            } catch let error as KafkaError where error.isRetriable && attempt < 3 {
                logger.debug("admin request failed, retrying: \(error.message)")
                _ = try? await cluster.refreshMetadata()
            }
        }
    }

    /// Polls metadata until every topic in `names` is present with leaders everywhere (or absent).
    private func waitForTopics(_ names: [String], present: Bool, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var delay = Duration.milliseconds(20)
        while true {
            let response = try await cluster.describe(topics: names)
            let ok = names.allSatisfy { name in
                let topic = response.topics.first { $0.name == name }
                if present {
                    guard let topic, topic.errorCode == 0, topic.partitionCount > 0 else { return false }
                    return topic.partitions.allSatisfy(\.hasLeader)
                }
                return topic == nil || topic!.errorCode == 3
            }
            if ok {
                // The cache follows even when the policy did not let describe() update it.
                if configuration.enableUnknownTopics { cluster.requestRefresh() }
                return
            }
            guard ContinuousClock.now + delay < deadline else {
                throw KafkaError(
                    .requestTimedOut, "topics \(names) did not \(present ? "appear with leaders" : "disappear") in the metadata within \(timeout)",
                    isRetriable: true)
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(500))
        }
    }

    static func topicError(_ code: Int16, _ message: String?, topic: String, operation: String) -> KafkaError? {
        guard code != 0 else { return nil }
        let detail = message.map { ": \($0)" } ?? ""
        switch code {
        case 3, 100:
            return KafkaError(.unknownTopicOrPartition, "cannot \(operation) topic \(topic): it does not exist\(detail)", kafkaCode: code)
        case 36:
            return KafkaError(.topicAlreadyExists, "cannot \(operation) topic \(topic): it exists already\(detail)", kafkaCode: code)
        case 17, 37, 38, 39, 40:
            return KafkaError(.invalidArgument, "cannot \(operation) topic \(topic)\(detail)", kafkaCode: code)
        default:
            return KafkaError(.brokerError, "cannot \(operation) topic \(topic)\(detail)", kafkaCode: code, isRetriable: [5, 7, 41, 89].contains(code))
        }
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }
}
