import Testing

@testable import klife

@Suite struct BenchReportTests {
    static let usage = BenchProcessUsage(userSeconds: 1.25, systemSeconds: 0.25, peakResidentBytes: 50 * 1_048_576)

    static func report(latency: BenchLatencySummary? = nil, mode: String = "produce") -> BenchReport {
        BenchReport(
            mode: mode, topic: "t\"1", records: 1_000_000, recordSize: 100, bytes: 100_000_000, partitions: 8,
            compression: "lz4", acks: "all", idempotence: true, producers: 1, concurrency: 4,
            elapsedSeconds: 4, usage: usage, latency: latency
        )
    }

    /// The keys, in order, of a line the librdkafka harness printed (Benchmarks/rdkafka, produce mode).
    static let harnessKeys = [
        "client", "client_version", "mode", "topic", "records", "record_size", "bytes", "partitions",
        "compression", "acks", "idempotence", "concurrency", "elapsed_s", "records_per_s", "mb_per_s",
        "cpu_user_s", "cpu_sys_s", "cpu_s", "cpu_s_per_million", "peak_rss_mb", "p50_us", "p99_us", "p999_us",
        "max_us", "mean_us",
    ]

    static func keys(of json: String) -> [String] {
        // Keys are the quoted strings followed by a colon.
        var keys: [String] = []
        var rest = Substring(json)
        while let open = rest.firstIndex(of: "\"") {
            var i = rest.index(after: open)
            var key = ""
            while rest[i] != "\"" {
                if rest[i] == "\\" { i = rest.index(after: i) }
                key.append(rest[i])
                i = rest.index(after: i)
            }
            let after = rest.index(after: i)
            if after < rest.endIndex && rest[after] == ":" { keys.append(key) }
            rest = rest[after...]
        }
        return keys
    }

    @Test func jsonHasTheHarnessKeysInOrderPlusProducersAndEventLoop() {
        let keys = Self.keys(of: Self.report().json)
        #expect(keys.filter { $0 != "producers" && $0 != "on_event_loop" } == Self.harnessKeys)
        #expect(keys.contains("producers"))
        #expect(Self.report().json.contains("\"on_event_loop\":false,"))
    }

    @Test func onEventLoopInJSONAndTable() {
        var report = Self.report(latency: .init(p50: 180, p99: 812, p999: 2000, max: 5000, mean: 201), mode: "latency")
        report.onEventLoop = true
        #expect(report.json.contains("\"concurrency\":4,\"on_event_loop\":true,"))
        #expect(report.table.hasPrefix(
            "klife bench latency: 1,000,000 records × 100 B to t\"1 (8 partitions, lz4, acks=all, idempotent, 4 concurrent on the producer's event loop)\n"))
    }

    @Test func jsonValues() {
        let json = Self.report().json
        #expect(json.hasPrefix("{\"client\":\"klife\","))
        #expect(json.contains("\"topic\":\"t\\\"1\""))
        #expect(json.contains("\"records_per_s\":250000.0,"))
        #expect(json.contains("\"mb_per_s\":25.000,"))
        #expect(json.contains("\"cpu_s\":1.500,"))
        #expect(json.contains("\"cpu_s_per_million\":1.5000,"))
        #expect(json.contains("\"peak_rss_mb\":50.0,"))
        #expect(json.contains("\"idempotence\":true,"))
        #expect(json.hasSuffix("\"p50_us\":null,\"p99_us\":null,\"p999_us\":null,\"max_us\":null,\"mean_us\":null}"))
        #expect(!json.contains("\n"))
    }

    @Test func jsonLatency() {
        let json = Self.report(latency: .init(p50: 180.04, p99: 812.5, p999: 2000, max: 5000.26, mean: 201), mode: "latency").json
        #expect(json.contains("\"mode\":\"latency\""))
        #expect(json.hasSuffix("\"p50_us\":180.0,\"p99_us\":812.5,\"p999_us\":2000.0,\"max_us\":5000.3,\"mean_us\":201.0}"))
    }

    @Test func table() {
        let table = Self.report(latency: .init(p50: 180, p99: 812, p999: 2000, max: 5000, mean: 201), mode: "latency").table
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[0] == "klife bench latency: 1,000,000 records × 100 B to t\"1 (8 partitions, lz4, acks=all, idempotent, 4 concurrent)")
        #expect(lines.contains("  records/s      250,000"))
        #expect(lines.contains("  MB/s           25.0"))
        #expect(lines.contains("  latency p99.9  2,000 µs"))
        #expect(lines.contains("  CPU user+sys   1.50 s (1.50 s per million records)"))
        #expect(lines.contains("  peak RSS       50.0 MB"))
    }

    @Test func tableWithoutLatency() {
        let table = Self.report().table
        #expect(!table.contains("p50"))
        #expect(table.contains("elapsed"))
    }

    @Test(arguments: [
        (0.0, 0, "0"), (1234567.891, 0, "1,234,568"), (1234567.891, 2, "1,234,567.89"), (0.05, 1, "0.1"),
        (2.999, 2, "3.00"), (-1.5, 1, "-1.5"), (999.96, 1, "1,000.0"), (0.0004, 3, "0.000"),
    ])
    func fixed(value: Double, digits: Int, expected: String) {
        #expect(BenchReport.fixed(value, digits) == expected)
    }

    @Test func numberHasNoGroupingAndNoInfinity() {
        #expect(BenchReport.number(1234567.5, 1) == "1234567.5")
        #expect(BenchReport.number(.infinity, 1) == "null")
        #expect(BenchReport.number(.nan, 1) == "null")
    }

    @Test func grouped() {
        #expect(0.grouped == "0")
        #expect(999.grouped == "999")
        #expect(1000.grouped == "1,000")
        #expect((-1234567).grouped == "-1,234,567")
    }
}
