/// One configuration entry of a topic as ``KafkaClient/describeTopicConfigs(_:keys:)`` reports it.
public struct KafkaConfigEntry: Sendable, Hashable {
    /// Where an entry's value comes from (DescribeConfigs' `config_source`).
    public enum Source: Sendable, Hashable {
        /// Set on the topic itself (`alterTopicConfigs`, `createTopic(configs:)`).
        case topic
        /// A broker's dynamic setting for itself.
        case dynamicBroker
        /// The dynamic default of all brokers.
        case dynamicDefaultBroker
        /// The broker's configuration file.
        case staticBroker
        /// Kafka's built-in default.
        case `default`
        /// A source this client does not know (its wire value).
        case other(Int8)

        init(wireValue: Int8) {
            switch wireValue {
            case 1: self = .topic
            case 2: self = .dynamicBroker
            case 3: self = .dynamicDefaultBroker
            case 4: self = .staticBroker
            case 5: self = .default
            default: self = .other(wireValue)
            }
        }
    }

    public var name: String
    /// The value; nil for a sensitive entry (which brokers never reveal) and for one without a value.
    public var value: String?
    public var source: Source
    public var isReadOnly: Bool
    public var isSensitive: Bool

    /// Whether the value is not set on the topic (it comes from a broker or Kafka's default).
    public var isInherited: Bool { source != .topic }

    public init(name: String, value: String?, source: Source, isReadOnly: Bool = false, isSensitive: Bool = false) {
        self.name = name
        self.value = value
        self.source = source
        self.isReadOnly = isReadOnly
        self.isSensitive = isSensitive
    }
}
