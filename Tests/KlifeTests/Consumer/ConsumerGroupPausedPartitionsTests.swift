import Testing

@testable import Klife

@Suite struct ConsumerGroupPausedPartitionsTests {
    let a = KafkaTopicPartition(topic: "t", partition: 0)
    let b = KafkaTopicPartition(topic: "t", partition: 1)

    /// A paused partition's workers wait on the resume signal, which fires when one of them is resumed;
    /// resuming a partition that is not paused wakes nobody.
    @Test func resumingFiresTheSignalThePausedWorkersWaitOn() {
        let paused = ConsumerGroupPausedPartitions()
        #expect(paused.resumeSignal(for: a) == nil)
        paused.pause([a, b])
        let signal = paused.resumeSignal(for: a)
        #expect(signal != nil && paused.partitions == [a, b])
        paused.resume([KafkaTopicPartition(topic: "t", partition: 9)])
        #expect(signal?.isFired == false)
        paused.resume([a])
        #expect(signal?.isFired == true)
        #expect(paused.resumeSignal(for: a) == nil)
        // b is still paused, under a fresh signal.
        let next = paused.resumeSignal(for: b)
        #expect(next != nil && next?.isFired == false)
    }
}
