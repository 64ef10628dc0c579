extension MockCluster {
    /// The KIP-848 member session timeout and the heartbeat interval the cluster's group coordinator hands
    /// out (the mock's defaults, 30 s and 3 s, make a killed member hold its partitions for 30 s).
    func setConsumerGroupTimeouts(sessionMilliseconds: Int, heartbeatMilliseconds: Int) async throws {
        try await control.send("group-timeouts \(id) \(sessionMilliseconds) \(heartbeatMilliseconds)")
    }
}
