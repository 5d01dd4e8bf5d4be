import Foundation
import TensorEngine

// MARK: - Parallel loop

/// Runs `body(task)` for task in 0..<count over `Engine.threadCount` workers, each taking a
/// contiguous range of tasks. Workers must write disjoint memory.
func parallelTasks(_ count: Int, minimumPerWorker: Int = 1, _ body: (Int) -> Void) {
    let workers = max(1, min(Engine.threadCount, count / max(1, minimumPerWorker)))
    if workers <= 1 {
        for task in 0..<count { body(task) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in    // worker w: tasks [w·c/W, (w+1)·c/W)
            for task in (worker * count / workers)..<((worker + 1) * count / workers) { shared.value(task) }
        }
    }
}

/// A value shared with Dispatch workers that each touch disjoint memory through it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
