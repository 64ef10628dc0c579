import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import Klife

/// The client's lifecycle without a broker: components, graceful shutdown, cancellation.
@Suite struct KafkaClientLifecycleTests {
    /// Records what the client did with it.
    final class RecordingComponent: KafkaClientComponent {
        let events = Mutex<[String]>([])
        func run() async throws {
            events.withLock { $0.append("run") }
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                events.withLock { $0.append("cancelled") }
            }
        }
        func shutdownGracefully() async { events.withLock { $0.append("graceful") } }
        var recorded: [String] { events.withLock { $0 } }
    }

    /// A client whose bootstrap server refuses connections: it runs, but never becomes ready.
    static func client() throws -> KafkaClient {
        var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 1)])
        configuration.connection.reconnectBackoff = .milliseconds(50)
        configuration.connection.reconnectBackoffMax = .milliseconds(200)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try KafkaClient(configuration: configuration, logger: logger)
    }

    static func expectNotRunning(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("accepted by a client that is not running", sourceLocation: sourceLocation)
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    static func eventually(within timeout: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout  // generous by default: CPU-heavy suites may share the process
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func componentsRunAndFinishGracefullyBeforeCancellation() async throws {
        let client = try Self.client()
        let early = try client.component("early") { RecordingComponent() }
        #expect(try client.component("early") { RecordingComponent() } === early)
        let run = Task { try await client.run() }
        #expect(await Self.eventually { early.recorded == ["run"] })
        let late = try client.component("late") { RecordingComponent() }
        #expect(await Self.eventually { late.recorded == ["run"] })

        client.shutdownGracefully()
        try await run.value
        #expect(early.recorded == ["run", "graceful", "cancelled"])
        #expect(late.recorded == ["run", "graceful", "cancelled"])
        #expect(!client.isReady)
    }

    /// Finishes its graceful step only when released, holding the client in its shutting-down phase.
    final class SlowToFinishComponent: KafkaClientComponent {
        let release = AsyncStream<Void>.makeStream()
        let finishing = Atomic<Bool>(false)
        func run() async throws {
            try? await Task.sleep(for: .seconds(3600))
        }
        func shutdownGracefully() async {
            finishing.store(true, ordering: .releasing)
            for await _ in release.stream { break }
        }
    }

    @Test func noComponentIsCreatedOnceAShutdownHasBegun() async throws {
        let client = try Self.client()
        let slow = try client.component("slow") { SlowToFinishComponent() }
        let run = Task { try await client.run() }
        try #require(await Self.eventually { client.isRunning })
        client.shutdownGracefully()
        try #require(await Self.eventually { slow.finishing.load(ordering: .acquiring) })
        // A component made now would never run: a consumer group's `batches` would never end, a producer's
        // records never go out. The call fails instead; the existing ones are still found.
        do {
            let late = try client.component("late") { RecordingComponent() }
            Issue.record("created \(late) while the client was shutting down")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
        #expect(try client.component("slow") { SlowToFinishComponent() } === slow)
        await #expect(throws: KafkaError.self) { try client.startConsumerGroup(.init(groupID: "g", topics: ["t"])) }
        slow.release.continuation.yield()
        try await run.value
        do {
            _ = try client.component("after") { RecordingComponent() }
            Issue.record("created a component after the client stopped")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
    }

    /// Ignores cancellation until released, holding `run()`'s task group open after the run was cancelled.
    final class StubbornComponent: KafkaClientComponent {
        // A continuation, not an AsyncStream: iterating a stream ends when the task is cancelled.
        private let gate = TimeLimitedOperationTests.Gate()
        let running = Atomic<Bool>(false)
        func run() async throws {
            running.store(true, ordering: .releasing)
            await gate.wait()
        }
        func release() { gate.open() }
        func shutdownGracefully() async {}
    }

    @Test func noComponentIsCreatedWhileACancelledRunWindsDown() async throws {
        let client = try Self.client()
        let stubborn = try client.component("stubborn") { StubbornComponent() }
        let run = Task { try await client.run() }
        try #require(await Self.eventually { stubborn.running.load(ordering: .acquiring) })
        run.cancel()
        // The run waits for the stubborn component; meanwhile calls are refused and nothing new is made, since
        // nothing would start it (a produce would wait forever for a producer that never sends).
        #expect(await Self.eventually { !client.isRunning })
        #expect(throws: KafkaError.self) { try client.requireRunning() }
        do {
            let late = try client.component("late") { RecordingComponent() }
            Issue.record("created \(late) while a cancelled client wound down")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
        #expect(throws: KafkaError.self) { try client.fetchAsync([KafkaFetchPosition(topic: "t", partition: 0, offset: 0)]) }
        stubborn.release()
        try await run.value
    }

    @Test func aShutdownBeforeTheRunEndsThatRunOnceStarted() async throws {
        let client = try Self.client()
        let component = try client.component("c") { RecordingComponent() }
        // As when a task was made to run the client but had not begun when the shutdown came.
        client.shutdownGracefully()
        let finished = Atomic<Bool>(false)
        let run = Task {
            try await client.run()
            finished.store(true, ordering: .releasing)
        }
        let ended = await Self.eventually { finished.load(ordering: .acquiring) }
        if !ended { run.cancel() }
        try await run.value
        #expect(ended, "the run ignored the shutdown requested before it")
        #expect(component.recorded.contains("graceful"))
        #expect(throws: KafkaError.self) { try client.requireRunning() }
    }

    /// Logs its steps into a shared log; `first` finishes in the shutdown's first step, running `whileFinishing`.
    final class OrderedComponent: KafkaClientComponent {
        let name: String
        let finishesFirst: Bool
        let whileFinishing: @Sendable () async -> Void
        init(_ name: String, first: Bool, whileFinishing: @escaping @Sendable () async -> Void = {}) {
            self.name = name
            self.finishesFirst = first
            self.whileFinishing = whileFinishing
        }
        func run() async throws {
            OrderedComponent.append("\(name) run")
            try? await Task.sleep(for: .seconds(3600))
        }
        func shutdownGracefully() async {
            OrderedComponent.append("\(name) finishing")
            await whileFinishing()
            OrderedComponent.append("\(name) finished")
        }
        static let shared = Mutex<[String]>([])
        static func append(_ entry: String) { shared.withLock { $0.append(entry) } }
        static var entries: [String] { shared.withLock { $0 } }
    }

    @Test func consumersFinishFirstWhileTheClientStillTakesWork() async throws {
        let client = try Self.client()
        let calls = Mutex<[String]>([])
        _ = try client.component("producer") { OrderedComponent("producer", first: false) }
        _ = try client.component("group") {
            OrderedComponent("group", first: true) {
                // A handler finishing its batch: records are still taken, a producer used for the first time runs.
                calls.withLock { $0.append(client.isRunning ? "records taken" : "records refused") }
                do {
                    _ = try client.component("late-producer") { OrderedComponent("late-producer", first: false) }
                    _ = await Self.eventually { OrderedComponent.entries.contains("late-producer run") }
                } catch {
                    calls.withLock { $0.append("late producer refused: \(error)") }
                }
                // No member joins while members leave.
                do {
                    _ = try client.startConsumerGroup(.init(groupID: "g", topics: ["t"]))
                    calls.withLock { $0.append("group started") }
                } catch {
                    calls.withLock { $0.append("group refused") }
                }
            }
        }
        let run = Task { try await client.run() }
        try #require(await Self.eventually { OrderedComponent.entries.contains("group run") && OrderedComponent.entries.contains("producer run") })
        client.shutdownGracefully()
        try await run.value
        #expect(calls.withLock { $0 } == ["records taken", "group refused"])
        let log = OrderedComponent.entries
        let groupFinished = try #require(log.firstIndex(of: "group finished"), "\(log)")
        for name in ["producer", "late-producer"] {
            let finishing = try #require(log.firstIndex(of: "\(name) finishing"), "\(log)")
            #expect(finishing > groupFinished, "\(name) was asked to finish before the group had: \(log)")
            #expect(log.contains("\(name) run"), "\(log)")
        }
        #expect(!client.isRunning)
    }

    @Test func cancellationStopsWithoutTheGracefulStep() async throws {
        let client = try Self.client()
        let component = try client.component("c") { RecordingComponent() }
        let run = Task { try await client.run() }
        #expect(await Self.eventually { component.recorded == ["run"] })
        run.cancel()
        try await run.value
        #expect(component.recorded == ["run", "cancelled"])
    }

    @Test func runsOnlyOnceAndRejectsCallsWhenStopped() async throws {
        let client = try Self.client()
        do {
            try client.requireRunning()
            Issue.record("a client that never ran counts as running")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
        #expect(!client.isRunning)
        // The produce path checks `isRunning` without the lock, then reports through the general path.
        await Self.expectNotRunning { try await client.produceAsync(KafkaRecord(topic: "t", value: "v")) }
        let run = Task { try await client.run() }
        #expect(await Self.eventually { (try? client.requireRunning()) != nil })
        #expect(client.isRunning)
        do {
            try await client.run()
            Issue.record("run() ran twice")
        } catch let error as KafkaError {
            #expect(error.code == .clientNotRunning)
        }
        client.shutdownGracefully()
        try await run.value
        #expect(throws: KafkaError.self) { try client.requireRunning() }
        #expect(!client.isRunning)
        await Self.expectNotRunning { try await client.produceAsync(KafkaRecord(topic: "t", value: "v")) }
        await #expect(throws: KafkaError.self) { try await client.waitUntilReady(timeout: .seconds(1)) }
    }

    @Test func waitUntilReadyTimesOutNamingTheBootstrapServers() async throws {
        let client = try Self.client()
        let run = Task { try await client.run() }
        let start = ContinuousClock.now
        do {
            try await client.waitUntilReady(timeout: .milliseconds(300))
            Issue.record("became ready without a broker")
        } catch let error as KafkaError {
            #expect(error.code == .requestTimedOut)
            #expect(error.message.contains("127.0.0.1:1"))
        }
        // The server never answers: only the timeout can end the wait (bound generous for loaded CI machines).
        #expect(ContinuousClock.now - start < .seconds(20))
        run.cancel()
        try await run.value
    }

    @Test func aServiceGroupShutsTheClientDownGracefully() async throws {
        let client = try Self.client()
        let component = try client.component("c") { RecordingComponent() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(services: [client], logger: logger)
        let run = Task { try await group.run() }
        #expect(await Self.eventually { component.recorded == ["run"] })
        await group.triggerGracefulShutdown()
        try await run.value
        #expect(component.recorded == ["run", "graceful", "cancelled"])
    }
}
