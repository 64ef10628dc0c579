import NIOCore
import NIOConcurrencyHelpers

/// What a ``ProducerDriver`` needs from the rest of the client: the network and metadata.
protocol ProducerDriverBackend<Entry>: Sendable {
    associatedtype Entry: Sendable

    /// A request that was handed to the connection and whose answer is pending.
    associatedtype PendingRequest: Sendable
    /// The connection a request went out on.
    associatedtype Link: Sendable

    /// Encodes a planned Produce request and hands it to the connection of its sink's broker, without
    /// waiting for the answer. The drain loop awaits this before planning the next request, so one sink's
    /// requests reach the wire in plan order (which idempotent sequences rely on). Must not throw: a
    /// failure is returned as the pending request's result.
    ///
    /// - Parameter link: when earlier requests of the sink are still unanswered, the connection they went
    ///   out on. The request must go out on that connection or not at all (``ProduceRequestResult/notSent``
    ///   when it is closed): on another connection the broker could read it before an earlier request that
    ///   is about to fail, and a partition's later batch could land before its earlier one.
    /// - Returns: the pending request and the connection it went out on (nil if it went out on none).
    func write(_ plan: ProduceRequestPlan<Entry>, pinnedTo link: Link?) async -> (PendingRequest, Link?)
    /// Calls `answered` exactly once with the result of a written request: on the thread its answer arrives
    /// on (the connection's event loop), or before returning when the result is already known. Every
    /// failure is a ``ProduceRequestResult`` too.
    func whenAnswered(_ request: PendingRequest, _ answered: @escaping @Sendable (ProduceRequestResult) -> Void)
    /// InitProducerId for an idempotent producer: a fresh producer id, or (KIP-360) an epoch bump of the
    /// current one. Throws a ``KafkaError`` carrying the broker's code when the broker refuses.
    func fetchProducerID(_ request: ProducerIDRequest) async throws -> (id: Int64, epoch: Int16)
    /// Refreshes metadata and returns the current leader (nil = unknown) of each given partition.
    func refreshLeaders(of partitions: [ProducerTopicPartition]) async -> [(ProducerTopicPartition, Int32?)]
    /// Delivers results. Called outside the driver's lock, in per-partition order. The completions are
    /// the backend's to change: their records' fields can move into the results without reference counting.
    /// Afterwards the driver empties the record arrays and keeps some for new batches to reuse.
    func deliver(_ completions: inout [ProducerStateMachineOutput<Entry>.Completion])
    /// Reports the bytes buffered and not yet acknowledged (a metrics sample; default: ignored).
    func observeBufferedBytes(_ bytes: Int)
    /// The event loop of the connection `link` (default: nil). A sink's drain loop and its requests' waits
    /// then run on it: writes and answers without a thread hop each.
    func eventLoop(of link: Link) -> (any EventLoop)?
}

extension ProducerDriverBackend {
    func eventLoop(of link: Link) -> (any EventLoop)? { nil }
}

/// Runs a ``ProducerStateMachine``: the lock around it, a drain loop per sink (started on demand inside
/// ``run()``'s task group, with up to `maxInFlightRequests` sends in flight each), the producer-id,
/// metadata and expiry loops, and the waits of callers (buffer space, flush).
final class ProducerDriver<Backend: ProducerDriverBackend>: Sendable {
    typealias Entry = Backend.Entry
    typealias Machine = ProducerStateMachine<Entry>

    private struct State: Sendable {
        var machine: Machine
        var signals: [ProducerSinkID: ProducerWakeSignal] = [:]
        var bufferWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        /// Waiters resumed (bytes reserved) before they suspended.
        var resumedEarly: Set<UInt64> = []
        var flushWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID: UInt64 = 1
        var isStopped = false
        /// Completions and flush waiters in the order the machine produced them; delivered by one task at
        /// a time so that results of a partition reach callers in order.
        var pendingDeliveries: [Machine.Output.Completion] = []
        var pendingFlushResumes: [UInt64] = []
        var isDelivering = false
        /// The executor each sink's drain loop runs on (and callers' tasks may prefer), made on first use.
        var executors: [ProducerSinkID: EventLoopTaskExecutor] = [:]

