import Klife
import NIOCore
import Testing

/// Every public call with invalid input gets a typed error whose message names the problem, and nothing the
/// client had already accepted is dropped because of it (Tansu).
@Suite("Public calls with invalid input")
struct BadInputCallTests {
    /// One invalid call: what it is, the code we expect, text the message must contain.
    struct Case: Sendable {
        var name: String
        var code: KafkaError.Code
        var mentions: String
        var call: @Sendable (KafkaClient) async throws -> Void
    }

    static func cases(topic: String) -> [Case] {
        // A record the broker finds too large (MESSAGE_TOO_LARGE) is ProducerMockClusterTests.injectedErrorsFailOnlyTheirRecords;
        // past maxRecordBytes (1 MiB by default) the client refuses it itself.
        let oversized = ByteBuffer(repeating: 7, count: KafkaProducerConfiguration.defaultMaxRecordBytes)
        return [
            Case(name: "produce a record past maxRecordBytes", code: .recordTooLarge, mentions: "maxRecordBytes (1048576)") {
                _ = try await $0.produce(KafkaRecord(topic: topic, partition: 1, value: oversized))
            },
            Case(name: "produceAsync a record past maxRecordBytes", code: .recordTooLarge, mentions: topic) {
                try await $0.produceAsync(KafkaRecord(topic: topic, value: oversized))
            },
            Case(name: "produceBatch with one record past maxRecordBytes: only that record fails", code: .recordTooLarge, mentions: "bytes") {
                let results = await $0.produceBatch([
                    KafkaRecord(topic: topic, partition: 1, value: "legal-1"), KafkaRecord(topic: topic, partition: 1, value: oversized),
                    KafkaRecord(topic: topic, partition: 1, value: "legal-2"),
                ])
                #expect(results.count == 3)
                for index in [0, 2] {
                    if case .failure(let error) = results[index] { Issue.record("a legal record of the batch failed: \(error)") }
                }
                _ = try results[1].get()
            },
            Case(name: "produce to an unknown producer", code: .unknownProducer, mentions: "nope") {
                _ = try await $0.produce(KafkaRecord(topic: topic, value: "x"), options: .init(producer: "nope"))
            },
            Case(name: "produce with an unknown partitioner", code: .invalidArgument, mentions: "nope") {
                _ = try await $0.produce(KafkaRecord(topic: topic, value: "x"), options: .init(partitioner: "nope"))
            },
            Case(name: "produce to a partition the topic lacks", code: .invalidPartition, mentions: "7") {
                _ = try await $0.produce(KafkaRecord(topic: topic, partition: 7, value: "x"))
            },
            Case(name: "produceAsync to a negative partition", code: .invalidPartition, mentions: "-2") {
                try await $0.produceAsync(KafkaRecord(topic: topic, partition: -2, value: "x"))
            },
            Case(name: "produce to an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                _ = try await $0.produce(KafkaRecord(topic: "bad topic!", value: "x"))
            },
            Case(name: "produceBatch with one illegal topic name: only that record fails", code: .invalidArgument, mentions: "a..b c") {
                let results = await $0.produceBatch([
                    KafkaRecord(topic: topic, partition: 1, value: "legal-1"), KafkaRecord(topic: "a..b c", value: "x"),
                    KafkaRecord(topic: topic, partition: 1, value: "legal-2"),
                ])
                #expect(results.count == 3)
                for index in [0, 2] {
                    if case .failure(let error) = results[index] { Issue.record("a legal record of the batch failed: \(error)") }
                }
                _ = try results[1].get()
            },
            Case(name: "produceAsync to an illegal topic name", code: .invalidArgument, mentions: "legal topic name") {
                try await $0.produceAsync(KafkaRecord(topic: String(repeating: "x", count: 250), value: "x"))
            },
            Case(name: "produce to an empty topic name", code: .invalidArgument, mentions: "topic") {
                _ = try await $0.produce(KafkaRecord(topic: "", value: "x"))
            },
            Case(name: "fetch from a negative offset", code: .invalidArgument, mentions: "negative") {
                _ = try await $0.fetch(topic: topic, partition: 0, offset: -1)
            },
            Case(name: "fetch from a negative partition", code: .invalidArgument, mentions: "negative") {
                _ = try await $0.fetch(topic: topic, partition: -1, offset: 0)
            },
            Case(name: "fetch with an unknown fetcher", code: .invalidArgument, mentions: "nope") {
                _ = try await $0.fetch(topic: topic, partition: 0, offset: 0, options: .init(fetcher: "nope"))
            },
            Case(name: "fetch with maxBytes 0", code: .invalidArgument, mentions: "maxBytes") {
                _ = try await $0.fetch(topic: topic, partition: 0, offset: 0, options: .init(maxBytes: 0))
            },
            Case(name: "fetch a partition the topic lacks", code: .unknownTopicOrPartition, mentions: "9") {
                _ = try await $0.fetch(topic: topic, partition: 9, offset: 0)
            },
            Case(name: "fetch from an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                _ = try await $0.fetch(topic: "bad topic!", partition: 0, offset: 0)
            },
            Case(name: "fetch of several positions, one with an illegal topic name: only that one fails", code: .invalidArgument, mentions: "\"..\"") {
                let good = KafkaFetchPosition(topic: topic, partition: 1, offset: 0)
                let bad = KafkaFetchPosition(topic: "..", partition: 0, offset: 0)
                let results = await $0.fetch([good, bad])
                if case .failure(let error)? = results[good] { Issue.record("the legal position failed: \(error)") }
                _ = try results[bad]?.get()
            },
            Case(name: "fetchAsync from an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                let stream = try $0.fetchAsync([KafkaFetchPosition(topic: "bad topic!", partition: 0, offset: 0)])
                for await (_, result) in stream { _ = try result.get() }
            },
            Case(name: "listOffsets of a partition the topic lacks", code: .unknownTopicOrPartition, mentions: "5") {
                _ = try await $0.listOffsets(topic: topic, partitions: [5], at: .latest)
            },
            Case(name: "listOffsets of a negative partition", code: .invalidArgument, mentions: "-1") {
                _ = try await $0.listOffsets(topic: topic, partitions: [0, -1], at: .latest)
            },
            Case(name: "listOffsets of an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                _ = try await $0.listOffsets(topic: "bad topic!", at: .latest)
            },
            Case(name: "describeTopic of an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                _ = try await $0.describeTopic("bad topic!")
            },
            Case(name: "deleteTopic of an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                try await $0.deleteTopic("bad topic!")
            },
            Case(name: "deleteTopics with one illegal name deletes nothing", code: .invalidArgument, mentions: "bad topic!") {
                try await $0.deleteTopics([topic, "bad topic!"])
            },
            Case(name: "createTopics with an empty list", code: .invalidArgument, mentions: "at least one topic") {
                try await $0.createTopics([])
            },
            Case(name: "deleteTopics with an empty list", code: .invalidArgument, mentions: "at least one topic") {
                try await $0.deleteTopics([])
            },
            Case(name: "deleteConsumerGroups with an empty list", code: .invalidArgument, mentions: "at least one group") {
                try await $0.deleteConsumerGroups([])
            },
            Case(name: "committedOffsets with an empty group id", code: .invalidArgument, mentions: "group id") {
                _ = try await $0.committedOffsets(group: "", partitions: [KafkaTopicPartition(topic: topic, partition: 0)])
            },
            Case(name: "committedOffsets of every partition with an empty group id", code: .invalidArgument, mentions: "group id") {
                _ = try await $0.committedOffsets(group: "")
            },
            Case(name: "deleteRecords with no partitions", code: .invalidArgument, mentions: "at least one partition") {
                try await $0.deleteRecords(before: [:])
            },
            Case(name: "deleteRecords before a negative offset", code: .invalidArgument, mentions: "offset -2") {
                try await $0.deleteRecords(before: [KafkaTopicPartition(topic: topic, partition: 0): -2])
            },
            Case(name: "alterTopicConfigs with no changes", code: .invalidArgument, mentions: "at least one change") {
                try await $0.alterTopicConfigs(topic, [])
            },
            Case(name: "alterTopicConfigs changing an entry twice", code: .invalidArgument, mentions: "retention.ms is changed twice") {
                try await $0.alterTopicConfigs(topic, [.set("retention.ms", "1"), .delete("retention.ms")])
            },
            Case(name: "alterTopicConfigs with an empty name", code: .invalidArgument, mentions: "name is empty") {
                try await $0.alterTopicConfigs(topic, [.set("", "1")])
            },
            Case(name: "describeTopicConfigs with an empty key list", code: .invalidArgument, mentions: "key list is empty") {
                _ = try await $0.describeTopicConfigs(topic, keys: [])
            },
            Case(name: "describeTopicConfigs of an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                _ = try await $0.describeTopicConfigs("bad topic!")
            },
            Case(name: "describeConsumerGroups with an empty list", code: .invalidArgument, mentions: "at least one group") {
                _ = try await $0.describeConsumerGroups([])
            },
            Case(name: "describeConsumerGroup with an empty group id", code: .invalidArgument, mentions: "group id is empty") {
                _ = try await $0.describeConsumerGroup("")
            },
            Case(name: "alterConsumerGroupOffsets with no offsets", code: .invalidArgument, mentions: "at least one partition") {
                try await $0.alterConsumerGroupOffsets(group: "g", offsets: [:])
            },
            Case(name: "alterConsumerGroupOffsets with a negative offset", code: .invalidArgument, mentions: "offset -1") {
                try await $0.alterConsumerGroupOffsets(group: "g", offsets: [KafkaTopicPartition(topic: topic, partition: 0): .init(offset: -1)])
            },
            Case(name: "alterConsumerGroupOffsets with a negative partition", code: .invalidArgument, mentions: "partition -2") {
                try await $0.alterConsumerGroupOffsets(group: "g", offsets: [KafkaTopicPartition(topic: topic, partition: -2): .init(offset: 0)])
            },
            Case(name: "a transaction on an unknown pool", code: .unknownTransactionalPool, mentions: "nope") {
                _ = try await $0.produceBatchTransactionally([KafkaRecord(topic: topic, value: "x")], options: .init(pool: "nope"))
            },
            Case(name: "createTopic with 0 partitions", code: .invalidArgument, mentions: "partitions") {
                try await $0.createTopics([.init(name: "ok-name", partitions: 0)])
            },
            Case(name: "a consumer group without a group id", code: .invalidArgument, mentions: "groupID") {
                _ = try $0.startConsumerGroup(.init(groupID: "", topics: [topic])) { _ in .commit }
            },
            Case(name: "a consumer group without topics", code: .invalidArgument, mentions: "topics") {
                _ = try $0.startConsumerGroup(.init(groupID: "g", topics: [])) { _ in .commit }
            },
            Case(name: "a consumer group with a zero session timeout", code: .invalidArgument, mentions: "sessionTimeout") {
                var configuration = KafkaConsumerGroupConfiguration(groupID: "g-bad-timeout", topics: [topic])
                configuration.sessionTimeout = .zero
                _ = try $0.startConsumerGroup(configuration) { _ in .commit }
            },
            Case(name: "a consumer group naming no configured fetcher", code: .invalidArgument, mentions: "fetcher \"nope\" names no configured fetcher") {
                var configuration = KafkaConsumerGroupConfiguration(groupID: "g-bad-fetcher", topics: [topic])
                configuration.fetcher = "nope"
                let group = try $0.startConsumerGroup(configuration) { _ in .commit }
                await group.stop()
            },
            Case(name: "a consumer group on an illegal topic name", code: .invalidArgument, mentions: "bad topic!") {
                let group = try $0.startConsumerGroup(.init(groupID: "g-bad-topic", topics: ["bad topic!"])) { _ in .commit }
                await group.stop()
            },
        ]
    }

