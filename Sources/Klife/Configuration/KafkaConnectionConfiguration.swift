/// How the client reaches and talks to brokers (Klife's `connection:` options).
public struct KafkaConnectionConfiguration: Sendable {
    /// A `host:port` pair.
    public struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    /// TLS settings. TLS is on when ``KafkaConnectionConfiguration/tls`` is non-nil.
    public struct TLS: Sendable {
        /// PEM file with the CA certificates that sign the brokers' certificates; nil = system trust store.
        public var caCertificateFile: String?
        /// PEM client certificate (chain) for mutual TLS.
        public var clientCertificateFile: String?
        /// PEM private key of the client certificate.
        public var clientPrivateKeyFile: String?
        /// Check the broker certificate's name against the host we dial (default true).
        public var verifyHostname: Bool
        /// Check the broker certificate at all (default true). Turning this off is for tests only.
        public var verifyCertificate: Bool

        public init(
            caCertificateFile: String? = nil, clientCertificateFile: String? = nil, clientPrivateKeyFile: String? = nil,
            verifyHostname: Bool = true, verifyCertificate: Bool = true
        ) {
            self.caCertificateFile = caCertificateFile
            self.clientCertificateFile = clientCertificateFile
            self.clientPrivateKeyFile = clientPrivateKeyFile
            self.verifyHostname = verifyHostname
            self.verifyCertificate = verifyCertificate
        }
    }

    /// SASL authentication settings.
    public struct SASL: Sendable {
        public enum Mechanism: String, Sendable, CaseIterable {
            case plain = "PLAIN"
            case scramSHA256 = "SCRAM-SHA-256"
            case scramSHA512 = "SCRAM-SHA-512"
            /// OAuth 2 bearer tokens (KIP-255); the token comes from ``SASL/oauthBearerTokenProvider``.
            case oauthBearer = "OAUTHBEARER"
        }

        /// Returns a current token for OAUTHBEARER. Called for every new connection (and so again when a broker
        /// ends SASL sessions, KIP-368), so it should cache the token until shortly before it expires. A thrown
        /// error fails that connection attempt with ``KafkaError/Code/authenticationFailed`` (retriable: the
        /// pool tries again after its backoff).
        public typealias OAuthBearerTokenProvider = @Sendable () async throws -> KafkaOAuthBearerToken

        public var mechanism: Mechanism
        /// The user (PLAIN, SCRAM); unused for OAUTHBEARER.
        public var username: String
        /// The password (PLAIN, SCRAM); unused for OAUTHBEARER.
        public var password: String
        /// The token source for ``Mechanism/oauthBearer``; required there, unused otherwise.
        public var oauthBearerTokenProvider: OAuthBearerTokenProvider?

        public init(mechanism: Mechanism, username: String, password: String) {
            self.mechanism = mechanism
            self.username = username
            self.password = password
        }

        /// SASL/OAUTHBEARER with tokens from `tokenProvider`.
        public static func oauthBearer(tokenProvider: @escaping OAuthBearerTokenProvider) -> SASL {
            var sasl = SASL(mechanism: .oauthBearer, username: "", password: "")
            sasl.oauthBearerTokenProvider = tokenProvider
            return sasl
        }
    }

    /// Servers tried in order for the first metadata request (Klife: `bootstrap_servers`).
    public var bootstrapServers: [BrokerAddress]
    /// TLS on when non-nil (Klife: `ssl`).
    public var tls: TLS?
    /// SASL when non-nil (Klife: `sasl_opts`).
    public var sasl: SASL?
    /// TCP connections kept to each broker (Klife: `connection_count`, default 1).
    public var connectionsPerBroker: Int
    /// Default timeout of a request to a broker (Klife: `default_request_timeout_ms`, default 30 s).
    public var requestTimeout: Duration
    /// Timeout of the TCP connect plus TLS and SASL handshakes.
    public var connectTimeout: Duration
    /// First delay before reconnecting to a broker; doubles up to ``reconnectBackoffMax``, with jitter.
    public var reconnectBackoff: Duration
    public var reconnectBackoffMax: Duration
    /// TCP_NODELAY on broker sockets (default true).
    public var tcpNoDelay: Bool
    /// SO_KEEPALIVE on broker sockets (default true, as Klife).
    public var keepAlive: Bool
    /// Largest response frame accepted; a larger length prefix closes the connection.
    public var maxFrameBytes: Int
    /// The client id sent in every request header.
    public var clientID: String
    /// The rack (availability zone) this client runs in, sent in Fetch requests (KIP-392, Java's and
    /// librdkafka's `client.rack`): a cluster with a rack-aware replica selector then points the client at a
    /// replica in the same rack, which the client fetches from instead of the leader. nil: none.
    public var clientRack: String?

    public init(
        bootstrapServers: [BrokerAddress],
        tls: TLS? = nil,
        sasl: SASL? = nil,
        connectionsPerBroker: Int = 1,
        requestTimeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(10),
        reconnectBackoff: Duration = .milliseconds(100),
        reconnectBackoffMax: Duration = .seconds(10),
        tcpNoDelay: Bool = true,
        keepAlive: Bool = true,
        maxFrameBytes: Int = 256 * 1024 * 1024,
        clientID: String = "klife-swift",
        clientRack: String? = nil
    ) {
        self.bootstrapServers = bootstrapServers
        self.tls = tls
        self.sasl = sasl
        self.connectionsPerBroker = connectionsPerBroker
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.reconnectBackoff = reconnectBackoff
        self.reconnectBackoffMax = reconnectBackoffMax
        self.tcpNoDelay = tcpNoDelay
        self.keepAlive = keepAlive
        self.maxFrameBytes = maxFrameBytes
        self.clientID = clientID
        self.clientRack = clientRack
    }
}
