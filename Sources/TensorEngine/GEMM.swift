import Foundation
import Parallel

// MARK: - GEMM: C = alpha·op(A)·op(B) + beta·C, row-major

/// The shape of one GEMM. All matrices are row-major with leading dimensions (row strides) in
/// elements. op(A) is M×K: A is stored M×K (`lda` ≥ K) or, transposed, K×M (`lda` ≥ M).
/// op(B) is K×N: B is stored K×N (`ldb` ≥ N) or, transposed, N×K (`ldb` ≥ K). C is M×N
/// (`ldc` ≥ N). Transposes are read in place, never materialised (backward's AᵀB and ABᵀ).
package struct GEMMShape: Sendable, Equatable {
    package var m: Int, n: Int, k: Int
    package var transposeA: Bool, transposeB: Bool
    package var lda: Int, ldb: Int, ldc: Int

    /// Dense operands: leading dimensions from the stored shapes.
    package init(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
        self.m = m; self.n = n; self.k = k
        self.transposeA = transposeA; self.transposeB = transposeB
        self.lda = lda ?? max(1, transposeA ? m : k)
        self.ldb = ldb ?? max(1, transposeB ? k : n)
        self.ldc = ldc ?? max(1, n)
    }

    func check() {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size m \(m) n \(n) k \(k)")
        precondition(lda >= max(1, transposeA ? m : k), "GEMM: lda \(lda) too small for \(self)")
        precondition(ldb >= max(1, transposeB ? k : n), "GEMM: ldb \(ldb) too small for \(self)")
        precondition(ldc >= max(1, n), "GEMM: ldc \(ldc) too small for \(self)")
    }
}

/// C = alpha·op(A)·op(B) + beta·C (packed panels, a 6×16 FMA microkernel, parallel over output
/// tiles). With beta = 0, C is not read (it may hold NaN). Deterministic: each element of C is
/// reduced in the same order whatever `threads` is.
/// - Parameters:
///   - a, b, c: first elements of the operands, laid out as `shape` says.
///   - threads: workers (default `Engine.threadCount`); small products run on one.
/// - Complexity: 2·M·N·K flops; packs B once (K×N floats of pooled scratch) and A per tile
///   (MC×KC per worker), or, with a single row tile, A once and B per panel.
package func gemm(_ shape: GEMMShape, alpha: Float = 1, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 beta: Float = 0, _ c: UnsafeMutablePointer<Float>, threads: Int = Engine.threadCount) {
    shape.check()
    if shape.m == 0 || shape.n == 0 { return }
    if shape.k == 0 || alpha == 0 {
        scaleMatrix(c, rows: shape.m, columns: shape.n, ld: shape.ldc, by: beta)
        return
    }
    // Below ~1 MFLOP the Dispatch round trip costs more than the second core gives.
    let workers = shape.m * shape.n * shape.k < 1 << 19 ? 1 : threads
    let plan = GEMMPlan(shape, threads: workers)
    if plan.streamsB {
        ScratchPool.withBuffer(plan.scratchCount(workers: workers)) { scratch in
            gemmStreamingB(shape, plan: plan, alpha: alpha, a, b, beta: beta, c, threads: workers, scratch: scratch)
        }
        return
    }
    ScratchPool.withBuffer(plan.packedBCount) { packedB in
        packB(shape, b, into: packedB, plan: plan, threads: workers)
        gemmPackedB(shape, plan: plan, alpha: alpha, a, packedB, beta: beta, c, threads: workers)
    }
}

/// B packed once into the microkernel's panel order, for a weight used by many GEMMs
/// (inference: pack at load). `k`, `n` are op(B)'s sizes.
package final class PackedMatrix: @unchecked Sendable {
    let k: Int, n: Int
    let storage: TensorStorage
    let depth: Int              // K block depth of the packing (`GEMMPlan.packedKC` with `prepackedB`)

    /// Packs op(B) (K×N); `transposed`: B is stored N×K (a PyTorch `Linear` weight [out, in]
    /// for y = x·Wᵀ). `ld` defaults to the dense row length.
    package init(_ b: UnsafePointer<Float>, k: Int, n: Int, transposed: Bool, ld: Int? = nil) {
        self.k = k; self.n = n
        let shape = GEMMShape(m: 1, n: n, k: k, transposeB: transposed, ldb: ld)
        shape.check()
        let plan = GEMMPlan(shape, prepackedB: true)
        depth = plan.packedKC
        storage = TensorStorage(count: plan.packedBCount)
        packB(shape, b, into: storage.base, plan: plan, threads: Engine.threadCount)
    }

    /// Packs a weight tensor [N, K] for y = x·Wᵀ.
    convenience init(weight: Tensor) {
        precondition(weight.rank == 2, "PackedMatrix: weight must be [out, in], got \(weight.shape)")
        self.init(weight.data, k: weight.shape[1], n: weight.shape[0], transposed: true)
    }
}

