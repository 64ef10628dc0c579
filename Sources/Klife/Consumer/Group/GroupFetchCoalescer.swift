import Synchronization

/// Merges the fetches of one member's partition workers: fetches waiting for the same leader broker (and the
/// same isolation level and size) go out as one Fetch request. Per broker at most the fetcher's
/// ``KafkaFetcherConfiguration/maxInFlightRequests`` requests are in flight; fetches arriving meanwhile wait
/// and go together in the next one, after the fetcher's ``KafkaFetcherConfiguration/linger``. A slow or
/// unreachable broker holds up only the partitions it leads.
final class GroupFetchCoalescer: Sendable {
    typealias Outcome = Result<KafkaFetchedPartition, KafkaError>

    private struct Lane: Hashable {
        var broker: Int32
        var isolationLevel: KafkaIsolationLevel
        var maxBytes: Int
    }

    private struct Waiter {
        var position: KafkaFetchPosition
        var continuation: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var pending: [Lane: [Waiter]] = [:]
        var inFlight: [Lane: Int] = [:]
        var finished = false
    }

    private let client: KafkaClient
    private let fetcherName: String?
    private let linger: Duration
    private let maxInFlight: Int
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation

    init(client: KafkaClient, fetcherName: String?) {
        self.client = client
        self.fetcherName = fetcherName
        let fetcher = client.configuration.fetcher(named: fetcherName ?? client.configuration.defaultFetcher)
        self.linger = fetcher?.linger ?? .zero
        self.maxInFlight = max(1, fetcher?.maxInFlightRequests ?? 1)
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// One fetch of `partition` from `offset`, sent with whatever else waits for the same broker.
    func fetch(_ partition: KafkaTopicPartition, offset: Int64, lastFetchedEpoch: Int32?, options: KafkaConsumerTopicOptions) async -> Outcome {
        let broker = (try? client.cluster.leader(of: partition))?.nodeID ?? -1
        let lane = Lane(broker: broker, isolationLevel: options.isolationLevel, maxBytes: options.fetchMaxBytes)
        let position = KafkaFetchPosition(
            topic: partition.topic, partition: partition.partition, offset: offset, lastFetchedEpoch: lastFetchedEpoch)
        return await withCheckedContinuation { continuation in
            let accepted = state.withLock { state -> Bool in
                guard !state.finished else { return false }
                state.pending[lane, default: []].append(Waiter(position: position, continuation: continuation))
                return true
            }
            guard accepted else {
                continuation.resume(returning: .failure(KafkaError(.clientNotRunning, "the consumer group member has stopped")))
                return
            }
            wakeupContinuation.yield()
        }
    }

    /// Sends the waiting fetches until ``finish()`` or cancellation; then fails whatever still waits.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await _ in wakeups {
                if linger > .zero { try? await Task.sleep(for: linger) }
                let ready = state.withLock { state -> [(Lane, [Waiter])] in
                    var ready: [(Lane, [Waiter])] = []
                    for (lane, waiters) in state.pending where !waiters.isEmpty && state.inFlight[lane, default: 0] < maxInFlight {
                        ready.append((lane, waiters))
                        state.inFlight[lane, default: 0] += 1
                    }
                    for (lane, _) in ready { state.pending[lane] = nil }
                    return ready
                }
                for (lane, waiters) in ready {
                    group.addTask { await self.send(lane, waiters) }
                }
            }
        }
        finish()
    }

    /// No more fetches: waiting ones fail, ``run()`` ends.
    func finish() {
        let abandoned = state.withLock { state -> [Waiter] in
            state.finished = true
            defer { state.pending = [:] }
            return state.pending.values.flatMap { $0 }
        }
        wakeupContinuation.finish()
        for waiter in abandoned {
            waiter.continuation.resume(returning: .failure(KafkaError(.clientNotRunning, "the consumer group member has stopped")))
        }
    }

    private func send(_ lane: Lane, _ waiters: [Waiter]) async {
        let options = KafkaFetchOptions(fetcher: fetcherName, isolationLevel: lane.isolationLevel, maxBytes: lane.maxBytes)
        // In a random order (as Klife does; KIP-74): a broker fills a response partition by partition, and a
        // partition whose first batch is larger than its share would otherwise keep crowding out the same
        // partitions behind it in every request.
        let results = await client.fetchPartitions(waiters.map(\.position).shuffled(), options: options, for: .consumerGroup)
        let more = state.withLock { state -> Bool in
            state.inFlight[lane, default: 1] -= 1
            return !(state.pending[lane]?.isEmpty ?? true)
        }
        for waiter in waiters {
            waiter.continuation.resume(
                returning: results[waiter.position]
                    ?? .failure(KafkaError(.leaderNotAvailable, "fetch of \(waiter.position) produced no result", isRetriable: true)))
        }
        if more { wakeupContinuation.yield() }
    }
}
