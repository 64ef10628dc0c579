import Foundation
import Testing

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

        _ = try await klife(["topics", "delete", name] + global)
        let after = try await klife(["topics", "list"] + global)
        #expect(!after.stdoutText.split(separator: "\n").contains { $0.hasPrefix("\(name)\t") })

        let missing = try await klife(["topics", "describe", name] + global, check: false)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("does not exist"))
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
