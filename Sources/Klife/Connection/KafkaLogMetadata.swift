import Logging

/// Metadata keys the connection layer attaches to log messages.
///
/// - `kafka.broker.id`: the broker's node id (absent for bootstrap connections, whose id is unknown yet).
/// - `kafka.broker.host`: the `host:port` dialled.
/// - `kafka.api`: the API key of the request a message is about (e.g. `18` for ApiVersions).
/// - `kafka.correlation_id`: the correlation id of that request on its connection.
///
/// Levels: `trace` per request and response; `debug` for setup steps (ApiVersions, SASL), negotiated
/// versions, failed setups and closes; `info` when a connection is ready and when a pooled connection
/// closes; `warning` when the pool fails to connect (with the backoff before the next attempt). Nothing
/// logs at `error`: the caller decides what a failure means.
enum KafkaLogKey {
    static let brokerID = "kafka.broker.id"
    static let brokerHost = "kafka.broker.host"
    static let api = "kafka.api"
    static let correlationID = "kafka.correlation_id"
}
