import Testing

@testable import Klife

@Suite struct TopicSubscriptionTests {
    typealias Listed = (name: String, isInternal: Bool)
    static let t0 = ContinuousClock.now

    static func subscription(_ named: [String] = [], pattern: String?) throws -> TopicSubscription {
        TopicSubscription(namedTopics: named, pattern: try pattern.map(TopicNamePattern.init), checkInterval: .seconds(30), now: t0)
    }

    @Test func thePatternMustMatchTheWholeName() throws {
        let pattern = try TopicNamePattern("orders\\.[a-z]+")
        #expect(pattern.matches("orders.eu"))
        #expect(!pattern.matches("orders.eu2"))
        #expect(!pattern.matches("old.orders.eu"))
        #expect(!pattern.matches("orders"))
        #expect(try TopicNamePattern("orders").matches("orders"))
        #expect(try !TopicNamePattern("orders").matches("orders-v2"))
    }

    @Test func namedTopicsAloneNeverCheckTheCluster() throws {
        var subscription = try Self.subscription(["b", "a", "b"], pattern: nil)
        #expect(subscription.topics == ["a", "b"])
        #expect(!subscription.isCheckDue(at: Self.t0 + .seconds(3600)))
        #expect(subscription.update(clusterTopics: [Listed("c", false)], at: Self.t0) == nil)
        #expect(subscription.topics == ["a", "b"])
    }

    @Test func matchedTopicsJoinTheNamedOnesAndInternalTopicsNeverMatch() throws {
        var subscription = try Self.subscription(["audit"], pattern: "(orders|__).*")
        // Due at once: the member matches before it first joins.
        #expect(subscription.isCheckDue(at: Self.t0))
        let listed: [Listed] = [("orders.eu", false), ("audit", false), ("payments", false), ("__consumer_offsets", true), ("orders.us", false)]
        #expect(subscription.update(clusterTopics: listed, at: Self.t0) == ["audit", "orders.eu", "orders.us"])
        #expect(subscription.topics == ["audit", "orders.eu", "orders.us"])
    }

    @Test func aChangeIsReportedOnceAndChecksFollowTheInterval() throws {
        var subscription = try Self.subscription(pattern: "orders.*")
        #expect(subscription.update(clusterTopics: [Listed("orders.eu", false)], at: Self.t0) == ["orders.eu"])
        #expect(!subscription.isCheckDue(at: Self.t0 + .seconds(29)))
        #expect(subscription.isCheckDue(at: Self.t0 + .seconds(30)))
        // Unchanged: nothing to rejoin for.
        #expect(subscription.update(clusterTopics: [Listed("orders.eu", false), Listed("x", false)], at: Self.t0 + .seconds(30)) == nil)
        // A created topic comes in, a deleted one goes.
        #expect(subscription.update(clusterTopics: [Listed("orders.us", false)], at: Self.t0 + .seconds(60)) == ["orders.us"])
        // Nothing matches any more: an empty subscription.
        #expect(subscription.update(clusterTopics: [], at: Self.t0 + .seconds(90)) == [])
        #expect(subscription.topics.isEmpty)
    }

    @Test func aJoinListsAgainUnlessTheListingIsFresh() throws {
        var subscription = try Self.subscription(pattern: "orders.*")
        #expect(!subscription.isResolved)
        _ = subscription.update(clusterTopics: [Listed("orders.eu", false)], at: Self.t0)
        #expect(subscription.isResolved)
        #expect(!subscription.isCheckDue(at: Self.t0 + .milliseconds(500), joining: true))
        #expect(subscription.isCheckDue(at: Self.t0 + .seconds(1), joining: true))
        #expect(!subscription.isCheckDue(at: Self.t0 + .seconds(1)))
        // Without a pattern there is nothing to list, joining or not.
        #expect(!(try Self.subscription(["a"], pattern: nil)).isCheckDue(at: Self.t0 + .seconds(5), joining: true))
        #expect(try Self.subscription(["a"], pattern: nil).isResolved)
    }

    @Test func aTopicListedWithAPassingErrorStaysSubscribed() throws {
        var subscription = try Self.subscription(pattern: "orders.*")
        _ = subscription.update(clusterTopics: [Listed("orders.eu", false), Listed("orders.us", false)], at: Self.t0)
        // orders.us answered LEADER_NOT_AVAILABLE: still there; a new topic with an error is not taken in yet.
        #expect(subscription.update(clusterTopics: [Listed("orders.eu", false)], transient: ["orders.us", "orders.asia"], at: Self.t0 + .seconds(30)) == nil)
        #expect(subscription.topics == ["orders.eu", "orders.us"])
        // Gone from the listing (or UNKNOWN_TOPIC_OR_PARTITION): dropped.
        #expect(subscription.update(clusterTopics: [Listed("orders.eu", false)], at: Self.t0 + .seconds(60)) == ["orders.eu"])
    }

    @Test func aFailedListingIsTriedAgainSoonAndKeepsTheSubscription() throws {
        var subscription = try Self.subscription(pattern: "orders.*")
        _ = subscription.update(clusterTopics: [Listed("orders.eu", false)], at: Self.t0)
        subscription.checkFailed(at: Self.t0 + .seconds(30), retryAfter: .seconds(1))
        #expect(subscription.topics == ["orders.eu"])
        #expect(!subscription.isCheckDue(at: Self.t0 + .milliseconds(30_900)))
        #expect(subscription.isCheckDue(at: Self.t0 + .seconds(31)))
    }
}
