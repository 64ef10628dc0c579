import Testing

@testable import Klife

@Suite struct MetadataAnswerOrderTests {
    /// A lookup (1) and a refresh (2) overlap; the refresh's answer comes first: the lookup's older answer is
    /// not applied after it. A refresh's answer always is (its waiters count on it), and a lookup that
    /// started after the last refresh applied is too.
    @Test func aLookupOlderThanTheLastRefreshIsNotApplied() {
        var order = MetadataAnswerOrder()
        let lookup = order.requestStarted()
        let refresh = order.requestStarted()
        let first = [order.admits(answerTo: refresh, isRefresh: true), order.admits(answerTo: lookup, isRefresh: false)]
        #expect(first == [true, false])
        let nextLookup = order.requestStarted()
        let nextRefresh = order.requestStarted()
        let second = [order.admits(answerTo: nextLookup, isRefresh: false), order.admits(answerTo: nextRefresh, isRefresh: true)]
        #expect(second == [true, true])
    }
}
