import KafkaProtocol

/// The error every public Klife call throws.
///
/// `code` says what went wrong in a form code can switch on; `message` says it for people and names the
/// offending option, record, topic, partition or broker. When the broker answered with a Kafka error
/// code, `kafkaCode` holds it. Each subsystem adds its codes in an extension of ``KafkaError/Code``.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// A stable, switchable identifier of the failure kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// The Kafka protocol error code the broker returned, when there was one.
    public var kafkaCode: Int16?
    /// Whether retrying the same operation may succeed.
    public var isRetriable: Bool
    /// The error that caused this one (a NIO or TLS error, a ``KafkaProtocol/KafkaProtocolError``, …).
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, kafkaCode: Int16? = nil, isRetriable: Bool = false, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.kafkaCode = kafkaCode
        self.isRetriable = isRetriable
        self.underlying = underlying
    }

    public var description: String {
        var s = "KafkaError.\(code): \(message)"
        if let kafkaCode { s += " (Kafka error code \(kafkaCode))" }
        if let underlying { s += " [\(underlying)]" }
        return s
    }
}

extension KafkaError.Code {
    /// A configuration option is missing, malformed or inconsistent; the message names the option.
    public static let invalidConfiguration = Self("invalidConfiguration")
    /// A call's argument is invalid (empty batch, bad topic name, negative offset, …).
    public static let invalidArgument = Self("invalidArgument")
    /// The broker answered with a Kafka error code (see `kafkaCode`).
    public static let brokerError = Self("brokerError")
    /// The bytes on the wire could not be encoded or decoded.
    public static let protocolViolation = Self("protocolViolation")
    /// The client is not running, or is shutting down.
    public static let clientNotRunning = Self("clientNotRunning")
}
