import Crypto
import CryptoExtras

/// The client side of a SCRAM exchange (RFC 5802; SHA-256 per RFC 7677, SHA-512 as Kafka uses it),
/// without channel binding, as a value type that turns server messages into client messages.
///
/// Kafka carries the four messages in SaslAuthenticate requests: client-first → server-first →
/// client-final → server-final. The server's signature in server-final is verified, so a server that
/// does not know the password cannot pretend the exchange succeeded.
struct SCRAMClient: Sendable {
    enum HashAlgorithm: Sendable {
        case sha256
        case sha512

        var mechanismName: String { self == .sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512" }
        var outputByteCount: Int { self == .sha256 ? 32 : 64 }
    }

    /// Iteration counts accepted from the server: Kafka's minimum, and a ceiling so a hostile server
    /// cannot make us spin for minutes.
    static let iterationRange = 4096...1_000_000

    private enum State: Sendable {
        case initial
        case sentClientFirst(clientFirstBare: String)
        case sentClientFinal(expectedServerSignature: [UInt8])
        case done
    }

    let hash: HashAlgorithm
    let username: String
    let password: String
    let clientNonce: String
    private var state: State = .initial

    /// - Parameter clientNonce: printable ASCII without commas; random when nil (tests pass RFC vectors).
    init(hash: HashAlgorithm, username: String, password: String, clientNonce: String? = nil) {
        self.hash = hash
        self.username = username
        self.password = password
        self.clientNonce = clientNonce ?? Self.makeNonce()
    }

    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Takes the server's next message and returns the client's reply, or nil when the exchange is
    /// complete (server-final verified).
    mutating func receive(_ serverMessage: String) throws(KafkaError) -> String? {
        switch state {
        case .sentClientFirst:
            return try clientFinalMessage(serverFirst: serverMessage)
        case .sentClientFinal:
            try verifyServerFinal(serverMessage)
            return nil
        case .initial, .done:
            throw Self.failure("unexpected server message")
        }
    }

    /// The first message: `n,,n=<user>,r=<client nonce>`.
    mutating func clientFirstMessage() -> String {
        let bare = "n=\(Self.escape(username)),r=\(clientNonce)"
        state = .sentClientFirst(clientFirstBare: bare)
        return "n,," + bare
    }

    /// Takes server-first (`r=…,s=…,i=…`) and returns client-final with the proof.
    mutating func clientFinalMessage(serverFirst: String) throws(KafkaError) -> String {
        guard case .sentClientFirst(let clientFirstBare) = state else {
            throw Self.failure("server-first message arrived out of order")
        }
        let attributes = Self.parse(serverFirst)
        if attributes["m"] != nil { throw Self.failure("server requires an unsupported SCRAM extension") }
        if let error = attributes["e"] { throw Self.failure("server rejected the exchange: \(error)") }
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw Self.failure("server nonce does not extend the client nonce")
        }
        guard let saltText = attributes["s"], let salt = Base64.decode(saltText), !salt.isEmpty else {
            throw Self.failure("server-first message has no valid salt")
        }
        guard let iterationText = attributes["i"], let iterations = Int(iterationText),
            Self.iterationRange.contains(iterations)
        else {
            throw Self.failure("server-first message has an iteration count outside \(Self.iterationRange)")
        }

        let saltedPassword: [UInt8]
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: salt, using: hash == .sha256 ? .sha256 : .sha512,
                outputByteCount: hash.outputByteCount, unsafeUncheckedRounds: iterations
            )
            saltedPassword = key.withUnsafeBytes { Array($0) }
        } catch {
            throw KafkaError(.authenticationFailed, "\(hash.mechanismName): key derivation failed", underlying: error)
        }
        let clientKey = hmac(key: saltedPassword, Array("Client Key".utf8))
        let storedKey = digest(clientKey)
        let withoutProof = "c=biws,r=\(nonce)"  // biws = base64("n,,"): no channel binding
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = hmac(key: storedKey, authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = hmac(key: saltedPassword, Array("Server Key".utf8))
        state = .sentClientFinal(expectedServerSignature: hmac(key: serverKey, authMessage))
        return "\(withoutProof),p=\(Base64.encode(proof))"
    }

    /// Takes server-final (`v=<signature>` or `e=<error>`) and checks the server's signature.
    mutating func verifyServerFinal(_ serverFinal: String) throws(KafkaError) {
        guard case .sentClientFinal(let expected) = state else {
            throw Self.failure("server-final message arrived out of order")
        }
        let attributes = Self.parse(serverFinal)
        if let error = attributes["e"] { throw Self.failure("server rejected the credentials: \(error)") }
        guard let signatureText = attributes["v"], let signature = Base64.decode(signatureText) else {
            throw Self.failure("server-final message has no verifier")
        }
        // Constant-time comparison is not needed: the expected value is ours, not a secret the server probes.
        guard signature == expected else {
            throw Self.failure("server signature does not match: the server does not know the password")
        }
        state = .done
    }

    // MARK: Helpers

    private func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch hash {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetricKey))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetricKey))
        }
    }

    private func digest(_ data: [UInt8]) -> [UInt8] {
        switch hash {
        case .sha256: return Array(SHA256.hash(data: data))
        case .sha512: return Array(SHA512.hash(data: data))
        }
    }

    private static func failure(_ message: String) -> KafkaError {
        KafkaError(.authenticationFailed, "SCRAM authentication failed: \(message)")
    }

    /// RFC 5802 `saslname`: `=` and `,` are escaped.
    static func escape(_ name: String) -> String {
        var out = ""
        for character in name {
            switch character {
            case "=": out += "=3D"
            case ",": out += "=2C"
            default: out.append(character)
            }
        }
        return out
    }

    /// Splits `a=…,b=…` into attributes (values may contain `=`).
    static func parse(_ message: String) -> [String: String] {
        var attributes: [String: String] = [:]
        for part in message.split(separator: ",", omittingEmptySubsequences: true) {
            guard part.count >= 2, part[part.index(after: part.startIndex)] == "=" else { continue }
            let key = String(part[part.startIndex])
            if attributes[key] == nil { attributes[key] = String(part.dropFirst(2)) }
        }
        return attributes
    }

    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64.encode(bytes)
    }
}
