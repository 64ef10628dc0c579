/// The transaction API (Klife's `transaction/2` and `produce_batch_txn/2`).
///
/// A transaction runs on a member of a transactional pool (``KafkaTransactionalPoolConfiguration``): a
/// producer with a fixed transactional id, checked out for the transaction's duration. Records produced in
/// it and offsets sent with it become visible to read_committed readers together, when it commits, or never.
/// Each transaction costs, on top of its Produce requests, one AddPartitionsToTxn round trip per produce call
/// that reaches new partitions and one EndTxn round trip.
extension KafkaClient {
    /// Runs `body` in a transaction: commits when it returns, aborts when it throws.
    ///
    /// Produce through the ``KafkaTransaction`` handle given to `body` (an explicit handle, not Klife's
    /// implicit routing: see ``KafkaTransaction``). When every member of the pool is busy, the call waits
    /// for one; so a transaction nested in another on the same pool waits forever once the enclosing ones
    /// hold every member. Records produced with ``produce(_:options:)`` inside `body` are not part of the
    /// transaction.
    ///
    /// ```swift
    /// let offsets = try await client.withTransaction { txn in
    ///     let a = try await txn.produce(KafkaRecord(topic: "orders", value: "created"))
    ///     let b = try await txn.produce(KafkaRecord(topic: "audit", value: "order created"))
    ///     return [a.offset, b.offset]
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - options: the pool to use (default ``KafkaClient/Configuration/defaultTransactionalPool``).
    ///   - body: the transaction's work. It must not let the handle escape.
    /// - Returns: what `body` returned, once the transaction committed.
    /// - Throws: ``KafkaTransactionError`` only:
    ///   - ``KafkaTransactionError/beginError`` when no transaction started: ``KafkaError/Code/clientNotRunning``,
    ///     ``KafkaError/Code/featureDisabled`` (``KafkaClient/Feature/transactionalProducer`` disabled or unsupported
    ///     by the broker), ``KafkaError/Code/unknownTransactionalPool``, ``KafkaError/Code/cancelled`` (while
    ///     waiting for a pool member), or InitProducerId's failure (``KafkaError/Code/brokerError``,
    ///     ``KafkaError/Code/transactionTimedOut``, ``KafkaError/Code/unsupportedByBroker``, connection errors);
    ///   - ``KafkaTransactionError/closureError`` with what `body` threw; the transaction was aborted, unless
    ///     ``KafkaTransactionError/abortError`` is set (then the pool member re-initialises, which aborts it);
    ///   - ``KafkaTransactionError/commitError`` when the commit failed: the transaction's abortable error
    ///     (``KafkaError/Code/transactionAbortable``, or the code of a record that failed),
    ///     ``KafkaError/Code/producerFenced``, EndTxn's ``KafkaError/Code/brokerError``, or
    ///     ``KafkaError/Code/transactionTimedOut`` (outcome unknown); an abort follows unless the producer was
    ///     fenced or the outcome is unknown, with ``KafkaTransactionError/abortError`` set if it failed.
    @discardableResult
    public func withTransaction<T>(
        options: KafkaTransactionOptions = .init(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (KafkaTransaction) async throws -> sending T
    ) async throws -> sending T {
        let pool: TransactionalProducerPool
        let member: TransactionalProducer
        do {
            try requireRunning()
            try requireFeature(.transactionalProducer)
            pool = try transactionalPool(named: options.pool ?? configuration.defaultTransactionalPool)
            member = try await pool.checkout()
        } catch {
            throw KafkaTransactionError(beginError: ClusterManager.asKafkaError(error))
        }
        do {
            try await member.begin()
        } catch {
            pool.checkin(member)
            throw KafkaTransactionError(transactionalID: member.transactionalID, beginError: ClusterManager.asKafkaError(error))
        }
        let transaction = KafkaTransaction(producer: member)
        let result: T
        do {
            result = try await body(transaction)
        } catch {
            await transaction.close()
            var abortError: KafkaError?
            do { try await member.abort() } catch { abortError = ClusterManager.asKafkaError(error) }
            pool.checkin(member)
            if let abortError { logger.warning("transaction abort failed: \(abortError)") }
            throw KafkaTransactionError(transactionalID: member.transactionalID, closureError: error, abortError: abortError)
        }
        await transaction.close()
        do {
            try await member.commit()
        } catch {
            let commitError = ClusterManager.asKafkaError(error)
            var abortError: KafkaError?
            var outcomeUnknown = false
            switch member.machine.withLock({ $0.state }) {
            case .abortableError:
                do { try await member.abort() } catch { abortError = ClusterManager.asKafkaError(error) }
            case .fatal:
                // Fenced: the coordinator aborts the transaction. Otherwise EndTxn got no definite answer.
                outcomeUnknown = commitError.code != .producerFenced
            default:
                break
            }
            pool.checkin(member)
            throw KafkaTransactionError(
                transactionalID: member.transactionalID, commitError: commitError, abortError: abortError, commitOutcomeUnknown: outcomeUnknown)
        }
        pool.checkin(member)
        return result
    }

    /// Produces `records` in one transaction: all of them become visible to read_committed readers, or none
    /// (Klife's `produce_batch_txn`).
    ///
    /// - Returns: the records enriched with partition, offset and timestamp, in input order.
    /// - Throws: ``KafkaError`` whose ``KafkaError/transactionRecords`` holds every record, each with its
    ///   ``KafkaRecord/error``: the records that failed carry their own error (codes as at
    ///   ``KafkaTransaction/produce(_:)``), the others ``KafkaError/Code/transactionAborted``. The thrown code is
    ///   the failure that stopped the transaction when it never started (``KafkaError/Code/clientNotRunning``,
    ///   ``KafkaError/Code/featureDisabled``, ``KafkaError/Code/unknownTransactionalPool``,
    ///   ``KafkaError/Code/cancelled``, InitProducerId's failure), ``KafkaError/Code/deliveryOutcomeUnknown`` when
    ///   the commit got no definite answer (the transaction may have committed: every record carries that code
    ///   too; sending them again may duplicate them), else ``KafkaError/Code/transactionAborted`` (its
    ///   `kafkaCode` and message name the cause: a failed record, or the failed commit).
    public func produceBatchTransactionally(_ records: [KafkaRecord], options: KafkaTransactionOptions = .init()) async throws -> [KafkaRecord] {
        guard !records.isEmpty else { return [] }
        do {
            return try await withTransaction(options: options) { transaction in
                let results = await transaction.produceBatch(records)
                if results.contains(where: { if case .failure = $0 { true } else { false } }) {
                    throw FailedTransactionalBatch(results: results)
                }
                return results.map { try! $0.get() }
            }
        } catch let error as KafkaTransactionError {
            throw Self.transactionalBatchError(records, error)
        }
    }

    /// A produce result of a batch that failed, carried out of the transaction closure.
    private struct FailedTransactionalBatch: Error {
        var results: [Result<KafkaRecord, KafkaError>]
    }

    /// The error of ``produceBatchTransactionally(_:options:)``: every record with its error.
    private static func transactionalBatchError(_ records: [KafkaRecord], _ error: KafkaTransactionError) -> KafkaError {
        let batch = error.closureError as? FailedTransactionalBatch
        let cause: KafkaError = error.beginError ?? error.commitError
            ?? batch?.results.lazy.compactMap { if case .failure(let e) = $0 { e } else { nil } }.first
            ?? (error.closureError.map(ClusterManager.asKafkaError) ?? KafkaError(.transactionAborted, "the transaction failed"))
        let aborted = error.commitOutcomeUnknown
            ? KafkaError(
                .deliveryOutcomeUnknown,
                "the commit got no definite answer (\(cause.message)): the transaction may have committed, so the record may be visible",
                kafkaCode: cause.kafkaCode)
            : KafkaError(
                .transactionAborted,
                "not written: the transaction was aborted because \(cause.message)"
                    + (error.abortError.map { "; the abort failed as well (\($0.message)), the pool member re-initialises to abort it" } ?? ""),
                kafkaCode: cause.kafkaCode)
        var enriched = records
        for index in enriched.indices {
            if let batch, case .failure(let own) = batch.results[index] {
                enriched[index].error = own
            } else {
                if let batch, case .success(let produced) = batch.results[index] { enriched[index] = produced; enriched[index].offset = nil }
                enriched[index].error = error.beginError ?? aborted
            }
        }
        let failure = KafkaBatchVerificationFailure(records: enriched, failedIndices: Array(enriched.indices))
        if let beginError = error.beginError {
            return KafkaError(beginError.code, beginError.message, kafkaCode: beginError.kafkaCode, isRetriable: beginError.isRetriable, underlying: failure)
        }
        if error.commitOutcomeUnknown {
            return KafkaError(
                .deliveryOutcomeUnknown,
                "the commit of the transactional batch of \(records.count) records got no definite answer (\(cause.message)): it may have committed",
                kafkaCode: cause.kafkaCode, underlying: failure)
        }
        return KafkaError(.transactionAborted, "the transactional batch of \(records.count) records was not written: \(cause.message)",
                          kafkaCode: cause.kafkaCode, isRetriable: cause.isRetriable, underlying: failure)
    }

    // MARK: Internals

    /// The transactional pool named `name`, created (and started in the client's task group) on first use.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unknownTransactionalPool``, or
    ///   ``KafkaError/Code/clientNotRunning`` when it does not exist yet and the client is shutting down.
    func transactionalPool(named name: String) throws -> TransactionalProducerPool {
        guard let poolConfiguration = configuration.transactionalPool(named: name) else {
            throw KafkaError(
                .unknownTransactionalPool,
                "no transactional pool named \(name) is configured (configured: \(configuration.effectiveTransactionalPools.map(\.name).joined(separator: ", ")))")
        }
        return try component("transactionalPool:\(name)", as: TransactionalProducerPool.self) {
            TransactionalProducerPool(configuration: poolConfiguration, clientConfiguration: configuration, cluster: cluster, logger: logger)
        }
    }
}

extension KafkaError {
    /// Every record of a failed ``KafkaClient/produceBatchTransactionally(_:options:)``, in input order, each
    /// with its ``KafkaRecord/error``.
    public var transactionRecords: [KafkaRecord]? { (underlying as? KafkaBatchVerificationFailure)?.records }
}