        mutating func executor(of sink: ProducerSinkID, startingOn eventLoop: any EventLoop) -> EventLoopTaskExecutor {
            if let known = executors[sink] { return known }
            let made = EventLoopTaskExecutor(eventLoop: eventLoop)
            executors[sink] = made
            return made
        }
    }

    let backend: Backend
    private let state: NIOLockedValueBox<State>
    private let eventLoop: any EventLoop
    private let newSinks: AsyncStream<ProducerSinkID>
    private let newSinksContinuation: AsyncStream<ProducerSinkID>.Continuation
    private let metadataSignal: ProducerWakeSignal
    private let producerIDSignal: ProducerWakeSignal
    private let expirySignal: ProducerWakeSignal

    init(configuration: Machine.Configuration, backend: Backend, eventLoop: any EventLoop) {
        self.backend = backend
        self.eventLoop = eventLoop
        self.state = NIOLockedValueBox(State(machine: Machine(configuration: configuration)))
        (self.newSinks, self.newSinksContinuation) = AsyncStream.makeStream()
        self.metadataSignal = ProducerWakeSignal(eventLoop: eventLoop)
        self.producerIDSignal = ProducerWakeSignal(eventLoop: eventLoop)
        self.expirySignal = ProducerWakeSignal(eventLoop: eventLoop)
    }

    var configuration: Machine.Configuration { state.withLockedValue { $0.machine.configuration } }

    // MARK: Running

    /// Runs the loops until cancelled; then fails whatever is left with ``ProducerFailure/shutdown``.
    ///
    /// Reached through the client's component protocol, i.e. from unspecialized generic code; the
    /// `@_specialize` makes the network backend's loops (and everything they call) run specialized code
    /// instead of generic code that looks up type metadata and witnesses on every call.
    @_specialize(where Backend == ProducerNetworkBackend)
    func run() async {
        await withDiscardingTaskGroup { group in
            if configuration.idempotent {
                group.addTask { await self.producerIDLoop() }
            }
            group.addTask { await self.metadataLoop() }
            group.addTask { await self.expiryLoop() }
            for await sink in newSinks {
                group.addTask { await self.drainLoop(sink) }
            }
        }
    }

    /// Stops: fails everything still buffered or in flight and refuses new records.
    func stop() {
        update { state in
            state.isStopped = true
            return ((), state.machine.failAll(with: .shutdown, shutDown: true))
        }
        newSinksContinuation.finish()
        metadataSignal.wake()
        producerIDSignal.wake()
        expirySignal.wake()
    }

    var isStopped: Bool { state.withLockedValue { $0.isStopped } }

    /// The executor of the drain loop that carries `topicPartition`'s records: its sink's, or, while the
    /// partition has none yet, that of the first lane of `leader`. It runs jobs on the event loop of the
    /// connection the sink last wrote to (the driver's loop before its first write).
    ///
    /// Returns whether it was made by this call (no drain loop has used it yet).
    func taskExecutor(for topicPartition: ProducerTopicPartition, leader: Int32) -> (EventLoopTaskExecutor, isNew: Bool) {
        state.withLockedValue { state in
            let sink = state.machine.partitions[topicPartition]?.sink ?? ProducerSinkID(broker: leader, lane: 0)
            let isNew = state.executors[sink] == nil
            return (state.executor(of: sink, startingOn: eventLoop), isNew)
        }
    }

    /// Runs a sink's loop on the event loop of the connection it writes to (see ``EventLoopTaskExecutor``):
    /// a lone request then costs one hop to the loop (the caller's wake) and one back (its result), not
    /// four (wake, write, answer, delivery).
    private func drainLoop(_ sinkID: ProducerSinkID) async {
        let executor = state.withLockedValue { $0.executor(of: sinkID, startingOn: eventLoop) }
        await withTaskExecutorPreference(executor) {
            await drainLoop(sinkID, executor: executor)
        }
    }

