import Klife

enum ConsumingSnippets {
    static func fetch(client: KafkaClient) async throws {
        // snippet.begin fetch-one
        let records = try await client.fetch(topic: "orders", partition: 0, offset: 1_000)
        for record in records {
            print(record.offset!, record.keyString ?? "-", record.valueString ?? "")
        }
        // snippet.end
    }

    static func fetchMany(client: KafkaClient) async {
        // snippet.begin fetch-many
        let positions = [
            KafkaFetchPosition(topic: "orders", partition: 0, offset: 0),
            KafkaFetchPosition(topic: "orders", partition: 1, offset: 0),
        ]
        let results = await client.fetch(positions, options: KafkaFetchOptions(isolationLevel: .readUncommitted))
        for (position, result) in results {
            switch result {
            case .success(let records): print(position.partition, records.count)
            case .failure(let error): print(position.partition, error.message)
            }
        }
        // snippet.end
    }

    static func fetchLazily(client: KafkaClient) async throws {
        // snippet.begin fetch-lazy
        let positions = (0..<8).map { KafkaFetchPosition(topic: "orders", partition: Int32($0), offset: 0) }
        let options = KafkaFetchOptions(maxBytes: 1 << 20, decompression: .lazy)
        for (position, result) in await client.fetchPartitions(positions, options: options) {
            let fetched = try result.get()
            for batch in fetched.batches {
                let records = try batch.records()  // decompressed now, freed when dropped
                print(position.partition, records.count)
            }
            print("continue at", fetched.nextOffset)
        }
        // snippet.end
    }

    static func fetchAsync(client: KafkaClient) async throws {
        // snippet.begin fetch-async
        let stream = try client.fetchAsync([KafkaFetchPosition(topic: "orders", partition: 0, offset: 0)])
        for await (position, result) in stream {
            print(position, (try? result.get().count) ?? 0)
        }
        // snippet.end
    }

    static func consumerGroupClosure(client: KafkaClient) throws {
        // snippet.begin group-closure
        let configuration = KafkaConsumerGroupConfiguration(
            groupID: "order-processor", topics: ["orders"], offsetResetPolicy: .earliest)
        let member = try client.startConsumerGroup(configuration) { batch in
            for record in batch.records {
                print(batch.topic, batch.partition, record.offset!, record.valueString ?? "")
            }
            return .commit  // or .retry: the same records come again
        }
        // snippet.end
        _ = member
    }

    static func groupPattern(client: KafkaClient) throws {
        // snippet.begin group-pattern
        let configuration = KafkaConsumerGroupConfiguration(
            groupID: "audit-archiver", topicPattern: #"audit\.[a-z]+"#, offsetResetPolicy: .earliest)
        let member = try client.startConsumerGroup(configuration) { batch in
            print(batch.topic, batch.records.count)  // audit.orders, audit.payments, ...
            return .commit
        }
        // snippet.end
        _ = member
    }

    // snippet.begin group-handler
    struct OrderHandler: KafkaConsumerGroupHandler {
        func handle(_ batch: KafkaConsumerBatch) async throws -> KafkaConsumerBatchResult {
            try await store(batch.records)  // a thrown error retries the batch
            return .commit
        }

        func partitionStopped(_ partition: KafkaTopicPartition, reason: KafkaPartitionStopReason) async {
            print("no longer consuming \(partition): \(reason)")
        }

        func store(_ records: [KafkaRecord]) async throws {}
    }
    // snippet.end

    static func consumerGroupManual(client: KafkaClient) async throws {
        // snippet.begin group-manual
        var configuration = KafkaConsumerGroupConfiguration(groupID: "exporter", topics: ["orders"])
        configuration.defaultTopicOptions.handlerMaxBatchSize = .records(500)
        let member = try client.startConsumerGroup(configuration)
        for try await batch in member.batches {
            print("exporting \(batch.records.count) records of \(batch.topic)/\(batch.partition)")
            try batch.commit()
        }
        // snippet.end
    }

    static func partitionConsumer(client: KafkaClient) async throws {
        // snippet.begin partition-consumer
        let consumer = try client.partitionConsumer(
            [KafkaFetchPosition(topic: "orders", partition: 0, offset: 0),
             KafkaFetchPosition(topic: "orders", partition: 1, offset: 0)],
            offsetReset: .earliest)
        for try await batch in consumer {
            for record in batch.records { print(batch.partition, record.offset!, record.valueString ?? "") }
            // Store batch.nextOffset to resume from there.
        }
        // snippet.end
    }

    static func consumerGroupStop(client: KafkaClient) async throws {
        // snippet.begin group-stop
        let member = try client.startConsumerGroup(
            KafkaConsumerGroupConfiguration(groupID: "g", topics: ["orders"]), handler: OrderHandler())
        // ...
        await member.stop()  // finishes the current batch, commits, leaves the group
        // snippet.end
    }
}
