import NIOConcurrencyHelpers
import NIOCore

/// A record in the producer engine, with where its result goes.
///
/// Only what the batch encoder and the result need: topic and partition are the batch's, and the rest of
/// a ``KafkaRecord`` (output fields) is filled in on delivery. A small value, moved along with few
/// reference counts (key, value, headers, completion).
struct ProducerEntry: Sendable {
    var key: ByteBuffer?
    var value: ByteBuffer?
    var headers: [KafkaRecord.Header]
    /// Milliseconds since the Unix epoch (the caller's, else the producer's clock when it was submitted).
    var timestamp: Int64
    var completion: ProducerCompletion

    /// The record as its caller gets it back (before the output fields are set).
    func record(in topicPartition: ProducerTopicPartition) -> KafkaRecord {
        KafkaRecord(
            topic: topicPartition.topic, partition: topicPartition.partition, key: key, value: value, headers: headers,
            timestamp: timestamp)
    }

    /// ``record(in:)`` by moving key, value and headers out (the entry keeps none): no reference counting.
    mutating func takeRecord(in topicPartition: ProducerTopicPartition) -> KafkaRecord {
        var headers: [KafkaRecord.Header] = []
        swap(&headers, &self.headers)
        return KafkaRecord(
            topic: topicPartition.topic, partition: topicPartition.partition, key: key.take(), value: value.take(),
            headers: headers, timestamp: timestamp)
    }

    /// The record of a success as its caller gets it, built in one step with key, value and headers moved out
    /// of the entry. `offset` -1: the broker gave none; `logAppendTime` -1: the record keeps its own timestamp.
    mutating func takeProducedRecord(in topicPartition: ProducerTopicPartition, offset: Int64, logAppendTime: Int64) -> KafkaRecord {
        var headers: [KafkaRecord.Header] = []
        swap(&headers, &self.headers)
        let hasOffset = offset >= 0
        return KafkaRecord(
            topic: topicPartition.topic, key: key.take(), value: value.take(), headers: headers,
            storedTimestamp: logAppendTime >= 0 ? logAppendTime : timestamp, storedOffset: hasOffset ? offset : 0,
            storedFailure: nil, storedPartition: topicPartition.partition, storedLeaderEpoch: 0, storedConsumerAttempts: 0,
            storedFlags: KafkaRecord.StoredFlag.partition | KafkaRecord.StoredFlag.timestamp
                | (hasOffset ? KafkaRecord.StoredFlag.offset : 0),
            storedBatchAttributes: 0)
    }

    /// Moves the completion out (the entry keeps ``ProducerCompletion/none``).
    mutating func takeCompletion() -> ProducerCompletion {
        var completion = ProducerCompletion.none
        swap(&completion, &self.completion)
        return completion
    }

    /// Bytes of key, value and headers (what the produce metrics count).
    var payloadBytes: Int {
        var bytes = (key?.readableBytes ?? 0) + (value?.readableBytes ?? 0)
        for header in headers { bytes += header.key.utf8.count + (header.value?.readableBytes ?? 0) }
        return bytes
    }
}

// The initializers live in an extension so that the struct keeps its memberwise initializer: an explicit
// one in the struct body made every entry be built in a temporary and copied out (an outlined copy and
// destroy: a retain and a release of key, value, headers and completion per record).
extension ProducerEntry {
    /// The entry of `record` with its key, value and headers and `completion` moved in (no reference
    /// counting): `record` is left without them and `completion` is ``ProducerCompletion/none``.
    init(taking record: inout KafkaRecord, timestamp: Int64, completion: inout ProducerCompletion) {
        var headers: [KafkaRecord.Header] = []
        swap(&headers, &record.headers)
        var taken = ProducerCompletion.none
        swap(&taken, &completion)
        self.init(key: record.key.take(), value: record.value.take(), headers: headers, timestamp: timestamp, completion: taken)
    }

    /// The entry of a routed record (its timestamp set).
    init(record: KafkaRecord, completion: ProducerCompletion) {
        self.init(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp ?? 0, completion: completion)
    }
}

/// Where a produced record's result goes.
enum ProducerCompletion: Sendable {
    /// Nobody waits (produceAsync without a callback).
    case none
    /// Slot `index` of a call's result list.
    case collector(ProducerResultCollector, index: Int)
    /// A per-record callback (produceAsync).
    case callback(@Sendable (Result<KafkaRecord, KafkaError>) -> Void)
    /// The caller of a single `produce`, suspended until the result.
    case caller(UnsafeContinuation<Result<KafkaRecord, KafkaError>?, Never>)

    func complete(_ result: Result<KafkaRecord, KafkaError>) {
        switch self {
        case .none: return
        case .collector(let collector, let index): collector.set(index, result)
        case .callback(let callback): callback(result)
        case .caller(let continuation): continuation.resume(returning: result)
        }
    }
}

/// Gathers the results of one produce call in input order; resumes the caller (or calls its callback) when
/// the last one is in.
final class ProducerResultCollector: Sendable {
    typealias Results = [Result<KafkaRecord, KafkaError>]

