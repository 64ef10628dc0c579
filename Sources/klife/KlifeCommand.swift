import ArgumentParser
import Klife

/// The `klife` command line (entered through ``KlifeMain``).
struct KlifeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klife",
        abstract: "Klife for Swift: a Kafka client.",
        // Each subcommand lives in its own file; add new ones here.
        subcommands: [TopicsCommand.self, ProduceCommand.self, BenchCommand.self, FetchCommand.self, ConsumeCommand.self, DemoCommand.self]
    )
}
