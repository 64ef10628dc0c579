import Testing

@testable import Klife

/// SASL/OAUTHBEARER's client side (RFC 7628, KIP-255, KIP-342).
@Suite struct OAuthBearerTests {
    static let sasl = KafkaConnectionConfiguration.SASL.oauthBearer { KafkaOAuthBearerToken("unused") }

    @Test func theInitialResponseCarriesTheTokenAndSortedExtensions() throws {
        let token = KafkaOAuthBearerToken("eyJhbGciOiJub25lIn0.e30.", extensions: ["logicalCluster": "lkc-1", "identityPoolId": "pool-2"])
        let bytes = try token.initialClientResponse()
        #expect(bytes == Array("n,,\u{01}auth=Bearer eyJhbGciOiJub25lIn0.e30.\u{01}identityPoolId=pool-2\u{01}logicalCluster=lkc-1\u{01}\u{01}".utf8))
        #expect(try KafkaOAuthBearerToken("t").initialClientResponse() == Array("n,,\u{01}auth=Bearer t\u{01}\u{01}".utf8))
    }

    @Test(arguments: [
        (KafkaOAuthBearerToken(""), "empty"),
        (KafkaOAuthBearerToken("has space"), "printable"),
        (KafkaOAuthBearerToken("t", extensions: ["auth": "x"]), "reserved"),
        (KafkaOAuthBearerToken("t", extensions: ["bad-name": "x"]), "letters only"),
        (KafkaOAuthBearerToken("t", extensions: ["ok": "bad\u{01}value"]), "does not allow"),
        (KafkaOAuthBearerToken("t", extensions: ["ok": ""]), "does not allow"),
    ])
    func tokensThatCannotBeSentAreRefused(_ token: KafkaOAuthBearerToken, _ mention: String) {
        let error = #expect(throws: KafkaError.self) { try token.initialClientResponse() }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains(mention) == true, "\(String(describing: error?.message))")
    }

    @Test func anAcceptedTokenEndsTheExchange() throws {
        var machine = try SASLClientStateMachine(Self.sasl, oauthBearerToken: KafkaOAuthBearerToken("t"))
        #expect(machine.mechanismName == "OAUTHBEARER")
        #expect(machine.start() == Array("n,,\u{01}auth=Bearer t\u{01}\u{01}".utf8))
        #expect(try machine.received([]) == .done)
    }

    /// A refused token comes back as an error challenge, answered with a lone 0x01 (the broker then sends its
    /// error code).
    @Test func anErrorChallengeIsAnsweredWithTheSeparator() throws {
        var machine = try SASLClientStateMachine(Self.sasl, oauthBearerToken: KafkaOAuthBearerToken("t"))
        _ = machine.start()
        #expect(try machine.received(Array(#"{"status":"invalid_token"}"#.utf8)) == .send([0x01]))
        // A broker that then answers without an error code has not accepted the token.
        let error = #expect(throws: KafkaError.self) { try machine.received([]) }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("invalid_token") == true)
    }

    @Test func withoutATokenTheMachineIsNotMade() {
        #expect(throws: KafkaError.self) { try SASLClientStateMachine(Self.sasl) }
    }

    @Test func theConfigurationNeedsAProviderAndNoPassword() {
        var configuration = KafkaConnectionConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        configuration.sasl = Self.sasl
        #expect(configuration.validationProblems().isEmpty, "\(configuration.validationProblems())")
        configuration.sasl = .init(mechanism: .oauthBearer, username: "", password: "")
        #expect(configuration.validationProblems().contains { $0.contains("oauthBearerTokenProvider") })
        #expect("\(Self.sasl)" == "SASL(mechanism: OAUTHBEARER, tokenProvider: <set>)")
        #expect("\(KafkaOAuthBearerToken("secret-jwt", extensions: ["a": "b"]))" == "KafkaOAuthBearerToken(value: <redacted>, extensions: [\"a\"])")
    }
}
