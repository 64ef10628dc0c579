import Foundation

/// A record as librdkafka 2.16 consumed it (scripts/rdkafka_tool.py consume).
struct RdKafkaRecord: Sendable, Equatable {
    struct Header: Sendable, Equatable {
        var key: String
        var value: [UInt8]?
    }

    var topic: String
    var partition: Int32
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [Header]
    /// Milliseconds since the epoch.
    var timestamp: Int64
    /// "create", "log_append" or "none".
    var timestampType: String

    var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// Where librdkafka put a produced record.
struct RdKafkaDelivery: Sendable, Equatable, Decodable {
    var topic: String
    var partition: Int32
    var offset: Int64
}

/// librdkafka (confluent-kafka 2.16.1) as the interoperability peer: produce records our consumer must read,
/// consume what our producer wrote, and ask which partition librdkafka's partitioner picks for a key.
enum RdKafkaTool {
    enum GroupProtocol: String, Sendable {
        case classic
        case consumer
    }

    enum Isolation: String, Sendable {
        case readCommitted = "read_committed"
        case readUncommitted = "read_uncommitted"
    }

    enum Compression: String, Sendable {
        case none, gzip, snappy, lz4, zstd
    }

    struct MalformedOutput: Error, CustomStringConvertible {
        let line: String
        var description: String { "rdkafka_tool.py printed an unexpected line: \(line)" }
    }

    /// Produces one record per element and returns where each landed, in delivery order. Keys may be nil;
    /// neither keys nor values may contain a tab or a newline (records travel as lines, "key\tvalue").
    /// `headers` are added to every record. With `transactionalID` all records go in one transaction that
    /// is committed, or aborted when `abort` is true. `lingerMilliseconds` (librdkafka's linger.ms, default
    /// 5): a long one makes one batch per partition likely (the closing flush sends at once), not certain:
    /// in clean-clone CI runs the first record of a call still went alone once (FetchTests.lagOnMockCluster).
    @discardableResult
    static func produce(
        bootstrap: String, topic: String, records: [(key: String?, value: String)], partition: Int32? = nil,
        compression: Compression = .none, headers: [(String, String)] = [], acks: String = "all",
        idempotent: Bool = false, transactionalID: String? = nil, abort: Bool = false, lingerMilliseconds: Int? = nil
    ) async throws -> [RdKafkaDelivery] {
        var args = ["produce", "--bootstrap", bootstrap, "--topic", topic, "--report",
                    "--compression", compression.rawValue, "--acks", acks, "--key-from-line", "\t"]
        if let partition { args += ["--partition", String(partition)] }
        if idempotent { args.append("--idempotent") }
        if let transactionalID { args += ["--transactional-id", transactionalID] }
        if abort { args.append("--abort") }
        if let lingerMilliseconds { args += ["--linger-ms", String(lingerMilliseconds)] }
        for (k, v) in headers { args += ["--header", "\(k)=\(v)"] }
        // A line without the separator is a record without a key.
        let input = records.map { ($0.key.map { $0 + "\t" } ?? "") + $0.value + "\n" }.joined()
        let result = try await tool(args, stdin: Data(input.utf8))
        return try jsonLines(result).dropLast().map { try JSONDecoder().decode(RdKafkaDelivery.self, from: $0) }
    }

    /// Produces `count` records of `size` bytes each (no key); returns how many were acknowledged.
    @discardableResult
    static func produce(
        bootstrap: String, topic: String, count: Int, size: Int, compression: Compression = .none
    ) async throws -> Int {
        let args = ["produce", "--bootstrap", bootstrap, "--topic", topic, "--count", String(count),
                    "--size", String(size), "--compression", compression.rawValue]
        let result = try await tool(args, timeout: 120)
        struct Summary: Decodable { var produced: Int }
        guard let last = try jsonLines(result).last else { throw MalformedOutput(line: result.stdoutText) }
        return try JSONDecoder().decode(Summary.self, from: last).produced
    }

