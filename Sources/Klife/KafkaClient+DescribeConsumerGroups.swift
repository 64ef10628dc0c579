import KafkaProtocol

extension KafkaClient {
    /// Describes consumer groups: state, protocol, assignor and each member with its partitions (from each
    /// group's coordinator).
    ///
    /// A coordinator that offers ConsumerGroupDescribe (KIP-848) is asked with it first; a group it does not know
    /// that way (a classic group answers GROUP_ID_NOT_FOUND) is described with DescribeGroups, as Kafka's admin
    /// client does (so is one answered with a negative group epoch, which no KIP-848 group has). A group that does not exist is described with state `Dead` and no members. Coordinator moves
    /// and loads are retried until the connection's `requestTimeout` has passed.
    ///
    /// - Returns: per group id, its description or its error: ``KafkaError/Code/brokerError`` with the Kafka
    ///   code (GROUP_AUTHORIZATION_FAILED, or a retriable code after the retries),
    ///   ``KafkaError/Code/coordinatorNotAvailable`` (retriable), ``KafkaError/Code/featureDisabled`` when the
    ///   coordinator offers neither API, ``KafkaError/Code/protocolViolation`` when the answer leaves the group
    ///   out, a connection error.
    /// - Throws: ``KafkaError/Code/invalidArgument`` for an empty list or an empty group id,
    ///   ``KafkaError/Code/clientNotRunning``.
    public func describeConsumerGroups(_ groupIDs: [String]) async throws -> [String: Result<KafkaConsumerGroupDescription, KafkaError>] {
        try requireRunning()
        guard !groupIDs.isEmpty else { throw KafkaError(.invalidArgument, "describeConsumerGroups needs at least one group id") }
        guard !groupIDs.contains("") else { throw KafkaError(.invalidArgument, "describeConsumerGroups: a group id is empty") }
        return await withTaskGroup(of: (String, Result<KafkaConsumerGroupDescription, KafkaError>).self) { tasks in
            for groupID in Set(groupIDs) {
                tasks.addTask {
                    do {
                        let description = try await self.retryingRetriableErrors("describing group \(groupID)") {
                            try await self.describeConsumerGroupOnce(groupID)
                        }
                        return (groupID, .success(description))
                    } catch {
                        return (groupID, .failure(ClusterManager.asKafkaError(error)))
                    }
                }
            }
            var results: [String: Result<KafkaConsumerGroupDescription, KafkaError>] = [:]
            for await (groupID, result) in tasks { results[groupID] = result }
            return results
        }
    }

    /// Describes one consumer group (see ``describeConsumerGroups(_:)``).
    ///
    /// - Throws: the group's error as ``describeConsumerGroups(_:)`` returns it, and what it throws.
    public func describeConsumerGroup(_ groupID: String) async throws -> KafkaConsumerGroupDescription {
        guard let result = try await describeConsumerGroups([groupID])[groupID] else {
            throw KafkaError(.protocolViolation, "describing group \(groupID) gave no answer")
        }
        return try result.get()
    }

    /// One round: ConsumerGroupDescribe where offered, DescribeGroups for classic groups.
    private func describeConsumerGroupOnce(_ groupID: String) async throws -> KafkaConsumerGroupDescription {
        let key = CoordinatorCache.Key(type: .group, key: groupID)
        let coordinator: KafkaConnection
        let broker: KafkaBroker
        do {
            (coordinator, broker) = try await cluster.coordinatorConnection(for: key)
        } catch {
            throw ClusterManager.asKafkaError(error)
        }
        if let version = coordinator.negotiatedVersion(for: ConsumerGroupDescribeRequest.self) {
            let response = try await coordinator.send(ConsumerGroupDescribeRequest(groupIds: [groupID]), version: version)
            guard let group = response.groups.first(where: { $0.groupId == groupID }) else {
                throw KafkaError(.protocolViolation, "ConsumerGroupDescribe answered without group \(groupID)")
            }
            switch group.errorCode {
            // A KIP-848 group's epoch is at least 0; Tansu answers for classic groups with -1 and no members.
            case 0 where group.groupEpoch >= 0:
                return Self.description(of: group, coordinator: broker.nodeID)
            case 0:
                break
            // GROUP_ID_NOT_FOUND: a classic group (or none); UNSUPPORTED_VERSION: the protocol is off.
            case KafkaErrorCode.groupIdNotFound.rawValue, KafkaErrorCode.unsupportedVersion.rawValue:
                break
            default:
                throw groupError(group.errorCode, api: "ConsumerGroupDescribe", groupID: groupID, key: key, message: group.errorMessage)
            }
        }
        guard let version = coordinator.negotiatedVersion(for: DescribeGroupsRequest.self) else {
            throw KafkaError(.featureDisabled, "the group coordinator offers no usable DescribeGroups version")
        }
        let response = try await coordinator.send(DescribeGroupsRequest(groups: [groupID]), version: version)
        guard let group = response.groups.first(where: { $0.groupId == groupID }) else {
            throw KafkaError(.protocolViolation, "DescribeGroups answered without group \(groupID)")
        }
        guard group.errorCode == 0 else {
            throw groupError(group.errorCode, api: "DescribeGroups", groupID: groupID, key: key, message: nil)
        }
        return Self.description(of: group, coordinator: broker.nodeID)
    }

    private func groupError(_ code: Int16, api: String, groupID: String, key: CoordinatorCache.Key, message: String?) -> KafkaError {
        let detail = message.map { ": \($0)" } ?? ""
        if cluster.handleCoordinatorError(code, for: key) {
            return KafkaError(.coordinatorNotAvailable, "\(api) for \(groupID): the coordinator moved or is loading\(detail)", kafkaCode: code, isRetriable: true)
        }
        return KafkaError(.brokerError, "\(api) for group \(groupID) failed\(detail)", kafkaCode: code, isRetriable: KafkaErrorCode(rawValue: code).isRetriable)
    }

    static func description(of group: ConsumerGroupDescribeResponse.DescribedGroup, coordinator: Int32) -> KafkaConsumerGroupDescription {
        KafkaConsumerGroupDescription(
            groupID: group.groupId, state: group.groupState, groupProtocol: .consumer, protocolType: "consumer",
            assignor: group.assignorName, groupEpoch: group.groupEpoch,
            members: group.members.map { member in
                .init(
                    memberID: member.memberId, instanceID: member.instanceId, clientID: member.clientId, clientHost: member.clientHost,
                    assignment: member.assignment.topicPartitions.flatMap { topic in
                        topic.partitions.map { KafkaTopicPartition(topic.topicName, $0) }
                    }.sorted())
            },
            coordinator: coordinator)
    }

    static func description(of group: DescribeGroupsResponse.DescribedGroup, coordinator: Int32) -> KafkaConsumerGroupDescription {
        KafkaConsumerGroupDescription(
            groupID: group.groupId, state: group.groupState, groupProtocol: .classic, protocolType: group.protocolType,
            assignor: group.protocolData,
            members: group.members.map { member in
                // Only a consumer group's assignments are partitions in the consumer protocol's format; one that
                // does not parse is shown as none rather than failing the description.
                let assignment = group.protocolType == "consumer"
                    ? (try? ConsumerProtocolPayloads.decodeAssignment(member.memberAssignment)) ?? [] : []
                return .init(
                    memberID: member.memberId, instanceID: member.groupInstanceId, clientID: member.clientId,
                    clientHost: member.clientHost, assignment: assignment)
            },
            coordinator: coordinator)
    }
}
