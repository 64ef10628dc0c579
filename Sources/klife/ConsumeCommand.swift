import ArgumentParser
import Klife
import Synchronization

/// `klife consume`: read records from a topic until a count or an idle timeout.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Consume records from a topic and print one per line.",
        discussion: """
            Reads the chosen partitions (all by default) from --offset on, printing each record as JSON \
            (topic, partition, offset, key, value, headers, timestamp) or only its value. Stops after --count \
            records, or when --timeout-ms passes without a new record (--timeout-ms 0: never; Ctrl-C stops). \
            --offset is earliest (or beginning), latest (or end), an offset N (with --partition), -N (the last N \
            records of each partition) or @MS (the first record with a timestamp of at least MS milliseconds since \
            the epoch; the end where there is none). With --group, --include REGEX reads every topic whose whole \
            name matches REGEX instead of one --topic, and takes in matching topics created meanwhile. With --group, Ctrl-C or SIGTERM stops cleanly: what was \
            printed is committed and the member leaves the group. Exit status: 0, 1 on an error, 2 when --count \
            records did not arrive in time, 141 when standard output was closed (e.g. piped into head; nothing \
            more is read, and a group member commits only what was written).
            """
    )

    /// Where `--offset` starts reading.
    enum StartOffset: ExpressibleByArgument, Sendable, Equatable {
        case earliest
        case latest
        case offset(Int64)
        /// `-N`: N records before the end of each partition (from its start when it holds fewer).
        case beforeEnd(Int64)
        /// `@MS`: the first record whose timestamp is at least MS (milliseconds since the epoch).
        case timestamp(Int64)

        init?(argument: String) {
            switch argument {
            case "earliest", "beginning": self = .earliest
            case "latest", "end": self = .latest
            default:
                if let ms = argument.stripping(prefix: "s@") ?? argument.stripping(prefix: "@") {
                    guard let ms = Int64(ms), ms >= 0 else { return nil }
                    self = .timestamp(ms)
                } else if let n = argument.stripping(prefix: "-") {
                    guard let n = Int64(n), n > 0 else { return nil }
                    self = .beforeEnd(n)
                } else {
                    guard let n = Int64(argument), n >= 0 else { return nil }
                    self = .offset(n)
                }
            }
        }

        /// Whether this start suits a group member (whose start is a reset policy for partitions without a
        /// committed offset).
        var isResetPolicy: Bool { self == .earliest || self == .latest }
    }

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Topic.") var topic: String?
    @Option(name: .long, help: "With --group, instead of --topic: every topic whose whole name matches this regular expression, also topics created while it runs.")
    var include: String?
    @Option(name: .long, help: "Only this partition (default: all).") var partition: Int32?
    @Option(name: .long, parsing: .unconditional, help: "earliest (default; or beginning), latest (or end), an offset N, -N (the last N of each partition) or @MS (a timestamp).")
    var offset: StartOffset = .earliest
    @Option(name: .long, help: "Consume as a member of this consumer group, committing what was printed.") var group: String?
    @Option(name: .customLong("group-protocol"), help: "With --group: auto (default: KIP-848 when the broker offers it, else classic), classic or consumer.")
    var groupProtocol: GroupProtocolOption = .auto
    @Option(name: .long, help: "Stop after this many records.") var count: Int?
    @Option(name: .long, help: "read_committed (default) or read_uncommitted.") var isolation: RecordOutputFormat.Isolation = .readCommitted
    @Option(name: .customLong("timeout-ms"), help: "Stop when no record arrives for this long (default 5000; 0: never).") var timeoutMs: Int = 5_000
    @Option(name: .long, help: "json (default; keys and values as text) or value (the value's bytes as they are).") var format: RecordOutputFormat = .json
    @Option(name: .customLong("max-bytes"), help: "Most bytes per partition per fetch.") var maxBytes: Int = 1_000_000

    func validate() throws {
        if let partition, partition < 0 { throw ValidationError("--partition must be >= 0") }
        if let count, count <= 0 { throw ValidationError("--count must be > 0") }
        guard timeoutMs >= 0 else { throw ValidationError("--timeout-ms must be >= 0 (0: never stop for lack of records)") }
        guard maxBytes > 0 else { throw ValidationError("--max-bytes must be > 0") }
        guard (topic == nil) != (include == nil) else { throw ValidationError("give either --topic or --include (with --group)") }
        if include != nil, group == nil { throw ValidationError("--include needs --group (the group follows the matching topics)") }
        if group != nil {
            if partition != nil { throw ValidationError("--partition cannot be used with --group (the group assigns partitions)") }
            guard offset.isResetPolicy else { throw ValidationError("--offset with --group must be earliest or latest (used when nothing is committed)") }
        } else if case .offset = offset, partition == nil {
            // One offset for every partition means little (and fails where a partition is shorter), as
            // kafka-console-consumer says too.
            throw ValidationError("--offset N needs --partition (for all partitions use earliest or latest)")
        }
    }

    func run() async throws {
        if let group { return try await runInGroup(group) }
        guard let topic else { return }
        try await runReportingErrors {
            let longPoll = Duration.milliseconds(timeoutMs == 0 ? 500 : min(timeoutMs, 500))
            try await global.withClient(adjust: { configuration in
                // Let the broker hold an empty fetch a while (long poll) instead of asking in a tight loop.
                configuration.fetchers = [KafkaFetcherConfiguration(maxWait: longPoll)]
            }) { [topic, partition, offset, count, isolation, timeoutMs, format, maxBytes] client in
                let partitions: [Int32]
                if let partition {
                    partitions = [partition]
                } else {
                    partitions = (0..<(try await client.describeTopic(topic).partitionCount)).map { $0 }
                }
                var next = try await Self.startOffsets(offset, of: topic, partitions: partitions, isolation: isolation.level, client: client)
                let options = KafkaFetchOptions(isolationLevel: isolation.level, maxBytes: maxBytes)
                var printed = 0
                var lastProgress = ContinuousClock.now
                let idle = Duration.milliseconds(timeoutMs)
                while timeoutMs == 0 || ContinuousClock.now - lastProgress < idle {
                    let positions = partitions.map { KafkaFetchPosition(topic: topic, partition: $0, offset: next[$0]!) }
                    let results = await client.fetchPartitions(positions, options: options)
                    var gotRecords = false
                    for position in positions {
                        let fetched = try results[position]?.get() ?? KafkaFetchedPartition(records: [], nextOffset: position.offset)
                        var out: [UInt8] = []
                        var reachedCount = false
                        for record in fetched.records {
                            format.append(record, to: &out)
                            printed += 1
                            if let count, printed >= count { reachedCount = true; break }
                        }
                        if !out.isEmpty, !writeToStandardOutput(bytes: out) {
                            // The reader went away: reading on would print to nobody.
                            throw ExitCode(StandardOutput.closedExitStatus)
                        }
                        if reachedCount { return }
                        gotRecords = gotRecords || !fetched.records.isEmpty
                        next[position.partition] = max(position.offset, fetched.nextOffset)
                    }
                    if gotRecords {
                        lastProgress = .now
                    } else {
                        // Nothing new: wait a little before asking again, without overshooting the timeout (if any).
                        let left = timeoutMs == 0 ? .milliseconds(100) : idle - (ContinuousClock.now - lastProgress)
                        if left > .zero { try await Task.sleep(for: min(left, .milliseconds(100))) }
                    }
                }
                if let count, printed < count {
                    printError("klife: only \(printed) of \(count) records arrived before --timeout-ms \(timeoutMs) passed without a new one")
                    throw ExitCode(2)
                }
            }
        }
    }
}

