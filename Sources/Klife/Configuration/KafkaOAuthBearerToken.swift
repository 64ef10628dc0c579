/// A bearer token for SASL/OAUTHBEARER (KIP-255), as a ``KafkaConnectionConfiguration/SASL/OAuthBearerTokenProvider``
/// returns it: obtained from your identity provider (an OAuth client-credentials grant, AWS MSK IAM's signer, …).
public struct KafkaOAuthBearerToken: Sendable, Hashable {
    /// The token itself (typically a JWT); sent as `auth=Bearer <value>`.
    public var value: String
    /// SASL extensions sent with the token (KIP-342), such as Confluent Cloud's `logicalCluster` and
    /// `identityPoolId`: names of letters only, values of printable ASCII.
    public var extensions: [String: String]

    public init(_ value: String, extensions: [String: String] = [:]) {
        self.value = value
        self.extensions = extensions
    }

    /// The client's initial response (RFC 7628 section 3.1): a GS2 header without an authorisation id, then
    /// the `auth` key and the extensions (sorted, for a stable wire form), separated by 0x01.
    ///
    /// - Throws: ``KafkaError/Code/authenticationFailed`` for an empty token, a token or extension value with
    ///   characters RFC 7628 does not allow, an extension name that is not letters only, or one named `auth`.
    func initialClientResponse() throws(KafkaError) -> [UInt8] {
        func allowed(_ text: String) -> Bool {
            // VCHAR / SP / HTAB / CR / LF
            text.unicodeScalars.allSatisfy { (0x21...0x7E).contains($0.value) || [0x20, 0x09, 0x0D, 0x0A].contains($0.value) }
        }
        guard !value.isEmpty, value.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw KafkaError(.authenticationFailed, "the OAUTHBEARER token is empty or holds characters other than printable ASCII")
        }
        var response = Array("n,,\u{01}auth=Bearer \(value)\u{01}".utf8)
        for (name, extensionValue) in extensions.sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) }), name != "auth" else {
                throw KafkaError(.authenticationFailed, "OAUTHBEARER extension name \(name.debugDescription) is not letters only (or is the reserved auth)")
            }
            guard !extensionValue.isEmpty, allowed(extensionValue) else {
                throw KafkaError(.authenticationFailed, "OAUTHBEARER extension \(name) has characters RFC 7628 does not allow")
            }
            response += Array("\(name)=\(extensionValue)\u{01}".utf8)
        }
        response.append(0x01)
        return response
    }
}

extension KafkaOAuthBearerToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The extension names, never the token: values end up in logs.
    public var description: String { "KafkaOAuthBearerToken(value: <redacted>, extensions: \(extensions.keys.sorted()))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["value": "<redacted>", "extensions": extensions.keys.sorted()], displayStyle: .struct)
    }
}
