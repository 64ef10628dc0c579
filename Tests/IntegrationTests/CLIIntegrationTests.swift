import Foundation
import Testing
import Klife

/// `klife topics …` run as a subprocess against Tansu.
@Suite struct CLIIntegrationTests {
    /// The `klife` executable built next to the test bundle (`swift build --build-tests` builds both).
    static func klifeExecutable() throws -> String {
        var candidates: [URL] = []
        if let first = CommandLine.arguments.first {
            candidates.append(URL(fileURLWithPath: first).deletingLastPathComponent().appendingPathComponent("klife"))
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(repository.appendingPathComponent(".build/debug/klife"))
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw MissingExecutable(searched: candidates.map(\.path))
        }
        return found.path
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        let searched: [String]
        var description: String { "the klife executable was not found (looked at \(searched)); run `swift build --build-tests` first" }
    }

    func klife(_ arguments: [String], check: Bool = true) async throws -> ScriptProcess.Result {
        try await ScriptProcess.run(try Self.klifeExecutable(), arguments, timeout: 60, check: check)
    }

    /// What `klife --version` starts with.
    enum KlifeVersion { static let expectedPrefix = "0." }

    @Test func topicsCommandsRoundTrip() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let name = TestBrokers.uniqueName("cli")
        let global = ["--bootstrap", bootstrap]

        let created = try await klife(["topics", "create", name, "--partitions", "4", "--replication-factor", "1"] + global)
        #expect(created.stdoutText.contains(name))

        let listed = try await klife(["topics", "list"] + global)
        let lines = listed.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(name)\t4"), "list output: \(listed.stdoutText)")
        #expect(lines.allSatisfy { $0.split(separator: "\t").count == 2 })

        let described = try await klife(["topics", "describe", name] + global)
        #expect(described.stdoutText.contains("partitions\t4"))
        #expect(described.stdoutText.split(separator: "\n").filter { $0.hasPrefix("partition ") }.count == 4)

        let duplicate = try await klife(["topics", "create", name] + global, check: false)
        #expect(duplicate.status != 0)
        #expect(duplicate.stderr.contains("exists"))
        #expect(duplicate.stdoutText.isEmpty)
        let tolerated = try await klife(["topics", "create", name, "--if-not-exists"] + global)
        #expect(tolerated.stdoutText == "\(name) exists already\n")
        let configured = try await klife(["topics", "configs", name, "--set", "retention.ms=7200000", "--set", "cleanup.policy=compact"] + global)
        #expect(configured.stdoutText == "set retention.ms=7200000\nset cleanup.policy=compact\n", "\(configured.stdoutText)")
        // --all: Tansu reports the topic's own entries with source "default", so the plain listing shows none.
        let shown = try await klife(["topics", "configs", name, "--all"] + global)
        #expect(shown.stdoutText.split(separator: "\n").contains { $0.hasPrefix("retention.ms\t7200000\t") }, "\(shown.stdoutText)")
        #expect(try await klife(["topics", "configs", name, "--delete", "cleanup.policy"] + global).stdoutText == "deleted cleanup.policy\n")
        let reset = try await klife(["topics", "configs", name, "--all"] + global)
        #expect(!reset.stdoutText.contains("cleanup.policy\tcompact"), "\(reset.stdoutText)")
        let badSet = try await klife(["topics", "configs", name, "--set", "novalue"] + global, check: false)
        #expect(badSet.status != 0)
        #expect(badSet.stderr.contains("KEY=VALUE"))
        let version = try await klife(["--version"])
        #expect(version.stdoutText.hasPrefix(KlifeVersion.expectedPrefix))

        _ = try await klife(["topics", "delete", name] + global)
        let after = try await klife(["topics", "list"] + global)
        #expect(!after.stdoutText.split(separator: "\n").contains { $0.hasPrefix("\(name)\t") })

