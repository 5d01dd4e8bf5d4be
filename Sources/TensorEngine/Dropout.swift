import Foundation

// MARK: - Dropout

/// Inverted dropout: y = x·mask/(1 - p), mask[i] ∈ {0, 1} drawn with P(1) = 1 - p from
/// `generator` (sequentially: deterministic for a seed). Saves `mask` (`count` floats, 0 or
/// 1/(1 - p)) for backward. p = 0 copies.
func dropoutForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           mask: UnsafeMutablePointer<Float>, count: Int, probability p: Float,
                           using generator: inout SeededGenerator) {
    precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
    let keep = 1 / (1 - p)
    for i in 0..<count {
        mask[i] = p == 0 || Float(generator.nextUnit()) >= p ? keep : 0
        y[i] = x[i] * mask[i]
    }
}

/// dx += dy·mask.  Reads the mask the forward saved.
func dropoutBackward(_ dy: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                            _ dx: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { dx[i] += dy[i] * mask[i] }
}