    private struct State {
        var results: [Result<KafkaRecord, KafkaError>?]
        var remaining: Int
        var continuation: CheckedContinuation<Results, Never>?
        var finished: Results?
    }

    private let state: NIOLockedValueBox<State>
    private let onDone: (@Sendable (Results) -> Void)?

    init(count: Int, onDone: (@Sendable (Results) -> Void)? = nil) {
        self.state = NIOLockedValueBox(State(results: Array(repeating: nil, count: count), remaining: count))
        self.onDone = onDone
    }

    func set(_ index: Int, _ result: Result<KafkaRecord, KafkaError>) {
        let done = state.withLockedValue { state -> (Results, CheckedContinuation<Results, Never>?)? in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            let results = state.results.map { $0! }
            state.finished = results
            defer { state.continuation = nil }
            return (results, state.continuation)
        }
        guard let (results, continuation) = done else { return }
        continuation?.resume(returning: results)
        onDone?(results)
    }

    /// Sets several results under one lock acquisition.
    func set(_ results: [(Int, Result<KafkaRecord, KafkaError>)]) {
        let done = state.withLockedValue { state -> (Results, CheckedContinuation<Results, Never>?)? in
            for (index, result) in results where state.results[index] == nil {
                state.results[index] = result
                state.remaining -= 1
            }
            guard state.remaining == 0, state.finished == nil else { return nil }
            let all = state.results.map { $0! }
            state.finished = all
            defer { state.continuation = nil }
            return (all, state.continuation)
        }
        guard let (all, continuation) = done else { return }
        continuation?.resume(returning: all)
        onDone?(all)
    }

    /// Waits for every result.
    func results() async -> Results {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state -> Results? in
                if let finished = state.finished { return finished }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

extension ProducerEntry {
    /// Turns engine completions into enriched records or errors and hands them to their callers.
    ///
    /// Results for one call's collector (produceBatch*) are handed over a run at a time, under one lock
    /// acquisition, not one per record. Each record's key, value, headers and completion move into its
    /// result (the record arrays are usually held only here; otherwise the first move copies the array
    /// once), leaving the entries empty. Records nobody waits for (``ProducerCompletion/none``) build no result.
    static func deliver(_ completions: inout [ProducerStateMachineOutput<ProducerEntry>.Completion]) {
        var run = CollectorRun()
        for index in completions.indices {
            let topicPartition = completions[index].topicPartition
            let result = completions[index].result
            // Elements are modified in place (a `for pending in` loop would copy each one).
            completions[index].records.withUnsafeMutableBufferPointer { records in
                switch result {
                case .success(let info):
                    var offset = info.offset
                    for position in records.indices {
                        defer { if offset >= 0 { offset &+= 1 } }  // &+: a broker's offset near Int64.max must not trap
                        if case .none = records[position].entry.completion { continue }
                        let completion = records[position].entry.takeCompletion()
                        run.complete(completion, .success(records[position].entry.takeProducedRecord(
                            in: topicPartition, offset: offset, logAppendTime: info.logAppendTime)))
                    }
                case .failure(let failure):
                    for position in records.indices {
                        if case .none = records[position].entry.completion { continue }
                        var record = records[position].entry.takeRecord(in: topicPartition)
                        let error = failure.kafkaError(for: record)
                        record.error = error
                        run.complete(records[position].entry.takeCompletion(), .failure(error))
                    }
                }
            }
        }
        run.flush()
    }

    /// Consecutive results for one collector, handed over together.
    private struct CollectorRun {
        var collector: ProducerResultCollector?
        var results: [(Int, Result<KafkaRecord, KafkaError>)] = []

        mutating func complete(_ completion: ProducerCompletion, _ result: Result<KafkaRecord, KafkaError>) {
            guard case .collector(let target, let index) = completion else {
                flush()
                completion.complete(result)
                return
            }
            if collector !== target {
                flush()
                collector = target
            }
            results.append((index, result))
        }

        mutating func flush() {
            guard let collector, !results.isEmpty else { return }
            collector.set(results)
            results.removeAll(keepingCapacity: true)
        }
    }

    /// The error for a record whose estimated `size` is past `limit`. Built only then: `owner` is text
    /// that would cost an allocation per record.
    static func sizeError(_ record: KafkaRecord, size: Int, limit: Int, owner: @autoclosure () -> String) -> KafkaError? {
        guard size > limit else { return nil }
        return KafkaError(
            .recordTooLarge,
            "a record for topic \(record.topic) is about \(size) bytes, more than \(owner())'s maxRecordBytes (\(limit)); it was not sent")
    }

    /// The size a record is counted with against batch and buffer limits: its key, value and headers plus
    /// the per-record framing (length, attributes, timestamp and offset deltas, varint lengths).
    static func estimatedSize(of record: KafkaRecord) -> Int {
        var size = 24 + (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
        for header in record.headers {
            size += 10 + header.key.utf8.count + (header.value?.readableBytes ?? 0)
        }
        return size
    }
}
