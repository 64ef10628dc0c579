extension KafkaClient {
    /// A client feature that configuration can switch off and that the broker's API versions can rule out.
    ///
    /// Extensible: subsystems add features in their own extensions.
    public struct Feature: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The produce API (Klife `:producer`).
        public static let producer = Feature("producer")
        /// Transactions (Klife `:txn_producer`).
        public static let transactionalProducer = Feature("transactionalProducer")
        /// Idempotent producers (InitProducerId).
        public static let idempotentProducer = Feature("idempotentProducer")
        /// The fetch API.
        public static let fetch = Feature("fetch")
        /// Consumer groups.
        public static let consumerGroup = Feature("consumerGroup")
        /// Topic administration (CreateTopics, DeleteTopics).
        public static let admin = Feature("admin")
    }
}

extension KafkaError.Code {
    /// The feature is disabled by configuration, or the broker lacks the APIs it needs; the message says which.
    public static let featureDisabled = Self("featureDisabled")
}
