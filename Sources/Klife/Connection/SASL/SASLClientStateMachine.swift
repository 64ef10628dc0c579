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
    }

    private var mechanism: Mechanism
    let mechanismName: String

    /// - Parameter scramNonce: fixed SCRAM client nonce, for tests.
    init(_ configuration: KafkaConnectionConfiguration.SASL, scramNonce: String? = nil) {
        mechanismName = configuration.mechanism.rawValue
        switch configuration.mechanism {
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
        }
    }

    /// The broker answered a SaslAuthenticate request without an error code, with these auth bytes.
    mutating func received(_ bytes: [UInt8]) throws(KafkaError) -> Step {
        switch mechanism {
        case .plain:
            return .done
        case .scram(var client):
            let reply = try client.receive(String(decoding: bytes, as: UTF8.self))
            mechanism = .scram(client)
            return reply.map { .send(Array($0.utf8)) } ?? .done
        }
    }
}