/// C = alpha·op(A)·B + beta·C with B packed ahead of time. `shape.n`, `shape.k` must be B's.
package func gemm(_ shape: GEMMShape, alpha: Float = 1, _ a: UnsafePointer<Float>, packed b: PackedMatrix,
                 beta: Float = 0, _ c: UnsafeMutablePointer<Float>, threads: Int = Engine.threadCount) {
    shape.check()
    precondition(shape.k == b.k && shape.n == b.n, "GEMM: packed B is \(b.k)×\(b.n), shape wants \(shape.k)×\(shape.n)")
    if shape.m == 0 || shape.n == 0 { return }
    if shape.k == 0 || alpha == 0 {
        scaleMatrix(c, rows: shape.m, columns: shape.n, ld: shape.ldc, by: beta)
        return
    }
    let workers = shape.m * shape.n * shape.k < 1 << 19 ? 1 : threads
    let plan = GEMMPlan(shape, threads: workers, prepackedB: true)
    precondition(plan.packedKC == b.depth, "GEMM: packed B's K blocks are \(b.depth) deep, the plan's \(plan.packedKC)")
    gemmPackedB(shape, plan: plan, alpha: alpha, a, b.storage.base, beta: beta, c, threads: workers)
}

/// `count` independent GEMMs of one shape whose operands sit at fixed strides (in elements):
/// item i reads a + i·strideA, b + i·strideB, writes c + i·strideC. Parallel over items (each
/// item on one worker), which suits attention's many small per-head products.
func gemmStridedBatched(_ shape: GEMMShape, count: Int, alpha: Float = 1,
                               _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int,
                               beta: Float = 0, _ c: UnsafeMutablePointer<Float>, strideC: Int,
                               threads: Int = Engine.threadCount) {
    gemmBatched(shape, count: count, alpha: alpha, beta: beta, threads: threads) { i in
        (a + i * strideA, b + i * strideB, c + i * strideC)
    }
}

/// `count` GEMMs of one shape whose operand pointers `operands(i)` gives; parallel over items.
/// Items must write disjoint parts of C. Attention uses it with two-level (batch, head) offsets.
func gemmBatched(_ shape: GEMMShape, count: Int, alpha: Float = 1, beta: Float = 0, threads: Int = Engine.threadCount,
                 operands: (Int) -> (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>)) {
    shape.check()
    if count == 0 || shape.m == 0 || shape.n == 0 { return }
    let workers = max(1, min(threads, count))
    let perWorker = gemmScratchCount(shape)
    ScratchPool.withBuffer(perWorker * workers) { scratch in
        let shared = SharedPointer(scratch)
        parallelFor(tasks: count, threads: workers) { worker, item in   // worker owns its slice of scratch
            let (a, b, c) = operands(item)
            gemmOnThisThread(shape, alpha: alpha, a, b, beta: beta, c, scratch: shared.base + worker * perWorker)
        }
    }
}

/// Scratch floats `gemmOnThisThread` needs for `shape`: A and B packed.
func gemmScratchCount(_ shape: GEMMShape) -> Int {
    GEMMPlan(shape).scratchCount(workers: 1)
}