    @Test("each invalid call gets a typed error naming the problem, and accepted records are still delivered")
    func invalidCalls() async throws {
        let topic = TestBrokers.uniqueName("bad-input")
        var configuration = try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap)
        configuration.producers = [KafkaProducerConfiguration(linger: .milliseconds(200))]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            try await client.createTopics([.init(name: topic, partitions: 2)])
            _ = try await client.refreshMetadata()
            // Records accepted before the bad calls (still lingering in the producer while they happen).
            let accepted = (0..<20).map { KafkaRecord(topic: topic, partition: 0, value: "accepted-\($0)") }
            await client.produceBatchAsync(accepted)

            for invalid in Self.cases(topic: topic) {
                let error: KafkaError?
                do {
                    try await invalid.call(client)
                    error = nil
                } catch let caught as KafkaError {
                    error = caught
                } catch {
                    Issue.record("\(invalid.name): threw a \(type(of: error)), not a KafkaError: \(error)")
                    continue
                }
                #expect(error != nil, "\(invalid.name): accepted")
                #expect(error?.code == invalid.code, "\(invalid.name): \(String(describing: error))")
                #expect(error?.message.contains(invalid.mentions) == true, "\(invalid.name): the message does not name \(invalid.mentions): \(String(describing: error))")
            }

