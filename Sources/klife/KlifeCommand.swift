import ArgumentParser
import Klife

/// The `klife` command line (entered through ``KlifeMain``).
struct KlifeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klife",
        abstract: "Klife for Swift: a Kafka client.",
        version: KlifeCommand.version,
        // Each subcommand lives in its own file; add new ones here.
        subcommands: [TopicsCommand.self, ProduceCommand.self, BenchCommand.self, FetchCommand.self, ConsumeCommand.self, GroupsCommand.self, DemoCommand.self]
    )

    /// What `klife --version` prints: the release of this checkout (no releases are tagged yet).
    static let version = "0.1.0-dev"
}