    /// Consumes until `count` records arrived (throws if they do not within `timeoutMilliseconds`) or,
    /// without `count`, everything that arrives within the timeout. Without `group` the partitions are
    /// assigned directly (no group join).
    static func consume(
        bootstrap: String, topic: String, group: String? = nil, groupProtocol: GroupProtocol = .classic,
        isolation: Isolation = .readCommitted, count: Int? = nil, timeoutMilliseconds: Int = 10_000,
        fromBeginning: Bool = true
    ) async throws -> [RdKafkaRecord] {
        var args = ["consume", "--bootstrap", bootstrap, "--topic", topic, "--isolation", isolation.rawValue,
                    "--timeout-ms", String(timeoutMilliseconds)]
        if let group { args += ["--group", group, "--group-protocol", groupProtocol.rawValue] }
        if let count { args += ["--count", String(count)] }
        if fromBeginning { args.append("--from-beginning") }
        let result = try await tool(args, timeout: Double(timeoutMilliseconds) / 1000 + 60)
        return try jsonLines(result).map(decodeRecord)
    }

    /// Creates a topic through librdkafka's admin client (Tansu; the mock cluster uses
    /// ``MockCluster/createTopic(_:partitions:replicationFactor:)``).
    static func createTopic(bootstrap: String, topic: String, partitions: Int, replicationFactor: Int = 1) async throws {
        try await tool(["create-topic", "--bootstrap", bootstrap, "--topic", topic,
                        "--partitions", String(partitions), "--replication-factor", String(replicationFactor)])
    }

    /// The partition librdkafka's `partitioner` (default murmur2_random, Java-compatible) picks for each
    /// key among `partitions` partitions.
    static func partitionFor(
        keys: [String], partitions: Int, partitioner: String = "murmur2_random"
    ) async throws -> [String: Int32] {
        let result = try await tool(["partition-for", "--partitions", String(partitions),
                                     "--partitioner", partitioner] + keys)
        var map: [String: Int32] = [:]
        for line in result.stdoutText.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count == 2, let p = Int32(parts[1]) else { throw MalformedOutput(line: String(line)) }
            map[String(parts[0])] = p
        }
        return map
    }

    // MARK: Plumbing

    @discardableResult
    private static func tool(_ args: [String], stdin: Data? = nil, timeout: Double = 60) async throws
        -> ScriptProcess.Result
    {
        try await ScriptProcess.run(
            try TestBrokers.python, [try TestBrokers.scripts + "/rdkafka_tool.py"] + args, stdin: stdin,
            timeout: timeout)
    }

    private static func jsonLines(_ result: ScriptProcess.Result) throws -> [Data] {
        result.stdout.split(separator: UInt8(ascii: "\n")).filter { !$0.isEmpty }.map { Data($0) }
    }

    private struct RawHeader: Decodable {
        var key: String
        var value: String?
        var value_encoding: String?
    }

    private struct RawRecord: Decodable {
        var topic: String
        var partition: Int32
        var offset: Int64
        var key: String?
        var key_encoding: String?
        var value: String?
        var value_encoding: String?
        var headers: [RawHeader]
        var timestamp: Int64
        var timestamp_type: String
    }

    private static func bytes(_ text: String?, _ encoding: String?) throws -> [UInt8]? {
        guard let text else { return nil }
        switch encoding {
        case "utf8": return Array(text.utf8)
        case "base64":
            guard let data = Data(base64Encoded: text) else { throw MalformedOutput(line: text) }
            return Array(data)
        default: throw MalformedOutput(line: "unknown encoding \(encoding ?? "nil")")
        }
    }

    private static func decodeRecord(_ line: Data) throws -> RdKafkaRecord {
        let raw = try JSONDecoder().decode(RawRecord.self, from: line)
        return RdKafkaRecord(
            topic: raw.topic, partition: raw.partition, offset: raw.offset,
            key: try bytes(raw.key, raw.key_encoding), value: try bytes(raw.value, raw.value_encoding),
            headers: try raw.headers.map { .init(key: $0.key, value: try bytes($0.value, $0.value_encoding)) },
            timestamp: raw.timestamp, timestampType: raw.timestamp_type)
    }
}
