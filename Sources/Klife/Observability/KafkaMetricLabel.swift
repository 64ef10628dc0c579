/// The names and dimensions of every metric Klife reports through swift-metrics.
///
/// Every metric carries the `client_id` dimension (``KafkaConnectionConfiguration/clientID``), so several
/// clients in one process stay apart. Durations are reported in nanoseconds through `Timer` (exporters
/// such as swift-prometheus convert them to seconds).
///
/// | Label | Type | Dimensions | Meaning |
/// |---|---|---|---|
/// | `klife_producer_records_total` | Counter | `client_id`, `producer`, `topic` | Records acknowledged by the broker |
/// | `klife_producer_bytes_total` | Counter | `client_id`, `producer`, `topic` | Key, value and header bytes of acknowledged records |
/// | `klife_producer_batch_records` | Recorder (histogram) | `client_id`, `producer` | Records per sent batch (one partition) |
/// | `klife_producer_batch_bytes` | Recorder (histogram) | `client_id`, `producer` | Bytes per sent batch |
/// | `klife_producer_buffered_bytes` | Gauge | `client_id`, `producer` | Bytes buffered and not yet acknowledged |
/// | `klife_producer_retries_total` | Counter | `client_id`, `producer` | Batches sent again after a retriable failure |
/// | `klife_producer_errors_total` | Counter | `client_id`, `producer`, `code` | Records that failed, by error code |
/// | `klife_request_duration` | Timer | `client_id`, `api`, `broker` | Time from writing a request to its response |
/// | `klife_requests_in_flight` | Meter | `client_id`, `broker` | Requests written and not answered yet |
/// | `klife_request_errors_total` | Counter | `client_id`, `api`, `broker`, `code` | Requests failed (timeout, closed connection, …) |
/// | `klife_request_throttle_duration` | Timer | `client_id`, `api`, `broker` | Quota throttle times brokers reported (KIP-219; only answers that carry one) |
/// | `klife_fetch_records_total` | Counter | `client_id`, `topic` | Records fetched (after transaction filtering) |
/// | `klife_fetch_bytes_total` | Counter | `client_id`, `topic` | Record batch bytes fetched (as sent by the broker) |
/// | `klife_consumer_lag` | Gauge | `client_id`, `topic`, `partition` | High watermark minus the offset of the partition's latest fetch |
/// | `klife_consumer_rebalances_total` | Counter | `client_id`, `group` | Assignments that gave the member partitions |
/// | `klife_consumer_batch_duration` | Timer | `client_id`, `group`, `topic` | Time a handler took for one batch |
///
/// `code` is the broker's error name when there is one (e.g. `NOT_LEADER_OR_FOLLOWER`), else the
/// ``KafkaError/Code`` (e.g. `deliveryTimeout`). `api` is the request name (e.g. `Produce`, `Fetch`);
/// `broker` is the broker's node id, or `host:port` for a bootstrap connection.
public enum KafkaMetricLabel {
    public static let producerRecords = "klife_producer_records_total"
    public static let producerBytes = "klife_producer_bytes_total"
    public static let producerBatchRecords = "klife_producer_batch_records"
    public static let producerBatchBytes = "klife_producer_batch_bytes"
    public static let producerBufferedBytes = "klife_producer_buffered_bytes"
    public static let producerRetries = "klife_producer_retries_total"
    public static let producerErrors = "klife_producer_errors_total"
    public static let requestDuration = "klife_request_duration"
    public static let requestsInFlight = "klife_requests_in_flight"
    public static let requestErrors = "klife_request_errors_total"
    public static let requestThrottle = "klife_request_throttle_duration"
    public static let fetchRecords = "klife_fetch_records_total"
    public static let fetchBytes = "klife_fetch_bytes_total"
    public static let consumerLag = "klife_consumer_lag"
    public static let consumerRebalances = "klife_consumer_rebalances_total"
    public static let consumerBatchDuration = "klife_consumer_batch_duration"

    /// Every label above, for documentation checks.
    public static let all = [
        producerRecords, producerBytes, producerBatchRecords, producerBatchBytes, producerBufferedBytes, producerRetries,
        producerErrors, requestDuration, requestsInFlight, requestErrors, requestThrottle, fetchRecords, fetchBytes, consumerLag,
        consumerRebalances, consumerBatchDuration,
    ]
}
