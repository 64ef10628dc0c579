import Configuration

/// A swift-configuration snapshot of a JSON configuration file, parsed by Klife without Foundation.
///
/// Use it where swift-configuration's `JSONSnapshot` would go:
/// `ConfigReader(provider: try await FileProvider<KafkaJSONSnapshot>(filePath: "/etc/klife.json"))`.
/// swift-configuration's own `JSONSnapshot` needs Foundation's `JSONSerialization`, which loads full
/// Foundation and ICU (about 6 MB resident) into every process; Klife does not enable that trait.
///
/// Nested objects become dotted keys (`{"connection": {"clientID": "a"}}` is `connection.clientID`). Values
/// convert only to their own type: a JSON boolean is never read as a number nor a number as a boolean, so such
/// mix-ups are reported instead of silently read as 1 or 0; an integer reads as a double, a double with no
/// fraction as an integer; `null` reads as absent.
public struct KafkaJSONSnapshot: Sendable {
    /// How a JSON file is turned into configuration values.
    public struct ParsingOptions: FileParsingOptions {
        /// Decodes string values read as bytes (base64 by default).
        public var bytesDecoder: any ConfigBytesFromStringDecoder
        /// Which values are secrets (redacted in logs and access reports), by dotted key and value.
        public var secretsSpecifier: SecretsSpecifier<String, any Sendable>

        /// Parsing options with the given byte decoding and secrets.
        public init(
            bytesDecoder: some ConfigBytesFromStringDecoder = .base64,
            secretsSpecifier: SecretsSpecifier<String, any Sendable> = .none
        ) {
            self.bytesDecoder = bytesDecoder
            self.secretsSpecifier = secretsSpecifier
        }

        /// Base64 bytes, no secrets.
        public static var `default`: ParsingOptions { ParsingOptions() }
    }

    /// The name of the provider that created this snapshot.
    public let providerName: String
    /// Leaf values by dotted key.
    let values: [String: Leaf]
    let bytesDecoder: any ConfigBytesFromStringDecoder

    struct Leaf: Sendable {
        var value: KafkaJSONValue
        var isSecret: Bool
    }

    /// A snapshot of the JSON object `root`.
    init(root: [String: KafkaJSONValue], providerName: String, parsingOptions: ParsingOptions) {
        var values: [String: Leaf] = [:]
        func flatten(_ object: [String: KafkaJSONValue], prefix: String) {
            for (key, value) in object {
                let path = prefix.isEmpty ? key : prefix + "." + key
                if case .object(let child) = value {
                    flatten(child, prefix: path)
                } else {
                    let isSecret = parsingOptions.secretsSpecifier.isSecret(key: path, value: value.sendableValue)
                    values[path] = Leaf(value: value, isSecret: isSecret)
                }
            }
        }
        flatten(root, prefix: "")
        self.values = values
        self.providerName = providerName
        self.bytesDecoder = parsingOptions.bytesDecoder
    }

    /// The value of `leaf` as `type`, nil for `null`.
    func convert(_ leaf: Leaf, key: String, type: ConfigType) throws(KafkaError) -> ConfigValue? {
        let value = leaf.value
        if value == .null { return nil }
        func mismatch() -> KafkaError {
            KafkaError(.invalidConfiguration, "\(key): expected \(type.rawValue), got \(value.kindDescription)")
        }
        func elements<T>(_ convert: (KafkaJSONValue) -> T?) throws(KafkaError) -> [T] {
            guard case .array(let array) = value else { throw mismatch() }
            var result: [T] = []
            result.reserveCapacity(array.count)
            for element in array {
                guard let converted = convert(element) else { throw mismatch() }
                result.append(converted)
            }
            return result
        }
        let content: ConfigContent
        switch type {
        case .string:
            guard let string = value.stringValue else { throw mismatch() }
            content = .string(string)
        case .int:
            guard let int = value.intValue else { throw mismatch() }
            content = .int(int)
        case .double:
            guard let double = value.doubleValue else { throw mismatch() }
            content = .double(double)
        case .bool:
            guard case .bool(let bool) = value else { throw mismatch() }
            content = .bool(bool)
        case .bytes:
            guard let string = value.stringValue, let bytes = bytesDecoder.decode(string) else { throw mismatch() }
            content = .bytes(bytes)
        case .stringArray:
            content = .stringArray(try elements { $0.stringValue })
        case .intArray:
            content = .intArray(try elements { $0.intValue })
        case .doubleArray:
            content = .doubleArray(try elements { $0.doubleValue })
        case .boolArray:
            content = .boolArray(try elements { if case .bool(let bool) = $0 { bool } else { nil } })
        case .byteChunkArray:
            let decoder = bytesDecoder
            content = .byteChunkArray(try elements { $0.stringValue.flatMap { decoder.decode($0) } })
        }
        return ConfigValue(content, isSecret: leaf.isSecret)
    }
}