        let missing = try await klife(["topics", "describe", name] + global, check: false)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("does not exist"))
    }

    /// `--sasl-mechanism OAUTHBEARER` takes its token from $KLIFE_SASL_OAUTH_TOKEN only (an option would show
    /// in `ps`): without it the command is refused before connecting. (In a subprocess: setenv in the test
    /// process would race other tests' getenv.)
    @Test func oauthBearerNeedsItsTokenInTheEnvironment() async throws {
        let refused = try await ScriptProcess.run(
            "/usr/bin/env", ["-u", "KLIFE_SASL_OAUTH_TOKEN", try Self.klifeExecutable(), "topics", "list", "--bootstrap", "127.0.0.1:9", "--sasl-mechanism", "OAUTHBEARER"],
            timeout: 30, check: false)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("KLIFE_SASL_OAUTH_TOKEN"), "\(refused.stderr)")
    }

    @Test func bootstrapComesFromTheEnvironmentVariable() async throws {
        // KLIFE_BOOTSTRAP is read when --bootstrap is absent; a malformed value is a usage error.
        let bad = try await ScriptProcess.run(
            "/usr/bin/env", ["KLIFE_BOOTSTRAP=not-an-address", try Self.klifeExecutable(), "topics", "list"], timeout: 30, check: false)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("not-an-address"))

        let good = try await ScriptProcess.run(
            "/usr/bin/env", ["KLIFE_BOOTSTRAP=\(try TestBrokers.tansuBootstrap)", try Self.klifeExecutable(), "topics", "list"], timeout: 30)
        #expect(good.status == 0)
    }

    /// The `--json` summary a `klife bench` run prints as its last line.
    static func benchSummary(_ result: ScriptProcess.Result) throws -> [String: Any] {
        let line = try #require(result.stdoutText.split(separator: "\n").last.map(String.init))
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// A bench summary of `mode` over `records` records, with ordered latency percentiles.
    static func expectLatencies(
        _ object: [String: Any], mode: String, records: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(object["mode"] as? String == mode, sourceLocation: sourceLocation)
        #expect(object["records"] as? Int == records, sourceLocation: sourceLocation)
        let p50 = try #require(object["p50_us"] as? Double, sourceLocation: sourceLocation)
        let p99 = try #require(object["p99_us"] as? Double, sourceLocation: sourceLocation)
        let max = try #require(object["max_us"] as? Double, sourceLocation: sourceLocation)
        #expect(p50 > 0 && p50 <= p99 && p99 <= max, sourceLocation: sourceLocation)
    }

    @Test func benchRoundtripMeasuresEndToEndLatency() async throws {
        // Records produced while a reader fetches from the log end: every one arrives, with a latency.
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("bench-roundtrip")
        let result = try await klife([
            "bench", "roundtrip", "--topic", topic, "--records", "3000", "--record-size", "64", "--partitions", "2",
            "--concurrency", "4", "--timeout", "30", "--json", "--bootstrap", bootstrap,
        ])
        let object = try Self.benchSummary(result)
        try Self.expectLatencies(object, mode: "roundtrip", records: 3000)
    }

    @Test func benchProduceDeliversEveryRecord() async throws {
        // Two callers share the one delivery callback; the run ends only once every record is acknowledged.
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("bench-produce")
        let result = try await klife([
            "bench", "produce", "--topic", topic, "--records", "5000", "--record-size", "100", "--partitions", "2",
            "--concurrency", "2", "--compression", "zstd", "--json", "--bootstrap", bootstrap,
        ])
        let object = try Self.benchSummary(result)
        #expect(object["mode"] as? String == "produce")
        #expect(object["records"] as? Int == 5000)
        let fetched = try await klife([
            "fetch", "--topic", topic, "--partition", "1", "--offset", "2499", "--format", "value", "--bootstrap", bootstrap,
        ])
        #expect(fetched.stdoutText.split(separator: "\n").count == 1)  // offsets 0..<2500 on each partition
    }

    @Test func benchConsumeTakesExactlyTheRecordsAskedFor() async throws {
        // 6 MB over two partitions, more than one response's worth (the bench asks for 1 MiB a partition), so
        // the next fetch goes out while the last response is read. Whether the run wants every record or stops
        // inside a response, it counts each record once.
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("bench-consume")
        _ = try await klife([
            "bench", "produce", "--topic", topic, "--records", "6000", "--record-size", "1000", "--partitions", "2",
            "--json", "--bootstrap", bootstrap,
        ])
        for records in [6000, 4321] {
            let result = try await klife([
                "bench", "consume", "--topic", topic, "--records", String(records), "--record-size", "1000",
                "--timeout", "30", "--json", "--bootstrap", bootstrap,
            ])
            let object = try Self.benchSummary(result)
            #expect(object["mode"] as? String == "consume")
            #expect(object["records"] as? Int == records)
            #expect(object["bytes"] as? Int == records * 1000)
        }
        // One record more than the topic holds: it must give up with 6000, so no record was counted twice.
        let tooMany = try await klife([
            "bench", "consume", "--topic", topic, "--records", "6001", "--record-size", "1000", "--timeout", "2",
            "--json", "--bootstrap", bootstrap,
        ], check: false)
        #expect(tooMany.status != 0)
        #expect(tooMany.stderr.contains("consumed 6000 of 6001 records"))
    }

    @Test func benchSyncProduceReportsTheCallersLatencies() async throws {
        // Four callers, each waiting for its record before the next, record into one shared histogram.
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("bench-sync")
        let result = try await klife([
            "bench", "produce", "--sync", "--topic", topic, "--records", "200", "--record-size", "100", "--partitions", "1",
            "--concurrency", "4", "--linger-ms", "0", "--json", "--bootstrap", bootstrap,
        ])
        let object = try Self.benchSummary(result)
        try Self.expectLatencies(object, mode: "latency", records: 200)
        let last = try await klife([
            "fetch", "--topic", topic, "--partition", "0", "--offset", "200", "--format", "value", "--bootstrap", bootstrap,
        ])
        #expect(last.stdoutText.split(separator: "\n").count == 1)  // the warm-up record, then 200: offsets 0...200
    }

    @Test func unreachableBrokerFailsWithAMessage() async throws {
        let result = try await klife(["topics", "list", "--bootstrap", "127.0.0.1:1", "--connect-timeout-ms", "1500"], check: false)
        #expect(result.status != 0)
        #expect(result.stderr.contains("127.0.0.1:1"))
    }

    @Test func badOptionsAreUsageErrors() async throws {
        for arguments in [
            ["topics", "create", "x", "--partitions", "0"],
            ["topics", "list", "--sasl-mechanism", "GSSAPI", "--sasl-username", "u", "--sasl-password", "p"],
            ["topics", "list", "--sasl-mechanism", "PLAIN"],
            ["topics", "list", "--tls-cert", "/tmp/c.pem"],
            ["topics", "list", "--connect-timeout-ms", "0"],
        ] {
            let result = try await klife(arguments + ["--bootstrap", "127.0.0.1:1"], check: false)
            #expect(result.status != 0, "\(arguments) succeeded")
            #expect(!result.stderr.isEmpty)
        }
    }
}

