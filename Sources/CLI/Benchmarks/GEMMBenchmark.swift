import Foundation
import TensorEngine

/// Measurements behind `translocator bench gemm`. Not used by the kernels.
enum GEMMBenchmark {
    /// GFLOP/s of `gemm` at `shape` on `threads` workers: best of `repeats` timed runs after one
    /// warm-up (the warm-up also sizes the scratch pool, so timed runs allocate nothing).
    /// `cpuTime`: divide by the process's CPU seconds instead of wall seconds: GFLOP per
    /// core-second, which a machine shared with other work disturbs far less (with several
    /// threads it measures per-core efficiency, not throughput). `packedB`: B is packed once
    /// before timing (`PackedMatrix`, as inference packs its weights) and the runs time
    /// `gemm(_:_:packed:_:)`.
    static func gflops(_ shape: GEMMShape, threads: Int, repeats: Int = 5, cpuTime: Bool = false,
                              packedB: Bool = false) -> Double {
        let aCount = (shape.transposeA ? shape.k : shape.m) * shape.lda
        let bCount = (shape.transposeB ? shape.n : shape.k) * shape.ldb
        var rng = SeededGenerator(seed: 1)
        let a = Tensor(zeros: [aCount]), b = Tensor(zeros: [bCount]), c = Tensor(zeros: [shape.m * shape.ldc])
        a.fillUniform(low: -1, high: 1, using: &rng)
        b.fillUniform(low: -1, high: 1, using: &rng)
        let packed = packedB ? PackedMatrix(b.data, k: shape.k, n: shape.n, transposed: shape.transposeB, ld: shape.ldb) : nil
        func product() {
            if let packed { gemm(shape, a.data, packed: packed, c.data, threads: threads) }
            else { gemm(shape, a.data, b.data, c.data, threads: threads) }
        }
        product()
        var best = Double.infinity
        func now() -> Double {
            if !cpuTime { return Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
            var time = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
        }
        for _ in 0..<repeats {
            let start = now()
            product()
            best = min(best, now() - start)
        }
        return 2 * Double(shape.m) * Double(shape.n) * Double(shape.k) / best * 1e-9
    }

    /// The CPU's FMA peak in GFLOP/s on `threads` workers: independent SIMD8 FMA chains in
    /// registers, enough of them (12) to cover the FMA latency × throughput on two ports.
    static func fmaPeakGFLOPS(threads: Int) -> Double {
        let iterations = 20_000_000
        var best = Double.infinity
        for _ in 0..<7 {                                  // best of 7: the machine is shared
            let start = DispatchTime.now().uptimeNanoseconds
            let sink = Sink()
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                let value = fmaLoop(iterations, seed: Float(worker) * 1e-9)
                sink.record(value)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        // 12 chains × 8 lanes × 2 flops per iteration per worker.
        return Double(threads) * Double(iterations) * 12 * 8 * 2 / best * 1e-9
    }

    private final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var total: Float = 0
        func record(_ value: Float) { lock.lock(); total += value; lock.unlock() }
    }
}

/// Twelve independent FMA chains (a ← y + a·x, which converges, so no overflow) per iteration, kept in registers; the result is
/// returned so the optimiser cannot drop the loop.
@inline(never)
func fmaLoop(_ iterations: Int, seed: Float) -> Float {
    let x = SIMD8<Float>(repeating: 0.999_999), y = SIMD8<Float>(repeating: seed)
    var a0 = SIMD8<Float>(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
    var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
    for _ in 0..<iterations {
        a0 = y.addingProduct(a0, x); a1 = y.addingProduct(a1, x); a2 = y.addingProduct(a2, x)
        a3 = y.addingProduct(a3, x); a4 = y.addingProduct(a4, x); a5 = y.addingProduct(a5, x)
        a6 = y.addingProduct(a6, x); a7 = y.addingProduct(a7, x); a8 = y.addingProduct(a8, x)
        a9 = y.addingProduct(a9, x); a10 = y.addingProduct(a10, x); a11 = y.addingProduct(a11, x)
    }
    let sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
    return sum.sum()
}
