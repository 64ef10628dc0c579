import NIOCore
import Testing

@testable import Klife

/// Brokers that answer requests sent without expecting an answer (Tansu answers Produce with acks=0): the
/// answers are dropped when they come in order, anything else still closes the connection.
@Suite struct RobustnessPipelineTests {
    typealias Machine = RequestPipelineStateMachine<String>
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func id(_ action: Machine.SendAction) -> Int32 {
        if case .write(let id, _) = action { return id }
        Issue.record("not written: \(action)")
        return -1
    }

    func isNone(_ action: Machine.Action) -> Bool {
        if case .none = action { return true }
        return false
    }

    func succeeded(_ action: Machine.Action) -> String? {
        if case .succeed(let context) = action { return context }
        return nil
    }

    @Test func answersToUnansweredRequestsAreDroppedInOrder() {
        var machine = Machine(peer: "b")
        let quiet1 = id(machine.sendWithoutResponse())
        let asked = id(machine.sendRequest(apiKey: 3, deadline: t0, context: "metadata"))
        let quiet2 = id(machine.sendWithoutResponse())
        let asked2 = id(machine.sendRequest(apiKey: 3, deadline: t0, context: "metadata 2"))
        #expect(isNone(machine.frameReceived(correlationID: quiet1)))
        #expect(succeeded(machine.frameReceived(correlationID: asked)) == "metadata")
        #expect(isNone(machine.frameReceived(correlationID: quiet2)))
        #expect(succeeded(machine.frameReceived(correlationID: asked2)) == "metadata 2")
        #expect(!machine.isClosed)
        // With nothing outstanding, an answer to an unanswered request is still dropped.
        let quiet3 = id(machine.sendWithoutResponse())
        #expect(isNone(machine.frameReceived(correlationID: quiet3)))
        #expect(!machine.isClosed)
    }

    @Test func compliantBrokersThatNeverAnswerAreFine() {
        var machine = Machine(peer: "b")
        for _ in 0..<(Machine.unansweredLimit * 3) { _ = machine.sendWithoutResponse() }
        let asked = id(machine.sendRequest(apiKey: 3, deadline: t0, context: "m"))
        #expect(succeeded(machine.frameReceived(correlationID: asked)) == "m")
    }

    @Test func anAnswerToAnUnansweredRequestAfterALaterResponseIsAViolation() {
        var machine = Machine(peer: "b")
        let quiet = id(machine.sendWithoutResponse())
        let asked = id(machine.sendRequest(apiKey: 3, deadline: t0, context: "m"))
        let asked2 = id(machine.sendRequest(apiKey: 3, deadline: t0, context: "m2"))
        #expect(succeeded(machine.frameReceived(correlationID: asked)) == "m")
        // Out of order: the quiet request was sent before `asked`, whose answer already came.
        guard case .closeConnection(let error, let failures) = machine.frameReceived(correlationID: quiet) else {
            Issue.record("an out-of-order answer must close the connection")
            return
        }
        #expect(error.code == .protocolViolation)
        #expect(failures.map(\.context) == ["m2"])
        _ = asked2
    }

    @Test func anUnknownCorrelationIDStillCloses() {
        var machine = Machine(peer: "b")
        _ = machine.sendWithoutResponse()
        _ = machine.sendRequest(apiKey: 3, deadline: t0, context: "m")
        guard case .closeConnection(let error, _) = machine.frameReceived(correlationID: 12_345) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == .protocolViolation)
    }
}

/// A broker that accepts connections and drops them at once is dialled with growing pauses.
@Suite struct RobustnessSlotTests {
    final class FakeConnection {}
    typealias Machine = ConnectionSlotStateMachine<FakeConnection, Int>
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Connects at `now` and returns the connection.
    func connect(_ machine: inout Machine, at now: NIODeadline) -> FakeConnection? {
        guard case .connect = machine.acquire(now: now, makePending: { 0 }) else {
            Issue.record("expected a dial at \(now)")
            return nil
        }
        let connection = FakeConnection()
        let accepted = machine.connectSucceeded(connection, for: 0, now: now)
        #expect(accepted)
        return connection
    }

    @Test func quickClosesBackOffExponentiallyAndALongLivedConnectionResets() throws {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0))
        var rng = SystemRandomNumberGenerator()
        var now = t0
        for expected: Duration in [.milliseconds(100), .milliseconds(200), .milliseconds(400)] {
            let connection = try #require(connect(&machine, at: now))
            let closedAt = now + .milliseconds(5)
            let reason = KafkaError(.connectionClosed, "closed by the broker", isRetriable: true)
            let delay = machine.connectionClosed(connection, now: closedAt, reason: reason, using: &rng)
            #expect(delay == expected)
            guard case .retryAfter(let until, let error) = machine.acquire(now: closedAt, makePending: { 0 }) else {
                Issue.record("a quick close must back off")
                return
            }
            #expect(until == closedAt + TimeAmount(expected))
            #expect(error.message == "closed by the broker")
            now = until
        }
        // A connection that lives past the threshold closes without a pause, and resets the backoff.
        let stable = try #require(connect(&machine, at: now))
        let late = now + Machine.quickCloseThreshold + .milliseconds(1)
        let noPause = machine.connectionClosed(stable, now: late, using: &rng)
        #expect(noPause == .zero)
        let next = try #require(connect(&machine, at: late))
        let firstPause = machine.connectionClosed(next, now: late + .milliseconds(1), using: &rng)
        #expect(firstPause == .milliseconds(100))
    }

    @Test func withoutTimesAClosedConnectionIsRedialledAtOnce() throws {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0))
        guard case .connect = machine.acquire(now: t0, makePending: { 0 }) else { Issue.record("connect"); return }
        let connection = FakeConnection()
        _ = machine.connectSucceeded(connection, for: 0)
        machine.connectionClosed(connection)
        guard case .connect = machine.acquire(now: t0, makePending: { 0 }) else { Issue.record("redial at once"); return }
    }
}