/// One GEMM on the calling thread, packing into `scratch` (`gemmScratchCount(shape)` floats).
/// For products inside a parallel worker (attention's per-head GEMMs): workers must not borrow
/// from the pool, because concurrent borrows make the pool's buffer sizes depend on how the
/// threads interleave, and then a later step at the same shape can still allocate. The caller
/// borrows one slab for all workers before going parallel instead.
func gemmOnThisThread(_ shape: GEMMShape, alpha: Float = 1, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                      beta: Float = 0, _ c: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    shape.check()
    if shape.m == 0 || shape.n == 0 { return }
    if shape.k == 0 || alpha == 0 {
        scaleMatrix(c, rows: shape.m, columns: shape.n, ld: shape.ldc, by: beta)
        return
    }
    let plan = GEMMPlan(shape)
    if plan.streamsB {
        gemmStreamingB(shape, plan: plan, alpha: alpha, a, b, beta: beta, c, threads: 1, scratch: scratch)
        return
    }
    packB(shape, b, into: scratch, plan: plan, threads: 1)
    gemmPackedB(shape, plan: plan, alpha: alpha, a, scratch, beta: beta, c, threads: 1,
                aBlocks: scratch + plan.packedBCount)
}

/// Scratch floats `gemmPackedOnThisThread` needs for `shape`: its blocks of packed A.
func packedGEMMScratchCount(_ shape: GEMMShape) -> Int {
    let plan = GEMMPlan(shape, threads: 1, prepackedB: true)
    return plan.mTiles == 1 ? plan.packedACount : plan.aBlockCount
}

/// C = op(A)·B + beta·C with B packed ahead, on the calling thread, packing A into `scratch`
/// (`packedGEMMScratchCount(shape)` floats): for a worker that must not borrow from the pool
/// (`gemmOnThisThread`'s reason). The packed-weight twin of `gemmOnThisThread`.
func gemmPackedOnThisThread(_ shape: GEMMShape, _ a: UnsafePointer<Float>, packed b: PackedMatrix, beta: Float,
                            _ c: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    shape.check()
    precondition(shape.k == b.k && shape.n == b.n, "GEMM: packed B is \(b.k)×\(b.n), shape wants \(shape.k)×\(shape.n)")
    if shape.m == 0 || shape.n == 0 { return }
    if shape.k == 0 {
        scaleMatrix(c, rows: shape.m, columns: shape.n, ld: shape.ldc, by: beta)
        return
    }
    let plan = GEMMPlan(shape, threads: 1, prepackedB: true)
    precondition(plan.packedKC == b.depth, "GEMM: packed B's K blocks are \(b.depth) deep, the plan's \(plan.packedKC)")
    gemmPackedB(shape, plan: plan, alpha: 1, a, b.storage.base, beta: beta, c, threads: 1, aBlocks: scratch)
}

/// C = beta·C over an M×N block; beta = 0 writes zeros without reading.
func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ld: Int, by beta: Float) {
    for i in 0..<rows {
        let row = c + i * ld
        if beta == 0 { row.update(repeating: 0, count: columns) }
        else if beta != 1 { for j in 0..<columns { row[j] *= beta } }
    }
}

// MARK: - Reference

/// The plain triple loop the fast GEMM is tested against: same contract, Double accumulation.
func gemmReference(_ shape: GEMMShape, alpha: Float = 1, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
    shape.check()
    for i in 0..<shape.m {
        for j in 0..<shape.n {
            var sum = 0.0
            for p in 0..<shape.k {
                let aValue = shape.transposeA ? a[p * shape.lda + i] : a[i * shape.lda + p]
                let bValue = shape.transposeB ? b[j * shape.ldb + p] : b[p * shape.ldb + j]
                sum += Double(aValue) * Double(bValue)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * shape.ldc + j])
            c[i * shape.ldc + j] = Float(Double(alpha) * sum + old)
        }
    }
}

// MARK: - Tensor API

extension Tensor {
    /// self·other for rank-2 tensors, optionally transposing either operand in place.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        precondition(rank == 2 && other.rank == 2, "matmul: rank-2 operands, got \(shape) and \(other.shape)")
        let m = transposeSelf ? shape[1] : shape[0], k = transposeSelf ? shape[0] : shape[1]
        let k2 = transposeOther ? other.shape[1] : other.shape[0], n = transposeOther ? other.shape[0] : other.shape[1]
        precondition(k == k2,
                     "matmul: inner sizes differ: \(shape)\(transposeSelf ? "ᵀ" : "") · \(other.shape)\(transposeOther ? "ᵀ" : "")")
        let result = Tensor(zeros: [m, n])
        gemm(GEMMShape(m: m, n: n, k: k, transposeA: transposeSelf, transposeB: transposeOther),
             data, other.data, result.data)
        return result
    }
}
