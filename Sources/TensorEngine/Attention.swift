import Foundation
import Parallel

// MARK: - Multi-head scaled dot-product attention (timm `Attention`, without its projections)

/// Per batch item b and head h, with Q, K, V read in place from the fused qkv projection:
/// S = Q·Kᵀ/√D, P = softmax(S) (rows), O = P·V.
///
/// - qkv: [B, N, 3C], as timm's `qkv(x)` before its reshape: q, k, v at columns [0, C),
///   [C, 2C), [2C, 3C); head h at columns h·D..<(h+1)·D of each (C = H·D).
/// - out: [B, N, C], head h written to columns h·D..<(h+1)·D: timm's
///   `(attn @ v).transpose(1, 2).reshape(B, N, C)`, ready for `proj`.
/// - probabilities: [B, H, N, N], saved P for backward.
/// Parallel over the B·H (batch, head) items, each item's GEMMs on one worker.
func attentionForward(_ qkv: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                             probabilities: UnsafeMutablePointer<Float>,
                             batch b: Int, tokens n: Int, heads h: Int, headSize d: Int) {
    let c = h * d, scale = 1 / Float(d).squareRoot()
    let scores = GEMMShape(m: n, n: n, k: d, transposeB: true, lda: 3 * c, ldb: 3 * c, ldc: n)
    let values = GEMMShape(m: n, n: d, k: n, lda: n, ldb: 3 * c, ldc: c)
    let workers = max(1, min(Engine.threadCount, b * h))
    let perWorker = max(gemmScratchCount(scores), gemmScratchCount(values))
    ScratchPool.withBuffer(workers * perWorker) { scratch in     // borrowed here, not in the workers
        let qkvs = SharedPointer(qkv), outs = SharedPointer(out), ps = SharedPointer(probabilities)
        let scratchShared = SharedPointer(scratch)
        parallelFor(tasks: b * h, threads: workers) { worker, item in   // item writes its P block and O columns
            let batchIndex = item / h, head = item % h
            let q = UnsafePointer(qkvs.base + batchIndex * n * 3 * c + head * d)
            let k = q + c, v = q + 2 * c
            let p = ps.base + item * n * n
            let packing = scratchShared.base + worker * perWorker
            gemmOnThisThread(scores, alpha: scale, q, k, p, scratch: packing)
            for row in 0..<n { softmaxRow(p + row * n, p + row * n, n) }
            gemmOnThisThread(values, p, v, outs.base + batchIndex * n * c + head * d, scratch: packing)
        }
    }
}

/// dV += Pᵀ·dO,  dS = P ⊙ (dO·Vᵀ - rowsum(P ⊙ dO·Vᵀ)),  dQ += dS·K/√D,  dK += dSᵀ·Q/√D.
/// Reads the forward's qkv and P; accumulates into dqkv ([B, N, 3C], laid out as qkv).
/// dOut: [B, N, C]. Scratch: one N×N block and GEMM packing space per worker, from the pool.
func attentionBackward(_ qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
                              _ dOut: UnsafePointer<Float>, _ dqkv: UnsafeMutablePointer<Float>,
                              batch b: Int, tokens n: Int, heads h: Int, headSize d: Int) {
    let c = h * d, scale = 1 / Float(d).squareRoot()
    let probabilityGradient = GEMMShape(m: n, n: n, k: d, transposeB: true, lda: c, ldb: 3 * c, ldc: n)   // dP = dO·Vᵀ
    let dV = GEMMShape(m: n, n: d, k: n, transposeA: true, lda: n, ldb: c, ldc: 3 * c)
    let dQ = GEMMShape(m: n, n: d, k: n, lda: n, ldb: 3 * c, ldc: 3 * c)
    let dK = GEMMShape(m: n, n: d, k: n, transposeA: true, lda: n, ldb: 3 * c, ldc: 3 * c)
    let packingCount = [probabilityGradient, dV, dQ, dK].map(gemmScratchCount).max()!
    let perWorker = n * n + packingCount
    let workers = max(1, min(Engine.threadCount, b * h))
    ScratchPool.withBuffer(workers * perWorker) { scratch in     // borrowed here, not in the workers
        let qkvs = SharedPointer(qkv), ps = SharedPointer(probabilities), dOuts = SharedPointer(dOut)
        let dqkvs = SharedPointer(dqkv), scratchShared = SharedPointer(scratch)
        // Item (b, h) writes only head h's columns of dqkv in batch b; worker w owns scratch block w.
        parallelFor(tasks: b * h, threads: workers) { worker, item in
            let batchIndex = item / h, head = item % h
            let offset = batchIndex * n * 3 * c + head * d
            let q = UnsafePointer(qkvs.base + offset), k = q + c, v = q + 2 * c
            let dq = dqkvs.base + offset, dk = dq + c, dv = dq + 2 * c
            let p = UnsafePointer(ps.base + item * n * n)
            let dO = UnsafePointer(dOuts.base + batchIndex * n * c + head * d)
            let dS = scratchShared.base + worker * perWorker, packing = dS + n * n
            gemmOnThisThread(probabilityGradient, dO, v, dS, scratch: packing)
            gemmOnThisThread(dV, p, dO, beta: 1, dv, scratch: packing)
            for row in 0..<n {                                     // dP → dS in place
                let pRow = p + row * n, dRow = dS + row * n
                let dot = dotProduct(pRow, dRow, count: n)
                for j in 0..<n { dRow[j] = pRow[j] * (dRow[j] - dot) }
            }
            gemmOnThisThread(dQ, alpha: scale, dS, k, beta: 1, dq, scratch: packing)
            gemmOnThisThread(dK, alpha: scale, dS, q, beta: 1, dk, scratch: packing)
        }
    }
}

