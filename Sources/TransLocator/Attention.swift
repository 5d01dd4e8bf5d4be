import TensorEngine

// MARK: - Multi-head self-attention core (timm Attention without its qkv and proj linears)

/// The attention of timm's `Attention.forward` between `qkv` and `proj`:
/// O = softmax(Q·Kᵀ·D^-½)·V per batch item and head.
/// qkv [B, N, 3C] as timm lays it out (q | k | v, each C = H·D wide, head h at columns h·D);
/// probabilities [B, H, N, N] (saved for backward); output [B, N, C], head h at columns h·D.
/// Parallel over the B·H (item, head) pairs, one GEMM thread each.
func attentionForward(qkv: UnsafePointer<Float>, batch: Int, tokens: Int, heads: Int, headDimension: Int,
                      probabilities: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
    let n = tokens, d = headDimension, c = heads * headDimension
    let scale = 1 / Float(d).squareRoot()
    let sq = UncheckedSendable(qkv), sp = UncheckedSendable(probabilities), so = UncheckedSendable(output)
    parallelTasks(batch * heads) { item in                       // item writes its P block and its O columns
        let b = item / heads, h = item % heads
        let q = sq.value + b &* n &* 3 &* c + h &* d
        let p = sp.value + item &* n &* n
        gemm(GEMMShape(m: n, n: n, k: d, transposeB: true, lda: 3 * c, ldb: 3 * c, ldc: n),
             alpha: scale, q, q + c, p, threads: 1)
        softmaxRows(p, p, rows: n, columns: n)
        gemm(GEMMShape(m: n, n: d, k: n, lda: n, ldb: 3 * c, ldc: c), p, q + 2 * c,
             so.value + b &* n &* c + h &* d, threads: 1)
    }
}

/// Backward of `attentionForward`: writes (overwrites) dqkv [B, N, 3C] from dOutput [B, N, C].
/// Reads the forward's qkv and probabilities; scratch [B·H·N·N] holds dP then dS.
func attentionBackward(qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, batch: Int, tokens: Int,
                       heads: Int, headDimension: Int, dOutput: UnsafePointer<Float>,
                       dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    let n = tokens, d = headDimension, c = heads * headDimension
    let scale = 1 / Float(d).squareRoot()
    let sq = UncheckedSendable(qkv), sp = UncheckedSendable(probabilities), sdo = UncheckedSendable(dOutput)
    let sdq = UncheckedSendable(dqkv), ss = UncheckedSendable(scratch)
    parallelTasks(batch * heads) { item in                       // item writes its dq, dk, dv columns and scratch block
        let b = item / heads, h = item % heads
        let q = sq.value + b &* n &* 3 &* c + h &* d
        let dq = sdq.value + b &* n &* 3 &* c + h &* d
        let p = sp.value + item &* n &* n
        let ds = ss.value + item &* n &* n
        let dO = sdo.value + b &* n &* c + h &* d
        // dP = dO·Vᵀ; dV = Pᵀ·dO
        gemm(GEMMShape(m: n, n: n, k: d, transposeB: true, lda: c, ldb: 3 * c, ldc: n), dO, q + 2 * c, ds, threads: 1)
        gemm(GEMMShape(m: n, n: d, k: n, transposeA: true, lda: n, ldb: c, ldc: 3 * c), p, dO, dq + 2 * c, threads: 1)
        // softmax backward: dS = P∘(dP − Σ_j dP·P)
        for i in 0..<n {
            let pr = p + i &* n, dr = ds + i &* n
            var dot: Float = 0
            for j in 0..<n { dot += pr[j] * dr[j] }
            for j in 0..<n { dr[j] = pr[j] * (dr[j] - dot) }
        }
        // dQ = scale·dS·K; dK = scale·dSᵀ·Q
        gemm(GEMMShape(m: n, n: d, k: n, lda: n, ldb: 3 * c, ldc: 3 * c), alpha: scale, ds, q + c, dq, threads: 1)
        gemm(GEMMShape(m: n, n: d, k: n, transposeA: true, lda: n, ldb: 3 * c, ldc: 3 * c), alpha: scale, ds, q,
             dq + c, threads: 1)
    }
}
