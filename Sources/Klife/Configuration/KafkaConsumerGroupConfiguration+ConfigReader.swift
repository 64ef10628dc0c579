import Configuration

extension KafkaConsumerGroupConfiguration {
    /// Reads a consumer group from `configReader`; options it does not hold keep their defaults.
    ///
    /// Keys: `groupID` (required), `topics` (required: a list, or one comma-separated string), `instanceID`,
    /// `sessionTimeout`, `rebalanceTimeout`, `heartbeatInterval`, `assignors` (list of `range`,
    /// `roundrobin`, `cooperative-sticky`), `isolationLevel` (`read_committed`, `read_uncommitted`),
    /// `offsetResetPolicy` (`earliest`, `latest`), `fetchMaxBytes`, `fetcher`. Durations are strings with a
    /// unit or integers of milliseconds.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming each missing,
    ///   malformed or wrongly typed key with its path.
    public init(configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init(options: options)
        try options.throwIfProblems()
    }

    init(options: KafkaOptionReader) {
        let groupID = options.string("groupID")
        if groupID == nil && !options.contains("groupID") { options.report("groupID", "missing (the consumer group id)") }
        let topics = options.stringArray("topics")
        if topics == nil && !options.contains("topics") { options.report("topics", "missing (a list of topic names)") }
        self.init(groupID: groupID ?? "", topics: topics ?? [])
        if let value = options.string("instanceID") { instanceID = value }
        if let value = options.duration("sessionTimeout") { sessionTimeout = value }
        if let value = options.duration("rebalanceTimeout") { rebalanceTimeout = value }
        if let value = options.duration("heartbeatInterval") { heartbeatInterval = value }
        if let names = options.stringArray("assignors") {
            var parsed: [Assignor] = []
            for name in names {
                if let assignor = Assignor(rawValue: name.lowercased()) {
                    parsed.append(assignor)
                } else {
                    options.report("assignors", "expected range, roundrobin or cooperative-sticky, got \"\(name)\"")
                }
            }
            assignors = parsed
        }
        if let value = options.parsed("isolationLevel", expected: "read_committed or read_uncommitted", KafkaIsolationLevel.init(configName:)) {
            isolationLevel = value
        }
        if let value = options.parsed("offsetResetPolicy", expected: "earliest or latest", OffsetResetPolicy.init(configName:)) {
            offsetResetPolicy = value
        }
        if let value = options.int("fetchMaxBytes") { fetchMaxBytes = value }
        if let value = options.string("fetcher") { fetcher = value }
    }
}

extension KafkaIsolationLevel {
    /// Parses `read_committed` / `read_uncommitted` (also camel case, as the Swift cases).
    init?(configName: String) {
        switch configName.lowercased() {
        case "read_committed", "readcommitted": self = .readCommitted
        case "read_uncommitted", "readuncommitted": self = .readUncommitted
        default: return nil
        }
    }
}

extension KafkaConsumerGroupConfiguration.OffsetResetPolicy {
    /// Parses `earliest` / `latest`.
    init?(configName: String) {
        switch configName.lowercased() {
        case "earliest": self = .earliest
        case "latest": self = .latest
        default: return nil
        }
    }
}