// MARK: - Inference attention with fewer keys than queries (SegFormer's spatial reduction)

/// O = softmax(Q·Kᵀ/√D)·V per batch item and head, saving nothing. Queries and keys may differ in
/// number (N queries against M keys: SegFormer shortens its keys and values with a strided
/// convolution, so M = N/R²) and each operand has its own row stride:
/// - queries: [B, N, ldq], head h at columns h·D..<(h+1)·D;
/// - keys, values: [B, M, ldkv] each (K and V may be two column ranges of one fused projection);
/// - out: [B, N, ldo], head h written to its columns (ready for the output projection).
/// Parallel over (batch, head, block of query rows): at 512×512, SegFormer's first stage has
/// 16,384 queries against 256 keys in one head, so heads alone would leave a core idle, and a
/// block of 128 rows keeps its scores (128×M) in L2 instead of an N×M matrix in memory.
package func attentionInference(queries q: UnsafePointer<Float>, ldq: Int, keys k: UnsafePointer<Float>,
                                values v: UnsafePointer<Float>, ldkv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                batch b: Int, queryCount n: Int, keyCount m: Int, heads h: Int, headSize d: Int) {
    precondition(m > 0 && d > 0 && ldq >= h * d && ldkv >= h * d && ldo >= h * d,
                 "attentionInference: \(m) keys, head size \(d), strides \(ldq), \(ldkv), \(ldo) for \(h) heads")
    if b == 0 || n == 0 { return }
    let blockRows = 128, blocks = (n + blockRows - 1) / blockRows
    let scale = 1 / Float(d).squareRoot()
    let scores = GEMMShape(m: blockRows, n: m, k: d, transposeB: true, lda: ldq, ldb: ldkv, ldc: m)
    let values = GEMMShape(m: blockRows, n: d, k: m, lda: m, ldb: ldkv, ldc: ldo)
    let packing = max(gemmScratchCount(scores), gemmScratchCount(values))
    let perWorker = blockRows * m + packing
    let items = b * h * blocks
    let workers = max(1, min(Engine.threadCount, items))
    ScratchPool.withBuffer(workers * perWorker) { scratch in     // borrowed here, not in the workers
        let qs = SharedPointer(q), ks = SharedPointer(k), vs = SharedPointer(v), outs = SharedPointer(out)
        let scratchShared = SharedPointer(scratch)
        parallelFor(tasks: items, threads: workers) { worker, item in   // item writes its rows of its head's columns
            let batchIndex = item / (h * blocks), head = item / blocks % h, block = item % blocks
            let first = block * blockRows, rows = min(blockRows, n - first)
            let p = scratchShared.base + worker * perWorker, packingSpace = p + blockRows * m
            let query = UnsafePointer(qs.base + (batchIndex * n + first) * ldq + head * d)
            let key = UnsafePointer(ks.base + batchIndex * m * ldkv + head * d)
            let value = UnsafePointer(vs.base + batchIndex * m * ldkv + head * d)
            var blockScores = scores, blockValues = values
            blockScores.m = rows
            blockValues.m = rows
            gemmOnThisThread(blockScores, alpha: scale, query, key, p, scratch: packingSpace)
            for row in 0..<rows { softmaxRow(p + row * m, p + row * m, m) }
            gemmOnThisThread(blockValues, p, value, outs.base + (batchIndex * n + first) * ldo + head * d,
                             scratch: packingSpace)
        }
    }
}
