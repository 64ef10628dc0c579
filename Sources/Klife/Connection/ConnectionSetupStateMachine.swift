/// The steps between "TCP (and TLS) is up" and "ready for requests": ApiVersions, then SASL when
/// configured. A value type fed with decoded responses; the connection executes the actions it returns.
///
/// ApiVersions starts at our highest version. A broker that does not know it answers UNSUPPORTED_VERSION
/// (35) with a v0 body listing its own ApiVersions range; we retry once with the highest version both
/// sides know. SASL uses SaslHandshake v1 (the mechanism) then SaslAuthenticate round trips whose bytes
/// come from ``SASLClientStateMachine``.
struct ConnectionSetupStateMachine: Sendable {
    enum Action: Sendable {
        case sendApiVersions(version: Int16)
        case sendSaslHandshake(version: Int16, mechanism: String)
        case sendSaslAuthenticate(version: Int16, bytes: [UInt8])
        /// Setup finished; the broker advertised these ranges. `sessionLifetimeMs` > 0: the broker ends the
        /// SASL session after that long (KIP-368, `connections.max.reauth.ms`); 0: no limit (or no SASL).
        case ready(brokerRanges: [Int16: ClosedRange<Int16>], sessionLifetimeMs: Int64 = 0)
        /// Setup failed; close the connection and report this error.
        case fail(KafkaError)
    }

    static let unsupportedVersion: Int16 = 35
    static let unsupportedSaslMechanism: Int16 = 33
    static let illegalSaslState: Int16 = 34
    static let saslAuthenticationFailed: Int16 = 58
    static let apiVersionsKey: Int16 = 18
    static let saslHandshakeKey: Int16 = 17
    static let saslAuthenticateKey: Int16 = 36

    private enum State: Sendable {
        case idle
        case awaitingApiVersions(version: Int16, retried: Bool)
        case awaitingSaslHandshake(SASLClientStateMachine, brokerRanges: [Int16: ClosedRange<Int16>], authenticateVersion: Int16)
        case authenticating(SASLClientStateMachine, brokerRanges: [Int16: ClosedRange<Int16>], authenticateVersion: Int16)
        case ready
        case failed
    }

    private var state: State = .idle
    private let apiVersionsSupported: ClosedRange<Int16>
    private let saslHandshakeSupported: ClosedRange<Int16>
    private let saslAuthenticateSupported: ClosedRange<Int16>
    private let sasl: SASLClientStateMachine?
    private let policy: KafkaAPIVersionPolicy
    private let peer: String

    /// - Parameters:
    ///   - apiVersionsSupported / saslHandshakeSupported / saslAuthenticateSupported: our ranges
    ///     (`validVersions` of the generated requests).
    ///   - sasl: the configured mechanism, nil for no SASL.
    ///   - peer: names the broker in error messages.
    init(
        apiVersionsSupported: ClosedRange<Int16>,
        saslHandshakeSupported: ClosedRange<Int16>,
        saslAuthenticateSupported: ClosedRange<Int16>,
        sasl: SASLClientStateMachine?,
        policy: KafkaAPIVersionPolicy,
        peer: String
    ) {
        self.apiVersionsSupported = apiVersionsSupported
        self.saslHandshakeSupported = saslHandshakeSupported
        self.saslAuthenticateSupported = saslAuthenticateSupported
        self.sasl = sasl
        self.policy = policy
        self.peer = peer
    }

    mutating func start() -> Action {
        guard case .idle = state else { return fail("setup started twice") }
        let version = apiVersionsSupported.upperBound
        state = .awaitingApiVersions(version: version, retried: false)
        return .sendApiVersions(version: version)
    }

