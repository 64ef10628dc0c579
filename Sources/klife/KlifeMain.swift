import ArgumentParser
import Dispatch

/// The process entry: a synchronous `main` that runs ``KlifeCommand`` in a task and blocks the main thread until it
/// is done.
///
/// Not an async `@main`: on Linux that ends the main thread in `dispatch_main()`, whose `pthread_exit` unwinds the
/// main thread's stack through libgcc, reading `.eh_frame_hdr`/`.eh_frame` pages (about 1 MB resident with the
/// kernel's fault-around) that nothing else needs (docs/benchmarks/memory.md).
@main
enum KlifeMain {
    static func main() {
        let done = DispatchSemaphore(value: 0)
        // The process's root task, so detached: a `Task {}` started here is enqueued on the main executor (even
        // from a `nonisolated` main), whose queue the blocked main thread never drains.
        Task.detached {
            await KlifeCommand.main()
            done.signal()
        }
        done.wait()
    }
}
