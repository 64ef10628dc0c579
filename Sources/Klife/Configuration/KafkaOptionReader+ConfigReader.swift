import Configuration

/// Reads Klife options from a swift-configuration `ConfigReader` and collects every problem with the key's
/// full path, so one error can list all of them.
///
/// swift-configuration returns nil both for a missing key and for a value of the wrong type. To tell them
/// apart, a key that yields nothing as the expected type is probed as every other type: a value found that
/// way is reported as a wrong type instead of being silently replaced by the default.
struct KafkaOptionReader {
    let reader: ConfigReader
    /// Key components from the caller's reader to this scope, e.g. `["producers", "fast"]`.
    let path: [String]
    private let sink: ProblemSink

    /// Problems collected across all scopes derived from one root reader.
    final class ProblemSink {
        var problems: [String] = []
    }

    init(_ reader: ConfigReader, path: [String] = []) {
        self.reader = reader
        self.path = path
        self.sink = ProblemSink()
    }

    private init(_ reader: ConfigReader, path: [String], sink: ProblemSink) {
        self.reader = reader
        self.path = path
        self.sink = sink
    }

    var problems: [String] { sink.problems }

    /// A reader for the section `components` below this one (names may contain dots, so components are kept).
    func scoped(_ components: String...) -> KafkaOptionReader {
        KafkaOptionReader(reader.scoped(to: ConfigKey(components)), path: path + components, sink: sink)
    }

    /// The full dotted path of `key`, as error messages show it.
    func fullPath(_ key: String) -> String {
        (path + [key]).joined(separator: ".")
    }

    func report(_ key: String, _ problem: String) {
        sink.problems.append("\(fullPath(key)): \(problem)")
    }

    /// Throws the collected problems as one ``KafkaError`` (code ``KafkaError/Code/invalidConfiguration``).
    func throwIfProblems() throws {
        guard !sink.problems.isEmpty else { return }
        throw KafkaError(.invalidConfiguration, "Invalid configuration: " + sink.problems.joined(separator: "; "))
    }

    // MARK: - Typed reads

    func string(_ key: String, isSecret: Bool = false) -> String? {
        if let value = reader.string(forKey: ConfigKey([key]), isSecret: isSecret) { return value }
        reportWrongType(key, expected: "a string")
        return nil
    }

    func int(_ key: String) -> Int? {
        if let value = reader.int(forKey: ConfigKey([key])) { return value }
        reportWrongType(key, expected: "an integer")
        return nil
    }

    func bool(_ key: String) -> Bool? {
        if let value = reader.bool(forKey: ConfigKey([key])) { return value }
        reportWrongType(key, expected: "a boolean (true or false)")
        return nil
    }

    /// A list: a JSON array of strings, or one string of comma-separated entries (environment, CLI).
    func stringArray(_ key: String) -> [String]? {
        if let value = reader.stringArray(forKey: ConfigKey([key])) {
            return value.map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        }
        // A JSON file or in-memory provider keeps a string as a string: split it as the environment does.
        if let text = reader.string(forKey: ConfigKey([key])) {
            return text.split(separator: ",").map { String($0).trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        }
        reportWrongType(key, expected: "a list of strings")
        return nil
    }

    /// A duration: a string with a unit (`"250ms"`, `"30s"`, `"2m"`, `"1h"`, `"500us"`) or an integer number
    /// of milliseconds, Klife's unit for every `*_ms` option.
    func duration(_ key: String) -> Duration? {
        let configKey = ConfigKey([key])
        if let milliseconds = reader.int(forKey: configKey) { return .milliseconds(milliseconds) }
        if let text = reader.string(forKey: configKey) {
            if let duration = Self.parseDuration(text) { return duration }
            report(key, "expected a duration such as \"250ms\", \"30s\" or a number of milliseconds, got \"\(text)\"")
            return nil
        }
        reportWrongType(key, expected: "a duration such as \"250ms\", \"30s\" or a number of milliseconds")
        return nil
    }

    /// A value parsed from a string by `parse`; `expected` describes the accepted spellings.
    func parsed<T>(_ key: String, expected: String, _ parse: (String) -> T?) -> T? {
        if let text = reader.string(forKey: ConfigKey([key])) {
            if let value = parse(text) { return value }
            report(key, "expected \(expected), got \"\(text)\"")
            return nil
        }
        if let number = reader.int(forKey: ConfigKey([key])) {
            if let value = parse(String(number)) { return value }
            report(key, "expected \(expected), got \(number)")
            return nil
        }
        reportWrongType(key, expected: expected)
        return nil
    }

    /// Whether any value of any type is stored under `key`.
    func contains(_ key: String) -> Bool {
        describeValue(forKey: ConfigKey([key])) != nil
    }

    private func reportWrongType(_ key: String, expected: String) {
        guard let found = describeValue(forKey: ConfigKey([key])) else { return }
        report(key, "expected \(expected), got \(found)")
    }

    /// A short description of whatever is stored under `key` (type and value), nil when nothing is.
    private func describeValue(forKey key: ConfigKey) -> String? {
        if let value = reader.string(forKey: key, isSecret: true) { return "the string \"\(value)\"" }
        if let value = reader.int(forKey: key) { return "the integer \(value)" }
        if let value = reader.double(forKey: key) { return "the number \(value)" }
        if let value = reader.bool(forKey: key) { return "the boolean \(value)" }
        if reader.stringArray(forKey: key) != nil { return "a list of strings" }
        if reader.intArray(forKey: key) != nil || reader.doubleArray(forKey: key) != nil
            || reader.boolArray(forKey: key) != nil
        {
            return "a list of numbers"
        }
        return nil
    }

    /// Parses `"250ms"`, `"30s"`, `"1.5s"`, `"2m"`, `"1h"`, `"500us"`, `"10ns"` or a bare number of milliseconds.
    static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: " ")
        let units: [(suffix: String, nanoseconds: Double)] = [
            ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
        ]
        // Longest suffix first so "ms" is not read as "m" + "s".
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count)
            // Past Int64 nanoseconds (292 years) is no usable duration; converting it would trap.
            guard let value = Double(number), value >= 0, value * unit.nanoseconds < 9.2e18 else { return nil }
            return .nanoseconds(Int64((value * unit.nanoseconds).rounded()))
        }
        guard let milliseconds = Int(trimmed) else { return nil }
        return .milliseconds(milliseconds)
    }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice.removeFirst() }
        while slice.last == character { slice.removeLast() }
        return String(slice)
    }
}
