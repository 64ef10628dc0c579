/// The summary of one `klife bench` run: what the librdkafka harness (`Benchmarks/rdkafka`) prints too, with
/// the same JSON keys, so scripts/bench.sh compares like with like.
struct BenchReport: Sendable, Equatable {
    /// `produce`, `consume`, `latency` (synchronous produce) or `roundtrip`.
    var mode: String
    var topic: String
    var records: Int
    var recordSize: Int
    /// Value bytes moved (keys and headers are not sent by the benchmarks).
    var bytes: Int
    var partitions: Int
    var compression: String
    var acks: String
    var idempotence: Bool
    var producers: Int
    var concurrency: Int
    var elapsedSeconds: Double
    var usage: BenchProcessUsage
    var latency: BenchLatencySummary?
    var clientVersion: String = "dev"
    /// Synchronous produce with each caller's task on the producer's event loop.
    var onEventLoop = false

    var recordsPerSecond: Double { elapsedSeconds > 0 ? Double(records) / elapsedSeconds : 0 }
    /// Value megabytes (10^6 B) per second.
    var megabytesPerSecond: Double { elapsedSeconds > 0 ? Double(bytes) / 1e6 / elapsedSeconds : 0 }
    var cpuSecondsPerMillionRecords: Double { records > 0 ? usage.cpuSeconds * 1e6 / Double(records) : 0 }
    var peakResidentMegabytes: Double { Double(usage.peakResidentBytes) / 1_048_576 }
}

extension BenchReport {
    /// One JSON object on one line, keys in the harness's order; missing latencies are `null`.
    var json: String {
        var fields: [(String, String)] = [
            ("client", Self.quoted("klife")),
            ("client_version", Self.quoted(clientVersion)),
            ("mode", Self.quoted(mode)),
            ("topic", Self.quoted(topic)),
            ("records", String(records)),
            ("record_size", String(recordSize)),
            ("bytes", String(bytes)),
            ("partitions", String(partitions)),
            ("compression", Self.quoted(compression)),
            ("acks", Self.quoted(acks)),
            ("idempotence", idempotence ? "true" : "false"),
            ("producers", String(producers)),
            ("concurrency", String(concurrency)),
            ("on_event_loop", onEventLoop ? "true" : "false"),
            ("elapsed_s", Self.number(elapsedSeconds, 6)),
            ("records_per_s", Self.number(recordsPerSecond, 1)),
            ("mb_per_s", Self.number(megabytesPerSecond, 3)),
            ("cpu_user_s", Self.number(usage.userSeconds, 3)),
            ("cpu_sys_s", Self.number(usage.systemSeconds, 3)),
            ("cpu_s", Self.number(usage.cpuSeconds, 3)),
            ("cpu_s_per_million", Self.number(cpuSecondsPerMillionRecords, 4)),
            ("peak_rss_mb", Self.number(peakResidentMegabytes, 1)),
        ]
        let latencyFields: [(String, Double?)] = [
            ("p50_us", latency?.p50), ("p99_us", latency?.p99), ("p999_us", latency?.p999),
            ("max_us", latency?.max), ("mean_us", latency?.mean),
        ]
        fields += latencyFields.map { ($0.0, $0.1.map { Self.number($0, 1) } ?? "null") }
        return "{" + fields.map { "\(Self.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// The human-readable summary `klife bench` prints on stdout.
    var table: String {
        var what = "\(records.grouped) records × \(recordSize.grouped) B"
        switch mode {
        case "consume": what += " from \(topic) (\(partitions) partition\(partitions == 1 ? "" : "s"))"
        default:
            what += " to \(topic) (\(partitions) partition\(partitions == 1 ? "" : "s"), \(compression), acks=\(acks)"
            what += idempotence ? ", idempotent" : ""
            if producers > 1 { what += ", \(producers) producers" }
            if concurrency > 1 || mode == "latency" || mode == "roundtrip" { what += ", \(concurrency) concurrent" }
            if onEventLoop { what += " on the producer's event loop" }
            what += ")"
        }
        var rows: [(String, String)] = [
            ("records/s", Self.fixed(recordsPerSecond, 0)),
            ("MB/s", Self.fixed(megabytesPerSecond, 1)),
            ("elapsed", Self.fixed(elapsedSeconds, 2) + " s"),
        ]
        if let latency {
            let label = mode == "roundtrip" ? "end-to-end" : "latency"
            rows += [
                ("\(label) p50", Self.fixed(latency.p50, 0) + " µs"),
                ("\(label) p99", Self.fixed(latency.p99, 0) + " µs"),
                ("\(label) p99.9", Self.fixed(latency.p999, 0) + " µs"),
                ("\(label) max", Self.fixed(latency.max, 0) + " µs"),
            ]
        }
        rows += [
            ("CPU user+sys", Self.fixed(usage.cpuSeconds, 2) + " s (" + Self.fixed(cpuSecondsPerMillionRecords, 2)
                + " s per million records)"),
            ("peak RSS", Self.fixed(peakResidentMegabytes, 1) + " MB"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        let body = rows.map { "  " + $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }
        return (["klife bench \(mode): \(what)"] + body).joined(separator: "\n")
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A JSON number with at most `digits` decimals (no exponent, no trailing noise).
    static func number(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "null" }
        return fixed(value, digits, grouping: false)
    }

    /// `value` rounded to `digits` decimals, thousands grouped with commas unless `grouping` is false.
    static func fixed(_ value: Double, _ digits: Int, grouping: Bool = true) -> String {
        guard value.isFinite else { return String(value) }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let integerPart = UInt64(scaled / scale)
        let fractionPart = UInt64(scaled - Double(integerPart) * scale)
        var text = grouping ? Int(integerPart).grouped : String(integerPart)
        if digits > 0 {
            let fraction = String(fractionPart)
            text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return (value < 0 && scaled != 0 ? "-" : "") + text
    }
}

extension Int {
    /// 1234567 → "1,234,567".
    var grouped: String {
        let digits = String(self.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (self < 0 ? "-" : "") + out
    }
}
