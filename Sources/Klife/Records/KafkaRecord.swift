import NIOCore

/// A Kafka record: the input of the produce API and the output of produce and fetch (Klife's `Klife.Record`).
///
/// On input, ``topic`` and ``value`` are what a produce call needs; ``partition`` is optional (the
/// partitioner picks one when it is nil), and so are ``key``, ``headers`` and a user ``timestamp`` (which
/// Klife cannot set). Produce and fetch return the record enriched with ``partition``, ``offset`` and
/// ``timestamp``; a produce failure sets ``error`` (with the Kafka error code in ``errorCode``).
///
/// Keys and values are `ByteBuffer`s: fetched records are slices of the received buffer, so reading them
/// copies nothing.
public struct KafkaRecord: Sendable {
    /// One record header. Keys need not be unique; order is kept.
    public struct Header: Sendable, Hashable {
        public var key: String
        /// nil is a header without a value (distinct from an empty value).
        public var value: ByteBuffer?

        public init(key: String, value: ByteBuffer?) {
            self.key = key
            self.value = value
        }

        /// A header whose value is the UTF-8 bytes of `value`.
        public init(key: String, value: String?) {
            self.key = key
            self.value = value.map { ByteBuffer(string: $0) }
        }

        /// The value decoded as UTF-8, nil when there is no value.
        public var valueString: String? { value.map { String(buffer: $0) } }
    }

    /// How the broker interpreted ``KafkaRecord/timestamp`` (the record batch's timestamp type bit).
    public enum TimestampType: Sendable, Hashable {
        /// Set by the producer (Kafka's CreateTime).
        case createTime
        /// Set by the broker when it appended the batch (Kafka's LogAppendTime).
        case logAppendTime
    }

    /// Facts about the record batch a fetched record came from.
    public struct BatchAttributes: Sendable, Hashable {
        public var compression: KafkaCompression
        public var timestampType: TimestampType
        public var isTransactional: Bool
        public var isControl: Bool

        public init(compression: KafkaCompression = .none, timestampType: TimestampType = .createTime, isTransactional: Bool = false, isControl: Bool = false) {
            self.compression = compression
            self.timestampType = timestampType
            self.isTransactional = isTransactional
            self.isControl = isControl
        }
    }

    /// The topic (required).
    public var topic: String
    /// The key; nil = no key (distinct from an empty key).
    public var key: ByteBuffer?
    /// The value; nil = a tombstone (deletes the key on a compacted topic).
    public var value: ByteBuffer?
    /// Headers in order; duplicate keys are allowed.
    public var headers: [Header]

    // Compact storage (the stride stays <= 128 B: a fetch response holds tens of thousands of records).
    // The optional scalars are stored non-optional with a presence bit in `storedFlags`, so no value is
    // reserved as a sentinel; the produce-failure error lives behind one reference, set only on failure.
    var storedTimestamp: Int64
    var storedOffset: Int64
    var storedFailure: KafkaRecordFailure?
    var storedPartition: Int32
    var storedLeaderEpoch: Int32
    var storedConsumerAttempts: Int32
    /// Presence bits (`StoredFlag`) of the optional scalars.
    var storedFlags: UInt8
    /// ``BatchAttributes`` packed by `BatchAttributes.packed` (meaningful when `StoredFlag.batchAttributes` is set).
    var storedBatchAttributes: UInt8

    /// The partition: chosen by the caller, or by the partitioner when nil; always set on output.
    public var partition: Int32? {
        get { storedFlags & StoredFlag.partition != 0 ? storedPartition : nil }
        set {
            storedPartition = newValue ?? 0
            setFlag(StoredFlag.partition, newValue != nil)
        }
    }
    /// Milliseconds since the Unix epoch. On input, the user's timestamp (nil = the producer's clock at
    /// batching time). On output, the timestamp stored by the broker.
    public var timestamp: Int64? {
        get { storedFlags & StoredFlag.timestamp != 0 ? storedTimestamp : nil }
        set {
            storedTimestamp = newValue ?? 0
            setFlag(StoredFlag.timestamp, newValue != nil)
        }
    }
    /// The offset, set on output by a successful produce (unless acks is 0) and by fetch.
    public var offset: Int64? {
        get { storedFlags & StoredFlag.offset != 0 ? storedOffset : nil }
        set {
            storedOffset = newValue ?? 0
            setFlag(StoredFlag.offset, newValue != nil)
        }
    }
    /// The reason a produce of this record failed, set on output only.
    public var error: KafkaError? {
        get { storedFailure?.error }
        set { storedFailure = newValue.map(KafkaRecordFailure.init) }
    }
    /// Batch facts, set on fetched records only.
    public var batchAttributes: BatchAttributes? {
        get { storedFlags & StoredFlag.batchAttributes != 0 ? BatchAttributes(packed: storedBatchAttributes) : nil }
        set {
            storedBatchAttributes = newValue?.packed ?? 0
            setFlag(StoredFlag.batchAttributes, newValue != nil)
        }
    }
    /// Leader epoch of the batch, set on fetched records when the broker stores it.
    public var leaderEpoch: Int32? {
        get { storedFlags & StoredFlag.leaderEpoch != 0 ? storedLeaderEpoch : nil }
        set {
            storedLeaderEpoch = newValue ?? 0
            setFlag(StoredFlag.leaderEpoch, newValue != nil)
        }
    }
    /// How many times a consumer group handler has been given this record before (Klife: `consumer_attempts`).
    ///
    /// Stored in 32 bits: values beyond `Int32` are clamped (a record is never redelivered 2^31 times).
    public var consumerAttempts: Int {
        get { Int(storedConsumerAttempts) }
        set { storedConsumerAttempts = Int32(clamping: newValue) }
    }

