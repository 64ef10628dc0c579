/// An error raised while encoding or decoding Kafka protocol bytes.
///
/// Every decoder in ``KafkaProtocol`` throws this type and nothing else: malformed, truncated or
/// hostile input always ends in one of these cases, never in a crash or an unchecked allocation.
public enum KafkaProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The buffer ended before `field` could be read.
    case truncated(field: String, needed: Int, available: Int)
    /// A length or count prefix is negative (and not the null marker) or larger than the bytes left.
    case invalidLength(field: String, length: Int64)
    /// A varint ran past its maximum encoded size.
    case malformedVarint(field: String)
    /// A string field does not hold valid UTF-8.
    case invalidUTF8(field: String)
    /// The field is null in a version that does not allow null.
    case unexpectedNull(field: String, version: Int16)
    /// The message has no such version.
    case unsupportedVersion(message: String, version: Int16)
    /// A non-ignorable field holds a non-default value that `version` cannot carry.
    case fieldNotSupportedInVersion(message: String, field: String, version: Int16)
    /// A value does not fit the wire type or violates a protocol rule.
    case invalidValue(field: String, reason: String)
    /// The CRC32C stored in a record batch does not match its contents.
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// A record batch uses a message format this library does not decode.
    case unsupportedMagic(Int8)
    /// A compression codec failed or is unknown.
    case compression(codec: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(field, needed, available):
            return "truncated input: \(field) needs \(needed) bytes, \(available) available"
        case let .invalidLength(field, length):
            return "invalid length \(length) for \(field)"
        case let .malformedVarint(field):
            return "malformed varint in \(field)"
        case let .invalidUTF8(field):
            return "\(field) is not valid UTF-8"
        case let .unexpectedNull(field, version):
            return "\(field) is null, which version \(version) does not allow"
        case let .unsupportedVersion(message, version):
            return "\(message) has no version \(version)"
        case let .fieldNotSupportedInVersion(message, field, version):
            return "\(message).\(field) has a non-default value that version \(version) cannot carry"
        case let .invalidValue(field, reason):
            return "invalid \(field): \(reason)"
        case let .crcMismatch(stored, computed):
            return "record batch CRC mismatch: stored \(stored), computed \(computed)"
        case let .unsupportedMagic(magic):
            return "unsupported record batch magic \(magic)"
        case let .compression(codec, reason):
            return "\(codec) compression: \(reason)"
        }
    }
}
