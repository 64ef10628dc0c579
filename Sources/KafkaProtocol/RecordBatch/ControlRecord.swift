import NIOCore

/// The record of a control batch: a transaction marker written by the transaction coordinator.
///
/// Key: `version int16` (0), `type int16` (0 abort, 1 commit). Value (markers): `version int16` (0),
/// `coordinatorEpoch int32`. Consumers use markers to drop aborted records and never hand control
/// records to applications.
public struct ControlRecord: Hashable, Sendable {
    /// The control record type (key field `type`). Other values are possible from newer brokers.
    public struct ControlType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let abort = ControlType(rawValue: 0)
        public static let commit = ControlType(rawValue: 1)
        public var description: String {
            switch self {
            case .abort: "abort"
            case .commit: "commit"
            default: "control type \(rawValue)"
            }
        }
    }

    public var keyVersion: Int16
    public var type: ControlType
    /// The value's version, for commit/abort markers (nil when the value is null or not a marker).
    public var valueVersion: Int16?
    /// The transaction coordinator's epoch, for commit/abort markers.
    public var coordinatorEpoch: Int32?

    public init(type: ControlType, coordinatorEpoch: Int32, keyVersion: Int16 = 0, valueVersion: Int16 = 0) {
        self.keyVersion = keyVersion
        self.type = type
        self.valueVersion = valueVersion
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// Decodes the key (and, for commit/abort, the value) of a control batch's record.
    /// - Throws: ``KafkaProtocolError`` when the key is null or shorter than 4 bytes, or a marker
    ///   value is shorter than 6 bytes.
    public init(_ record: RecordBatch.Record) throws {
        guard var key = record.key else {
            throw KafkaProtocolError.unexpectedNull(field: "control record key", version: -1)
        }
        keyVersion = try key.readKafkaInt16(field: "control record key version")
        type = ControlType(rawValue: try key.readKafkaInt16(field: "control record type"))
        if (type == .abort || type == .commit), var value = record.value {
            valueVersion = try value.readKafkaInt16(field: "control record value version")
            coordinatorEpoch = try value.readKafkaInt32(field: "coordinatorEpoch")
        } else {
            valueVersion = nil
            coordinatorEpoch = nil
        }
    }

    /// Whether this is a commit or abort transaction marker.
    public var isTransactionMarker: Bool { type == .abort || type == .commit }

    /// The encoded key.
    public var encodedKey: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeKafkaInt16(keyVersion)
        buffer.writeKafkaInt16(type.rawValue)
        return buffer
    }

    /// The encoded value (nil when there is no marker value).
    public var encodedValue: ByteBuffer? {
        guard let valueVersion, let coordinatorEpoch else { return nil }
        var buffer = ByteBuffer()
        buffer.writeKafkaInt16(valueVersion)
        buffer.writeKafkaInt32(coordinatorEpoch)
        return buffer
    }
}
