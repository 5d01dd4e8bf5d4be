import Foundation

// MARK: - Residual add, and the sums gradients and optimizers share (accumulate, dot product)

/// y = a + b.  a, b, y: `count` elements (y may alias a or b).
package func addForward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
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
func addBackward(_ dy: UnsafePointer<Float>, _ da: UnsafeMutablePointer<Float>?,
                        _ db: UnsafeMutablePointer<Float>?, count: Int) {
    if let da { accumulate(dy, into: da, count: count) }
    if let db { accumulate(dy, into: db, count: count) }
}

/// y += x over `count` elements: how branches and residual paths sum their gradients.
package func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
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
