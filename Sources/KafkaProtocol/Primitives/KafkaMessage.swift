import NIOCore

/// A Kafka request or response body whose wire form depends on the negotiated API version.
///
/// Generated types (see `Generated/`) conform to this. Encoding a value into a version that cannot carry
/// one of its non-default, non-ignorable fields throws ``KafkaProtocolError/fieldNotSupportedInVersion(message:field:version:)``.
public protocol KafkaMessage: Sendable, Equatable {
    /// The API key this message belongs to.
    static var apiKey: Int16 { get }
    /// The versions defined for this message (`validVersions` in Kafka's JSON).
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version that uses the flexible (compact + tagged fields) encoding; nil when none does.
    static var firstFlexibleVersion: Int16? { get }

    /// Decodes the body (without the header) at `version`.
    init(from buffer: inout ByteBuffer, version: Int16) throws
    /// Encodes the body (without the header) at `version`.
    func encode(into buffer: inout ByteBuffer, version: Int16) throws
}

extension KafkaMessage {
    @inlinable
    public static func isFlexible(version: Int16) -> Bool {
        guard let first = firstFlexibleVersion else { return false }
        return version >= first
    }
}

/// A request message, tied to the response type the broker answers with.
public protocol KafkaRequestMessage: KafkaMessage {
    associatedtype Response: KafkaResponseMessage
}

/// A response message.
public protocol KafkaResponseMessage: KafkaMessage {
    /// How long the broker throttled the client for a quota (`throttle_time_ms`, KIP-219); 0 for responses
    /// that carry no such field. Generated responses that have the field answer with it.
    var throttleTimeMs: Int32 { get }
}

extension KafkaResponseMessage {
    @inlinable
    public var throttleTimeMs: Int32 { 0 }
}

extension KafkaRequestMessage {
    /// Request header version: 2 for flexible versions, else 1 (0 is only for ControlledShutdown v0).
    @inlinable
    public static func requestHeaderVersion(for version: Int16) -> Int16 {
        if apiKey == 7 && version == 0 { return 0 }
        return isFlexible(version: version) ? 2 : 1
    }

    /// Response header version: 1 for flexible versions, else 0. ApiVersions always answers with
    /// header v0 so that a client can read the error of a version the broker does not know.
    @inlinable
    public static func responseHeaderVersion(for version: Int16) -> Int16 {
        if apiKey == 18 { return 0 }
        return isFlexible(version: version) ? 1 : 0
    }
}
