extension KafkaConnectionConfiguration.SASL: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The mechanism and user, never the password: configurations end up in logs (`print`, `dump`, string
    /// interpolation of a whole client configuration).
    public var description: String {
        if mechanism == .oauthBearer {
            return "SASL(mechanism: OAUTHBEARER, tokenProvider: \(oauthBearerTokenProvider == nil ? "none" : "<set>"))"
        }
        return "SASL(mechanism: \(mechanism.rawValue), username: \(username), password: <redacted>)"
    }

    public var debugDescription: String { description }

    /// What `dump` and the default description of an enclosing value show: the password redacted.
    public var customMirror: Mirror {
        Mirror(self, children: ["mechanism": mechanism, "username": username, "password": "<redacted>"], displayStyle: .struct)
    }
}
