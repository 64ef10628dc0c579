extension KafkaError.Code {
    /// A TCP connection to a broker could not be established (refused, unreachable, connect timeout).
    /// Retriable.
    public static let connectionFailed = Self("connectionFailed")
    /// The connection to a broker closed while a request was outstanding, or a request was sent on a
    /// closed connection. The request may or may not have reached the broker. Retriable.
    public static let connectionClosed = Self("connectionClosed")
    /// A broker did not answer within the request timeout. The connection is closed. Retriable.
    public static let requestTimedOut = Self("requestTimedOut")
    /// The TLS handshake failed: unknown CA, certificate not valid for the host, rejected client
    /// certificate, protocol mismatch. Not retriable.
    public static let tlsHandshakeFailed = Self("tlsHandshakeFailed")
    /// SASL authentication failed: wrong credentials, mechanism not enabled, bad server signature.
    /// Not retriable.
    public static let authenticationFailed = Self("authenticationFailed")
    /// The broker does not offer the API (or no version both sides support); the feature that needs it
    /// is unavailable on this cluster. Not retriable.
    public static let unsupportedByBroker = Self("unsupportedByBroker")
    /// A response frame announced a size above the configured maximum (or a negative size); the
    /// connection is closed. Not retriable.
    public static let frameTooLarge = Self("frameTooLarge")
}
