import Configuration
#if canImport(FoundationEssentials)
import FoundationEssentials  // Data, URL; full Foundation would load ICU (about 6 MB resident) into every process
#else
import Foundation
#endif

/// Every key the `init(configReader:)` initialisers read, relative to the section they read from.
///
/// `<name>` stands for an entry name listed in the section's `names` key. Unknown-key checks and the
/// configuration reference test use these lists.
public enum KafkaConfigurationKeys {
    /// Keys of ``KafkaConnectionConfiguration/init(configReader:)``.
    public static let connection = [
        "bootstrapServers", "clientID", "clientRack", "connectionsPerBroker", "requestTimeout", "connectTimeout",
        "reconnectBackoff", "reconnectBackoffMax", "tcpNoDelay", "keepAlive", "maxFrameBytes",
        "tls.enabled", "tls.caCertificateFile", "tls.clientCertificateFile", "tls.clientPrivateKeyFile",
        "tls.verifyHostname", "tls.verifyCertificate", "sasl.mechanism", "sasl.username", "sasl.password", "sasl.oauthBearerToken",
    ]
    /// Keys of ``KafkaProducerConfiguration/init(name:configReader:)``.
    public static let producer = [
        "clientID", "acks", "linger", "batchSizeBytes", "deliveryTimeout", "requestTimeout", "retryBackoff",
        "maxInFlightRequests", "batchersCount", "enableIdempotence", "compression", "compressionLevel", "maxBufferedBytes",
        "maxBufferedRecords", "maxRecordBytes",
    ]
    /// Keys of ``KafkaTransactionalPoolConfiguration/init(name:configReader:)``.
    public static let transactionalPool = [
        "baseTransactionalID", "poolSize", "transactionTimeout", "deliveryTimeout", "requestTimeout", "retryBackoff",
        "compression", "compressionLevel", "maxRecordBytes",
    ]
    /// Keys of ``KafkaFetcherConfiguration/init(name:configReader:)``.
    public static let fetcher = [
        "clientID", "linger", "maxBytesPerRequest", "maxInFlightRequests", "batchersCount", "requestTimeout",
        "maxWait", "minBytes",
    ]
    /// Keys of ``KafkaTopicConfiguration/init(name:configReader:)``.
    public static let topic = ["producer", "partitioner"]
    /// Keys of ``KafkaConsumerTopicOptions/init(configReader:)``.
    public static let consumerTopic = [
        "isolationLevel", "offsetResetPolicy", "fetchMaxBytes", "maxQueueSize", "fetchInterval", "handlerCooldown",
        "maxUnackedCommits", "handlerMaxBatchSize", "mode",
    ]
    /// Keys of ``KafkaConsumerGroupConfiguration/init(configReader:)`` outside the topic option sections.
    public static let consumerGroupTopLevel = [
        "groupID", "topics", "topicPattern", "instanceID", "groupProtocol", "sessionTimeout", "rebalanceTimeout", "heartbeatInterval",
        "assignors", "isolationLevel", "offsetResetPolicy", "fetchMaxBytes", "fetcher",
    ]
    /// Every key of a consumer group, with `<topic>` for a subscribed topic.
    public static var consumerGroup: [String] {
        consumerGroupTopLevel + consumerTopic.map { "defaultTopicOptions.\($0)" } + consumerTopic.map { "topicOptions.<topic>.\($0)" }
    }
    /// Top-level keys of ``KafkaClient/Configuration/init(configReader:)`` that are not sections.
    public static let clientTopLevel = [
        "defaultProducer", "defaultTransactionalPool", "defaultFetcher", "disabledFeatures", "enableUnknownTopics",
        "metadataRefreshInterval",
    ]

    /// Every key of a client configuration, with `<name>` for entry names (e.g. `producers.<name>.linger`).
    public static var client: [String] {
        clientTopLevel + connection.map { "connection.\($0)" }
            + ["producers.names"] + producer.map { "producers.<name>.\($0)" }
            + ["transactionalPools.names"] + transactionalPool.map { "transactionalPools.<name>.\($0)" }
            + ["fetchers.names"] + fetcher.map { "fetchers.<name>.\($0)" }
            + ["topics.names"] + topic.map { "topics.<name>.\($0)" }
    }

