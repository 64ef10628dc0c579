extension KafkaClient.Configuration {
    /// Checks every option and throws on the first inconsistent configuration, naming all problems found.
    ///
    /// Rules: every count and timeout positive (or non-negative where 0 means "none", e.g. linger),
    /// producer/pool/fetcher/topic/partitioner names non-empty and unique, topic names legal, topics naming
    /// only configured producers and partitioners, default names non-empty, a positive metadata refresh
    /// interval, every producer's and fetcher's client id (derived ones included) at most 32767 bytes,
    /// `disabledFeatures` naming known features only and no configured idempotent producer when idempotence is
    /// disabled, plus the producer rules (idempotence needs acks all and at most 5 requests in flight, …).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration``; its message lists each
    ///   problem with the option's path, e.g. `producers[1].batchSizeBytes must be > 0`.
    public func validate() throws {
        let problems = validationProblems()
        guard problems.isEmpty else {
            throw KafkaError(.invalidConfiguration, "Invalid configuration: " + problems.joined(separator: "; "))
        }
    }

    /// Every problem of this configuration, each naming the option's path; empty when it is valid.
    public func validationProblems() -> [String] {
        var problems: [String] = []
        problems += connectionProblems()

        if defaultProducer.isEmpty { problems.append("defaultProducer must not be empty") }
        if defaultTransactionalPool.isEmpty { problems.append("defaultTransactionalPool must not be empty") }
        if defaultFetcher.isEmpty { problems.append("defaultFetcher must not be empty") }
        if metadataRefreshInterval <= .zero { problems.append("metadataRefreshInterval must be > 0") }

        for (index, producer) in producers.enumerated() {
            problems += producer.validationProblems(path: "producers[\(index)]")
        }
        problems += duplicateNameProblems(producers.map(\.name), path: "producers")

        for (index, pool) in transactionalPools.enumerated() {
            problems += pool.validationProblems(path: "transactionalPools[\(index)]")
        }
        problems += duplicateNameProblems(transactionalPools.map(\.name), path: "transactionalPools")
        problems += duplicateNameProblems(
            transactionalPools.map(\.baseTransactionalID).filter { !$0.isEmpty }, path: "transactionalPools", field: "baseTransactionalID")

        for (index, fetcher) in fetchers.enumerated() {
            problems += fetcher.validationProblems(path: "fetchers[\(index)]")
        }
        problems += duplicateNameProblems(fetchers.map(\.name), path: "fetchers")
        // Configured fetchers only: a producer-only client with a small frame limit never uses the implicit one.
        for (index, fetcher) in fetchers.enumerated() where fetcher.maxBytesPerRequest > connection.maxFrameBytes - Self.fetchResponseOverhead {
            // Every full answer would be refused as too large, and the fetch repeated forever.
            problems.append(
                "fetchers[\(index)].maxBytesPerRequest (\(fetcher.maxBytesPerRequest)) leaves no room in connection.maxFrameBytes (\(connection.maxFrameBytes)) for a full answer: at most maxFrameBytes - \(Self.fetchResponseOverhead)")
        }

        problems += clientIDProblems()

        for feature in disabledFeatures.sorted(by: { $0.rawValue < $1.rawValue }) where !KafkaClient.Feature.configurable.contains(feature) {
            problems.append("disabledFeatures names an unknown feature \"\(feature)\" (known: \(KafkaClient.Feature.configurable.map(\.rawValue).joined(separator: ", ")))")
        }
        if disabledFeatures.contains(.idempotentProducer) {
            // Its records would all fail with featureDisabled; the implicit default producer is left to that
            // per-call error, so a client using only non-idempotent named producers needs no extra option.
            for (index, producer) in producers.enumerated() where producer.enableIdempotence {
                problems.append("producers[\(index)].enableIdempotence is true but disabledFeatures contains idempotentProducer")
            }
        }

        for name in partitioners.keys.sorted() where name.isEmpty {
            problems.append("partitioners has an empty name")
        }

        let producerNames = Set(effectiveProducers.map(\.name))
        for (index, topic) in topics.enumerated() {
            let path = "topics[\(index)]"
            if !KafkaTopicConfiguration.isValidTopicName(topic.name) {
                problems.append("\(path).name \"\(topic.name)\" is not a legal topic name (\(KafkaTopicConfiguration.topicNameRule))")
            }
            if let producer = topic.producer, !producerNames.contains(producer) {
                problems.append("\(path).producer \"\(producer)\" names no configured producer")
            }
            if let partitioner = topic.partitioner, partitioners[partitioner] == nil {
                problems.append("\(path).partitioner \"\(partitioner)\" names no configured partitioner")
            }
        }
        problems += duplicateNameProblems(topics.map(\.name), path: "topics")
        return problems
    }

    /// Room a Fetch response needs beyond its records (headers, per-partition fields), as librdkafka reserves
    /// between `fetch.max.bytes` and `receive.message.max.bytes`.
    static let fetchResponseOverhead = 512

    /// A request header holds a client id of at most 32767 bytes: every producer's and fetcher's own id (the
    /// derived default, `klife_producer.<connection clientID>.<name>`, included) must fit.
    private func clientIDProblems() -> [String] {
        let limit = Int(Int16.max)
        var problems: [String] = []
        for producer in effectiveProducers {
            let id = producer.effectiveClientID(connectionClientID: connection.clientID)
            guard id.utf8.count > limit else { continue }
            let path = producers.firstIndex { $0.name == producer.name }.map { "producers[\($0)]" } ?? "the default producer \"\(producer.name)\""
            problems.append("\(path).clientID is \(id.utf8.count) bytes (\(producer.clientID == nil ? "derived from connection.clientID" : "set")); at most \(limit) fit in a request")
        }
        for fetcher in effectiveFetchers {
            let id = fetcher.effectiveClientID(connectionClientID: connection.clientID)
            guard id.utf8.count > limit else { continue }
            let path = fetchers.firstIndex { $0.name == fetcher.name }.map { "fetchers[\($0)]" } ?? "the default fetcher \"\(fetcher.name)\""
            problems.append("\(path).clientID is \(id.utf8.count) bytes (\(fetcher.clientID == nil ? "derived from connection.clientID" : "set")); at most \(limit) fit in a request")
        }
        return problems
    }

    private func duplicateNameProblems(_ names: [String], path: String, field: String = "name") -> [String] {
        var seen: [String: Int] = [:]
        var problems: [String] = []
        for (index, name) in names.enumerated() {
            if let first = seen[name] {
                problems.append("\(path)[\(index)].\(field) \"\(name)\" duplicates \(path)[\(first)].\(field)")
            } else {
                seen[name] = index
            }
        }
        return problems
    }

    /// The connection options' problems (each prefixed `connection.`), from
    /// ``KafkaConnectionConfiguration/validationProblems()``.
    private func connectionProblems() -> [String] {
        connection.validationProblems().map { "connection.\($0)" }
    }
}
