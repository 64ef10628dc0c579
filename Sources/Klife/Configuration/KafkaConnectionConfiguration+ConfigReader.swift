import Configuration

extension KafkaConnectionConfiguration {
    /// Reads the connection options from `configReader`; options it does not hold keep their defaults.
    ///
    /// Keys (relative to the reader; durations are strings with a unit such as `"30s"` or integers of
    /// milliseconds; see <doc:ConfigurationReference> for defaults and Klife names):
    /// `bootstrapServers` (required: a list of `host:port`, or one comma-separated string), `clientID`, `clientRack`,
    /// `connectionsPerBroker`, `requestTimeout`, `connectTimeout`, `reconnectBackoff`, `reconnectBackoffMax`,
    /// `tcpNoDelay`, `keepAlive`, `maxFrameBytes`, `tls.enabled`, `tls.caCertificateFile`,
    /// `tls.clientCertificateFile`, `tls.clientPrivateKeyFile`, `tls.verifyHostname`,
    /// `tls.verifyCertificate`, `sasl.mechanism` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`),
    /// `sasl.username`, `sasl.password`, `sasl.oauthBearerToken` (a fixed token; both read as secrets). TLS is on when `tls.enabled` is true or any other
    /// `tls.*` key is set (unless `tls.enabled` is false); SASL is on when `sasl.mechanism` is set.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming each missing,
    ///   malformed or wrongly typed key with its path, e.g. `connectTimeout: expected a duration …`.
    public init(configReader: ConfigReader) throws {
        let options = KafkaOptionReader(configReader)
        self.init(options: options)
        try options.throwIfProblems()
    }

    init(options: KafkaOptionReader) {
        var servers: [BrokerAddress] = []
        if let entries = options.stringArray("bootstrapServers") {
            for entry in entries {
                do {
                    servers.append(try BrokerAddress(parsing: entry))
                } catch let error as KafkaError {
                    options.report("bootstrapServers", error.message)
                } catch {
                    options.report("bootstrapServers", "\(error)")
                }
            }
            if entries.isEmpty { options.report("bootstrapServers", "the list holds no host:port") }
        } else if !options.contains("bootstrapServers") {
            options.report("bootstrapServers", "missing (a list of host:port)")
        }
        self.init(bootstrapServers: servers)
        if let value = options.string("clientID") { clientID = value }
        if let value = options.string("clientRack") { clientRack = value }
        if let value = options.int("connectionsPerBroker") { connectionsPerBroker = value }
        if let value = options.duration("requestTimeout") { requestTimeout = value }
        if let value = options.duration("connectTimeout") { connectTimeout = value }
        if let value = options.duration("reconnectBackoff") { reconnectBackoff = value }
        if let value = options.duration("reconnectBackoffMax") { reconnectBackoffMax = value }
        if let value = options.bool("tcpNoDelay") { tcpNoDelay = value }
        if let value = options.bool("keepAlive") { keepAlive = value }
        if let value = options.int("maxFrameBytes") { maxFrameBytes = value }
        tls = TLS(options: options.scoped("tls"))
        sasl = SASL(options: options.scoped("sasl"))
    }
}

extension KafkaConnectionConfiguration.TLS {
    /// nil when TLS is not asked for (see ``KafkaConnectionConfiguration/init(configReader:)``).
    init?(options: KafkaOptionReader) {
        let enabled = options.bool("enabled")
        var tls = Self()
        var anySet = false
        if let value = options.string("caCertificateFile") { tls.caCertificateFile = value; anySet = true }
        if let value = options.string("clientCertificateFile") { tls.clientCertificateFile = value; anySet = true }
        if let value = options.string("clientPrivateKeyFile") { tls.clientPrivateKeyFile = value; anySet = true }
        if let value = options.bool("verifyHostname") { tls.verifyHostname = value; anySet = true }
        if let value = options.bool("verifyCertificate") { tls.verifyCertificate = value; anySet = true }
        guard enabled ?? anySet else { return nil }
        self = tls
    }
}

extension KafkaConnectionConfiguration.SASL {
    /// nil when `mechanism` is not set.
    init?(options: KafkaOptionReader) {
        let username = options.string("username")
        let password = options.string("password", isSecret: true)
        let token = options.string("oauthBearerToken", isSecret: true)
        guard
            let mechanism = options.parsed(
                "mechanism", expected: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", { Mechanism(rawValue: $0.uppercased()) })
        else {
            if (username != nil || password != nil || token != nil) && !options.contains("mechanism") {
                options.report("mechanism", "missing (sasl.username/sasl.password/sasl.oauthBearerToken need a mechanism)")
            }
            return nil
        }
        if mechanism == .oauthBearer {
            // A fixed token (it expires: for tools and tests); services set oauthBearerTokenProvider in code.
            guard let token else {
                options.report("oauthBearerToken", "missing (OAUTHBEARER from a configuration takes a fixed token; set oauthBearerTokenProvider in code otherwise)")
                return nil
            }
            self = .oauthBearer { KafkaOAuthBearerToken(token) }
            return
        }
        if username == nil { options.report("username", "missing (SASL needs a user name)") }
        if password == nil { options.report("password", "missing (SASL needs a password)") }
        self.init(mechanism: mechanism, username: username ?? "", password: password ?? "")
    }
}
