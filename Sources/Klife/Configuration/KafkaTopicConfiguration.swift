/// Per-topic settings (Klife's `topics:` entries): which producer and partitioner serve a topic by default.
///
/// With ``KafkaClient/Configuration/enableUnknownTopics`` false, these are the only topics records may be
/// produced to; the client fetches metadata for them and for the topics the application reads.
public struct KafkaTopicConfiguration: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// Name of the producer used for this topic when a call names none; nil = the client's default producer.
    public var producer: String?
    /// Name of the partitioner (a key of ``KafkaClient/Configuration/partitioners``) used for this topic when a
    /// call names none; nil = the client's default partitioner.
    public var partitioner: String?

    public init(name: String, producer: String? = nil, partitioner: String? = nil) {
        self.name = name
        self.producer = producer
        self.partitioner = partitioner
    }

    /// Kafka's topic naming rule, as error messages state it.
    static let topicNameRule = "1-249 characters of a-z A-Z 0-9 . _ -, not . or .."

    /// Throws unless `name` is a legal topic name: every call taking a topic name checks it before sending
    /// anything (a broker can only answer "unknown topic" for an illegal name, which looks retriable).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidArgument`` naming `name` and the rule.
    static func validateTopicName(_ name: String) throws(KafkaError) {
        guard isValidTopicName(name) else { throw illegalTopicNameError(name) }
    }

    /// The `invalidArgument` error for an illegal topic name.
    static func illegalTopicNameError(_ name: String) -> KafkaError {
        KafkaError(.invalidArgument, "\"\(name)\" is not a legal topic name (\(topicNameRule))")
    }

    /// Whether `name` is a legal Kafka topic name: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
    public static func isValidTopicName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 249, name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
