import Foundation
import Klife
import Testing

/// The README's code example, compiled and run against Tansu so the README cannot drift from the API; the
/// marked region below must be the README's block with the broker address and topic name substituted.
@Suite struct ReadmeExampleTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func readmeExampleRuns() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = "readme-\(UUID().uuidString.prefix(8))"
        let servers = try KafkaConnectionConfiguration.BrokerAddress.parseList(bootstrap)

        // --- README example ---
        let configuration = KafkaClient.Configuration(bootstrapServers: servers)
        let stored = try await KafkaClient.withRunningClient(configuration: configuration) { client in
            try await client.createTopic(topic, partitions: 3)
            let sent = try await client.produce(KafkaRecord(topic: topic, key: "customer-1", value: #"{"total": 42}"#))
            return try await client.fetch(topic: topic, partition: sent.partition!, offset: sent.offset!)
        }
        print(stored.first?.valueString ?? "")
        // --- end of README example ---

        #expect(stored.count == 1)
        #expect(stored.first?.valueString == #"{"total": 42}"#)
        #expect(stored.first?.keyString == "customer-1")
    }

    /// The README's first Swift block, without its import, and the region above, both trimmed line by line.
    @Test func theRegionIsTheReadmeBlock() throws {
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let readmeLines = readme.components(separatedBy: "\n")
        let start = try #require(readmeLines.firstIndex(of: "```swift"))
        let end = try #require(readmeLines[(start + 1)...].firstIndex(of: "```"))
        let block = readmeLines[(start + 1)..<end]
            .filter { !$0.hasPrefix("import ") && !$0.isEmpty }
            .map {
                $0.replacingOccurrences(of: #"[.init(host: "127.0.0.1", port: 9092)]"#, with: "servers")
                    .replacingOccurrences(of: #""orders""#, with: "topic")
                    .trimmingCharacters(in: .whitespaces)
            }
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8).components(separatedBy: "\n")
        let regionStart = try #require(source.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "// --- README example ---" })
        let regionEnd = try #require(source.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "// --- end of README example ---" })
        let region = source[(regionStart + 1)..<regionEnd].map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(Array(block) == Array(region), "README.md's example and this test's region differ")
    }
}
