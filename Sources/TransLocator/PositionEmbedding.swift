import Foundation
import TensorEngine

/// Resamples a ViT position embedding to another patch grid as timm does on load
/// (`checkpoint_filter_fn` -> `resample_abs_pos_embed`): the CLS row is kept, the grid rows are
/// interpolated as an image with `F.interpolate(mode='bicubic', align_corners=False)`.
///
/// timm 1.0 passes `antialias=True`, for which torch uses a cubic of a = −0.5 over a support
/// widened by the scale when shrinking, weights normalized to sum 1 (PIL's filter); with
/// `antialias: false`, torch's plain bicubic (a = −0.75, 4 taps, edge-clamped).
/// - Parameters:
///   - embedding: [1, 1 + G₀², C] (square grid, one prefix token).
///   - grid: the new side G.
/// - Returns: [1, 1 + G², C].
func resamplePositionEmbedding(_ embedding: Tensor, toGrid grid: Int, antialias: Bool = true) -> Tensor {
    let c = embedding.shape[2], oldTokens = embedding.shape[1] - 1
    let old = Int(Double(oldTokens).squareRoot().rounded())
    precondition(old * old == oldTokens, "resamplePositionEmbedding: \(oldTokens) grid tokens is not a square")
    let weights = interpolationWeights(from: old, to: grid, antialias: antialias)   // [grid][old]
    let result = Tensor(zeros: [1, 1 + grid * grid, c])
    let source = embedding.data, out = result.data
    out.update(from: source, count: c)                                             // CLS row kept
    // Separable: rows then columns, accumulated in Double.
    var row = [Double](repeating: 0, count: c)
    for y in 0..<grid {
        for x in 0..<grid {
            for j in 0..<c { row[j] = 0 }
            for sy in 0..<old where weights[y][sy] != 0 {
                for sx in 0..<old where weights[x][sx] != 0 {
                    let w = weights[y][sy] * weights[x][sx]
                    let token = source + (1 + sy * old + sx) * c
                    for j in 0..<c { row[j] += w * Double(token[j]) }
                }
            }
            let target = out + (1 + y * grid + x) * c
            for j in 0..<c { target[j] = Float(row[j]) }
        }
    }
    return result
}

/// Row i: the weights of the `inputSize` source samples for output sample i
/// (torch's upsample_bicubic2d and its antialiased variant, align_corners=False).
func interpolationWeights(from inputSize: Int, to outputSize: Int, antialias: Bool) -> [[Double]] {
    func cubic(_ t: Double, _ a: Double) -> Double {
        let x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }
    let scale = Double(inputSize) / Double(outputSize)
    var weights = [[Double]](repeating: [Double](repeating: 0, count: inputSize), count: outputSize)
    for i in 0..<outputSize {
        if antialias {
            let support = 2 * max(scale, 1), inverse = scale >= 1 ? 1 / scale : 1
            let center = scale * (Double(i) + 0.5)
            let low = max(Int(center - support + 0.5), 0), high = min(Int(center + support + 0.5), inputSize)
            var total = 0.0
            for j in low..<high {
                let w = cubic((Double(j) - center + 0.5) * inverse, -0.5)
                weights[i][j] = w
                total += w
            }
            if total != 0 { for j in low..<high { weights[i][j] /= total } }
        } else {
            let sourcePosition = scale * (Double(i) + 0.5) - 0.5
            let base = Int(sourcePosition.rounded(.down)), t = sourcePosition - Double(base)
            for k in -1...2 {
                let j = min(max(base + k, 0), inputSize - 1)
                weights[i][j] += cubic(t - Double(k), -0.75)
            }
        }
    }
    return weights
}
