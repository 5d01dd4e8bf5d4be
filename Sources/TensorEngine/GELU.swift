import Foundation
import Parallel

// MARK: - GELU, exact erf form (torch.nn.GELU() default, timm's Mlp act_layer)

/// y = x·Φ(x) = ½x(1 + erf(x/√2)).  x, y: `count` elements, any shape (y may alias x: inference
/// runs it in place). Saves nothing: backward
/// reads the forward's input.
public func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    let xs = SharedPointer(x), ys = SharedPointer(y)
    parallelChunks(count / 8, minimumChunk: 8192) { vectors in     // each chunk writes its own range
        for v in vectors {
            let xv = UnsafeRawPointer(xs.base + v &* 8).loadUnaligned(as: SIMD8<Float>.self)
            let yv = 0.5 * xv * (1 + simdErf(xv * 0.70710678118654752))          // 1/√2
            UnsafeMutableRawPointer(ys.base + v &* 8).storeBytes(of: yv, as: SIMD8<Float>.self)
        }
    }
    for i in count / 8 * 8 ..< count { y[i] = 0.5 * x[i] * (1 + scalarErf(x[i] * 0.70710678118654752)) }
}

/// dx += dy·(Φ(x) + x·φ(x)), φ(x) = e^(-x²/2)/√(2π).  Reads the forward's input; accumulates.
public func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                         _ dx: UnsafeMutablePointer<Float>, count: Int) {
    @inline(__always) func slope(_ xv: SIMD8<Float>) -> SIMD8<Float> {
        let cdf = 0.5 * (1 + simdErf(xv * 0.70710678118654752))
        let pdf = 0.39894228040143268 * simdExp(-0.5 * xv * xv)                  // 1/√(2π)
        return cdf.addingProduct(xv, pdf)
    }
    let xs = SharedPointer(x), dys = SharedPointer(dy), dxs = SharedPointer(dx)
    parallelChunks(count / 8, minimumChunk: 4096) { vectors in     // each chunk writes its own range
        for v in vectors {
            let xv = UnsafeRawPointer(xs.base + v &* 8).loadUnaligned(as: SIMD8<Float>.self)
            let dyv = UnsafeRawPointer(dys.base + v &* 8).loadUnaligned(as: SIMD8<Float>.self)
            let out = UnsafeMutableRawPointer(dxs.base + v &* 8)
            let dxv = out.loadUnaligned(as: SIMD8<Float>.self).addingProduct(dyv, slope(xv))
            out.storeBytes(of: dxv, as: SIMD8<Float>.self)
        }
    }
    for i in count / 8 * 8 ..< count { dx[i] += dy[i] * slope(SIMD8(repeating: x[i]))[0] }
}

/// The plain per-element form, for the tests.
func geluForwardReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] = Float(0.5 * Double(x[i]) * (1 + erf(Double(x[i]) / 2.0.squareRoot()))) }
}

// MARK: - Residual add

/// y = a + b.  a, b, y: `count` elements (y may alias a or b).
public func addForward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i &+ 8 <= count {                                   // explicit SIMD: the pointers may alias
        let sum = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count { y[i] = a[i] + b[i]; i &+= 1 }
}

/// da += dy, db += dy (either may be nil).  The same as `accumulate(dy, into:)` on each.
public func addBackward(_ dy: UnsafePointer<Float>, _ da: UnsafeMutablePointer<Float>?,
                        _ db: UnsafeMutablePointer<Float>?, count: Int) {
    if let da { accumulate(dy, into: da, count: count) }
    if let db { accumulate(dy, into: db, count: count) }
}

/// y += x over `count` elements: how branches and residual paths sum their gradients.
public func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    addForward(x, y, y, count: count)
}

/// y += a·x over `count` elements.
func accumulate(_ x: UnsafePointer<Float>, scaledBy a: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i &+ 8 <= count {
        let out = UnsafeMutableRawPointer(y + i)
        let sum = out.loadUnaligned(as: SIMD8<Float>.self)
            .addingProduct(a, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
        out.storeBytes(of: sum, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count { y[i] += a * x[i]; i &+= 1 }
}

/// Σ a[i]·b[i] with eight lanes.
@inline(__always)
func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i &+ 8 <= count {
        acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                       UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
        i &+= 8
    }
    var sum = horizontalSum(acc)
    while i < count { sum += a[i] * b[i]; i &+= 1 }
    return sum
}

// MARK: - Dropout

/// Inverted dropout: y = x·mask/(1 - p), mask[i] ∈ {0, 1} drawn with P(1) = 1 - p from
/// `generator` (sequentially: deterministic for a seed). Saves `mask` (`count` floats, 0 or
/// 1/(1 - p)) for backward. p = 0 copies.
public func dropoutForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           mask: UnsafeMutablePointer<Float>, count: Int, probability p: Float,
                           using generator: inout SeededGenerator) {
    precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")  // invariant: shapes come from our own modules; files and flags are checked before they reach the engine
    let keep = 1 / (1 - p)
    for i in 0..<count {
        mask[i] = p == 0 || Float(generator.nextUnit()) >= p ? keep : 0
        y[i] = x[i] * mask[i]
    }
}

/// dx += dy·mask.  Reads the mask the forward saved.
public func dropoutBackward(_ dy: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                            _ dx: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { dx[i] += dy[i] * mask[i] }
}