    /// The keys of the JSON object `object` (below `scope`) that a client configuration does not read,
    /// each as its full dotted path. Entry sections count only for names listed in `names` (or the default
    /// entry's name).
    static func unknownClientKeys(in object: [String: KafkaJSONValue], path: [String]) -> [String] {
        var unknown: [String] = []
        let defaults = [
            "producers": object["defaultProducer"]?.stringValue ?? KafkaProducerConfiguration.defaultName,
            "transactionalPools": object["defaultTransactionalPool"]?.stringValue ?? KafkaTransactionalPoolConfiguration.defaultName,
            "fetchers": object["defaultFetcher"]?.stringValue ?? KafkaFetcherConfiguration.defaultName,
        ]
        let sections: [String: [String]] = [
            "producers": producer, "transactionalPools": transactionalPool, "fetchers": fetcher, "topics": topic,
        ]
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if clientTopLevel.contains(key) { continue }
            if key == "connection" {
                unknown += unknownKeys(in: value, known: connection, path: path + [key])
            } else if let entryKeys = sections[key] {
                guard case .object(let section) = value else {
                    unknown.append((path + [key]).joined(separator: "."))
                    continue
                }
                var names = Set(Self.names(section["names"]))
                if let defaultName = defaults[key] { names.insert(defaultName) }
                for (name, entry) in section.sorted(by: { $0.key < $1.key }) where name != "names" {
                    if names.contains(name) {
                        unknown += unknownKeys(in: entry, known: entryKeys, path: path + [key, name])
                    } else {
                        unknown.append((path + [key, name]).joined(separator: ".") + " (not listed in \(key).names)")
                    }
                }
            } else {
                unknown.append((path + [key]).joined(separator: "."))
            }
        }
        return unknown
    }

    /// Leaf paths of `value` (a JSON value below `path`) that are not among `known` (dotted, relative).
    static func unknownKeys(in value: KafkaJSONValue, known: [String], path: [String]) -> [String] {
        var unknown: [String] = []
        func walk(_ value: KafkaJSONValue, _ relative: [String]) {
            if case .object(let object) = value {
                for (key, child) in object.sorted(by: { $0.key < $1.key }) { walk(child, relative + [key]) }
                return
            }
            if !known.contains(relative.joined(separator: ".")) {
                unknown.append((path + relative).joined(separator: "."))
            }
        }
        walk(value, [])
        return unknown
    }

    /// The entries of a `names` list: a JSON array of strings or one comma-separated string.
    static func names(_ value: KafkaJSONValue?) -> [String] {
        switch value {
        case .array(let list): list.compactMap(\.stringValue)
        case .string(let text): text.split(separator: ",").map { trimmingSpaces($0) }
        default: []
        }
    }

    /// `text` without leading and trailing spaces and tabs.
    static func trimmingSpaces(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(text[first...last])
    }

    /// The JSON object at `scope` inside `data`.
    static func jsonObject(_ data: Data, scope: [String]) throws -> [String: KafkaJSONValue] {
        let parsed = try data.withUnsafeBytes { bytes throws(KafkaError) in try KafkaJSONValue.parseObject(bytes) }
        var current = KafkaJSONValue.object(parsed)
        for (index, component) in scope.enumerated() {
            guard case .object(let object) = current, let child = object[component] else {
                throw KafkaError(
                    .invalidConfiguration, "The configuration has no section \(scope[...index].joined(separator: "."))")
            }
            current = child
        }
        guard case .object(let object) = current else {
            throw KafkaError(.invalidConfiguration, "The configuration section \(scope.joined(separator: ".")) is not a JSON object")
        }
        return object
    }
}

extension KafkaClient.Configuration {
    /// The keys of a JSON configuration that ``init(configReader:)`` would ignore (typos, misplaced
    /// options, entries missing from a `names` list), each with its full dotted path.
    ///
    /// swift-configuration's readers cannot list keys, so this check works on the JSON text itself.
    ///
    /// - Parameters:
    ///   - data: The JSON document.
    ///   - scope: The key path of the Klife section inside the document (empty: the whole document).
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when `data` is not JSON or
    ///   has no object at `scope`.
    public static func unknownKeys(inJSON data: Data, scope: [String] = []) throws -> [String] {
        KafkaConfigurationKeys.unknownClientKeys(in: try KafkaConfigurationKeys.jsonObject(data, scope: scope), path: scope)
    }

    /// Loads a client configuration from a JSON file, rejecting unknown keys, with optional overrides.
    ///
    /// Sources in order of precedence: `overrides` (for example
    /// `EnvironmentVariablesProvider()` or `CommandLineArgumentsProvider()`), then the file.
    ///
    /// - Parameters:
    ///   - path: The JSON file.
    ///   - scope: The key path of the Klife section inside the file (empty: the whole file). Overrides are
    ///     read under the same scope (e.g. `KLIFE_CONNECTION_CLIENT_ID` for scope `["klife"]`).
    ///   - overrides: Providers consulted before the file.
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when the file cannot be
    ///   read, is not JSON, holds unknown keys (all listed with their paths) or values of the wrong type.
    public static func load(
        jsonFile path: String, scope: [String] = [], overrides: [any ConfigProvider] = []
    ) async throws -> KafkaClient.Configuration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw KafkaError(.invalidConfiguration, "Cannot read the configuration file \(path)", underlying: error)
        }
        let unknown = try unknownKeys(inJSON: data, scope: scope)
        guard unknown.isEmpty else {
            throw KafkaError(.invalidConfiguration, "Unknown configuration keys in \(path): " + unknown.joined(separator: ", "))
        }
        let file: FileProvider<KafkaJSONSnapshot>
        do {
            file = try await FileProvider<KafkaJSONSnapshot>(filePath: .init(path))
        } catch {
            throw KafkaError(.invalidConfiguration, "Cannot load the configuration file \(path)", underlying: error)
        }
        var reader = ConfigReader(providers: overrides + [file])
        if !scope.isEmpty { reader = reader.scoped(to: ConfigKey(scope)) }
        do {
            return try KafkaClient.Configuration(configReader: reader)
        } catch var error as KafkaError {
            error.message += " (in \(path))"
            throw error
        }
    }
}

