/// One change ``KafkaClient/alterTopicConfigs(_:_:validateOnly:)`` makes to a topic's configuration
/// (IncrementalAlterConfigs, KIP-339): entries not named keep their values.
public enum KafkaConfigChange: Sendable, Hashable {
    /// Sets the entry on the topic.
    case set(String, String)
    /// Removes the topic's own value, so the broker's (or Kafka's default) applies again.
    case delete(String)
    /// Adds a value to a list entry (`cleanup.policy`, …).
    case append(String, String)
    /// Removes a value from a list entry.
    case subtract(String, String)

    /// The entry's name.
    public var name: String {
        switch self {
        case .set(let name, _), .delete(let name), .append(let name, _), .subtract(let name, _): name
        }
    }

    /// IncrementalAlterConfigs' `config_operation` and value.
    var wire: (operation: Int8, value: String?) {
        switch self {
        case .set(_, let value): (0, value)
        case .delete: (1, nil)
        case .append(_, let value): (2, value)
        case .subtract(_, let value): (3, value)
        }
    }
}