    private func drainLoop(_ sinkID: ProducerSinkID, executor: EventLoopTaskExecutor) async {
        let signal = state.withLockedValue { $0.signals[sinkID] }!
        // The connection of the sink's unanswered requests. A request written while earlier ones are
        // unanswered goes on the same connection, so the broker reads a sink's requests in send order; if
        // an earlier one reached no connection (or its connection closed), the later ones are not sent
        // either until the earlier ones are answered and can be retried first.
        var link: Backend.Link?
        var chainBroken = false
        let pendingAnswers = ProducerPendingAnswers()
        while !Task.isCancelled {
            let (action, continuing) = state.withLockedValue { state -> (Machine.SinkAction, Bool) in
                if state.isStopped { return (.wait(until: nil), false) }
                let action = state.machine.nextAction(for: sinkID, now: .now())
                return (action, state.machine.hasEarlierRequestsInFlight(on: sinkID))
            }
            if isStopped { break }
            switch action {
            case .send(let plan):
                backend.observeBufferedBytes(bufferedBytes)
                if !continuing {
                    link = nil
                    chainBroken = false
                }
                if chainBroken {
                    requestCompleted(plan.requestID, result: .notSent(message: "an earlier request to this broker was not sent"))
                    continue
                }
                let (pending, written) = await backend.write(plan, pinnedTo: link)
                if let written {
                    link = written
                    if let loop = backend.eventLoop(of: written), loop !== executor.eventLoop { executor.moveTo(loop) }
                } else {
                    chainBroken = true
                }
                // Only the id is captured, not the plan: delivery then holds the batches' record arrays
                // alone and moves the records out of them instead of copying them.
                let requestID = plan.requestID
                pendingAnswers.add()
                backend.whenAnswered(pending) { result in
                    self.requestCompleted(requestID, result: result)
                    pendingAnswers.remove()
                }
            case .wait(let deadline):
                await signal.wait(until: deadline, timerLoop: executor.eventLoop)
            }
        }
        await pendingAnswers.waitUntilNone()
    }

    private func requestCompleted(_ requestID: UInt64, result: ProduceRequestResult) {
        update { ((), $0.machine.requestCompleted(requestID, result: result, now: .now())) }
    }

    /// Sends the InitProducerId the machine asks for (the first one, and KIP-360 bumps), one at a time.
    private func producerIDLoop() async {
        var failures = 0
        while !Task.isCancelled && !isStopped {
            guard let request = state.withLockedValue({ $0.machine.producerIDRequest }) else {
                await producerIDSignal.wait(until: nil)
                continue
            }
            do {
                let (id, epoch) = try await backend.fetchProducerID(request)
                failures = 0
                update { ((), $0.machine.producerIDReceived(id: id, epoch: epoch)) }
            } catch {
                let kafkaError = error as? KafkaError
                update { ((), $0.machine.producerIDRequestFailed(errorCode: kafkaError?.kafkaCode, message: kafkaError?.message)) }
                // A broker that keeps refusing (an authorization error until an ACL is fixed) is asked again
                // less and less often, up to 32 retry backoffs apart.
                let delay = configuration.retryBackoff * (1 << min(failures, 5))
                failures += 1
                await producerIDSignal.wait(until: .now() + delay)
            }
        }
    }

    private func metadataLoop() async {
        while !Task.isCancelled {
            await metadataSignal.wait(until: nil)
            if Task.isCancelled || isStopped { return }
            let partitions = state.withLockedValue { Array($0.machine.knownPartitions) }
            let leaders = await backend.refreshLeaders(of: partitions)
            let stillMissing = update { state -> (Bool, Machine.Output) in
                var output = state.machine.updateLeaders(leaders)
                output.refreshMetadata = false
                return (!state.machine.partitionsWithoutLeader.isEmpty, output)
            }
            if stillMissing {
                // Still no leader for some partitions: ask again after the backoff, not in a tight loop.
                let backoff = max(configuration.retryBackoff, .milliseconds(50))
                await metadataSignal.wait(until: .now() + backoff)
                metadataSignal.wake()
            }
        }
    }

