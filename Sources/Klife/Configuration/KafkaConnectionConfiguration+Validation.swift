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
    /// Checks every option; the error names every bad one (separated by "; ").
    ///
    /// TLS files are loaded and parsed here, so a missing or malformed CA, certificate or key is reported
    /// at start-up, not at the first connection.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration``.
    public func validate() throws {
        let problems = validationProblems()
        guard problems.isEmpty else { throw KafkaError(.invalidConfiguration, problems.joined(separator: "; ")) }
    }

    /// Every problem of these options, each naming the option; empty when they are valid.
    public func validationProblems() -> [String] {
        var problems: [String] = []
        if bootstrapServers.isEmpty { problems.append("bootstrapServers is empty") }
        for server in bootstrapServers {
            if server.host.isEmpty { problems.append("bootstrapServers: \(server) has an empty host") }
            if !(1...65535).contains(server.port) { problems.append("bootstrapServers: \(server) has a port outside 1…65535") }
        }
        if connectionsPerBroker <= 0 {
            problems.append("connectionsPerBroker must be at least 1, not \(connectionsPerBroker)")
        }
        for (name, value) in [
            ("requestTimeout", requestTimeout), ("connectTimeout", connectTimeout),
            ("reconnectBackoff", reconnectBackoff), ("reconnectBackoffMax", reconnectBackoffMax),
        ] where value <= .zero {
            problems.append("\(name) must be positive, not \(value)")
        }
        if reconnectBackoffMax < reconnectBackoff {
            problems.append("reconnectBackoffMax (\(reconnectBackoffMax)) is below reconnectBackoff (\(reconnectBackoff))")
        }
        // A frame must at least hold a response header; the protocol's sizes are int32.
        if maxFrameBytes < 8 || maxFrameBytes > Int(Int32.max) {
            problems.append("maxFrameBytes must be within 8…\(Int32.max), not \(maxFrameBytes)")
        }
        if clientID.utf8.count > Int(Int16.max) { problems.append("clientID is longer than 32767 bytes") }
        if let clientRack, clientRack.utf8.count > Int(Int16.max) { problems.append("clientRack is longer than 32767 bytes") }
        if let sasl {
            if sasl.mechanism == .oauthBearer {
                if sasl.oauthBearerTokenProvider == nil { problems.append("sasl.oauthBearerTokenProvider is not set (mechanism OAUTHBEARER)") }
            } else {
                if sasl.username.isEmpty { problems.append("sasl.username is empty (mechanism \(sasl.mechanism.rawValue))") }
                if sasl.password.isEmpty { problems.append("sasl.password is empty (mechanism \(sasl.mechanism.rawValue))") }
            }
        }
        if let tls {
            do {
                _ = try KafkaConnection.makeTLSContext(tls)
            } catch let error as KafkaError {
                problems.append(error.message)
            } catch {
                problems.append("tls: \(error)")
            }
        }
        return problems
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
