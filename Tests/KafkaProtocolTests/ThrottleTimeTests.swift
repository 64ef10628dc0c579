import KafkaProtocol
import Testing

/// `KafkaResponseMessage.throttleTimeMs` is read through the protocol in generic code (the connection's
/// KIP-219 check); a generated response's own field must be the witness, not the default of 0.
@Suite("Throttle time through the response protocol")
struct ThrottleTimeTests {
    private func throttle<Response: KafkaResponseMessage>(of response: Response) -> Int32 { response.throttleTimeMs }

    @Test func aGeneratedFieldIsTheWitness() {
        #expect(throttle(of: ProduceResponse(throttleTimeMs: 250)) == 250)
        #expect(throttle(of: FetchResponse(throttleTimeMs: 7)) == 7)
        #expect(throttle(of: DeleteGroupsResponse(throttleTimeMs: 1)) == 1)
    }

    @Test func aResponseWithoutTheFieldAnswersZero() {
        #expect(throttle(of: SaslHandshakeResponse()) == 0)
    }
}
