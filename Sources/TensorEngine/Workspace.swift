import Foundation

/// Engine-wide settings. Set them once at startup, before any kernel runs.
public enum Engine {
    /// Worker threads for GEMM and the parallel kernels (default: every active core).
    /// Results do not depend on it: each output element is always reduced in the same order.
    nonisolated(unsafe) public static var threadCount = ProcessInfo.processInfo.activeProcessorCount

    /// How many tensor storages and scratch buffers the engine has allocated (or regrown) so far.
    /// A training step after the first at a shape should leave it unchanged: take it before and
    /// after a step to check "no allocation in a step after the first" (issue 5).
    public static var allocationCount: Int {
        allocationLock.lock(); defer { allocationLock.unlock() }
        return allocations
    }

    static func countAllocation() {
        allocationLock.lock(); allocations += 1; allocationLock.unlock()
    }

    private static let allocationLock = NSLock()
    nonisolated(unsafe) private static var allocations = 0
}

/// A pointer shared with parallel workers. Sound only while they read it or
/// write disjoint ranges of it; each use says which.
@usableFromInline
struct SharedPointer<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Element>
    @usableFromInline init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
    @usableFromInline init(_ base: UnsafePointer<Element>) { self.base = UnsafeMutablePointer(mutating: base) }
}

/// 64-byte-aligned scratch memory that grows on demand and never shrinks, so that the second
/// call at a shape allocates nothing.
final class ScratchBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(capacity: Int) {
        Engine.countAllocation()
        self.capacity = max(capacity, 16)
        base = allocateFloats(self.capacity)
    }

    /// Makes room for `count` floats; the contents are undefined afterwards.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        Engine.countAllocation()
        UnsafeMutableRawPointer(base).deallocate()
        capacity = count
        base = allocateFloats(count)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// A pool of scratch buffers for GEMM packing and kernel workspaces. A caller borrows one for the
/// duration of a call; buffers keep their size when returned, so after the first training step at
/// a shape the pool hands out buffers that are already big enough: no allocation.
enum ScratchPool {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [ScratchBuffer] = []

    /// Runs `body` with a buffer of at least `count` floats (contents undefined).
    static func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        lock.lock()
        // Best fit: the smallest buffer that is big enough, so a small request does not hold a
        // big buffer that a concurrent big request then has to grow another one to match;
        // failing that, the largest (grown below). Sizes only grow, so steps converge to none.
        var fit: Int?, largest: Int?
        for i in free.indices {
            if free[i].capacity >= count, fit.map({ free[i].capacity < free[$0].capacity }) ?? true { fit = i }
            if largest.map({ free[i].capacity > free[$0].capacity }) ?? true { largest = i }
        }
        let index = fit ?? largest
        let buffer = index.map { free.remove(at: $0) } ?? ScratchBuffer(capacity: count)
        lock.unlock()
        buffer.reserve(count)
        defer { lock.lock(); free.append(buffer); lock.unlock() }
        return try body(buffer.base)
    }
}

/// Runs `body(worker, task)` for every task in 0..<taskCount on up to `threads` workers, each
/// worker taking the next task as it finishes one (dynamic tiles: a core slowed by another
/// process takes fewer). `worker` is in 0..<min(threads, taskCount), for per-worker scratch.
func parallelFor(tasks taskCount: Int, threads: Int, _ body: (_ worker: Int, _ task: Int) -> Void) {
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

/// Hands out 0, 1, 2, ... to parallel workers; taken once per tile, never inside a hot loop.
private final class TaskCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
}

/// A closure shared with Dispatch workers; each task index writes a disjoint part of the output.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs `body` over 0..<count split into contiguous chunks, in parallel when there is enough
/// work: `minimumChunk` items (rows, elements) is the smallest chunk worth a Dispatch hop.
/// Chunks are disjoint, so workers writing only their own items need no locks.
func parallelChunks(_ count: Int, minimumChunk: Int, threads: Int = Engine.threadCount,
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
