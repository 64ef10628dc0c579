extension KafkaConnectionConfiguration.BrokerAddress {
    /// Parses `host:port` (an IPv6 host in brackets: `[::1]:9092`).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when the host is empty or
    ///   the port is missing or not in 1…65535.
    public init(parsing text: some StringProtocol) throws {
        let trimmed = text.trimmingWhitespace()
        let host: Substring
        let portText: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"),
                trimmed.index(after: close) < trimmed.endIndex, trimmed[trimmed.index(after: close)] == ":"
            else {
                throw KafkaError(.invalidConfiguration, "broker address \"\(text)\" is not [ipv6]:port")
            }
            host = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            portText = trimmed[trimmed.index(close, offsetBy: 2)...]
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else {
                throw KafkaError(.invalidConfiguration, "broker address \"\(text)\" has no port (expected host:port)")
            }
            host = trimmed[..<colon]
            portText = trimmed[trimmed.index(after: colon)...]
            if host.contains(":") {
                throw KafkaError(.invalidConfiguration, "broker address \"\(text)\": write IPv6 hosts in brackets, [::1]:9092")
            }
        }
        guard !host.isEmpty else {
            throw KafkaError(.invalidConfiguration, "broker address \"\(text)\" has an empty host")
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw KafkaError(.invalidConfiguration, "broker address \"\(text)\" has an invalid port \"\(portText)\"")
        }
        self.init(host: String(host), port: port)
    }

    /// Parses a comma-separated `host:port[,host:port…]` list.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when the list is empty or an
    ///   entry is malformed.
    public static func parseList(_ text: some StringProtocol) throws -> [Self] {
        let entries = text.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        guard !entries.isEmpty else {
            throw KafkaError(.invalidConfiguration, "bootstrapServers: the list \"\(text)\" holds no host:port")
        }
        return try entries.map { try Self(parsing: $0) }
    }
}

extension KafkaConnectionConfiguration {
    /// Checks every option; the error names the first bad one.
    ///
    /// TLS files are loaded and parsed here, so a missing or malformed CA, certificate or key is reported
    /// at start-up, not at the first connection.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration``.
    public func validate() throws {
        guard !bootstrapServers.isEmpty else {
            throw KafkaError(.invalidConfiguration, "bootstrapServers is empty")
        }
        for server in bootstrapServers {
            guard !server.host.isEmpty else {
                throw KafkaError(.invalidConfiguration, "bootstrapServers: \(server) has an empty host")
            }
            guard (1...65535).contains(server.port) else {
                throw KafkaError(.invalidConfiguration, "bootstrapServers: \(server) has a port outside 1…65535")
            }
        }
        guard connectionsPerBroker > 0 else {
            throw KafkaError(.invalidConfiguration, "connectionsPerBroker must be at least 1, not \(connectionsPerBroker)")
        }
        for (name, value) in [
            ("requestTimeout", requestTimeout), ("connectTimeout", connectTimeout),
            ("reconnectBackoff", reconnectBackoff), ("reconnectBackoffMax", reconnectBackoffMax),
        ] where value <= .zero {
            throw KafkaError(.invalidConfiguration, "\(name) must be positive, not \(value)")
        }
        guard reconnectBackoffMax >= reconnectBackoff else {
            throw KafkaError(
                .invalidConfiguration, "reconnectBackoffMax (\(reconnectBackoffMax)) is below reconnectBackoff (\(reconnectBackoff))"
            )
        }
        // A frame must at least hold a response header; the protocol's sizes are int32.
        guard maxFrameBytes >= 8, maxFrameBytes <= Int(Int32.max) else {
            throw KafkaError(.invalidConfiguration, "maxFrameBytes must be within 8…\(Int32.max), not \(maxFrameBytes)")
        }
        guard clientID.utf8.count <= Int(Int16.max) else {
            throw KafkaError(.invalidConfiguration, "clientID is longer than 32767 bytes")
        }
        if let sasl {
            guard !sasl.username.isEmpty else {
                throw KafkaError(.invalidConfiguration, "sasl.username is empty (mechanism \(sasl.mechanism.rawValue))")
            }
            guard !sasl.password.isEmpty else {
                throw KafkaError(.invalidConfiguration, "sasl.password is empty (mechanism \(sasl.mechanism.rawValue))")
            }
        }
        if let tls {
            _ = try KafkaConnection.makeTLSContext(tls)
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { !$0.isWhitespace }) else { return s[s.endIndex...] }
        let last = s.lastIndex(where: { !$0.isWhitespace })!
        return s[first...last]
    }
}
