import KafkaProtocol
import Testing

@testable import Klife

@Suite struct KafkaClientFeatureTests {
    @Test func everythingSupportedDisablesNothing() {
        #expect(KafkaClient.Feature.unsupported(by: { _ in 1 }).isEmpty)
    }

    @Test func missingAPIsDisableTheirFeaturesWithAReason() {
        let unsupported = KafkaClient.Feature.unsupported(by: { type in
            type == InitProducerIdRequest.self || type == ConsumerGroupHeartbeatRequest.self ? nil : 3
        })
        #expect(Set(unsupported.keys) == [.idempotentProducer, .transactionalProducer])
        #expect(unsupported[.idempotentProducer]?.contains("InitProducerId") == true)
        // JoinGroup is an alternative to ConsumerGroupHeartbeat: groups still work.
        #expect(unsupported[.consumerGroup] == nil)
    }

    @Test func groupsNeedOneOfTheTwoProtocols() {
        let unsupported = KafkaClient.Feature.unsupported(by: { type in
            type == JoinGroupRequest.self || type == ConsumerGroupHeartbeatRequest.self ? nil : 0
        })
        #expect(unsupported[.consumerGroup]?.contains("ConsumerGroupHeartbeat or JoinGroup") == true)
    }

    @Test func requireFeatureNamesTheDisabledFeature() throws {
        var configuration = KafkaClient.Configuration(bootstrapServers: [.init(host: "127.0.0.1", port: 9092)])
        configuration.disabledFeatures = [.producer]
        let client = try KafkaClient(configuration: configuration)
        #expect(!client.isFeatureAvailable(.producer))
        #expect(client.isFeatureAvailable(.fetch))
        do {
            try client.requireFeature(.producer)
            Issue.record("a disabled feature was allowed")
        } catch let error as KafkaError {
            #expect(error.code == .featureDisabled)
            #expect(error.message.contains("producer"))
        }
    }
}
