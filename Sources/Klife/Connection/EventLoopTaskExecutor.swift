import NIOCore
import Synchronization

/// A task executor that runs jobs on a NIO event loop, usually the loop of the connection a task talks to.
///
/// A task that prefers it (`withTaskExecutorPreference`) writes to its channel in-loop and resumes from
/// channel futures in-loop: no hop to the event loop for each write and no hop back to the cooperative pool
/// for each response. The loop can be changed (``moveTo(_:)``) when the task moves to another connection;
/// jobs already enqueued still run on the old loop, which is fine because a job runs only once.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    private let loop: Mutex<any EventLoop>

    init(eventLoop: any EventLoop) {
        self.loop = Mutex(eventLoop)
    }

    /// The loop jobs are enqueued on.
    var eventLoop: any EventLoop { loop.withLock { $0 } }

    /// Enqueues later jobs on `eventLoop`.
    func moveTo(_ eventLoop: any EventLoop) {
        loop.withLock { $0 = eventLoop }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
