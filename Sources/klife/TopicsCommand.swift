import ArgumentParser
import Klife

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create, list, describe, configure and delete topics.",
        subcommands: [Create.self, List.self, Describe.self, Configs.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Topic name.") var name: String
        @Option(name: .long, help: "Number of partitions.") var partitions: Int32 = 1
        @Option(name: .customLong("replication-factor"), help: "Replication factor.") var replicationFactor: Int16 = 1
        @Option(name: .customLong("topic-config"), help: "Topic config KEY=VALUE (repeatable); --config is the global client configuration file.") var configs: [String] = []
        @Flag(name: .customLong("if-not-exists"), help: "Succeed when the topic exists already (its settings are not compared).") var ifNotExists = false

        func validate() throws {
            guard partitions > 0 else { throw ValidationError("--partitions must be > 0") }
            guard replicationFactor > 0 else { throw ValidationError("--replication-factor must be > 0") }
            for config in configs where !config.contains("=") || config.hasPrefix("=") {
                throw ValidationError("--topic-config \(config): expected KEY=VALUE")
            }
        }

        func run() async throws {
            let configs = Dictionary(configs.map { entry -> (String, String) in
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }, uniquingKeysWith: { _, last in last })
            try await runReportingErrors {
                let created = try await global.withClient { [name, partitions, replicationFactor, ifNotExists] client in
                    do {
                        try await client.createTopic(name, partitions: partitions, replicationFactor: replicationFactor, configs: configs)
                        return true
                    } catch let error as KafkaError where error.code == .topicAlreadyExists && ifNotExists {
                        return false
                    }
                }
                print(created ? "created \(name)" : "\(name) exists already")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics: name, a tab, partition count, one per line.")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .customLong("internal"), help: "Include internal topics.") var includeInternal = false

        func run() async throws {
            try await runReportingErrors {
                let topics = try await global.withClient { [includeInternal] client in try await client.listTopics(includeInternal: includeInternal) }
                for topic in topics { print("\(topic.name)\t\(topic.partitionCount)") }
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a topic: id, partitions, leaders, replicas.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Topic name.") var name: String

        func run() async throws {
            try await runReportingErrors {
                let topic = try await global.withClient { [name] client in try await client.describeTopic(name) }
                print("topic\t\(topic.name)")
                print("id\t\(topic.topicID.map { "\($0)" } ?? "-")")
                print("partitions\t\(topic.partitionCount)")
                if topic.isInternal { print("internal\ttrue") }
                for p in topic.partitions {
                    let list = { (ids: [Int32]) in ids.map(String.init).joined(separator: ",") }
                    print("partition \(p.partition)\tleader \(p.leaderID)\tepoch \(p.leaderEpoch)\treplicas \(list(p.replicas))\tisr \(list(p.inSyncReplicas))")
                }
            }
        }
    }

    struct Configs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the settings made on a topic (name, value, source), or change them with --set and --delete.",
            discussion: "Without changes, prints the entries set on the topic itself; --all adds those it inherits from the broker and Kafka's defaults.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Topic name.") var name: String
        @Option(name: .long, help: "Set an entry on the topic, KEY=VALUE (repeatable).") var set: [String] = []
        @Option(name: .long, help: "Remove the topic's own value of an entry, so the broker's applies (repeatable).") var delete: [String] = []
        @Flag(name: .long, help: "Show every entry, also those the topic inherits.") var all = false

        func validate() throws {
            for entry in set where !entry.contains("=") || entry.hasPrefix("=") {
                throw ValidationError("--set \(entry): expected KEY=VALUE")
            }
            for entry in delete where entry.isEmpty { throw ValidationError("--delete needs a name") }
            if all && !(set.isEmpty && delete.isEmpty) { throw ValidationError("--all only goes with showing, not with --set or --delete") }
        }

        func run() async throws {
            let changes = set.map { entry -> KafkaConfigChange in
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return .set(String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            } + delete.map { KafkaConfigChange.delete($0) }
            try await runReportingErrors {
                if !changes.isEmpty {
                    // What was changed, not a read-back: another broker may not serve the new values yet.
                    try await global.withClient { [name] client in try await client.alterTopicConfigs(name, changes) }
                    for change in changes {
                        switch change {
                        case .set(let key, let value): print("set \(key)=\(value)")
                        case .delete(let key): print("deleted \(key)")
                        case .append, .subtract: break
                        }
                    }
                    return
                }
                let entries = try await global.withClient { [name] client in try await client.describeTopicConfigs(name) }
                for entry in entries where all || !entry.isInherited {
                    print("\(entry.name)\t\(entry.isSensitive ? "(sensitive)" : entry.value ?? "-")\t\(Self.label(entry.source))")
                }
            }
        }

        static func label(_ source: KafkaConfigEntry.Source) -> String {
            switch source {
            case .topic: "topic"
            case .dynamicBroker: "dynamic-broker"
            case .dynamicDefaultBroker: "dynamic-default-broker"
            case .staticBroker: "static-broker"
            case .default: "default"
            case .other(let value): "source-\(value)"
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Topic name.") var name: String

        func run() async throws {
            try await runReportingErrors {
                try await global.withClient { [name] client in try await client.deleteTopic(name) }
                print("deleted \(name)")
            }
        }
    }
}