    /// The ApiVersions response: its error code and advertised ranges (decoded at v0 when the error is
    /// UNSUPPORTED_VERSION, since that is how the broker encodes it).
    mutating func apiVersionsReceived(errorCode: Int16, brokerRanges: [Int16: ClosedRange<Int16>]) -> Action {
        guard case .awaitingApiVersions(let version, let retried) = state else {
            return fail("unexpected ApiVersions response")
        }
        if errorCode == Self.unsupportedVersion {
            guard !retried else {
                return fail("broker rejected ApiVersions v\(version) after listing it as supported")
            }
            let theirs = brokerRanges[Self.apiVersionsKey] ?? 0...0
            let retry = min(theirs.upperBound, apiVersionsSupported.upperBound)
            guard retry >= apiVersionsSupported.lowerBound, retry < version else {
                return fail("broker supports no ApiVersions version we know (it lists \(theirs))")
            }
            state = .awaitingApiVersions(version: retry, retried: true)
            return .sendApiVersions(version: retry)
        }
        guard errorCode == 0 else {
            state = .failed
            return .fail(KafkaError(.brokerError, "\(peer) answered ApiVersions with error \(errorCode)", kafkaCode: errorCode))
        }
        guard let sasl else {
            state = .ready
            return .ready(brokerRanges: brokerRanges)
        }
        guard let handshakeRange = brokerRanges[Self.saslHandshakeKey],
            let handshakeVersion = policy.version(
                for: Self.saslHandshakeKey, supported: max(1, saslHandshakeSupported.lowerBound)...saslHandshakeSupported.upperBound,
                broker: handshakeRange
            ),
            let authenticateRange = brokerRanges[Self.saslAuthenticateKey],
            let authenticateVersion = policy.version(
                for: Self.saslAuthenticateKey, supported: saslAuthenticateSupported, broker: authenticateRange
            )
        else {
            state = .failed
            return .fail(KafkaError(
                .authenticationFailed,
                "SASL is configured but \(peer) does not offer SaslHandshake v1+ and SaslAuthenticate"
            ))
        }
        state = .awaitingSaslHandshake(sasl, brokerRanges: brokerRanges, authenticateVersion: authenticateVersion)
        return .sendSaslHandshake(version: handshakeVersion, mechanism: sasl.mechanismName)
    }

    mutating func saslHandshakeReceived(errorCode: Int16, enabledMechanisms: [String]) -> Action {
        guard case .awaitingSaslHandshake(var sasl, let brokerRanges, let authenticateVersion) = state else {
            return fail("unexpected SaslHandshake response")
        }
        guard errorCode == 0 else {
            state = .failed
            let detail = errorCode == Self.unsupportedSaslMechanism
                ? "does not enable \(sasl.mechanismName) (enabled: \(enabledMechanisms.joined(separator: ", ")))"
                : "answered SaslHandshake with error \(errorCode)"
            return .fail(KafkaError(.authenticationFailed, "\(peer) \(detail)", kafkaCode: errorCode))
        }
        let first = sasl.start()
        state = .authenticating(sasl, brokerRanges: brokerRanges, authenticateVersion: authenticateVersion)
        return .sendSaslAuthenticate(version: authenticateVersion, bytes: first)
    }

    mutating func saslAuthenticateReceived(
        errorCode: Int16, errorMessage: String?, authBytes: [UInt8], sessionLifetimeMs: Int64 = 0
    ) -> Action {
        guard case .authenticating(var sasl, let brokerRanges, let authenticateVersion) = state else {
            return fail("unexpected SaslAuthenticate response")
        }
        guard errorCode == 0 else {
            state = .failed
            let reason = errorMessage.map { ": \($0)" } ?? ""
            return .fail(KafkaError(
                .authenticationFailed, "\(peer) rejected \(sasl.mechanismName) authentication (error \(errorCode))\(reason)",
                kafkaCode: errorCode
            ))
        }
        do {
            switch try sasl.received(authBytes) {
            case .send(let bytes):
                state = .authenticating(sasl, brokerRanges: brokerRanges, authenticateVersion: authenticateVersion)
                return .sendSaslAuthenticate(version: authenticateVersion, bytes: bytes)
            case .done:
                state = .ready
                return .ready(brokerRanges: brokerRanges, sessionLifetimeMs: max(sessionLifetimeMs, 0))
            }
        } catch {
            state = .failed
            return .fail(error)
        }
    }

    private mutating func fail(_ message: String) -> Action {
        state = .failed
        return .fail(KafkaError(.protocolViolation, "connection setup with \(peer): \(message)"))
    }
}
