// MARK: - Linear with bias (torch.nn.Linear: y = x·Wᵀ + b)

/// y = x·Wᵀ + b, or with `accumulating` y += x·Wᵀ + b (a residual add folded into the GEMM's
/// beta).  x: [R, Cin], W: [Cout, Cin] (PyTorch layout), b: [Cout] or nil, y: [R, Cout].
/// Saves nothing: backward reads x and W. `packedWeight`: W packed ahead (inference).
func linearForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                          _ y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
                          packedWeight: PackedMatrix? = nil, accumulating: Bool = false) {
    if let packedWeight {
        linearForward(x, packed: packedWeight, bias, y, rows: rows, accumulating: accumulating)
        return
    }
    let beta = addBias(bias, to: y, rows: rows, columns: outFeatures, accumulating: accumulating)
    gemm(GEMMShape(m: rows, n: outFeatures, k: inFeatures, transposeB: true), x, weight, beta: beta, y)
}

/// The same with W packed ahead (`PackedMatrix(weight:)`: k = Cin, n = Cout); W itself is not
/// read, so an inference model may free it.
package func linearForward(_ x: UnsafePointer<Float>, packed weight: PackedMatrix, _ bias: UnsafePointer<Float>?,
                          _ y: UnsafeMutablePointer<Float>, rows: Int, accumulating: Bool = false) {
    let beta = addBias(bias, to: y, rows: rows, columns: weight.n, accumulating: accumulating)
    gemm(GEMMShape(m: rows, n: weight.n, k: weight.k, transposeB: true), x, packed: weight, beta: beta, y)
}

/// Writes (or adds) the bias to every row of y before the GEMM accumulates into it; returns
/// the GEMM's beta (0: y is not read, so it may hold anything).
private func addBias(_ bias: UnsafePointer<Float>?, to y: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                     accumulating: Bool) -> Float {
    guard let bias else { return accumulating ? 1 : 0 }
    for r in 0..<rows {
        let row = y + r &* columns
        if accumulating { accumulate(bias, into: row, count: columns) } else { row.update(from: bias, count: columns) }
    }
    return 1
}

/// dx += dy·W,  dW += dyᵀ·x,  db += Σ_rows dy.  Reads the forward's x and W; accumulates
/// (dx nil: not needed, as for the first layer; db nil when there is no bias).
func linearBackward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                           _ dx: UnsafeMutablePointer<Float>?, _ dWeight: UnsafeMutablePointer<Float>,
                           _ dBias: UnsafeMutablePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int) {
    if let dx {
        gemm(GEMMShape(m: rows, n: inFeatures, k: outFeatures), dy, weight, beta: 1, dx)
    }
    gemm(GEMMShape(m: outFeatures, n: inFeatures, k: rows, transposeA: true), dy, x, beta: 1, dWeight)
    if let dBias { columnSum(dy, rows: rows, columns: outFeatures, into: dBias) }
}

/// out[j] += Σ_r m[r, j] in row order (deterministic).
func columnSum(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows { accumulate(m + r &* columns, into: out, count: columns) }
}
