import ArgumentParser
import Klife

/// `klife groups`: what kafka-consumer-groups.sh does for consumer groups.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List, describe and delete consumer groups, and reset their committed offsets.",
        subcommands: [List.self, Describe.self, Delete.self, ResetOffsets.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups: id, protocol type, state (tab-separated), one per line.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await runReportingErrors {
                let groups = try await global.withClient { client in try await client.listConsumerGroups() }
                for group in groups { print("\(group.groupID)\t\(group.protocolType.isEmpty ? "-" : group.protocolType)\t\(group.state ?? "-")") }
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe a group: state, members and their partitions, and each committed offset with the partition's end and the lag.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group id.") var group: String

        func run() async throws {
            try await runReportingErrors {
                let lines = try await global.withClient { [group] client in
                    let description = try await client.describeConsumerGroup(group)
                    let committed = try await client.committedOffsets(group: group)
                    if description.members.isEmpty && committed.isEmpty && ["Dead", "Empty"].contains(description.state) {
                        throw KafkaError(.invalidArgument, "consumer group \(group) does not exist (no members, no committed offsets)")
                    }
                    var owners: [KafkaTopicPartition: String] = [:]
                    for member in description.members { for partition in member.assignment { owners[partition] = member.memberID } }
                    let partitions = Set(committed.keys).union(owners.keys).sorted()
                    let ends = await Self.endOffsets(of: partitions, client: client)
                    return Self.lines(description, committed: committed, ends: ends, owners: owners, partitions: partitions)
                }
                for line in lines { print(line) }
            }
        }

        /// Each partition's end (read_uncommitted LATEST), nil where the lookup failed (a deleted topic).
        static func endOffsets(of partitions: [KafkaTopicPartition], client: KafkaClient) async -> [KafkaTopicPartition: Int64] {
            var ends: [KafkaTopicPartition: Int64] = [:]
            for (topic, ofTopic) in Dictionary(grouping: partitions, by: \.topic).sorted(by: { $0.key < $1.key }) {
                guard let found = try? await client.listOffsets(topic: topic, partitions: ofTopic.map(\.partition), at: .latest) else { continue }
                for (partition, answer) in found where answer.offset >= 0 { ends[KafkaTopicPartition(topic: topic, partition: partition)] = answer.offset }
            }
            return ends
        }

        static func lines(
            _ description: KafkaConsumerGroupDescription, committed: [KafkaTopicPartition: KafkaCommittedOffset],
            ends: [KafkaTopicPartition: Int64], owners: [KafkaTopicPartition: String], partitions: [KafkaTopicPartition]
        ) -> [String] {
            var lines = [
                "group\t\(description.groupID)",
                "state\t\(description.state)",
                "protocol\t\(description.groupProtocol == .consumer ? "consumer (KIP-848)" : "classic")",
                "protocol-type\t\(description.protocolType.isEmpty ? "-" : description.protocolType)",
                "assignor\t\(description.assignor.isEmpty ? "-" : description.assignor)",
                "coordinator\t\(description.coordinator)",
            ]
            if let epoch = description.groupEpoch { lines.append("epoch\t\(epoch)") }
            for member in description.members {
                let assigned = member.assignment.isEmpty ? "-" : member.assignment.map(\.description).joined(separator: ",")
                lines.append(
                    "member \(member.memberID)\tclient \(member.clientID.isEmpty ? "-" : member.clientID)\thost \(member.clientHost.isEmpty ? "-" : member.clientHost)"
                        + (member.instanceID.map { "\tinstance \($0)" } ?? "") + "\tpartitions \(assigned)")
            }
            for partition in partitions {
                let offset = committed[partition]?.offset
                let end = ends[partition]
                let lag = offset.flatMap { offset in end.map { max(0, $0 - offset) } }
                lines.append(
                    "offset \(partition)\tcommitted \(offset.map(String.init) ?? "-")\tend \(end.map(String.init) ?? "-")\tlag \(lag.map(String.init) ?? "-")\tmember \(owners[partition] ?? "-")")
            }
            return lines
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete groups without members, and their committed offsets.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group ids.") var groups: [String]

        func validate() throws {
            guard !groups.isEmpty else { throw ValidationError("name at least one group") }
        }

        func run() async throws {
            try await runReportingErrors {
                let results = try await global.withClient { [groups] client in try await client.deleteConsumerGroups(groups) }
                var failed = false
                for (group, error) in results.sorted(by: { $0.key < $1.key }) {
                    if let error {
                        failed = true
                        printError("klife: \(group): \(error.message)\(error.kafkaCode.map { " (Kafka error code \($0))" } ?? "")")
                    } else {
                        print("deleted \(group)")
                    }
                }
                if failed { throw ExitCode.failure }
            }
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Set a group's committed offsets on a topic (the group must have no members).",
            discussion: """
                Prints each partition's committed and new offset; without --execute nothing is changed. New offsets are \
                kept between the partition's log start and end.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Group id.") var group: String
        @Option(name: .long, help: "Topic.") var topic: String
        @Option(name: .long, parsing: .upToNextOption, help: "Only these partitions (default: all).") var partitions: [Int32] = []
        @Option(name: .long, parsing: .unconditional, help: "earliest (or beginning), latest (or end), an offset N, -N (N before the end) or @MS (a timestamp).")
        var to: ConsumeCommand.StartOffset?
        @Option(name: .customLong("shift-by"), parsing: .unconditional, help: "Move the committed offsets by N (negative: back).") var shiftBy: Int64?
        @Flag(name: .long, help: "Commit the new offsets (default: only print them).") var execute = false

        func validate() throws {
            guard (to == nil) != (shiftBy == nil) else { throw ValidationError("give exactly one of --to and --shift-by") }
            if let negative = partitions.first(where: { $0 < 0 }) { throw ValidationError("--partitions: \(negative) is negative") }
        }

        func run() async throws {
            try await runReportingErrors {
                let (plan, failures) = try await global.withClient { [group, topic, partitions, to, shiftBy, execute] client in
                    // As kafka-consumer-groups.sh: members would overwrite the offsets with their own positions.
                    let members = try await client.describeConsumerGroup(group).members
                    guard members.isEmpty else {
                        throw KafkaError(.invalidArgument, "consumer group \(group) has \(members.count) member(s); stop them before resetting its offsets")
                    }
                    let wanted = partitions.isEmpty ? try await client.describeTopic(topic).partitions.map(\.partition) : partitions
                    let committedAll = try await client.committedOffsets(group: group, partitions: wanted.map { KafkaTopicPartition(topic: topic, partition: $0) })
                    let committed = Dictionary(uniqueKeysWithValues: committedAll.map { ($0.key.partition, $0.value.offset) })
                    let earliest = try await client.listOffsets(topic: topic, partitions: wanted, at: .earliest).mapValues(\.offset)
                    let latest = try await client.listOffsets(topic: topic, partitions: wanted, at: .latest).mapValues(\.offset)
                    let target: GroupOffsetsResetPlan.Target
                    if let to {
                        target = .offsets(try await ConsumeCommand.startOffsets(to, of: topic, partitions: wanted, isolation: .readUncommitted, client: client))
                    } else {
                        target = .shift(shiftBy ?? 0)
                    }
                    let plan = GroupOffsetsResetPlan(partitions: wanted, target: target, committed: committed, earliest: earliest, latest: latest)
                    guard execute, !plan.changes.isEmpty else { return (plan, [Int32: KafkaError]()) }
                    let results = try await client.alterConsumerGroupOffsets(
                        group: group,
                        offsets: Dictionary(uniqueKeysWithValues: plan.changes.map { (KafkaTopicPartition(topic: topic, partition: $0.partition), KafkaCommittedOffset(offset: $0.new)) }))
                    var failures: [Int32: KafkaError] = [:]
                    for case (let partition, let error?) in results { failures[partition.partition] = error }
                    return (plan, failures)
                }
                for change in plan.changes {
                    let status = failures[change.partition].map { "failed: \($0.message)\($0.kafkaCode.map { " (Kafka error code \($0))" } ?? "")" }
                        ?? (execute ? "set" : "planned")
                    print("\(topic)/\(change.partition)\tcommitted \(change.committed.map(String.init) ?? "-")\tnew \(change.new)\t\(status)")
                }
                for partition in plan.skipped { print("\(topic)/\(partition)\tcommitted -\tnot changed (nothing committed to shift)") }
                if !execute { printError("klife: dry run; add --execute to commit these offsets") }
                if !failures.isEmpty { throw ExitCode.failure }
            }
        }
    }
}