    /// The Kafka error code of a failed produce, when the broker gave one.
    public var errorCode: Int16? { error?.kafkaCode }
    /// Whether this record carries a failure (``error`` is set).
    public var isFailed: Bool { error != nil }
    /// The value decoded as UTF-8 (nil for a tombstone).
    public var valueString: String? { value.map { String(buffer: $0) } }
    /// The key decoded as UTF-8 (nil when there is no key).
    public var keyString: String? { key.map { String(buffer: $0) } }
    /// The value's bytes (nil for a tombstone).
    public var valueBytes: [UInt8]? { value.map { Array($0.readableBytesView) } }
    /// The key's bytes (nil when there is no key).
    public var keyBytes: [UInt8]? { key.map { Array($0.readableBytesView) } }
}

// The initializers live in an extension so that the struct keeps its memberwise initializer.
extension KafkaRecord {
    /// A record with binary key and value.
    public init(
        topic: String,
        partition: Int32? = nil,
        key: ByteBuffer? = nil,
        value: ByteBuffer?,
        headers: [Header] = [],
        timestamp: Int64? = nil
    ) {
        // The memberwise initializer builds the record in place; assigning the stored properties one by one
        // here made the optimizer build it on the stack and copy it out (a retain and release of each
        // reference per record built).
        self.init(
            topic: topic, key: key, value: value, headers: headers, storedTimestamp: timestamp ?? 0, storedOffset: 0,
            storedFailure: nil, storedPartition: partition ?? 0, storedLeaderEpoch: 0, storedConsumerAttempts: 0,
            storedFlags: (partition != nil ? StoredFlag.partition : 0) | (timestamp != nil ? StoredFlag.timestamp : 0),
            storedBatchAttributes: 0)
    }

    /// A record whose key and value are the UTF-8 bytes of the strings.
    public init(topic: String, partition: Int32? = nil, key: String? = nil, value: String, headers: [Header] = [], timestamp: Int64? = nil) {
        self.init(
            topic: topic, partition: partition, key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value),
            headers: headers, timestamp: timestamp)
    }

    /// A record whose key and value are the given bytes.
    public init(topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8], headers: [Header] = [], timestamp: Int64? = nil) {
        self.init(
            topic: topic, partition: partition, key: key.map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: value),
            headers: headers, timestamp: timestamp)
    }
}

extension KafkaRecord: Equatable {
    /// Records are equal when their data and output fields are; errors compare by code, message and Kafka code.
    public static func == (lhs: KafkaRecord, rhs: KafkaRecord) -> Bool {
        lhs.topic == rhs.topic && lhs.partition == rhs.partition && lhs.key == rhs.key && lhs.value == rhs.value
            && lhs.headers == rhs.headers && lhs.timestamp == rhs.timestamp && lhs.offset == rhs.offset
            && lhs.error?.code == rhs.error?.code && lhs.error?.message == rhs.error?.message
            && lhs.error?.kafkaCode == rhs.error?.kafkaCode && lhs.batchAttributes == rhs.batchAttributes
            && lhs.leaderEpoch == rhs.leaderEpoch && lhs.consumerAttempts == rhs.consumerAttempts
    }
}

extension KafkaRecord: CustomStringConvertible {
    public var description: String {
        var s = "KafkaRecord(topic: \(topic)"
        if let partition { s += ", partition: \(partition)" }
        if let offset { s += ", offset: \(offset)" }
        if let key { s += ", key: \(key.readableBytes) bytes" }
        s += value.map { ", value: \($0.readableBytes) bytes" } ?? ", value: nil"
        if !headers.isEmpty { s += ", headers: \(headers.count)" }
        if let timestamp { s += ", timestamp: \(timestamp)" }
        if let error { s += ", error: \(error)" }
        return s + ")"
    }
}
