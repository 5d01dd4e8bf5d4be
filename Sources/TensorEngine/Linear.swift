// MARK: - Linear with bias (torch.nn.Linear: y = x·Wᵀ + b)

/// y = x·Wᵀ + b.  x: [R, Cin], W: [Cout, Cin] (PyTorch layout), b: [Cout] or nil, y: [R, Cout].
/// Saves nothing: backward reads x and W. `packedWeight`: W packed ahead (inference).
public func linearForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                          _ y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
                          packedWeight: PackedMatrix? = nil) {
    var beta: Float = 0
    if let bias {                                              // y = b, then y += x·Wᵀ (beta 1)
        for r in 0..<rows { (y + r &* outFeatures).update(from: bias, count: outFeatures) }
        beta = 1
    }
    let shape = GEMMShape(m: rows, n: outFeatures, k: inFeatures, transposeB: true)
    if let packedWeight { gemm(shape, x, packed: packedWeight, beta: beta, y) }
    else { gemm(shape, x, weight, beta: beta, y) }
}

/// dx += dy·W,  dW += dyᵀ·x,  db += Σ_rows dy.  Reads the forward's x and W; accumulates
/// (dx nil: not needed, as for the first layer; db nil when there is no bias).
public func linearBackward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
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
