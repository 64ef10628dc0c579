import Klife
import Logging

/// Helpers the cluster, admin and CLI integration tests share.
enum ClientTestSupport {
    /// A client configuration for a `host:port[,…]` bootstrap list, with a short metadata interval so tests
    /// do not depend on it, and a fast reconnect.
    static func configuration(bootstrap: String) throws -> KafkaClient.Configuration {
        var connection = KafkaConnectionConfiguration(
            bootstrapServers: try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap), clientID: "klife-tests")
        connection.requestTimeout = .seconds(10)
        connection.connectTimeout = .seconds(5)
        connection.reconnectBackoff = .milliseconds(50)
        connection.reconnectBackoffMax = .milliseconds(500)
        return KafkaClient.Configuration(connection: connection, metadataRefreshInterval: .seconds(30))
    }

    static var logger: Logger {
        var logger = Logger(label: "klife-tests")
        logger.logLevel = .warning
        return logger
    }

    /// Waits until `condition` holds, checking every 50 ms, for at most `timeout`; returns whether it held.
    static func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}
