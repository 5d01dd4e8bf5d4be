import Dispatch
import Foundation

// Work splitting over Dispatch workers, for every module that runs loops in parallel: the
// engine's kernels, the JPEG decoder, the S2 labelling and partitioning. Workers always write
// disjoint parts of the output, so no loop here takes a lock per item.

/// How many workers parallel loops use (default: every active core). Set it once at startup,
/// before any parallel work runs; results never depend on it (every output element is reduced
/// in the same order whatever the split).
public enum Parallelism {
    /// Workers a parallel loop uses (default: `ProcessInfo.activeProcessorCount`); 1 runs serially.
    nonisolated(unsafe) public static var threadCount = ProcessInfo.processInfo.activeProcessorCount
}

/// A pointer shared with parallel workers. Sound only while they read it or write disjoint
/// ranges of it; each use says which.
package struct SharedPointer<Element>: @unchecked Sendable {
    package let base: UnsafeMutablePointer<Element>
    package init(base: UnsafeMutablePointer<Element>) { self.base = base }
    package init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
    package init(_ base: UnsafePointer<Element>) { self.base = UnsafeMutablePointer(mutating: base) }
}

/// Runs `body(worker, task)` for every task in 0..<taskCount on up to `threads` workers, each
/// worker taking the next task as it finishes one (dynamic tiles: a core slowed by another
/// process takes fewer). `worker` is in 0..<min(threads, taskCount), for per-worker scratch.
package func parallelFor(tasks taskCount: Int, threads: Int = Parallelism.threadCount, _ body: (_ worker: Int, _ task: Int) -> Void) {
    let workers = max(1, min(threads, taskCount))
    if workers == 1 {
        for task in 0..<taskCount { body(0, task) }
        return
    }
    let counter = TaskCounter()
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            while true {
                let task = counter.next()
                if task >= taskCount { break }
                shared.value(worker, task)
            }
        }
    }
}

/// Runs `body` over 0..<count split into contiguous chunks, in parallel when there is enough
/// work: `minimumChunk` items (rows, elements) is the smallest chunk worth a Dispatch hop (a few
/// microseconds). At most four chunks a worker, so a core slowed by another process costs a
/// quarter of its share. Chunks are disjoint, so workers writing only their own items need no
/// locks.
package func parallelChunks(_ count: Int, minimumChunk: Int, threads: Int = Parallelism.threadCount,
                           _ body: (Range<Int>) -> Void) {
    let chunks = min(max(1, count / max(minimumChunk, 1)), 4 * max(threads, 1))
    if chunks <= 1 || threads <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    parallelFor(tasks: chunks, threads: threads) { _, chunk in
        body(chunk * count / chunks ..< (chunk + 1) * count / chunks)
    }
}

/// The least work worth a chunk of its own, in nanoseconds: over ten times what handing work to
/// another worker costs (an empty two-task `parallelFor` takes 0.7 µs on this project's 2-core
/// Zen 3 host), so splitting never costs more than a tenth of what it can gain.
package let minimumChunkNanoseconds = 10_000.0

/// `parallelChunks`' `minimumChunk` for items costing `nanosecondsPerItem` each on one thread
/// (each kernel states its measured cost beside the call).
package func minimumChunk(nanosecondsPerItem: Double) -> Int {
    max(1, Int((minimumChunkNanoseconds / max(nanosecondsPerItem, 1e-3)).rounded(.up)))
}

/// A closure shared with Dispatch workers; each task index writes a disjoint part of the output.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Hands out 0, 1, 2, ... to parallel workers; taken once per tile, never inside a hot loop.
private final class TaskCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
}
