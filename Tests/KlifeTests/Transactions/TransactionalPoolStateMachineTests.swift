import Testing
@testable import Klife

/// Checking transactional producers out of a pool: free members first, waiters in arrival order.
@Suite struct TransactionalPoolStateMachineTests {
    @Test func membersAreHandedOutLowestFirstAndWaitersServedInOrder() {
        var pool = TransactionalPoolStateMachine(size: 2)
        #expect(pool.checkout(waiterID: 1) == .use(0))
        #expect(pool.checkout(waiterID: 2) == .use(1))
        #expect(pool.checkout(waiterID: 3) == .wait)
        #expect(pool.checkout(waiterID: 4) == .wait)
        #expect(pool.waiterCount == 2)
        #expect(pool.checkin(1) == .resume(waiterID: 3, index: 1))
        #expect(pool.checkin(0) == .resume(waiterID: 4, index: 0))
        #expect(pool.checkin(1) == .none)
        #expect(pool.checkin(0) == .none)
        #expect(pool.idleCount == 2)
        #expect(pool.checkout(waiterID: 5) == .use(0))
    }

    @Test func drainedOnlyWhenEveryMemberIsBack() {
        var pool = TransactionalPoolStateMachine(size: 2)
        #expect(pool.isDrained)
        #expect(pool.checkout(waiterID: 1) == .use(0))
        #expect(pool.checkout(waiterID: 2) == .use(1))
        _ = pool.close()
        #expect(!pool.isDrained)
        _ = pool.checkin(0)
        #expect(!pool.isDrained)
        _ = pool.checkin(1)
        #expect(pool.isDrained)
    }

    @Test func aNewCallerDoesNotOvertakeWaiters() {
        var pool = TransactionalPoolStateMachine(size: 1)
        #expect(pool.checkout(waiterID: 1) == .use(0))
        #expect(pool.checkout(waiterID: 2) == .wait)
        // The member comes back and goes straight to the waiter, not to the next caller.
        #expect(pool.checkin(0) == .resume(waiterID: 2, index: 0))
        #expect(pool.checkout(waiterID: 3) == .wait)
    }

    @Test func cancelledWaitersAreSkipped() {
        var pool = TransactionalPoolStateMachine(size: 1)
        #expect(pool.checkout(waiterID: 1) == .use(0))
        #expect(pool.checkout(waiterID: 2) == .wait)
        #expect(pool.checkout(waiterID: 3) == .wait)
        let cancelled = pool.cancel(waiterID: 2)
        #expect(cancelled)
        let again = pool.cancel(waiterID: 2)
        #expect(!again)
        #expect(pool.checkin(0) == .resume(waiterID: 3, index: 0))
    }

    @Test func backgroundInitialisationTakesOnlyIdleMembers() {
        var pool = TransactionalPoolStateMachine(size: 3)
        #expect(pool.checkout(waiterID: 1) == .use(0))
        let busy = pool.checkoutIfIdle(0)
        #expect(!busy)
        let took = pool.checkoutIfIdle(2)
        #expect(took)
        #expect(pool.checkout(waiterID: 2) == .use(1))
        #expect(pool.checkout(waiterID: 3) == .wait)
        #expect(pool.checkin(2) == .resume(waiterID: 3, index: 2))
    }

    @Test func closingFailsWaitersAndLaterCheckouts() {
        var pool = TransactionalPoolStateMachine(size: 1)
        #expect(pool.checkout(waiterID: 1) == .use(0))
        #expect(pool.checkout(waiterID: 2) == .wait)
        #expect(pool.close() == [2])
        #expect(pool.checkout(waiterID: 3) == .fail)
        let closed = pool.checkoutIfIdle(0)
        #expect(!closed)
    }
}