extension CLIIntegrationTests {
    /// A FIFO that stands for a person typing into klife's stdin. Opened read-write here first, so the FIFO has a
    /// writer before klife opens it (posix_spawn returns only once the child has opened its stdin, so a
    /// write-only open after it would never be reached); not inherited, so klife sees the end when it closes.
    final class InputPipe: @unchecked Sendable {  // used by one task at a time
        let path: String
        private var descriptor: Int32

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("klife-fifo-\(UUID().uuidString)").path
            #expect(mkfifo(path, 0o600) == 0)
            descriptor = open(path, O_RDWR | O_CLOEXEC)
            #expect(descriptor >= 0)
        }

        func write(_ text: String) {
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) } == bytes.count)
        }

        /// The input ends.
        func close() {
            if descriptor >= 0 { Foundation.close(descriptor) }
            descriptor = -1
        }

        deinit {
            close()
            unlink(path)
        }
    }

    /// A line typed (or trickling in) is produced at once, not when input ends or 10,000 lines have come.
    @Test func produceSendsEachLineBeforeTheInputEnds() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-interactive")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let input = try InputPipe()
        let running = try ScriptProcess.start(
            try Self.klifeExecutable(), ["produce", "--bootstrap", bootstrap, "--topic", topic, "--partition", "0"], stdinPath: input.path)
        input.write("typed\n")
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            try await ClientTestSupport.eventuallyOrFail("the typed line is in the topic while input stays open", timeout: .seconds(20)) {
                let records = (try? await client.fetch(topic: topic, partition: 0, offset: 0)) ?? []
                return records.map(\.valueString) == ["typed"]
            }
        }
        try await ClientTestSupport.eventuallyOrFail("the result is printed before more input comes", timeout: .seconds(20)) {
            running.stdoutSoFar == "0\t0\n"
        }
        input.close()
        let result = try await running.finish()
        #expect(result.status == 0)
    }

    /// Ctrl-C while `produce` waits for input ends the input, not the process: what was read is delivered,
    /// a summary says it was interrupted, and the status is 130.
    @Test func produceEndsItsInputOnInterrupt() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-produce-sigint")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let input = try InputPipe()
        let running = try ScriptProcess.start(
            try Self.klifeExecutable(), ["produce", "--bootstrap", bootstrap, "--topic", topic, "--partition", "0"], stdinPath: input.path)
        input.write("one\ntwo\n")
        try await ClientTestSupport.eventuallyOrFail("both lines are produced while input stays open", timeout: .seconds(30)) {
            running.stdoutSoFar == "0\t0\n0\t1\n"
        }
        running.signal(SIGINT)
        let result = try await running.finish(timeout: 30, check: false)
        #expect(result.status == 130, "\(result.stderr)")
        #expect(result.stderr.contains("produced 2 of 2 records") && result.stderr.contains("interrupted"), "\(result.stderr)")
    }

    /// Many lines, several chunks in flight and a buffer too small for one chunk: the records reach the
    /// partition in input order (the chunks are handed to the producer one after the other).
    @Test func produceKeepsInputOrderAcrossChunks() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-order")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("klife-producer-\(UUID().uuidString).conf")
        try "max_buffered_records=3000\n".write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let lines = (0..<25_000).map { "line-\($0)" }
        let result = try await ScriptProcess.run(
            try Self.klifeExecutable(),
            ["produce", "--bootstrap", bootstrap, "--topic", topic, "--partition", "0", "--quiet", "--producer-config", config.path],
            stdin: Data((lines.joined(separator: "\n") + "\n").utf8), timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let values = try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            var values: [String] = []
            var offset: Int64 = 0
            while values.count < lines.count {
                let fetched = await client.fetchPartitions(
                    [KafkaFetchPosition(topic: topic, partition: 0, offset: offset)], options: KafkaFetchOptions(maxBytes: 1_000_000))
                let partition = try #require(fetched.values.first).get()
                if partition.records.isEmpty { break }
                values += partition.records.compactMap(\.valueString)
                offset = partition.nextOffset
            }
            return values
        }
        #expect(values.count == lines.count)
        #expect(values == lines, "first difference at \(zip(values, lines).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
    }

    /// Bytes that are not UTF-8 reach the log as they are.
    @Test func produceKeepsBinaryValues() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-binary")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let value: [UInt8] = [0x66, 0xFF, 0xFE, 0x00, 0x80]
        _ = try await ScriptProcess.run(
            try Self.klifeExecutable(), ["produce", "--bootstrap", bootstrap, "--topic", topic, "--partition", "0"],
            stdin: Data(value + [0x0A]), timeout: 60)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            let records = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(records.count == 1)
            #expect(records.first?.value.map { Array($0.readableBytesView) } == value)
        }
        // And back out as they are, with --format value.
        for command in [["fetch", "--partition", "0", "--offset", "0"], ["consume", "--offset", "earliest", "--count", "1"]] {
            let printed = try await klife(command + ["--bootstrap", bootstrap, "--topic", topic, "--format", "value"])
            #expect(Array(printed.stdout) == value + [0x0A], "\(command[0])")
        }
    }

    /// Ctrl-C stops `consume --group` cleanly: every record printed is committed (written out before its
    /// commit), the member leaves, and the exit status is 0.
    @Test func groupConsumeStopsCleanlyOnInterrupt() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-sigint")
        let group = TestBrokers.uniqueName("cli-g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            for index in 0..<5 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(index)")) }
            let running = try ScriptProcess.start(
                try Self.klifeExecutable(),
                ["consume", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--group-protocol", "classic",
                 "--format", "value", "--timeout-ms", "120000"],
                stdin: Data())
            try await ClientTestSupport.eventuallyOrFail("the 5 records were printed (written out, not buffered)", timeout: .seconds(60)) {
                running.stdoutSoFar.split(separator: "\n").count == 5
            }
            running.signal(SIGINT)
            let result = try await running.finish(timeout: 60, check: false)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutText == "r0\nr1\nr2\nr3\nr4\n")
            let committed = try await TransactionTansuTests.committedOffset(client, group: group, .init(topic: topic, partition: 0))
            #expect(committed == 5)
        }
    }

    /// A consumer group on a topic that does not exist fails at once with the cause, not after a minute's
    /// wait with exit status 0.
    @Test func groupConsumeOfAnUnknownTopicFails() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let started = ContinuousClock.now
        let result = try await klife(
            ["consume", "--bootstrap", bootstrap, "--topic", TestBrokers.uniqueName("cli-missing"), "--group", "g"], check: false)
        #expect(result.status == 1)
        #expect(result.stderr.contains("unknownTopicOrPartition") || result.stderr.contains("not"), "\(result.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}
