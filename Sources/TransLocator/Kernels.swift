import Foundation
import TensorEngine

// The few kernels the model needs beyond GEMM, forward and backward side by side.
// TODO: TensorEngine (issue 7) is building the engine's own layer norm, GELU, softmax and
// attention kernels; these small versions live here only until those land on main, and then go.

// MARK: - Parallel loop

/// Runs `body(task)` for task in 0..<count over `Engine.threadCount` workers, each taking
/// contiguous chunks. Workers must write disjoint memory.
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

// MARK: - Linear: y = x·Wᵀ + b (torch.nn.Linear)

/// x [R, I], weight [O, I], bias [O], y [R, O]. Overwrites y. Forward saves nothing (backward
/// reads x again).
func linearForward(_ x: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>,
                   packed: PackedMatrix?, bias: UnsafePointer<Float>?, outputs: Int, _ y: UnsafeMutablePointer<Float>) {
    let shape = GEMMShape(m: rows, n: outputs, k: inputs, transposeB: true)
    if let packed { gemm(shape, x, packed: packed, y) } else { gemm(shape, x, weight, y) }
    if let bias {
        for r in 0..<rows {
            let row = y + r &* outputs
            for o in 0..<outputs { row[o] += bias[o] }
        }
    }
}

/// dx (+)= dy·W (`accumulateInput`: += else =), dW += dyᵀ·x, db += Σ_rows dy.
func linearBackward(_ x: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>, outputs: Int,
                    _ dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool,
                    dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?) {
    if let dx {
        gemm(GEMMShape(m: rows, n: inputs, k: outputs), dy, weight, beta: accumulateInput ? 1 : 0, dx)
    }
    gemm(GEMMShape(m: outputs, n: inputs, k: rows, transposeA: true), dy, x, beta: 1, dWeight)
    if let dBias {
        for r in 0..<rows {
            let row = dy + r &* outputs
            for o in 0..<outputs { dBias[o] += row[o] }
        }
    }
}

// MARK: - LayerNorm over the last dimension (torch.nn.LayerNorm, timm ViT eps 1e-6)

/// x, y [R, C]; gamma, beta [C]. Saves xhat [R, C] and rstd [R] for backward (either may be the
/// caller's scratch in inference). y may alias x.
func layerNormForward(_ x: UnsafePointer<Float>, rows: Int, channels: Int, gamma: UnsafePointer<Float>,
                      beta: UnsafePointer<Float>, epsilon: Float, _ y: UnsafeMutablePointer<Float>,
                      xhat: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?) {
    let sx = UncheckedSendable(x), sy = UncheckedSendable(y), sh = UncheckedSendable(xhat), sr = UncheckedSendable(rstd)
    parallelTasks(rows, minimumPerWorker: 64) { r in               // worker writes only row r
        let xr = sx.value + r &* channels, yr = sy.value + r &* channels
        var sum: Double = 0
        for c in 0..<channels { sum += Double(xr[c]) }
        let mean = sum / Double(channels)
        var squares: Double = 0
        for c in 0..<channels { let d = Double(xr[c]) - mean; squares += d * d }
        let inverse = Float(1 / (squares / Double(channels) + Double(epsilon)).squareRoot())
        let meanF = Float(mean)
        if let h = sh.value {
            let hr = h + r &* channels
            for c in 0..<channels { let n = (xr[c] - meanF) * inverse; hr[c] = n; yr[c] = n * gamma[c] + beta[c] }
        } else {
            for c in 0..<channels { yr[c] = (xr[c] - meanF) * inverse * gamma[c] + beta[c] }
        }
        sr.value?[r] = inverse
    }
}

/// dx += rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)) with dxhat = dy·gamma;
/// dgamma += Σ dy·xhat, dbeta += Σ dy. Reads forward's xhat and rstd.
func layerNormBackward(xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, channels: Int,
                       gamma: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                       dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let hr = xhat + r &* channels, dyr = dy + r &* channels, dxr = dx + r &* channels
        var meanD: Float = 0, meanDH: Float = 0
        for c in 0..<channels {
            let d = dyr[c] * gamma[c]
            meanD += d
            meanDH += d * hr[c]
            dGamma[c] += dyr[c] * hr[c]
            dBeta[c] += dyr[c]
        }
        meanD /= Float(channels)
        meanDH /= Float(channels)
        for c in 0..<channels {
            dxr[c] += rstd[r] * (dyr[c] * gamma[c] - meanD - hr[c] * meanDH)
        }
    }
}

// MARK: - GELU, exact erf form (torch.nn.GELU() default)

/// y = x·Φ(x). x, y: `count` elements. y may alias nothing; forward saves its input x.
func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    let sx = UncheckedSendable(x), sy = UncheckedSendable(y)
    let chunk = 4096
    parallelTasks((count + chunk - 1) / chunk, minimumPerWorker: 8) { t in    // worker writes its chunk of y
        for i in (t * chunk)..<min(count, (t + 1) * chunk) {
            let v = sx.value[i]
            sy.value[i] = 0.5 * v * (1 + erf(v * 0.70710677))                   // 1/√2
        }
    }
}

/// dx (+)= dy·(Φ(x) + x·φ(x)). Reads the forward's input.
func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                  count: Int, accumulate: Bool) {
    for i in 0..<count {
        let cdf = 0.5 * (1 + erf(x[i] * 0.70710677))
        let pdf = 0.39894228 * exp(-0.5 * x[i] * x[i])                          // 1/√(2π)
        let g = dy[i] * (cdf + x[i] * pdf)
        dx[i] = accumulate ? dx[i] + g : g
    }
}

// MARK: - Softmax over rows

/// p = softmax(scale·s) row-wise, s, p [R, K] (may alias).
func softmaxRows(_ s: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, scale: Float = 1) {
    for r in 0..<rows {
        let sr = s + r &* columns, pr = p + r &* columns
        var maximum = -Float.infinity
        for k in 0..<columns { maximum = max(maximum, sr[k] * scale) }
        var total: Float = 0
        for k in 0..<columns { let e = exp(sr[k] * scale - maximum); pr[k] = e; total += e }
        let inverse = 1 / total
        for k in 0..<columns { pr[k] *= inverse }
    }
}