extension ConsumeCommand {
    /// Consumes as a group member: prints each batch, commits it, and stops after --count records or when
    /// --timeout-ms passes without a new record once partitions are assigned.
    func runInGroup(_ group: String) async throws {
        try await runReportingErrors {
            let printed = try await global.withClient { [topic, include, offset, count, isolation, timeoutMs, format, maxBytes, groupProtocol] client in
                // An unknown topic fails here, not after waiting for an assignment that never comes.
                if let topic { _ = try await client.describeTopic(topic) }
                let progress = Mutex<(printed: Int, last: ContinuousClock.Instant?)>((0, nil))
                let output = Mutex(())
                var configuration = KafkaConsumerGroupConfiguration(
                    groupID: group, topics: topic.map { [$0] } ?? [], topicPattern: include, sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1),
                    isolationLevel: isolation.level, offsetResetPolicy: offset.isEarliest ? .earliest : .latest,
                    fetchMaxBytes: maxBytes)
                configuration.groupProtocol = groupProtocol.value
                let member = try client.startConsumerGroup(configuration) { batch in
                    var records = batch.records
                    // Past --count: print (and commit) only up to it.
                    let allowed = progress.withLock { state -> Int in
                        let left = count.map { max(0, $0 - state.printed) } ?? records.count
                        state.printed += min(left, records.count)
                        state.last = .now
                        return min(left, records.count)
                    }
                    records = Array(records.prefix(allowed))
                    // Written out before the commit below (unbuffered): a record committed is a record printed.
                    // One batch at a time, so that the lines of batches handled side by side do not mix.
                    var out: [UInt8] = []
                    for record in records { format.append(record, to: &out) }
                    let written = out.isEmpty || output.withLock { _ in writeToStandardOutput(bytes: out) }
                    // Nobody reads any more: commit nothing of this batch (the loop below stops the member).
                    guard written else { return .retry(cooldown: .seconds(1)) }
                    // Commit only what was printed; records past --count stay for the next consumer.
                    if allowed == batch.records.count { return .commit }
                    return .perRecord(Dictionary(uniqueKeysWithValues: records.compactMap { $0.offset }.map { ($0, .commit) }), cooldown: .milliseconds(100))
                }
                let idle = Duration.milliseconds(timeoutMs)
                // With --timeout-ms 0 the member waits for an assignment as long as it runs.
                let joinDeadline = timeoutMs == 0 ? nil : ContinuousClock.now + .seconds(60) + idle
                StopSignals.trap()
                defer { StopSignals.release() }
                while true {
                    let (done, last) = progress.withLock { state in (count.map { state.printed >= $0 } ?? false, state.last) }
                    if done || StopSignals.wasReceived || StandardOutput.isClosed { break }
                    if let failure = member.failure {
                        await member.stop()
                        throw failure
                    }
                    let now = ContinuousClock.now
                    if let last, timeoutMs > 0, now - last >= idle { break }
                    if last == nil {
                        if member.assignedPartitions.isEmpty {
                            if let joinDeadline, now >= joinDeadline { break }
                        } else {
                            progress.withLock { state in if state.last == nil { state.last = now } }
                        }
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                await member.stop()
                if let failure = member.failure { throw failure }
                return progress.withLock { $0.printed }
            }
            if StandardOutput.isClosed { throw ExitCode(StandardOutput.closedExitStatus) }
            if let count, printed < count, !StopSignals.wasReceived {
                printError("klife: only \(printed) of \(count) records arrived before --timeout-ms \(timeoutMs) passed without a new one")
                throw ExitCode(2)
            }
        }
    }
}

extension ConsumeCommand {
    /// The offset each of `partitions` starts from.
    ///
    /// - Throws: the ``KafkaError`` of a ListOffsets lookup.
    static func startOffsets(
        _ start: StartOffset, of topic: String, partitions: [Int32], isolation: KafkaIsolationLevel, client: KafkaClient
    ) async throws -> [Int32: Int64] {
        func lookUp(_ spec: KafkaClient.OffsetSpec, _ wanted: [Int32]) async throws -> [Int32: Int64] {
            guard !wanted.isEmpty else { return [:] }
            let answers = try await client.listOffsets(topic: topic, partitions: wanted, at: spec, isolation: isolation)
            return answers.mapValues(\.offset)
        }
        switch start {
        case .offset(let n):
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, n) })
        case .earliest, .latest:
            let found = try await lookUp(start == .earliest ? .earliest : .latest, partitions)
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, max(0, found[$0] ?? 0)) })
        case .beforeEnd(let n):
            let ends = try await lookUp(.latest, partitions)
            let starts = try await lookUp(.earliest, partitions)
            return Dictionary(uniqueKeysWithValues: partitions.map { p in
                let end = max(0, ends[p] ?? 0)
                return (p, max(starts[p] ?? 0, end > n ? end - n : 0))
            })
        case .timestamp(let ms):
            var found = try await lookUp(.timestamp(ms), partitions)
            // No record at or after the timestamp (-1): start at the end, for records still to come.
            let none = partitions.filter { (found[$0] ?? -1) < 0 }
            for (p, end) in try await lookUp(.latest, none) { found[p] = end }
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, max(0, found[$0] ?? 0)) })
        }
    }
}

extension ConsumeCommand.StartOffset {
    fileprivate var isEarliest: Bool {
        if case .earliest = self { return true }
        return false
    }
}

/// `--group-protocol`.
enum GroupProtocolOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto
    case classic
    case consumer

    var value: KafkaConsumerGroupConfiguration.GroupProtocol {
        switch self {
        case .auto: return .automatic
        case .classic: return .classic
        case .consumer: return .consumer
        }
    }
}

extension String {
    /// The rest of the string after `prefix`, nil when it does not start with it.
    fileprivate func stripping(prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