    private func expiryLoop() async {
        while !Task.isCancelled && !isStopped {
            let now = NIODeadline.now()
            update { ((), $0.machine.expireBatches(now: now)) }
            let next = state.withLockedValue { $0.machine.nextExpiry }
            let cap = now + .seconds(1)
            await expirySignal.wait(until: next.map { max(min($0, cap), now + .milliseconds(10)) } ?? cap)
        }
    }

    // MARK: Appending

    /// One record to append: its engine entry, estimated size, partition and current leader.
    struct Item {
        var entry: Entry
        var size: Int
        var topicPartition: ProducerTopicPartition
        var leader: Int32?
    }

    /// Appends records in order, waiting for buffer space as needed (backpressure).
    ///
    /// Returns the number appended: all of them, unless the task was cancelled or the producer stopped
    /// while waiting for space (the rest were not appended and the caller must fail them).
    func append<Items: Collection<Item>>(_ items: Items) async -> Int {
        var appended = 0
        var index = items.startIndex
        var reserved = false
        while index != items.endIndex {
            var waiterID: UInt64?
            update { state -> ((), Machine.Output) in
                var output = Machine.Output()
                guard !state.isStopped else { return ((), output) }
                let now = NIODeadline.now()  // one clock read per lock hold, not per record
                while index != items.endIndex {
                    let result = state.machine.append(
                        items[index].entry, size: items[index].size, to: items[index].topicPartition,
                        leader: items[index].leader, now: now, reserved: reserved)
                    reserved = false
                    switch result {
                    case .appended(let wake):
                        if let wake { output.wake.append(wake) }
                    case .appendedWithoutLeader:
                        output.refreshMetadata = true
                    case .bufferFull:
                        let id = state.nextWaiterID
                        state.nextWaiterID += 1
                        state.machine.registerBufferWaiter(id: id, bytes: items[index].size)
                        waiterID = id
                        return ((), output)
                    }
                    appended += 1
                    index = items.index(after: index)
                }
                return ((), output)
            }
            guard let waiterID else {
                if index != items.endIndex { return appended }  // stopped
                break
            }
            guard await waitForBufferSpace(waiterID, bytes: items[index].size) else { return appended }
            reserved = true
        }
        return appended
    }

    /// Appends one record if there is buffer space now (and no earlier caller waits for space); false when
    /// it was not appended (buffer full or producer stopped): the caller then goes through ``append(_:)``.
    /// `entry` makes the record's entry, under the lock and only once it is sure to be appended: the caller
    /// can move its record's buffers into it (no copy, and nothing to give back when it is refused).
    func appendNow(size: Int, to topicPartition: ProducerTopicPartition, leader: Int32?, entry: () -> Entry) -> Bool {
        update { state -> (Bool, Machine.Output) in
            var output = Machine.Output()
            guard !state.isStopped, state.machine.hasBufferRoom(forBytes: size) else { return (false, output) }
            switch state.machine.append(entry(), size: size, to: topicPartition, leader: leader, now: .now(), reserved: false) {
            case .appended(let wake):
                if let wake { output.wake.append(wake) }
            case .appendedWithoutLeader:
                output.refreshMetadata = true
            case .bufferFull:
                return (false, output)
            }
            return (true, output)
        }
    }

    /// Waits until the waiter is resumed with its bytes reserved. False if cancelled or stopped first.
    private func waitForBufferSpace(_ id: UInt64, bytes: Int) async -> Bool {
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow = update { state -> (Bool?, Machine.Output) in
                    if state.resumedEarly.remove(id) != nil { return (true, .init()) }
                    if state.isStopped { return (false, .init()) }
                    // Cancelled before the continuation was stored: `onCancel` found nothing to resume. Only while
                    // the machine still holds the waiter: once granted (its resume may be on its way), the
                    // continuation is stored as usual and the reservation is given back below.
                    if Task.isCancelled, state.machine.hasBufferWaiter(id: id) {
                        return (false, state.machine.cancelBufferWaiter(id: id, reservedBytes: nil))
                    }
                    state.bufferWaiters[id] = continuation
                    return (nil, .init())
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let continuation = update { state -> (CheckedContinuation<Bool, Never>?, Machine.Output) in
                // Once the machine has granted the space, the resume is on its way (`execute`) and the
                // reservation goes back after it; taking the continuation here would leak the reservation.
                guard state.machine.hasBufferWaiter(id: id),
                      let continuation = state.bufferWaiters.removeValue(forKey: id) else { return (nil, .init()) }
                return (continuation, state.machine.cancelBufferWaiter(id: id, reservedBytes: nil))
            }
            continuation?.resume(returning: false)
        }
        if granted && isStopped { return false }
        if !granted || Task.isCancelled {
            // The reservation (if any) goes back.
            if granted {
                update { ((), $0.machine.cancelBufferWaiter(id: id, reservedBytes: bytes)) }
            }
            return false
        }
        return true
    }

