import Foundation
import Testing

/// `klife consume --group` run as a subprocess against Tansu.
@Suite("klife consume --group", .serialized)
struct ConsumerGroupCLITests {
    func klife(_ arguments: [String]) async throws -> ScriptProcess.Result {
        try await ScriptProcess.run(try CLIIntegrationTests.klifeExecutable(), arguments, timeout: 90, check: true)
    }

    @Test("--count commits only the records printed: the next run continues right after them")
    func countCommitsOnlyWhatWasPrinted() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-group")
        let group = TestBrokers.uniqueName("g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: (0..<5).map { (key: nil, value: "c\($0)") }, partition: 0)
        let common = ["consume", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--format", "value", "--timeout-ms", "3000"]
        let first = try await klife(common + ["--count", "3", "--group-protocol", "classic"])
        #expect(first.stdoutText.split(separator: "\n") == ["c0", "c1", "c2"])
        let second = try await klife(common + ["--count", "2"])
        #expect(second.stdoutText.split(separator: "\n") == ["c3", "c4"])
    }

    @Test("--include reads every topic whose name matches, and no other")
    func includeReadsTheMatchingTopics() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let prefix = TestBrokers.uniqueName("cli-rx")
        for (suffix, value) in [("a", "from-a"), ("b", "from-b"), ("other-c", "from-c")] {
            let topic = "\(prefix)-\(suffix)"
            try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
            try await RdKafkaTool.produce(bootstrap: bootstrap, topic: topic, records: [(key: nil, value: value)], partition: 0)
        }
        // Asked for one record more than the matching topics hold: it prints both, then runs out (exit 2).
        let result = try await ScriptProcess.run(try CLIIntegrationTests.klifeExecutable(), [
            "consume", "--bootstrap", bootstrap, "--include", "\(prefix)-[a-z]", "--group", TestBrokers.uniqueName("g"),
            "--format", "value", "--count", "3", "--timeout-ms", "3000", "--group-protocol", "classic",
        ], timeout: 90, check: false)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdoutText.split(separator: "\n").sorted() == ["from-a", "from-b"])
        // Without --group there is nothing to follow the matching topics: refused before connecting.
        let refused = try await ScriptProcess.run(
            try CLIIntegrationTests.klifeExecutable(), ["consume", "--bootstrap", bootstrap, "--include", "x.*"], timeout: 30, check: false)
        #expect(refused.status != 0 && refused.stderr.contains("--include needs --group"), "\(refused.stderr)")
    }
}