extension KafkaJSONSnapshot: FileConfigSnapshot {
    /// Parses `data` as a JSON document whose top level is an object.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when `data` is not JSON
    ///   (with the line and column of the problem) or its top level is not an object.
    public init(data: RawSpan, providerName: String, parsingOptions: ParsingOptions) throws {
        let root = try data.withUnsafeBytes { bytes throws(KafkaError) in try KafkaJSONValue.parseObject(bytes) }
        self.init(root: root, providerName: providerName, parsingOptions: parsingOptions)
    }

    /// The value stored under `key` as `type`.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when the stored value is not
    ///   of `type` (a boolean read as a number, a string read as a list, ...).
    public func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let encodedKey = key.components.joined(separator: ".")
        guard let leaf = values[encodedKey] else { return LookupResult(encodedKey: encodedKey, value: nil) }
        return LookupResult(encodedKey: encodedKey, value: try convert(leaf, key: encodedKey, type: type))
    }

    /// The provider name and number of values.
    public var description: String { "\(providerName)[\(values.count) values]" }

    /// The provider name and every value (secrets redacted), sorted by key.
    public var debugDescription: String {
        let shown = values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.isSecret ? "<REDACTED>" : $0.value.value.text)" }
        return "\(providerName)[\(values.count) values: \(shown.joined(separator: ", "))]"
    }
}

extension KafkaJSONValue {
    /// Parses `bytes` as a JSON document whose top level is an object.
    static func parseObject(_ bytes: UnsafeRawBufferPointer) throws(KafkaError) -> [String: KafkaJSONValue] {
        let parsed: KafkaJSONValue
        do {
            parsed = try parse(bytes)
        } catch {
            throw KafkaError(.invalidConfiguration, "The configuration is not valid JSON (\(error))", underlying: error)
        }
        guard case .object(let object) = parsed else {
            throw KafkaError(.invalidConfiguration, "The configuration's top level is \(parsed.kindDescription), not a JSON object")
        }
        return object
    }

    var isObject: Bool {
        if case .object = self { true } else { false }
    }

    var stringValue: String? {
        if case .string(let string) = self { string } else { nil }
    }

    var intValue: Int? {
        switch self {
        case .integer(let int): int
        case .double(let double): Int(exactly: double)
        default: nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .integer(let int): Double(int)
        case .double(let double): double
        default: nil
        }
    }

    /// The value as plain Swift values (`String`, `Int`, `Double`, `Bool`, arrays and dictionaries of them, nil
    /// for `null`), for secrets specifiers.
    var sendableValue: any Sendable {
        switch self {
        case .null: Optional<Int>.none as any Sendable
        case .bool(let bool): bool
        case .integer(let int): int
        case .double(let double): double
        case .string(let string): string
        case .array(let array): array.map(\.sendableValue)
        case .object(let object): object.mapValues(\.sendableValue)
        }
    }

    /// The value written back as compact JSON-like text (for descriptions).
    var text: String {
        switch self {
        case .null: "null"
        case .bool(let bool): String(bool)
        case .integer(let int): String(int)
        case .double(let double): String(double)
        case .string(let string): string
        case .array(let array): array.map(\.text).joined(separator: ",")
        case .object(let object): "{" + object.keys.sorted().joined(separator: ",") + "}"
        }
    }
}
