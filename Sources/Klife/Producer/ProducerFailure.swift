import KafkaProtocol

/// Why the producer engine gave up on a record.
///
/// The public API turns this into a ``KafkaError`` (see `KafkaClient+Producer.swift`).
enum ProducerFailure: Error, Sendable, Equatable {
    /// The broker rejected the record's batch with a non-retriable code, or a retriable one until the
    /// delivery timeout ran out.
    case broker(code: Int16, message: String?)
    /// KIP-467: the broker named this record as the reason its batch was dropped.
    case recordRejected(code: Int16, message: String?)
    /// The delivery timeout passed before the record was acknowledged. `lastErrorCode` is the last broker
    /// code seen for its batch, if any; `mayHaveBeenWritten` is true when the last attempt's outcome is
    /// unknown (a transport failure or a request timeout), so the record may be in the log.
    case deliveryTimeout(lastErrorCode: Int16?, mayHaveBeenWritten: Bool)
    /// The partition's idempotent sequence had to be reset while this record's last attempt had an
    /// unknown outcome: it may or may not be in the log, and re-sending it could duplicate it.
    case outcomeUnknown
    /// The producer shut down before the record was acknowledged.
    case shutdown
    /// The producer cannot send at all (e.g. no producer id could be obtained).
    case producerFenced(code: Int16?, message: String)

    /// The Kafka error code attached to this failure, if any.
    var kafkaCode: Int16? {
        switch self {
        case .broker(let code, _), .recordRejected(let code, _): return code
        case .deliveryTimeout(let code, _): return code
        case .producerFenced(let code, _): return code
        case .outcomeUnknown, .shutdown: return nil
        }
    }
}

/// What the broker told us about one record that it appended.
struct ProducedRecordInfo: Sendable, Equatable {
    /// The record's offset, or -1 when the broker did not say (acks=0, or a duplicate reported without
    /// its original offset).
    var offset: Int64
    /// The log-append time when the topic uses LogAppendTime, else -1 (the record keeps its create time).
    var logAppendTime: Int64
}

/// Well-known Kafka error codes the producer engine reacts to specifically.
enum ProducerErrorCodes {
    static let none: Int16 = 0
    static let corruptMessage: Int16 = 2
    static let unknownTopicOrPartition: Int16 = 3
    static let leaderNotAvailable: Int16 = 5
    static let notLeaderOrFollower: Int16 = 6
    static let requestTimedOut: Int16 = 7
    static let messageTooLarge: Int16 = 10
    static let networkException: Int16 = 13
    static let recordListTooLarge: Int16 = 18
    static let notEnoughReplicasAfterAppend: Int16 = 20
    static let outOfOrderSequenceNumber: Int16 = 45
    static let duplicateSequenceNumber: Int16 = 46
    static let invalidProducerEpoch: Int16 = 47
    static let unknownProducerID: Int16 = 59
    static let fencedLeaderEpoch: Int16 = 74
    static let unknownLeaderEpoch: Int16 = 75
    static let invalidRecord: Int16 = 87
    static let unknownTopicID: Int16 = 100

    /// Codes after which the partition's leader is probably stale: refresh metadata before retrying.
    static func meansStaleMetadata(_ code: Int16) -> Bool {
        switch code {
        case unknownTopicOrPartition, leaderNotAvailable, notLeaderOrFollower, networkException,
             fencedLeaderEpoch, unknownLeaderEpoch, unknownTopicID:
            return true
        default:
            return false
        }
    }

    /// Codes after which the broker may have appended the batch even though it reports an error.
    static func leavesOutcomeUnknown(_ code: Int16) -> Bool {
        code == requestTimedOut || code == notEnoughReplicasAfterAppend
    }

    /// Whether Kafka's error table marks the code retriable.
    static func isRetriable(_ code: Int16) -> Bool {
        KafkaErrorCode(rawValue: code).isRetriable
    }
}
