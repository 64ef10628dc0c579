import Foundation
import Klife
import Testing

/// `klife groups …` against Tansu: a group made by `klife consume --group` is listed, described with its
/// offsets and lag, rewound (dry run first), shifted, read again from the new offset, and deleted.
extension CLIIntegrationTests {
    @Test func groupsCommandsRoundTrip() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-groups")
        let group = TestBrokers.uniqueName("cli-groups-g")
        let global = ["--bootstrap", bootstrap]
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 2)
        // One record per produce call: one batch each, so Tansu's end offsets are right (see TANSU.md).
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            for index in 0..<5 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(index)")) }
        }
        let consumed = try await klife(["consume", "--topic", topic, "--group", group, "--count", "5", "--timeout-ms", "20000"] + global)
        #expect(consumed.stdoutText.split(separator: "\n").count == 5)

        let listed = try await klife(["groups", "list"] + global)
        #expect(listed.stdoutText.split(separator: "\n").contains { $0.hasPrefix("\(group)\tconsumer\t") }, "\(listed.stdoutText)")

        func describe() async throws -> [String] {
            try await klife(["groups", "describe", group] + global).stdoutText.split(separator: "\n").map(String.init)
        }
        let described = try await describe()
        #expect(described.contains("group\t\(group)"), "\(described)")
        #expect(described.contains("state\tEmpty"), "\(described)")
        #expect(described.contains("protocol\tclassic"), "\(described)")
        #expect(described.contains("offset \(topic)/0\tcommitted 5\tend 5\tlag 0\tmember -"), "\(described)")
        #expect(!described.contains { $0.hasPrefix("member ") })

        // A group with members is not reset (they would overwrite the offsets), not even in a dry run.
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            let member = try client.startConsumerGroup(ConsumerGroupTests.groupConfiguration(group, topic)) { _ in .commit }
            try await ConsumerGroupTests.waitUntil("the member has its partitions") { member.assignedPartitions.count == 2 }
            let refused = try await klife(["groups", "reset-offsets", group, "--topic", topic, "--to", "earliest"] + global, check: false)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("1 member(s)"), "\(refused.stderr)")
            #expect(refused.stdoutText.isEmpty)
            await member.stop()
        }

        // A dry run prints the plan and changes nothing.
        let planned = try await klife(["groups", "reset-offsets", group, "--topic", topic, "--to", "earliest"] + global)
        #expect(planned.stdoutText == "\(topic)/0\tcommitted 5\tnew 0\tplanned\n\(topic)/1\tcommitted -\tnew 0\tplanned\n", "\(planned.stdoutText)")
        #expect(planned.stderr.contains("dry run"))
        #expect(try await describe().contains("offset \(topic)/0\tcommitted 5\tend 5\tlag 0\tmember -"))

        let rewound = try await klife(["groups", "reset-offsets", group, "--topic", topic, "--to", "earliest", "--execute"] + global)
        #expect(rewound.stdoutText.contains("\(topic)/0\tcommitted 5\tnew 0\tset"), "\(rewound.stdoutText)")
        #expect(try await describe().contains("offset \(topic)/0\tcommitted 0\tend 5\tlag 5\tmember -"))

        // A shift moves from the committed offset and stays inside the log.
        let shifted = try await klife(["groups", "reset-offsets", group, "--topic", topic, "--partitions", "0", "--shift-by", "2", "--execute"] + global)
        #expect(shifted.stdoutText == "\(topic)/0\tcommitted 0\tnew 2\tset\n", "\(shifted.stdoutText)")
        let clamped = try await klife(["groups", "reset-offsets", group, "--topic", topic, "--partitions", "0", "--shift-by", "100"] + global)
        #expect(clamped.stdoutText == "\(topic)/0\tcommitted 2\tnew 5\tplanned\n", "\(clamped.stdoutText)")

        // The group's next member starts at the shifted offset.
        let again = try await klife(["consume", "--topic", topic, "--group", group, "--count", "3", "--timeout-ms", "20000"] + global)
        let values = again.stdoutText.split(separator: "\n").map(String.init)
        #expect(values.count == 3)
        #expect(values.allSatisfy { line in ["\"r2\"", "\"r3\"", "\"r4\""].contains { line.contains($0) } }, "\(values)")

        let usage = try await klife(["groups", "reset-offsets", group, "--topic", topic] + global, check: false)
        #expect(usage.status != 0)
        #expect(usage.stderr.contains("--to"))

        let deleted = try await klife(["groups", "delete", group] + global)
        #expect(deleted.stdoutText == "deleted \(group)\n")
        #expect(!(try await klife(["groups", "list"] + global)).stdoutText.contains(group))
        let gone = try await klife(["groups", "describe", group] + global, check: false)
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("does not exist"), "\(gone.stderr)")
    }
}