            // Empty inputs are no-ops, not errors.
            #expect(await client.produceBatch([]).isEmpty)
            #expect(await client.fetch([KafkaFetchPosition](), options: .init()).isEmpty)

            // Nothing accepted before (or between) the bad calls was dropped: all 20, once, in order.
            await client.flush()
            let after = try await client.produce(KafkaRecord(topic: topic, partition: 0, value: "after"))
            #expect(after.offset == 20)
            let fetched = try await client.fetch(topic: topic, partition: 0, offset: 0)
            #expect(fetched.map(\.valueString) == accepted.map(\.valueString) + ["after"])
            try await client.deleteTopic(topic)
        }
    }

    @Test("a client with a malformed bootstrap address or invalid TLS or SASL settings is refused when created, naming the option")
    func invalidConnectionSettings() throws {
        typealias Address = KafkaConnectionConfiguration.BrokerAddress
        for text in ["host:x", "host", ":9092", "[::1]9092", " , "] {
            let error = #expect(throws: KafkaError.self, "\(text)") { _ = try Address.parseList(text) }
            #expect(error?.code == .invalidConfiguration, "\(text): \(String(describing: error))")
            #expect(error?.message.contains(text) == true, "\(text): the message does not quote the input: \(String(describing: error))")
        }
        let cases: [(option: String, change: (inout KafkaConnectionConfiguration) -> Void)] = [
            ("bootstrapServers", { $0.bootstrapServers = [Address(host: "", port: 9092)] }),
            ("bootstrapServers", { $0.bootstrapServers = [Address(host: "h", port: 70_000)] }),
            ("sasl.username", { $0.sasl = .init(mechanism: .scramSHA512, username: "", password: "p") }),
            ("sasl.password", { $0.sasl = .init(mechanism: .plain, username: "u", password: "") }),
            ("tls.caCertificateFile", { $0.tls = .init(caCertificateFile: "/nonexistent/ca.pem") }),
            ("tls.clientCertificateFile", { $0.tls = .init(clientPrivateKeyFile: "/nonexistent/client.key") }),
        ]
        for (option, change) in cases {
            var configuration = KafkaClient.Configuration(connection: KafkaConnectionConfiguration(bootstrapServers: [Address(host: "127.0.0.1", port: 9092)]))
            change(&configuration.connection)
            let error = #expect(throws: KafkaError.self, "\(option)") { _ = try KafkaClient(configuration: configuration) }
            #expect(error?.code == .invalidConfiguration, "\(option): \(String(describing: error))")
            #expect(error?.message.contains(option) == true, "\(option): \(String(describing: error))")
        }
    }

    @Test("a transaction's produce to an illegal topic name (of a record past maxRecordBytes) fails that record with invalidArgument (recordTooLarge), before anything is sent")
    func illegalTopicNameInATransaction() async throws {
        let topic = TestBrokers.uniqueName("bad-input-txn")
        var configuration = try ClientTestSupport.configuration(bootstrap: try TestBrokers.tansuBootstrap)
        configuration.transactionalPools = [KafkaTransactionalPoolConfiguration(
            baseTransactionalID: TestBrokers.uniqueName("bad-input-txn"), poolSize: 1, transactionTimeout: .seconds(30))]
        try await KafkaClient.withRunningClient(configuration: configuration, logger: ClientTestSupport.logger) { client in
            try await client.createTopics([.init(name: topic, partitions: 1)])
            var results: [Result<KafkaRecord, KafkaError>] = []
            do {
                try await client.withTransaction { txn in
                    results = await txn.produceBatch([
                        KafkaRecord(topic: topic, value: "legal"), KafkaRecord(topic: "bad topic!", value: "x"),
                        KafkaRecord(topic: topic, value: ByteBuffer(repeating: 1, count: 2 << 20)),
                    ])
                }
            } catch {
                // A failed record makes the transaction abort-only: the commit reports it.
            }
            #expect(results.count == 3)
            guard results.count == 3, case .failure(let error) = results[1], case .failure(let sizeError) = results[2] else {
                Issue.record("the illegal records did not fail: \(results)")
                return
            }
            #expect(error.code == .invalidArgument, "\(error)")
            #expect(error.message.contains("bad topic!"), "\(error)")
            #expect(sizeError.code == .recordTooLarge, "\(sizeError)")
            #expect(sizeError.message.contains("transactional pool"), "\(sizeError)")
            try await client.deleteTopic(topic)
        }
    }
}
