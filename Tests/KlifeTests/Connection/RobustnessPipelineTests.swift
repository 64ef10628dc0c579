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
