import Foundation
import Klife
import Testing

/// `klife consume`: where it starts, and what it does when nobody reads its output any more.
extension CLIIntegrationTests {
    /// A FIFO that stands for a reader of klife's stdout: opened read-write here first, so klife's write-only
    /// open does not block; closing it leaves klife writing into a pipe without a reader.
    final class OutputPipe: @unchecked Sendable {  // used by one task at a time
        let path: String
        private var descriptor: Int32
        private var received: [UInt8] = []

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("klife-out-\(UUID().uuidString)").path
            #expect(mkfifo(path, 0o600) == 0)
            descriptor = open(path, O_RDWR | O_CLOEXEC)
            #expect(descriptor >= 0)
        }

        /// Reads until `count` lines have come, failing after `timeout`.
        func readLines(_ count: Int, timeout: Duration) throws -> [String] {
            let deadline = ContinuousClock.now + timeout
            var chunk = [UInt8](repeating: 0, count: 4096)
            while received.count(where: { $0 == 0x0A }) < count {
                let left = deadline - ContinuousClock.now
                guard left > .zero else {
                    Issue.record("only \(String(decoding: received, as: UTF8.self).debugDescription) arrived")
                    throw CancellationError()
                }
                var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&ready, 1, 100) > 0 else { continue }
                let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if n > 0 { received += chunk[..<n] }
            }
            return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
        }

        /// The reader goes away.
        func close() {
            if descriptor >= 0 { Foundation.close(descriptor) }
            descriptor = -1
        }

        deinit {
            close()
            unlink(path)
        }
    }

    /// `consume --group` piped into a reader that goes away (`| head -3`): the records it could not write are
    /// not committed, and it stops with SIGPIPE's status instead of reading on for nobody.
    @Test func groupConsumeStopsWhenItsOutputIsClosed() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-epipe-group")
        let group = TestBrokers.uniqueName("cli-epipe-g")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let output = try OutputPipe()
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            for index in 0..<3 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(index)")) }
            let running = try ScriptProcess.start(
                try Self.klifeExecutable(),
                ["consume", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--group-protocol", "classic",
                 "--format", "value", "--timeout-ms", "120000"],
                stdin: Data(), stdoutPath: output.path)
            #expect(try output.readLines(3, timeout: .seconds(60)) == ["r0", "r1", "r2"])
            // The first three are printed, so committed; wait for that before the reader goes.
            try await ClientTestSupport.eventuallyOrFail("the printed records are committed", timeout: .seconds(30)) {
                (try? await TransactionTansuTests.committedOffset(client, group: group, .init(topic: topic, partition: 0))) == 3
            }
            output.close()
            for index in 3..<6 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(index)")) }
            let result = try await running.finish(timeout: 60, check: false)
            #expect(result.status == 141, "\(result.stderr)")
            let committed = try await TransactionTansuTests.committedOffset(client, group: group, .init(topic: topic, partition: 0))
            #expect(committed == 3, "records nobody saw were committed")
        }
    }

    /// Without a group, and following the topic (`--timeout-ms 0`), a closed output ends the command too.
    @Test func followingConsumeStopsWhenItsOutputIsClosed() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-epipe")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        let output = try OutputPipe()
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "first"))
            let running = try ScriptProcess.start(
                try Self.klifeExecutable(),
                ["consume", "--bootstrap", bootstrap, "--topic", topic, "--format", "value", "--timeout-ms", "0"],
                stdin: Data(), stdoutPath: output.path)
            #expect(try output.readLines(1, timeout: .seconds(60)) == ["first"])
            output.close()
            _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "second"))
            let result = try await running.finish(timeout: 60, check: false)
            #expect(result.status == 141, "\(result.stderr)")
        }
    }

    /// `--offset -N` starts N records before each partition's end, and `beginning` and `end` are `earliest` and
    /// `latest` (Tansu; one record per batch, as only then is its end offset right).
    @Test func consumeStartsNRecordsBeforeTheEnd() async throws {
        let bootstrap = try TestBrokers.tansuBootstrap
        let topic = TestBrokers.uniqueName("cli-start")
        try await RdKafkaTool.createTopic(bootstrap: bootstrap, topic: topic, partitions: 1)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: bootstrap), logger: ClientTestSupport.logger) { client in
            for index in 0..<5 { _ = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "r\(index)")) }
        }
        let all = ["r0", "r1", "r2", "r3", "r4"]
        #expect(try await consumeValues(bootstrap: bootstrap, topic: topic, from: "-2") == ["r3", "r4"])
        #expect(try await consumeValues(bootstrap: bootstrap, topic: topic, from: "-9") == all)
        #expect(try await consumeValues(bootstrap: bootstrap, topic: topic, from: "beginning") == all)
        #expect(try await consumeValues(bootstrap: bootstrap, topic: topic, from: "end") == [])
    }

    /// `--offset @MS` where no record is stamped at or after MS (ListOffsets answers -1) starts at the end, for
    /// records still to come. Neither test broker looks offsets up by timestamp (the mock answers -1 to every
    /// timestamp, Tansu 0), so only this case is checked against a broker.
    @Test func consumeFromATimestampWithoutRecordsStartsAtTheEnd() async throws {
        let cluster = try await MockCluster.create(brokers: 1)
        defer { Task { try? await cluster.destroy() } }
        let topic = TestBrokers.uniqueName("cli-timestamp")
        try await cluster.createTopic(topic, partitions: 2, replicationFactor: 1)
        try await KafkaClient.withRunningClient(configuration: try ClientTestSupport.configuration(bootstrap: cluster.bootstrap), logger: ClientTestSupport.logger) { client in
            for index in 0..<4 {
                var record = KafkaRecord(topic: topic, partition: Int32(index % 2), value: "r\(index)")
                record.timestamp = 1000
                _ = try await client.produce(record)
            }
        }
        #expect(try await consumeValues(bootstrap: cluster.bootstrap, topic: topic, from: "@9000") == [])
        #expect(try await consumeValues(bootstrap: cluster.bootstrap, topic: topic, from: "-1").sorted() == ["r2", "r3"])
    }

    /// The values `klife consume --offset FROM` prints before it has waited 1.5 s for more.
    func consumeValues(bootstrap: String, topic: String, from offset: String) async throws -> [String] {
        let result = try await klife(
            ["consume", "--bootstrap", bootstrap, "--topic", topic, "--format", "value", "--offset", offset, "--timeout-ms", "1500"])
        return result.stdoutText.split(separator: "\n").map(String.init)
    }
}
