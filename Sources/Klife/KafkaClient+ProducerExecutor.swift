import NIOCore

extension KafkaClient {
    /// A task executor that runs jobs on the event loop that writes `topic`'s partition `partition` and
    /// reads its acknowledgements.
    ///
    /// A task that prefers it (`Task(executorPreference:)`, `withTaskExecutorPreference(_:operation:)`,
    /// `TaskGroup.addTask(executorPreference:)`) and produces a record at a time, waiting for each
    /// (``produce(_:options:)``), runs on the same thread as the producer's drain loop: handing the record over
    /// and getting its result back cost no thread hop and no wakeup of another thread. Without it every
    /// call hops from the caller's thread to the event loop and back. In `klife bench produce --sync`
    /// (100 B records, one partition, a local broker) it cut the client's CPU per record by a quarter with
    /// one caller and by about half with 4 and 16 callers, whose throughput nearly doubled.
    ///
    /// ```swift
    /// let executor = try await client.producerTaskExecutor(topic: "orders", partition: 0)
    /// try await withTaskExecutorPreference(executor) {
    ///     for order in orders {
    ///         _ = try await client.produce(KafkaRecord(topic: "orders", partition: 0, value: order))
    ///     }
    /// }
    /// ```
    ///
    /// The task's own code then runs on that event loop too, between the connection's reads and writes:
    /// keep it short and never block in it (a blocking call holds up every request on that connection).
    /// Records of other partitions still work from such a task; those led by another broker hop as usual.
    /// The executor follows the producer's connection when the client reconnects; if the partition's
    /// leader moves to another broker, calls keep working with the hops, and a new call returns the new
    /// leader's executor. Tasks that prefer it must end before the client's event loop group shuts down.
    ///
    /// - Parameters:
    ///   - topic: the topic the task produces to.
    ///   - partition: the partition most of its records go to.
    ///   - options: ``KafkaProduceOptions/producer`` picks the producer as for ``produce(_:options:)``.
    /// - Returns: the executor of the drain loop that sends the partition's records (made here if the
    ///   producer has not sent to that broker yet).
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/clientNotRunning``,
    ///   ``KafkaError/Code/featureDisabled`` (the producer feature is off, or the producer is idempotent and the
    ///   idempotentProducer feature is off),
    ///   ``KafkaError/Code/unknownProducer``, ``KafkaError/Code/invalidArgument`` (an illegal topic name),
    ///   ``KafkaError/Code/unknownTopicOrPartition`` (the cluster has no such topic, or it is not configured
    ///   and unknown topics are disabled), ``KafkaError/Code/invalidPartition`` (the topic has no such partition),
    ///   ``KafkaError/Code/leaderNotAvailable`` (the partition has no leader right now; retriable), or a
    ///   connection error to the leader (``KafkaError/Code/brokerNotAvailable``,
    ///   ``KafkaError/Code/connectionFailed``, ...).
    public func producerTaskExecutor(
        topic: String, partition: Int32, options: KafkaProduceOptions = .init()
    ) async throws -> any TaskExecutor {
        try requireRunning()
        try requireFeature(.producer)
        let producer = try producer(named: options.producer ?? configuration.producerName(forTopic: topic))!
        let topicPartition = KafkaTopicPartition(topic: topic, partition: partition)
        try KafkaTopicConfiguration.validateTopicName(topic)
        if !configuration.acceptsRecords(forTopic: topic) {
            throw ProducerPartitioning.notConfiguredError(topic)
        }
        let partitionCount = try await cluster.topicMetadata(topic).partitionCount
        guard (0..<partitionCount).contains(partition) else {
            throw KafkaError(.invalidPartition, "topic \(topic) has no partition \(partition) (it has \(partitionCount))")
        }
        let leader = try cluster.leader(of: topicPartition)
        let (executor, isNew) = producer.driver.taskExecutor(for: topicPartition, leader: leader.nodeID)
        if isNew {
            // No drain loop has written for this broker yet: start on its connection's loop, where the
            // first write will move the executor anyway.
            let connection = try await cluster.connection(toBroker: leader.nodeID)
            executor.moveTo(connection.eventLoop)
        }
        return executor
    }
}
