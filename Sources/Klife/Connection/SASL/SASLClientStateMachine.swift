/// The mechanism-specific part of SASL authentication: which bytes go into each SaslAuthenticate
/// request, given the bytes of the previous response.
struct SASLClientStateMachine: Sendable {
    enum Step: Equatable, Sendable {
        /// Send these bytes in the next SaslAuthenticate request.
        case send([UInt8])
        /// Authentication is complete.
        case done
    }

    private enum Mechanism: Sendable {
        case plain(username: String, password: String)
        case scram(SCRAMClient)
        /// The initial client response, and the error challenge it was answered with, if any.
        case oauthBearer(initialResponse: [UInt8], refusal: String?)
    }

    private var mechanism: Mechanism
    let mechanismName: String

    /// - Parameters:
    ///   - oauthBearerToken: the token for OAUTHBEARER, from the configuration's provider.
    ///   - scramNonce: fixed SCRAM client nonce, for tests.
    /// - Throws: ``KafkaError/Code/authenticationFailed`` for OAUTHBEARER without a token or with one that
    ///   cannot be sent (see ``KafkaOAuthBearerToken``).
    init(_ configuration: KafkaConnectionConfiguration.SASL, oauthBearerToken: KafkaOAuthBearerToken? = nil, scramNonce: String? = nil) throws(KafkaError) {
        mechanismName = configuration.mechanism.rawValue
        switch configuration.mechanism {
        case .oauthBearer:
            guard let oauthBearerToken else { throw KafkaError(.authenticationFailed, "OAUTHBEARER needs a token (sasl.oauthBearerTokenProvider)") }
            mechanism = .oauthBearer(initialResponse: try oauthBearerToken.initialClientResponse(), refusal: nil)
        case .plain:
            mechanism = .plain(username: configuration.username, password: configuration.password)
        case .scramSHA256:
            mechanism = .scram(SCRAMClient(
                hash: .sha256, username: configuration.username, password: configuration.password, clientNonce: scramNonce
            ))
        case .scramSHA512:
            mechanism = .scram(SCRAMClient(
                hash: .sha512, username: configuration.username, password: configuration.password, clientNonce: scramNonce
            ))
        }
    }

    /// The bytes of the first SaslAuthenticate request.
    mutating func start() -> [UInt8] {
        switch mechanism {
        case .plain(let username, let password):
            // RFC 4616: authzid NUL authcid NUL passwd, with an empty authzid.
            return [0] + Array(username.utf8) + [0] + Array(password.utf8)
        case .scram(var client):
            let first = client.clientFirstMessage()
            mechanism = .scram(client)
            return Array(first.utf8)
        case .oauthBearer(let initialResponse, _):
            return initialResponse
        }
    }

    /// The broker answered a SaslAuthenticate request without an error code, with these auth bytes.
    mutating func received(_ bytes: [UInt8]) throws(KafkaError) -> Step {
        switch mechanism {
        case .plain:
            return .done
        case .oauthBearer(let initialResponse, let refusal):
            // RFC 7628 3.2.2: a refused token comes back as an error challenge (JSON), which the client answers
            // with a lone 0x01; the broker then fails the exchange with its error code and message. A broker that
            // answers that without an error code has still refused the token.
            if let refusal {
                throw KafkaError(.authenticationFailed, "the broker refused the OAUTHBEARER token: \(refusal)")
            }
            if bytes.isEmpty { return .done }
            mechanism = .oauthBearer(initialResponse: initialResponse, refusal: String(decoding: bytes, as: UTF8.self))
            return .send([0x01])
        case .scram(var client):
            let reply = try client.receive(String(decoding: bytes, as: UTF8.self))
            mechanism = .scram(client)
            return reply.map { .send(Array($0.utf8)) } ?? .done
        }
    }
}
