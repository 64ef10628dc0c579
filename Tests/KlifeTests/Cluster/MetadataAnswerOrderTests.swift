import Testing

@testable import Klife

@Suite struct MetadataAnswerOrderTests {
    /// A refresh (1) and a lookup (2) overlap; the lookup's answer comes first. The refresh's older answer is
    /// not applied after it; answers that come in the order of their requests all are.
    @Test func anAnswerToAnOlderRequestIsNotAppliedAfterANewerOne() {
        var order = MetadataAnswerOrder()
        let refresh = order.requestStarted()
        let lookup = order.requestStarted()
        let admitted = [
            order.admits(answerTo: lookup), order.admits(answerTo: refresh),
        ]
        #expect(admitted == [true, false])
        let next = order.requestStarted()
        let a = order.requestStarted(), b = order.requestStarted()
        let inOrder = [order.admits(answerTo: next), order.admits(answerTo: a), order.admits(answerTo: b)]
        #expect(inOrder == [true, true, true])
    }
}
