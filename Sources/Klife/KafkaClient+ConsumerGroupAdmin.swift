import KafkaProtocol

extension KafkaClient {
    /// Every group the cluster's coordinators know (ListGroups to each broker: a group lives on its
    /// coordinator), sorted by id.
    ///
    /// - Throws: ``KafkaError``: ``KafkaError/Code/brokerError`` with the Kafka code when a broker refuses
    ///   (GROUP_AUTHORIZATION_FAILED, COORDINATOR_LOAD_IN_PROGRESS: retriable), ``KafkaError/Code/featureDisabled``
    ///   when a broker lacks ListGroups, connection errors (a broker that cannot be reached fails the call: its
    ///   groups would be missing), ``KafkaError/Code/clientNotRunning``.
    public func listConsumerGroups() async throws -> [KafkaConsumerGroupListing] {
        try requireRunning()
        let brokers = try await cluster.refreshMetadata().sortedBrokers
        var listings: [String: KafkaConsumerGroupListing] = [:]
        try await withThrowingTaskGroup(of: [KafkaConsumerGroupListing].self) { group in
            for broker in brokers {
                group.addTask {
                    let connection = try await self.cluster.connection(toBroker: broker.nodeID)
                    guard let version = connection.negotiatedVersion(for: ListGroupsRequest.self) else {
                        throw KafkaError(.featureDisabled, "broker \(broker.nodeID) offers no usable ListGroups version")
                    }
                    let response = try await connection.send(ListGroupsRequest(), version: version)
                    if response.errorCode != 0 {
                        throw KafkaError(
                            .brokerError, "ListGroups on broker \(broker.nodeID) failed", kafkaCode: response.errorCode,
                            isRetriable: KafkaErrorCode(rawValue: response.errorCode).isRetriable)
                    }
                    return response.groups.map {
                        KafkaConsumerGroupListing(
                            groupID: $0.groupId, protocolType: $0.protocolType, state: version >= 4 ? $0.groupState : nil)
                    }
                }
            }
            for try await found in group {
                for listing in found { listings[listing.groupID] = listing }
            }
        }
        return listings.values.sorted { $0.groupID < $1.groupID }
    }

    /// Deletes consumer groups with no members, and their committed offsets (DeleteGroups to each group's
    /// coordinator).
    ///
    /// - Returns: per group id, nil when it was deleted, else its error: ``KafkaError/Code/brokerError`` with
    ///   the Kafka code (NON_EMPTY_GROUP: it has members; GROUP_ID_NOT_FOUND: there is no such group;
    ///   GROUP_AUTHORIZATION_FAILED), ``KafkaError/Code/coordinatorNotAvailable`` (retriable), a connection error.
    /// - Throws: ``KafkaError/Code/invalidArgument`` for an empty list or an empty group id,
    ///   ``KafkaError/Code/clientNotRunning``.
    @discardableResult
    public func deleteConsumerGroups(_ groupIDs: [String]) async throws -> [String: KafkaError?] {
        try requireRunning()
        guard !groupIDs.isEmpty else { throw KafkaError(.invalidArgument, "deleteConsumerGroups needs at least one group id") }
        guard !groupIDs.contains("") else { throw KafkaError(.invalidArgument, "deleteConsumerGroups: a group id is empty") }
        var results: [String: KafkaError?] = [:]
        for groupID in Set(groupIDs).sorted() {
            let key = CoordinatorCache.Key(type: .group, key: groupID)
            do {
                let coordinator = try await cluster.coordinatorConnection(for: key).0
                guard let version = coordinator.negotiatedVersion(for: DeleteGroupsRequest.self) else {
                    throw KafkaError(.featureDisabled, "the group coordinator offers no usable DeleteGroups version")
                }
                let response = try await coordinator.send(DeleteGroupsRequest(groupsNames: [groupID]), version: version)
                let code = response.results.first { $0.groupId == groupID }?.errorCode ?? -1
                if code == 0 {
                    results[groupID] = .some(nil)
                } else {
                    if cluster.handleCoordinatorError(code, for: key) {
                        throw KafkaError(.coordinatorNotAvailable, "DeleteGroups for \(groupID): the coordinator moved or is loading", kafkaCode: code, isRetriable: true)
                    }
                    throw KafkaError(
                        .brokerError, code == -1 ? "DeleteGroups answered without group \(groupID)" : "could not delete group \(groupID)",
                        kafkaCode: code == -1 ? nil : code, isRetriable: KafkaErrorCode(rawValue: code).isRetriable)
                }
            } catch {
                results[groupID] = .some(ClusterManager.asKafkaError(error))
            }
        }
        return results
    }
}