    // MARK: Flush

    /// Waits until every buffered record is acknowledged or failed; lingering batches go out at once.
    func flush() async {
        let id = state.withLockedValue { state -> UInt64 in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = update { state -> (Bool, Machine.Output) in
                    // Cancelled already: `onCancel` ran before there was a waiter to remove.
                    if Task.isCancelled { return (true, .init()) }
                    var (done, output) = state.machine.beginFlush(waiterID: id)
                    // Nothing buffered, but results taken from the engine may still be on their way to their
                    // callers (another thread delivering them): the flush returns after they are delivered,
                    // queued behind them, so a caller sees every callback of the records it flushed.
                    if done && state.isDelivering {
                        state.pendingFlushResumes.append(id)
                        done = false
                    }
                    if !done { state.flushWaiters[id] = continuation }
                    return (done, output)
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLockedValue { state in
                state.machine.cancelFlush(waiterID: id)
                return state.flushWaiters.removeValue(forKey: id)
            }
            continuation?.resume()
        }
    }

    /// Flush calls waiting (for records, or for results still being delivered).
    var flushWaiterCount: Int { state.withLockedValue { $0.flushWaiters.count } }

    /// Records appended and not yet completed.
    var bufferedRecords: Int { state.withLockedValue { $0.machine.bufferedRecords } }

    /// Bytes appended and not yet completed.
    var bufferedBytes: Int { state.withLockedValue { $0.machine.bufferedBytes } }

    // MARK: Executing outputs

    private static func createSignals(
        for sinks: [ProducerSinkID], in state: inout State, eventLoop: any EventLoop
    ) -> [ProducerSinkID] {
        var created: [ProducerSinkID] = []
        for sink in sinks where state.signals[sink] == nil {
            state.signals[sink] = ProducerWakeSignal(eventLoop: eventLoop)
            created.append(sink)
        }
        return created
    }

    /// Runs `body` under the lock; queues the output's completions for in-order delivery and runs its
    /// other side effects after unlocking.
    @discardableResult
    private func update<T>(_ body: (inout State) -> (T, Machine.Output)) -> T {
        let (value, output, created, deliverNow) = state.withLockedValue {
            state -> (T, Machine.Output, [ProducerSinkID], Bool) in
            var (value, output) = body(&state)
            let created = Self.createSignals(for: output.wake, in: &state, eventLoop: eventLoop)
            var deliverNow = false
            if !output.completions.isEmpty || !output.resumedFlushWaiters.isEmpty {
                if state.pendingDeliveries.isEmpty {
                    swap(&state.pendingDeliveries, &output.completions)  // the usual case: no copy
                } else {
                    state.pendingDeliveries.append(contentsOf: output.completions)
                }
                state.pendingFlushResumes.append(contentsOf: output.resumedFlushWaiters)
                output.completions = []
                output.resumedFlushWaiters = []
                if !state.isDelivering {
                    state.isDelivering = true
                    deliverNow = true
                }
            }
            return (value, output, created, deliverNow)
        }
        // Results first, then the drain loops' wake-ups (buffer waiters and the rest go at once): on an event
        // loop, callers resumed by a result are queued ahead of the drain loop, so the records they produce
        // next are in the engine when it plans its next request. Woken first, it would send the records
        // gathered behind this answer alone, and these callers' next records would wait behind that request:
        // concurrent sync callers would settle into two groups taking turns, each request carrying half of
        // them (docs/benchmarks/latency.md, Session 10).
        if deliverNow {
            execute(output, createdSinks: created, wakingSinks: false)
            deliverPending()
            wake(output.wake)
        } else {
            execute(output, createdSinks: created)
        }
        return value
    }

    /// Delivers queued completions (then resumes the flush waiters queued after them) until the queue is
    /// empty. Only one task runs this at a time.
    private func deliverPending() {
        // The record arrays of the last completions delivered, emptied, for the engine to reuse.
        var emptied: [[ProducerPendingRecord<Entry>]] = []
        while true {
            let (completions, flushIDs) = state.withLockedValue { state -> ([Machine.Output.Completion], [UInt64]) in
                if !emptied.isEmpty { state.machine.recycleRecordArrays(&emptied) }
                if state.pendingDeliveries.isEmpty && state.pendingFlushResumes.isEmpty {
                    state.isDelivering = false
                    return ([], [])
                }
                defer {
                    state.pendingDeliveries = []
                    state.pendingFlushResumes = []
                }
                return (state.pendingDeliveries, state.pendingFlushResumes)
            }
            if completions.isEmpty && flushIDs.isEmpty { return }
            if !completions.isEmpty {
                var completions = completions
                backend.deliver(&completions)
                emptied = Self.emptiedRecordArrays(of: &completions)
                backend.observeBufferedBytes(bufferedBytes)
            }
            if !flushIDs.isEmpty {
                let continuations = state.withLockedValue { state in flushIDs.compactMap { state.flushWaiters.removeValue(forKey: $0) } }
                for continuation in continuations { continuation.resume() }
            }
        }
    }

    /// The record arrays of delivered completions worth reusing (large enough), emptied with their capacity
    /// kept; emptied here, outside the lock. The others are freed with `completions`.
    private static func emptiedRecordArrays(of completions: inout [Machine.Output.Completion]) -> [[ProducerPendingRecord<Entry>]] {
        var arrays: [[ProducerPendingRecord<Entry>]] = []
        for index in completions.indices where completions[index].records.capacity >= Machine.minSpareRecordCapacity {
            var records: [ProducerPendingRecord<Entry>] = []
            swap(&records, &completions[index].records)
            records.removeAll(keepingCapacity: true)
            arrays.append(records)
            if arrays.count == Machine.maxSpareRecordArrays { break }
        }
        return arrays
    }

    /// Runs an output's side effects other than completions and flush waiters; call without the lock.
    /// Wakes the sinks' drain loops, resumes buffer waiters and starts new drain loops and refreshes as
    /// `output` asks. With `wakingSinks` false the drain loops are left to a later ``wake(_:)``.
    private func execute(_ output: Machine.Output, createdSinks: [ProducerSinkID], wakingSinks: Bool = true) {
        for sink in createdSinks { newSinksContinuation.yield(sink) }
        if (output.wake.isEmpty || !wakingSinks) && output.resumedBufferWaiters.isEmpty && !output.refreshMetadata
            && !output.needsProducerID {
            return
        }
        var signals: [ProducerWakeSignal] = []
        var bufferWaiters: [CheckedContinuation<Bool, Never>] = []
        state.withLockedValue { state in
            if wakingSinks {
                for sink in output.wake { if let signal = state.signals[sink] { signals.append(signal) } }
            }
            for id in output.resumedBufferWaiters {
                if let continuation = state.bufferWaiters.removeValue(forKey: id) {
                    bufferWaiters.append(continuation)
                } else {
                    state.resumedEarly.insert(id)
                }
            }
        }
        for signal in signals { signal.wake() }
        let stopped = isStopped
        for continuation in bufferWaiters { continuation.resume(returning: !stopped) }
        if output.refreshMetadata { metadataSignal.wake() }
        if output.needsProducerID { producerIDSignal.wake() }
    }

    /// Wakes the drain loops of `sinks`.
    private func wake(_ sinks: [ProducerSinkID]) {
        guard !sinks.isEmpty else { return }
        let signals = state.withLockedValue { state in sinks.compactMap { state.signals[$0] } }
        for signal in signals { signal.wake() }
    }
}
