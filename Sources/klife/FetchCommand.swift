import ArgumentParser
import Klife

/// `klife fetch`: one fetch of one partition, printed one record per line.
struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch the records of one partition from an offset (one Fetch request, no group).",
        discussion: """
            Prints one line per record: a JSON object with topic, partition, offset, key, value (UTF-8 \
            strings, null when absent; keyBase64/valueBase64 hold the exact bytes of one that is not UTF-8), \
            headers ([[key, value], …]) and timestamp; or only the value with --format value. An offset at the end of the partition prints nothing.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Topic.") var topic: String
    @Option(name: .long, help: "Partition.") var partition: Int32
    @Option(name: .long, help: "First offset to return.") var offset: Int64
    @Option(name: .customLong("max-bytes"), help: "Most bytes of records to fetch.") var maxBytes: Int = KafkaFetchOptions.defaultFetchMaxBytes
    @Option(name: .long, help: "read_committed (default) or read_uncommitted.") var isolation: RecordOutputFormat.Isolation = .readCommitted
    @Option(name: .long, help: "json (default; keys and values as text) or value (the value's bytes as they are).") var format: RecordOutputFormat = .json

    func validate() throws {
        guard partition >= 0 else { throw ValidationError("--partition must be >= 0") }
        guard offset >= 0 else { throw ValidationError("--offset must be >= 0") }
        guard maxBytes > 0 else { throw ValidationError("--max-bytes must be > 0") }
    }

    func run() async throws {
        try await runReportingErrors {
            let options = KafkaFetchOptions(isolationLevel: isolation.level, maxBytes: maxBytes)
            let records = try await global.withClient { [topic, partition, offset] client in
                try await client.fetch(topic: topic, partition: partition, offset: offset, options: options)
            }
            var out: [UInt8] = []
            for record in records { format.append(record, to: &out) }
            writeToStandardOutput(bytes: out)
        }
    }
}

/// How `klife fetch` and `klife consume` print a record.
enum RecordOutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case json
    case value

    enum Isolation: String, ExpressibleByArgument, CaseIterable, Sendable {
        case readCommitted = "read_committed"
        case readUncommitted = "read_uncommitted"

        var level: KafkaIsolationLevel { self == .readCommitted ? .readCommitted : .readUncommitted }
    }

    /// Appends `record`'s line: `value` writes the value's bytes as they are (binary-safe, as kcat does),
    /// `json` a JSON object (keys, values and headers as text; bytes that are not UTF-8 become U+FFFD, and a key
    /// or value that is not UTF-8 also comes exact in `keyBase64` / `valueBase64`).
    func append(_ record: KafkaRecord, to out: inout [UInt8]) {
        switch self {
        case .value:
            if let value = record.value { out.append(contentsOf: value.readableBytesView) }
        case .json:
            out.append(contentsOf: line(for: record).utf8)
        }
        out.append(UInt8(ascii: "\n"))
    }

    func line(for record: KafkaRecord) -> String {
        switch self {
        case .value:
            return record.valueString ?? ""
        case .json:
            var s = "{\"topic\":" + Self.json(record.topic)
            s += ",\"partition\":\(record.partition ?? -1)"
            s += ",\"offset\":\(record.offset ?? -1)"
            s += ",\"key\":" + (record.keyString.map(Self.json) ?? "null")
            if let key = record.key, let encoded = Self.base64IfNotUTF8(key.readableBytesView) { s += ",\"keyBase64\":\"\(encoded)\"" }
            s += ",\"value\":" + (record.valueString.map(Self.json) ?? "null")
            if let value = record.value, let encoded = Self.base64IfNotUTF8(value.readableBytesView) { s += ",\"valueBase64\":\"\(encoded)\"" }
            s += ",\"headers\":["
            s += record.headers.map { "[" + Self.json($0.key) + "," + ($0.valueString.map(Self.json) ?? "null") + "]" }.joined(separator: ",")
            s += "],\"timestamp\":" + (record.timestamp.map { String($0) } ?? "null")
            return s + "}"
        }
    }

    /// The bytes in base64 when they are not valid UTF-8 (their text form then lost bytes to U+FFFD), else nil.
    static func base64IfNotUTF8(_ bytes: some Collection<UInt8>) -> String? {
        guard String(validating: bytes, as: UTF8.self) == nil else { return nil }
        return base64(Array(bytes))
    }

    /// Standard base64 with padding (RFC 4648), without Foundation (see ProcessIO.swift).
    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[Int((value >> (18 - 6 * UInt32(position))) & 0x3F)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON string literal.
    static func json(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
