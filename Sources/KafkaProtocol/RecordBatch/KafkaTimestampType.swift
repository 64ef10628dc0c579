/// Who set a record's timestamp: the producer (create time) or the broker (log-append time).
public enum KafkaTimestampType: Int8, Sendable, Hashable {
    case createTime = 0
    case logAppendTime = 1
}
