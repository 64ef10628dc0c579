import Logging

/// Metadata keys the connection layer attaches to log messages.
///
/// - `kafka.broker.id`: the broker's node id (absent for bootstrap connections, whose id is unknown yet).
/// - `kafka.broker.host`: the `host:port` dialled.
/// - `kafka.api`: the API key of the request a message is about (e.g. `18` for ApiVersions).
/// - `kafka.correlation_id`: the correlation id of that request on its connection.
///
/// Levels: `trace` per request/response, `debug` for connection setup steps and negotiated versions,
/// `info` for connections established and closed on purpose, `warning` for connections lost and reconnect
/// attempts, `error` never (the caller decides what a failure means).
enum KafkaLogKey {
    static let brokerID = "kafka.broker.id"
    static let brokerHost = "kafka.broker.host"
    static let api = "kafka.api"
    static let correlationID = "kafka.correlation_id"
}
