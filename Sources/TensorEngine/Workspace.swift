import Foundation
import Parallel

/// Engine-wide settings. Set them once at startup, before any kernel runs.
public enum Engine {
    /// Worker threads for GEMM and the parallel kernels (default: every active core), shared
    /// with every parallel loop (`Parallelism.threadCount`). Results do not depend on it: each
    /// output element is always reduced in the same order.
    public static var threadCount: Int {
        get { Parallelism.threadCount }
        set { Parallelism.threadCount = newValue }
    }

    /// How many tensor storages and scratch buffers the engine has allocated (or regrown) so far.
    /// A training step after the first at a shape should leave it unchanged: take it before and
    /// after a step to check that a training step after the first allocates nothing.
    package static var allocationCount: Int {
        allocationLock.lock(); defer { allocationLock.unlock() }
        return allocations
    }

    static func countAllocation() {
        allocationLock.lock(); allocations += 1; allocationLock.unlock()
    }

    private static let allocationLock = NSLock()
    nonisolated(unsafe) private static var allocations = 0
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
