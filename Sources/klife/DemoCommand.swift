import ArgumentParser
import Klife
import Synchronization

/// `klife demo`: a guided tour of the client against a broker, printing what each step does and how fast.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a self-contained tour: metadata, create topic, produce, fetch, consumer group, transactions, delete.",
        discussion: """
            Creates a topic klife-demo-<random> with 4 partitions, produces --records JSON order events, reads \
            them back per partition, consumes them with a 2-member consumer group, commits one transaction and \
            aborts another (checking what a read_committed reader sees), deletes the topic and prints a summary. \
            Needs nothing but a broker (`make demo` starts one).
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "How many order events to produce (default 200000).") var records: Int = 200_000
    @Flag(name: .long, help: "Print only the summary table.") var quiet = false

    static let partitions: Int32 = 4
    static let customers = 1_000
    static let syncRecords = 5
    static let transactionRecords = 5

    func validate() throws {
        guard records > 0 else { throw ValidationError("--records must be > 0") }
    }

    func run() async throws {
        try await runReportingErrors {
            let demo = DemoRun(records: records, quiet: quiet, global: global)
            let summary = try await global.withClient { client in try await demo.run(client) }
            print("")
            print(summary.table())
        }
    }

    /// A JSON-ish order event of roughly 100–200 bytes for order `n`.
    static func orderEvent(_ n: Int, timestamp: Int64) -> (key: String, value: String) {
        let customer = "customer-\(n % customers)"
        let quantity = 1 + n % 5
        let cents = 199 + (n * 7_919) % 20_000
        let value = """
            {"order_id":\(n),"customer":"\(customer)","items":[{"sku":"SKU-\(n % 9_973)","qty":\(quantity),\
            "price_cents":\(cents)}],"total_cents":\(cents * quantity),"currency":"EUR","ts":\(timestamp)}
            """
        return (customer, value)
    }
}

/// One line of the final summary.
struct DemoSummaryRow: Sendable {
    var step: String
    var detail: String
    var seconds: Double
    var records: Int?
}

struct DemoSummary: Sendable {
    var rows: [DemoSummaryRow] = []

    func table() -> String {
        let header = ["step", "records", "time", "records/s", "detail"]
        let lines = rows.map { row -> [String] in
            let rate = row.records.map { row.seconds > 0 ? String(Int(Double($0) / row.seconds)) : "-" } ?? "-"
            return [row.step, row.records.map(String.init) ?? "-", cFormat("%.2fs", row.seconds), rate, row.detail]
        }
        let widths = header.indices.map { i in ([header] + lines).map { $0[i].count }.max() ?? 0 }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - cell.count))
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        return ([format(header), rule] + lines.map(format)).joined(separator: "\n")
    }
}

/// The demo's steps against one running client.
struct DemoRun: Sendable {
    var records: Int
    var quiet: Bool
    var global: GlobalOptions

    private func say(_ line: String) {
        if !quiet { print(line) }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func run(_ client: KafkaClient) async throws -> DemoSummary {
        var summary = DemoSummary()

        // 1. Metadata.
        var start = ContinuousClock.now
        let metadata = try await client.refreshMetadata()
        let brokers = metadata.sortedBrokers
        say("1. Connected to \(global.effectiveBootstrap): cluster \(metadata.clusterID ?? "?"), \(brokers.count) broker(s)")
        for broker in brokers { say("   broker \(broker.nodeID) at \(broker.host):\(broker.port)\(broker.nodeID == metadata.controllerID ? " (controller)" : "")") }
        summary.rows.append(.init(step: "metadata", detail: "\(brokers.count) broker(s)", seconds: seconds(since: start)))

        // 2. Topic.
        let topic = "klife-demo-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        start = .now
        try await client.createTopic(topic, partitions: DemoCommand.partitions)
        say("2. Created topic \(topic) with \(DemoCommand.partitions) partitions in \(ms(since: start))")
        summary.rows.append(.init(step: "create topic", detail: topic, seconds: seconds(since: start)))

        do {
            try await runSteps(client, topic: topic, summary: &summary)
        } catch {
            try? await client.deleteTopic(topic)
            throw error
        }

        // 7. Clean up.
        start = .now
        try await client.deleteTopic(topic)
        say("7. Deleted topic \(topic) in \(ms(since: start)); shutting the client down")
        summary.rows.append(.init(step: "delete topic", detail: topic, seconds: seconds(since: start)))
        return summary
    }

    private func ms(since start: ContinuousClock.Instant) -> String {
        cFormat("%.1f ms", seconds(since: start) * 1000)
    }

    private func runSteps(_ client: KafkaClient, topic: String, summary: inout DemoSummary) async throws {
        // 3. Produce.
        say("3. Producing \(records) order events (keys customer-0…customer-\(DemoCommand.customers - 1), header source=klife-demo)")
        let outcome = Mutex<(acked: Int, failed: Int, bytes: Int, firstError: KafkaError?)>((0, 0, 0, nil))
        let chunk = 1_000
        let header = KafkaRecord.Header(key: "source", value: "klife-demo")
        var start = ContinuousClock.now
        var lastProgress = start
        let now = wallClockMilliseconds()
        var submitted = 0
        while submitted < records {
            let count = min(chunk, records - submitted)
            let batch = (submitted..<(submitted + count)).map { n in
                let event = DemoCommand.orderEvent(n, timestamp: now + Int64(n))
                return KafkaRecord(topic: topic, key: event.key, value: event.value, headers: [header])
            }
            let bytes = batch.reduce(0) { $0 + ($1.key?.readableBytes ?? 0) + ($1.value?.readableBytes ?? 0) }
            await client.produceBatchAsync(batch) { results in
                let failed = results.filter { if case .failure = $0 { true } else { false } }
                outcome.withLock { state in
                    state.acked += results.count - failed.count
                    state.failed += failed.count
                    state.bytes += bytes
                    if state.firstError == nil, case .failure(let error)? = failed.first { state.firstError = error }
                }
            }
            submitted += count
            if !quiet, ContinuousClock.now - lastProgress > .milliseconds(250) {
                lastProgress = .now
                let acked = outcome.withLock { $0.acked }
                printError("\r   submitted \(submitted)/\(records), acknowledged \(acked)", newline: false)
            }
        }
        await client.flush()
        let deadline = ContinuousClock.now + .seconds(60)
        while outcome.withLock({ $0.acked + $0.failed }) < records, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let produceSeconds = seconds(since: start)
        let produced = outcome.withLock { $0 }
        if !quiet { printError("\r   submitted \(records)/\(records), acknowledged \(produced.acked)        ") }
        if produced.failed > 0 || produced.acked < records {
            throw KafkaError(.invalidArgument, "demo: \(produced.failed) record(s) failed, \(records - produced.acked - produced.failed) unanswered; first error: \(produced.firstError?.message ?? "none")")
        }
        let mb = Double(produced.bytes) / 1_000_000
        say(cFormat("   %ld records (%.1f MB of keys+values) in %.2fs: %.0f records/s, %.1f MB/s",
                   records, mb, produceSeconds, Double(records) / produceSeconds, mb / produceSeconds))
        summary.rows.append(.init(step: "produce async", detail: cFormat("%.1f MB/s", mb / produceSeconds), seconds: produceSeconds, records: records))

        start = .now
        for i in 0..<DemoCommand.syncRecords {
            let n = records + i
            let event = DemoCommand.orderEvent(n, timestamp: wallClockMilliseconds())
            let t0 = ContinuousClock.now
            let done = try await client.produce(KafkaRecord(topic: topic, key: event.key, value: event.value, headers: [header]))
            say("   produce \(event.key) -> partition \(done.partition.map(String.init) ?? "?") offset \(done.offset.map(String.init) ?? "?") in \(ms(since: t0))")
        }
        summary.rows.append(.init(step: "produce sync", detail: "one at a time", seconds: seconds(since: start), records: DemoCommand.syncRecords))
        let total = records + DemoCommand.syncRecords

        // 4. Fetch back per partition.
        say("4. Reading everything back with fetch, partition by partition")
        start = .now
        let ends = try await client.listOffsets(topic: topic, at: .latest)
        var keyPartition: [String: Int32] = [:]
        var misplaced = 0
        var fetched = 0
        for partition in 0..<DemoCommand.partitions {
            let end = ends[partition]?.offset ?? 0
            var offset: Int64 = 0
            var count = 0
            while offset < end {
                let position = KafkaFetchPosition(topic: topic, partition: partition, offset: offset)
                let result = await client.fetchPartitions([position], options: KafkaFetchOptions(maxBytes: 1_000_000))
                guard let answer = try result[position]?.get() else { break }
                for record in answer.records {
                    guard let key = record.keyString else { continue }
                    if let seen = keyPartition[key] {
                        if seen != partition { misplaced += 1 }
                    } else {
                        keyPartition[key] = partition
                    }
                }
                count += answer.records.count
                guard answer.nextOffset > offset else { break }
                offset = answer.nextOffset
            }
            fetched += count
            // The offset reached, not ListOffsets' answer: Tansu's LATEST is short of the end after a multi-record batch.
            say("   partition \(partition): \(count) records (offsets 0..<\(offset))")
        }
        let fetchSeconds = seconds(since: start)
        let consistency = misplaced == 0 ? "every key on exactly one partition" : "\(misplaced) records on a different partition than their key's first"
        say(cFormat("   %ld records in %.2fs: %.0f records/s; ", fetched, fetchSeconds, Double(fetched) / fetchSeconds)
            + "\(keyPartition.count) distinct keys, \(consistency)")
        guard fetched == total, misplaced == 0 else {
            throw KafkaError(.invalidArgument, "demo: fetched \(fetched) of \(total) records, \(misplaced) on an inconsistent partition")
        }
        summary.rows.append(.init(step: "fetch", detail: "\(keyPartition.count) keys, partitions consistent", seconds: fetchSeconds, records: fetched))

        // 5. Consumer group with two members (two clients: one member of a group per client).
        let groupID = "\(topic)-group"
        say("5. Consuming with consumer group \(groupID): 2 members")
        start = .now
        let groupResult = try await consumeWithGroup(client, topic: topic, groupID: groupID, expected: total)
        let groupSeconds = seconds(since: start)
        for (member, partitions) in groupResult.perMember.enumerated() {
            let detail = partitions.sorted { $0.key < $1.key }.map { "p\($0.key)=\($0.value)" }.joined(separator: " ")
            say("   member \(member + 1): \(partitions.values.reduce(0, +)) records (\(detail.isEmpty ? "no partitions" : detail))")
        }
        say(cFormat("   %ld distinct records consumed and committed in %.2fs (incl. joining): %.0f records/s",
                   groupResult.distinct, groupSeconds, Double(groupResult.distinct) / groupSeconds))
        guard groupResult.distinct == total else {
            throw KafkaError(.invalidArgument, "demo: the group consumed \(groupResult.distinct) of \(total) records")
        }
        let split = groupResult.perMember.map { String($0.values.reduce(0, +)) }.joined(separator: "+")
        summary.rows.append(.init(step: "consumer group", detail: "2 members: \(split)", seconds: groupSeconds, records: groupResult.distinct))

        // 6. Transactions: one committed, one aborted by a throwing closure.
        say("6. Transactions: one committed, one aborted")
        start = .now
        let (transactionalID, committed) = try await client.withTransaction { txn in
            var produced: [KafkaRecord] = []
            for i in 0..<DemoCommand.transactionRecords {
                produced.append(try await txn.produce(KafkaRecord(topic: topic, key: "txn-\(i)", value: "committed in a transaction")))
            }
            return (txn.transactionalID, produced)
        }
        let placed = committed.map { "p\($0.partition.map(String.init) ?? "?")@\($0.offset.map(String.init) ?? "?")" }.joined(separator: " ")
        say("   committed \(committed.count) records as transactional id \(transactionalID): \(placed)")
        do {
            try await client.withTransaction { txn in
                _ = try await txn.produce(KafkaRecord(topic: topic, key: "txn-aborted", value: "never visible to read_committed readers"))
                throw DemoAbort()
            }
        } catch let error as KafkaTransactionError where error.closureError is DemoAbort && error.abortError == nil {
            say("   the closure threw after producing 1 record: the transaction was aborted")
        }
        summary.rows.append(.init(
            step: "transactions", detail: "1 committed, 1 aborted", seconds: seconds(since: start), records: DemoCommand.transactionRecords))
    }

    /// Thrown inside the demo's second transaction to show an abort.
    private struct DemoAbort: Error {}

    private struct GroupResult: Sendable {
        var perMember: [[Int32: Int]]
        var distinct: Int
    }

    private func consumeWithGroup(_ client: KafkaClient, topic: String, groupID: String, expected: Int) async throws -> GroupResult {
        let tally = DemoGroupTally()
        let configuration = KafkaConsumerGroupConfiguration(
            groupID: groupID, topics: [topic], sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1),
            offsetResetPolicy: .earliest)
        func handler(_ member: Int) -> @Sendable (KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            { batch in
                tally.state.withLock { state in
                    state.perMember[member][batch.partition, default: 0] += batch.records.count
                    for record in batch.records { if let offset = record.offset { state.seen[batch.partition, default: []].insert(offset) } }
                }
                return .commit
            }
        }
        let firstHandler = handler(0)
        let secondHandler = handler(1)
        let secondConfiguration = try global.makeConfiguration(file: try await global.loadConfigFile())
        let quiet = quiet
        try await KafkaClient.withRunningClient(
            configuration: secondConfiguration, logger: global.makeLogger(), readyTimeout: .milliseconds(global.connectTimeoutMs)
        ) { second in
            let first = try client.startConsumerGroup(configuration, handler: firstHandler)
            let other = try second.startConsumerGroup(configuration, handler: secondHandler)
            let deadline = ContinuousClock.now + .seconds(120)
            var lastProgress = ContinuousClock.now
            var assignment: ([KafkaTopicPartition], [KafkaTopicPartition]) = ([], [])
            while ContinuousClock.now < deadline {
                let distinct = tally.state.withLock { $0.seen.values.reduce(0) { $0 + $1.count } }
                let (a, b) = (first.assignedPartitions, other.assignedPartitions)
                if !a.isEmpty || !b.isEmpty { assignment = (a, b) }
                if distinct >= expected { break }
                if !quiet, ContinuousClock.now - lastProgress > .milliseconds(250) {
                    lastProgress = .now
                    printError("\r   consumed \(distinct)/\(expected)", newline: false)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            if !quiet {
                printError("\r   consumed \(tally.state.withLock { $0.seen.values.reduce(0) { $0 + $1.count } })/\(expected)        ")
                let names = { (p: [KafkaTopicPartition]) in p.map { "p\($0.partition)" }.sorted().joined(separator: ",") }
                print("   last assignment seen: member 1 [\(names(assignment.0))], member 2 [\(names(assignment.1))]")
            }
            async let stopFirst: Void = first.stop()
            async let stopOther: Void = other.stop()
            _ = await (stopFirst, stopOther)
        }
        return tally.state.withLock { GroupResult(perMember: $0.perMember, distinct: $0.seen.values.reduce(0) { $0 + $1.count }) }
    }
}

/// What the demo's group members consumed: per member the record count per partition, and the distinct offsets.
private final class DemoGroupTally: Sendable {
    let state = Mutex<(perMember: [[Int32: Int]], seen: [Int32: Set<Int64>])>(([[:], [:]], [:]))
}

/// Writes to stderr without a trailing newline (progress lines).
private func printError(_ message: String, newline: Bool) {
    writeToStandardError(message + (newline ? "\n" : ""))
}
