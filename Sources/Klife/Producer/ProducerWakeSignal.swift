import NIOCore
import Synchronization

/// Parks a drain loop until it is woken or a deadline passes.
///
/// Level-triggered: a `wake()` while nobody waits is kept, so the next `wait` returns at once (a wake sent
/// between the loop's decision to wait and its call to `wait` is never lost). Deadlines use an event-loop
/// timer rather than a sleeping task.
final class ProducerWakeSignal: Sendable {
    private struct State: ~Copyable {
        var permit = false
        var waiter: CheckedContinuation<Void, Never>?
        var timer: Scheduled<Void>?
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func wake() {
        let (waiter, timer) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Scheduled<Void>?) in
            guard let waiter = state.waiter else {
                state.permit = true
                return (nil, nil)
            }
            state.waiter = nil
            defer { state.timer = nil }
            return (waiter, state.timer)
        }
        timer?.cancel()
        waiter?.resume()
    }

    /// Returns when woken, when `deadline` passes, or when the task is cancelled.
    ///
    /// - Parameter timerLoop: the loop to run the deadline's timer on (default: the signal's). A waiter that
    ///   runs on an event loop passes its own: scheduling and cancelling the timer then stay on that thread
    ///   instead of waking another loop's thread twice per wait.
    func wait(until deadline: NIODeadline?, timerLoop: (any EventLoop)? = nil) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let timer = deadline.map { deadline in
                    (timerLoop ?? eventLoop).scheduleTask(deadline: deadline) { [self] in wake() }
                }
                let resumeNow = state.withLock { state -> Bool in
                    if state.permit || Task.isCancelled {
                        state.permit = false
                        return true
                    }
                    state.waiter = continuation
                    state.timer = timer
                    return false
                }
                if resumeNow {
                    timer?.cancel()
                    continuation.resume()
                }
            }
        } onCancel: {
            wake()
        }
    }
}
