import Foundation
import TensorEngine

/// What `translocator verify-segmenter` found: the rebuilt model's logits against the file's.
public struct SegmenterVerification: Sendable {
    /// The config the model was rebuilt from.
    public let config: SegFormerConfig
    /// The input's shape [B, 3, H, W].
    public let inputShape: [Int]
    /// Largest |ours - reference| over every logit.
    public let maxAbsoluteError: Float
}

/// Rebuilds a SegFormer from a fixture (Hugging Face-named weights, `__metadata__["config"]`,
/// `pixel_values` [B, C, H, W] already normalized and the reference's `logits`
/// [B, K, H₀, W₀]; docs/ARCHITECTURE.md "CLI contracts"), runs the input and compares.
/// - Throws: `SegmenterError` (bad config, weights that do not fit), the weight readers' errors,
///   or `SegmenterError.notASegmenter` when `pixel_values` or `logits` is absent or misshaped.
public func verifySegmenter(contentsOf url: URL) throws -> SegmenterVerification {
    let file = try SafeTensors(weightsAt: url)
    guard let configText = file.metadata["config"] else {
        throw SegmenterError.notASegmenter(path: url.path, reason: "no __metadata__[\"config\"]")
    }
    let config = try SegFormerConfig(json: Data(configText.utf8), file: url.path + " __metadata__.config")
    let model = try SegFormer(config: config, weights: file.tensors, file: url.path)
    guard let input = file["pixel_values"], input.rank == 4, input.shape[1] == config.inputChannels else {
        throw SegmenterError.notASegmenter(path: url.path, reason: "no 'pixel_values' [B, \(config.inputChannels), H, W]")
    }
    let (b, h, w) = (input.shape[0], input.shape[2], input.shape[3])
    let logits = try model.logits(channelsLast(input))
    let k = config.labels.count, (h0, w0) = (logits.shape[1], logits.shape[2])
    guard let reference = file["logits"], reference.shape == [b, k, h0, w0] else {
        throw SegmenterError.notASegmenter(path: url.path, reason: "no 'logits' of shape \([b, k, h0, w0]) for this input and config "
                                           + "(the file has \(file["logits"].map { "\($0.shape)" } ?? "none"))")
    }
    let ours = channelsFirst(logits)
    var maxError: Float = 0
    for i in 0..<ours.count {
        let error = abs(ours.data[i] - reference.data[i])
        if !(error <= maxError) { maxError = error.isNaN ? .nan : error }
        if maxError.isNaN { break }
    }
    return SegmenterVerification(config: config, inputShape: [b, config.inputChannels, h, w], maxAbsoluteError: maxError)
}

/// [B, C, H, W] → [B, H, W, C].
package func channelsLast(_ x: Tensor) -> Tensor {
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let y = Tensor(zeros: [b, h, w, c])
    for n in 0..<b { for ch in 0..<c { for p in 0..<(h * w) { y.data[(n * h * w + p) * c + ch] = x.data[(n * c + ch) * h * w + p] } } }
    return y
}

/// [B, H, W, C] → [B, C, H, W].
package func channelsFirst(_ x: Tensor) -> Tensor {
    let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let y = Tensor(zeros: [b, c, h, w])
    for n in 0..<b { for ch in 0..<c { for p in 0..<(h * w) { y.data[(n * c + ch) * h * w + p] = x.data[(n * h * w + p) * c + ch] } } }
    return y
}