extension KafkaConsumerGroupConfiguration {
    /// The keys of a JSON consumer group section that ``init(configReader:)`` would ignore, with full paths.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` when `data` is not JSON or
    ///   has no object at `scope`.
    public static func unknownKeys(inJSON data: Data, scope: [String] = []) throws -> [String] {
        let object = try KafkaConfigurationKeys.jsonObject(data, scope: scope)
        var unknown: [String] = []
        let topics = Set(KafkaConfigurationKeys.names(object["topics"]))
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if key == "topicOptions", case .object(let sections) = value {
                for (topic, section) in sections.sorted(by: { $0.key < $1.key }) {
                    if topics.contains(topic) {
                        unknown += KafkaConfigurationKeys.unknownKeys(in: section, known: KafkaConfigurationKeys.consumerTopic, path: scope + [key, topic])
                    } else {
                        unknown.append((scope + [key, topic]).joined(separator: ".") + " (not one of topics)")
                    }
                }
            } else if key == "defaultTopicOptions" {
                unknown += KafkaConfigurationKeys.unknownKeys(in: value, known: KafkaConfigurationKeys.consumerTopic, path: scope + [key])
            } else if !KafkaConfigurationKeys.consumerGroupTopLevel.contains(key) || value.isObject {
                unknown += KafkaConfigurationKeys.unknownKeys(in: value, known: [], path: scope + [key])
            }
        }
        return unknown
    }
}

extension KafkaConfigurationKeys {
    /// `key` as swift-configuration's `EnvironmentVariablesProvider` spells it: camel case split into upper
    /// snake case, components joined by `_`, other characters replaced by `_` (`producers.fast.linger` →
    /// `PRODUCERS_FAST_LINGER`).
    static func environmentName(_ components: [String]) -> String {
        components.map { component -> String in
            var output = ""
            var previous: Character?
            for character in component {
                if let previous, previous.isLowercase, character.isUppercase { output.append("_") }
                output += character.isLetter || character.isNumber ? character.uppercased() : "_"
                previous = character
            }
            return output
        }.joined(separator: "_")
    }
}

extension KafkaClient.Configuration {
    /// The environment variables starting with `prefix_` that ``init(configReader:)`` (with an
    /// `EnvironmentVariablesProvider` scoped to `prefix`) would ignore: typos and entries missing from a
    /// `names` list. Variables under `ignoring` (e.g. `KLIFE_CONSUMER` for a consumer group read from the
    /// same prefix) are skipped.
    public static func unknownEnvironmentVariables(
        _ environment: [String: String], prefix: String = "KLIFE", ignoring: [String] = []
    ) -> [String] {
        let head = prefix.isEmpty ? "" : prefix + "_"
        func value(_ key: [String]) -> String? { environment[head + KafkaConfigurationKeys.environmentName(key)] }
        func names(_ section: String, default defaultName: String?) -> [String] {
            var names = (value([section, "names"]) ?? "").split(separator: ",").map { KafkaConfigurationKeys.trimmingSpaces($0) }
            if let defaultName { names.append(defaultName) }
            return names.filter { !$0.isEmpty }
        }
        var known = Set<String>()
        func add(_ key: [String]) { known.insert(head + KafkaConfigurationKeys.environmentName(key)) }
        for key in KafkaConfigurationKeys.clientTopLevel { add([key]) }
        for key in KafkaConfigurationKeys.connection { add(["connection"] + key.split(separator: ".").map(String.init)) }
        let sections: [(String, [String], String?)] = [
            ("producers", KafkaConfigurationKeys.producer, value(["defaultProducer"]) ?? KafkaProducerConfiguration.defaultName),
            ("transactionalPools", KafkaConfigurationKeys.transactionalPool,
             value(["defaultTransactionalPool"]) ?? KafkaTransactionalPoolConfiguration.defaultName),
            ("fetchers", KafkaConfigurationKeys.fetcher, value(["defaultFetcher"]) ?? KafkaFetcherConfiguration.defaultName),
            ("topics", KafkaConfigurationKeys.topic, nil),
        ]
        for (section, keys, defaultName) in sections {
            add([section, "names"])
            for name in names(section, default: defaultName) {
                for key in keys { add([section, name, key]) }
            }
        }
        let ignored = ignoring.map { $0 + "_" }
        return environment.keys.filter { name in
            name.hasPrefix(head) && !known.contains(name) && !ignored.contains { name.hasPrefix($0) }
        }.sorted()
    }
}
