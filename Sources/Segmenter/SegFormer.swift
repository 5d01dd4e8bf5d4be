import Foundation
import TensorEngine

// MARK: - SegFormer (Xie et al. 2021) for inference, as Hugging Face's SegformerForSemanticSegmentation

/// A SegFormer semantic segmenter built from its config and loaded from Hugging Face-named
/// weights, for inference on the CPU.
///
/// The encoder has `stageCount` stages; each embeds overlapping patches with a strided
/// convolution, runs its blocks (pre-norm efficient self-attention whose keys and values are
/// shortened by an R×R stride-R convolution, then a Mix-FFN: linear, 3×3 depthwise convolution,
/// GELU, linear) and ends in a LayerNorm. The all-MLP decode head projects every stage to the
/// decoder width, upsamples them bilinearly to the first stage's size (1/4 of the input),
/// concatenates them last stage first, fuses them with a 1×1 convolution, BatchNorm and ReLU, and
/// classifies each pixel with another 1×1 convolution.
///
/// Two things differ from a literal port, both exact in real arithmetic:
/// - Every activation stays channels-last ([B, H·W, C], the layout of tokens), so that no
///   convolution needs a transpose around it.
/// - The decode head is folded at load. Bilinear upsampling is linear and acts on each channel
///   alone, so the fusing convolution's slice for stage s, the stage's projection and the
///   BatchNorm's scale combine into one D×Cₛ matrix applied before upsampling; the biases add up
///   to one vector (upsampling keeps a constant). That removes the fusing product over the
///   4·D-channel concatenation at 1/4 resolution: 62-68% of B0's and B2's arithmetic.
///
/// Every LayerNorm uses eps 1e-5 (Hugging Face builds them with PyTorch's default and ignores
/// the config's `layer_norm_eps`); BatchNorm's eps is 1e-5 as well.
public final class SegFormer: @unchecked Sendable {
    /// The architecture.
    public let config: SegFormerConfig
    let stages: [Stage]
    let decoder: DecodeHead
    /// Serialises calls: the activations live in one workspace.
    private let lock = NSLock()
    private let workspace = Workspace()

    static let layerNormEps: Float = 1e-5

    /// Builds the model from `config` and takes its parameters from `weights` under Hugging
    /// Face's names (`segformer.encoder.block.0.0.attention.self.query.weight`, ...,
    /// `decode_head.classifier.bias`). Tensors outside `segformer.` and `decode_head.` are
    /// ignored (a fixture's inputs, a model file's own weights); `num_batches_tracked` too.
    /// - Parameter file: names the weights in errors.
    /// - Throws: `SegmenterError.mismatchedWeights` listing every missing, unexpected and
    ///   misshaped tensor at once.
    public init(config: SegFormerConfig, weights: [String: Tensor], file: String) throws {
        self.config = config
        let table = WeightTable(weights, file: file)
        (stages, decoder) = try Self.build(config, table)
        try table.check()
    }

    /// The model with random weights (seeded): for benchmarks, which time arithmetic, not answers.
    package init(config: SegFormerConfig, seed: UInt64) throws {
        self.config = config
        (stages, decoder) = try Self.build(config, WeightTable(randomSeed: seed))
    }

    private static func build(_ config: SegFormerConfig, _ table: WeightTable) throws -> ([Stage], DecodeHead) {
        var stages: [Stage] = []
        var inChannels = config.inputChannels
        for s in 0..<config.stageCount {
            stages.append(try Stage(config: config, stage: s, inChannels: inChannels, weights: table))
            inChannels = config.hiddenSizes[s]
        }
        return (stages, try DecodeHead(config: config, weights: table))
    }

    /// The logits of a batch of normalized images, channels-last.
    /// - Parameter pixels: [B, H, W, C] (C = `config.inputChannels`), normalized as the model
    ///   was trained (`SegFormerPreprocessing`).
    /// - Returns: [B, H₀, W₀, K] with H₀×W₀ the first stage's size (⌊(H + 2⌊P/2⌋ - P)/S⌋ + 1 for
    ///   its patch P and stride S: H/4 for SegFormer's 7/4) and K classes.
    /// - Throws: `SegmenterError.inputTooSmall` when a stage would have no pixels left (a side
    ///   shorter than a spatial-reduction ratio).
    public func logits(_ pixels: Tensor) throws -> Tensor {
        precondition(pixels.rank == 4 && pixels.shape[3] == config.inputChannels,
                     "SegFormer: pixels \(pixels.shape), expected [B, H, W, \(config.inputChannels)]")
        try checkInputSize(height: pixels.shape[1], width: pixels.shape[2])
        lock.lock()
        defer { lock.unlock() }
        let batch = pixels.shape[0]
        var input = pixels, height = pixels.shape[1], width = pixels.shape[2]
        var outputs: [StageOutput] = []
        for stage in stages {
            let output = stage.infer(input, batch: batch, height: height, width: width, workspace: workspace)
            outputs.append(output)
            (input, height, width) = (output.tokens, output.height, output.width)
        }
        return decoder.infer(outputs, batch: batch, workspace: workspace)
    }

    /// The stage sizes an input of `height`×`width` gives, first stage first.
    public func stageSizes(height: Int, width: Int) -> [(height: Int, width: Int)] {
        var sizes: [(height: Int, width: Int)] = []
        var (h, w) = (height, width)
        for stage in stages {
            (h, w) = stage.embedding.outputSize(height: h, width: w)
            sizes.append((h, w))
        }
        return sizes
    }

    func checkInputSize(height: Int, width: Int) throws {
        guard height >= 1, width >= 1 else { throw SegmenterError.inputTooSmall(height: height, width: width, reason: "empty") }
        var (h, w) = (height, width)
        for (s, stage) in stages.enumerated() {
            (h, w) = stage.embedding.outputSize(height: h, width: w)
            guard h >= 1, w >= 1 else {
                throw SegmenterError.inputTooSmall(height: height, width: width, reason: "stage \(s) has no pixels left")
            }
            let ratio = config.reductionRatios[s]
            guard h >= ratio, w >= ratio else {
                throw SegmenterError.inputTooSmall(height: height, width: width,
                                                   reason: "stage \(s) is \(h)x\(w), smaller than its reduction ratio \(ratio)")
            }
        }
    }
}

// MARK: - Weights by name

/// The weights a model takes, looked up by name and shape; what is missing, misshaped or left
/// over is reported once, all together.
final class WeightTable {
    private let weights: [String: Tensor]
    private var used: Set<String> = []
    private var missing: [String] = [], misshaped: [String] = []
    /// Set: every tensor is drawn at random instead (norm scales and variances near 1).
    private var random: SeededGenerator?

    /// Names the weights in errors.
    let file: String

    init(_ weights: [String: Tensor], file: String) {
        self.weights = weights
        self.file = file
    }

    init(randomSeed seed: UInt64) {
        weights = [:]
        file = "random weights"
        random = SeededGenerator(seed: seed)
    }

    /// Bytes of zeros handed out so far in place of missing or misshaped tensors.
    private var substitutedBytes = 0
    /// The most zeros handed out before giving up: a config far larger than its file (depth
    /// 256, width 8192) would otherwise allocate terabytes before the error could be reported.
    static let substituteLimit = 256 << 20

    /// The tensor `name` of `shape`, or zeros of that shape (recorded as missing or misshaped,
    /// reported by `check`).
    /// - Throws: `SegmenterError.mismatchedWeights` (what was found so far) once the zeros would
    ///   pass `substituteLimit`: the file cannot be the config's.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
        if random != nil {
            let positive = name.hasSuffix("running_var") || (name.contains("norm") && name.hasSuffix(".weight"))
            let scale = shape.count > 1 ? 1 / Double(shape.dropFirst().reduce(1, *)).squareRoot() : 0.1
            let values = (0..<shape.reduce(1, *)).map { _ in
                positive ? Float(1 + 0.1 * (2 * random!.nextUnit() - 1)) : Float(scale * 1.7 * (2 * random!.nextUnit() - 1))
            }
            return Tensor(shape: shape, values: values)
        }
        used.insert(name)
        if let tensor = weights[name], tensor.shape == shape { return tensor }
        if let tensor = weights[name] { misshaped.append("\(name) \(tensor.shape) (expected \(shape))") } else { missing.append(name) }
        let (count, overflow) = shape.reduce((1, false)) { product, side in
            let (next, over) = product.0.multipliedReportingOverflow(by: side)
            return (next, product.1 || over)
        }
        substitutedBytes += overflow ? Self.substituteLimit : count * MemoryLayout<Float>.stride
        guard substitutedBytes < Self.substituteLimit else {
            missing.append("(the rest not checked: the config asks for far more than the file holds)")
            throw SegmenterError.mismatchedWeights(file: file, missing: missing, unexpected: [], misshaped: misshaped)
        }
        return Tensor(zeros: shape)
    }

    func check() throws {
        let unexpected = weights.keys.filter {
            ($0.hasPrefix("segformer.") || $0.hasPrefix("decode_head.")) && !used.contains($0)
                && !$0.hasSuffix("num_batches_tracked")
        }.sorted()
        guard missing.isEmpty, misshaped.isEmpty, unexpected.isEmpty else {
            throw SegmenterError.mismatchedWeights(file: file, missing: missing, unexpected: unexpected, misshaped: misshaped)
        }
    }
}

/// A linear layer for inference: W [out, in] packed for the GEMM once, and its bias.
struct PackedLinear {
    let weight: PackedMatrix
    let bias: Tensor?
    var outFeatures: Int { bias?.count ?? 0 }

    init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "PackedLinear: weight \(weight.shape)")
        self.weight = PackedMatrix(weight.data, k: weight.shape[1], n: weight.shape[0], transposed: true)
        self.bias = bias
    }

    /// `prefix.weight` [out, in] and `prefix.bias` [out] from the table.
    init(_ prefix: String, inFeatures: Int, outFeatures: Int, weights: WeightTable) throws {
        try self.init(weight: weights.tensor(prefix + ".weight", [outFeatures, inFeatures]),
                  bias: weights.tensor(prefix + ".bias", [outFeatures]))
    }

    /// y = x·Wᵀ + b (or y += with `accumulating`) over `rows` rows.
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, accumulating: Bool = false) {
        linearForward(x, packed: weight, bias?.data, y, rows: rows, accumulating: accumulating)
    }
}

/// A LayerNorm's γ and β (eps `SegFormer.layerNormEps`).
struct Norm {
    let gamma: Tensor, beta: Tensor

    init(_ prefix: String, channels: Int, weights: WeightTable) throws {
        gamma = try weights.tensor(prefix + ".weight", [channels])
        beta = try weights.tensor(prefix + ".bias", [channels])
    }

    /// y = LayerNorm(x) over rows of `gamma.count` (y may be x).
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, workspace: Workspace) {
        let statistics = workspace.buffer(.statistics, count: 2 * rows)
        layerNormForward(x, gamma.data, beta.data, y, mean: statistics, rstd: statistics + rows, rows: rows,
                         columns: gamma.count, eps: SegFormer.layerNormEps)
    }
}

/// A convolution's weight and bias under `prefix`, for a `Conv2d`.
func convolution(_ prefix: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
                 groups: Int = 1, weights: WeightTable) throws -> Conv2d {
    let weight = try weights.tensor(prefix + ".weight", [outChannels, inChannels / groups, kernel, kernel])
    let bias = try weights.tensor(prefix + ".bias", [outChannels])
    return Conv2d(weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), groups: groups)
}

// MARK: - Activation memory

/// The activations of one forward pass, by role, each grown to the largest size asked for and
/// reused: stages and images of one size allocate nothing after the first.
final class Workspace {
    enum Slot: Int, CaseIterable {
        case normalized, queries, reduced, keysValues, attended, hidden, mixed, statistics, projected, fused
    }
    private var buffers: [Tensor?] = Array(repeating: nil, count: Slot.allCases.count)

    /// At least `count` floats for `slot`; contents are whatever was there.
    func buffer(_ slot: Slot, count: Int) -> UnsafeMutablePointer<Float> {
        if let existing = buffers[slot.rawValue], existing.count >= count { return existing.data }
        let fresh = Tensor(zeros: [max(count, 1)])
        buffers[slot.rawValue] = fresh
        return fresh.data
    }
}

// MARK: - Encoder

/// One stage's output: its tokens [B, H·W, C] after the stage's LayerNorm, and H, W.
struct StageOutput {
    let tokens: Tensor
    let height: Int, width: Int
}

/// Overlapping patch embedding, blocks, LayerNorm (`segformer.encoder.*.{s}`).
final class Stage {
    let embedding: Conv2d
    let embeddingNorm: Norm
    let blocks: [Block]
    let norm: Norm
    let channels: Int

    init(config: SegFormerConfig, stage s: Int, inChannels: Int, weights: WeightTable) throws {
        let c = config.hiddenSizes[s], patch = config.patchSizes[s]
        channels = c
        let prefix = "segformer.encoder"
        embedding = try convolution("\(prefix).patch_embeddings.\(s).proj", inChannels: inChannels, outChannels: c, kernel: patch,
                                stride: config.strides[s], padding: patch / 2, weights: weights)
        embeddingNorm = try Norm("\(prefix).patch_embeddings.\(s).layer_norm", channels: c, weights: weights)
        blocks = try (0..<config.depths[s]).map { i in
            try Block(prefix: "\(prefix).block.\(s).\(i)", channels: c, heads: config.heads[s], ratio: config.reductionRatios[s],
                  hidden: config.mlpHiddenSize(stage: s), activation: config.activation, weights: weights)
        }
        norm = try Norm("\(prefix).layer_norm.\(s)", channels: c, weights: weights)
    }

    /// x: [B, H, W, Cin] → the stage's tokens (a new tensor: the decode head keeps every stage's).
    func infer(_ x: Tensor, batch: Int, height: Int, width: Int, workspace: Workspace) -> StageOutput {
        let (h, w) = embedding.outputSize(height: height, width: width)
        let rows = batch * h * w
        let tokens = Tensor(zeros: [batch, h * w, channels])
        embedding.apply(x.data, tokens.data, batch: batch, height: height, width: width)
        embeddingNorm.apply(tokens.data, tokens.data, rows: rows, workspace: workspace)
        for block in blocks { block.inferInPlace(tokens, batch: batch, height: h, width: w, workspace: workspace) }
        norm.apply(tokens.data, tokens.data, rows: rows, workspace: workspace)
        return StageOutput(tokens: tokens, height: h, width: w)
    }
}

/// `SegformerLayer`: x += attention(norm1(x)); x += mixFFN(norm2(x)).
final class Block {
    let norm1: Norm, norm2: Norm
    let query: PackedLinear
    /// Key and value projections fused into one [2C, C] product: keys at columns [0, C), values
    /// at [C, 2C) of its output.
    let keyValue: PackedLinear
    let reduction: Conv2d?, reductionNorm: Norm?
    let output: PackedLinear
    let dense1: PackedLinear, depthwise: Conv2d, dense2: PackedLinear
    let channels: Int, heads: Int, hidden: Int
    let activation: Activation

    init(prefix: String, channels c: Int, heads: Int, ratio: Int, hidden: Int, activation: Activation, weights: WeightTable) throws {
        channels = c
        self.activation = activation
        self.heads = heads
        self.hidden = hidden
        let attention = prefix + ".attention.self"
        norm1 = try Norm(prefix + ".layer_norm_1", channels: c, weights: weights)
        query = try PackedLinear(attention + ".query", inFeatures: c, outFeatures: c, weights: weights)
        let key = try weights.tensor(attention + ".key.weight", [c, c]), keyBias = try weights.tensor(attention + ".key.bias", [c])
        let value = try weights.tensor(attention + ".value.weight", [c, c])
        let valueBias = try weights.tensor(attention + ".value.bias", [c])
        let fused = Tensor(zeros: [2 * c, c]), fusedBias = Tensor(zeros: [2 * c])
        fused.data.update(from: key.data, count: c * c)
        (fused.data + c * c).update(from: value.data, count: c * c)
        fusedBias.data.update(from: keyBias.data, count: c)
        (fusedBias.data + c).update(from: valueBias.data, count: c)
        keyValue = PackedLinear(weight: fused, bias: fusedBias)
        if ratio > 1 {
            reduction = try convolution(attention + ".sr", inChannels: c, outChannels: c, kernel: ratio, stride: ratio, padding: 0,
                                    weights: weights)
            reductionNorm = try Norm(attention + ".layer_norm", channels: c, weights: weights)
        } else {
            reduction = nil
            reductionNorm = nil
        }
        output = try PackedLinear(prefix + ".attention.output.dense", inFeatures: c, outFeatures: c, weights: weights)
        norm2 = try Norm(prefix + ".layer_norm_2", channels: c, weights: weights)
        dense1 = try PackedLinear(prefix + ".mlp.dense1", inFeatures: c, outFeatures: hidden, weights: weights)
        depthwise = try convolution(prefix + ".mlp.dwconv.dwconv", inChannels: hidden, outChannels: hidden, kernel: 3, stride: 1,
                                padding: 1, groups: hidden, weights: weights)
        dense2 = try PackedLinear(prefix + ".mlp.dense2", inFeatures: hidden, outFeatures: c, weights: weights)
    }

    /// x ← block(x) in place; x: [B, H·W, C].
    func inferInPlace(_ x: Tensor, batch b: Int, height h: Int, width w: Int, workspace: Workspace) {
        let c = channels, n = h * w, rows = b * n
        let normalized = workspace.buffer(.normalized, count: rows * c)
        norm1.apply(x.data, normalized, rows: rows, workspace: workspace)
        let queries = workspace.buffer(.queries, count: rows * c)
        query.apply(normalized, queries, rows: rows)
        var keyInput = UnsafePointer(normalized), keyCount = n
        if let reduction, let reductionNorm {
            let (rh, rw) = reduction.outputSize(height: h, width: w)
            keyCount = rh * rw
            let reduced = workspace.buffer(.reduced, count: b * keyCount * c)
            reduction.apply(normalized, reduced, batch: b, height: h, width: w)
            reductionNorm.apply(reduced, reduced, rows: b * keyCount, workspace: workspace)
            keyInput = UnsafePointer(reduced)
        }
        let keysValues = workspace.buffer(.keysValues, count: b * keyCount * 2 * c)
        keyValue.apply(keyInput, keysValues, rows: b * keyCount)
        let attended = workspace.buffer(.attended, count: rows * c)
        attentionInference(queries: queries, ldq: c, keys: keysValues, values: keysValues + c, ldkv: 2 * c,
                           out: attended, ldo: c, batch: b, queryCount: n, keyCount: keyCount, heads: heads,
                           headSize: c / heads)
        output.apply(attended, x.data, rows: rows, accumulating: true)

        norm2.apply(x.data, normalized, rows: rows, workspace: workspace)
        let expanded = workspace.buffer(.hidden, count: rows * hidden)
        dense1.apply(normalized, expanded, rows: rows)
        let mixed = workspace.buffer(.mixed, count: rows * hidden)
        depthwise.apply(expanded, mixed, batch: b, height: h, width: w)
        activation.apply(mixed, count: rows * hidden)
        dense2.apply(mixed, x.data, rows: rows, accumulating: true)
    }
}

// MARK: - Decode head

/// The all-MLP decode head with its fusing convolution and BatchNorm folded into the stage
/// projections (see `SegFormer`).
final class DecodeHead {
    /// Per stage: D×Cₛ, the fused convolution's slice times the projection, rows scaled by BatchNorm.
    let projections: [PackedMatrix]
    /// Every bias before the ReLU: BatchNorm's shift plus the fused slices times the projections' biases.
    let bias: [Float]
    let classifier: PackedLinear
    let width: Int, classes: Int

    init(config: SegFormerConfig, weights: WeightTable) throws {
        let d = config.decoderHiddenSize, stages = config.stageCount, k = config.labels.count
        width = d
        classes = k
        let fuse = try weights.tensor("decode_head.linear_fuse.weight", [d, stages * d, 1, 1])
        let gamma = try weights.tensor("decode_head.batch_norm.weight", [d]).scalars
        let beta = try weights.tensor("decode_head.batch_norm.bias", [d]).scalars
        let mean = try weights.tensor("decode_head.batch_norm.running_mean", [d]).scalars
        let variance = try weights.tensor("decode_head.batch_norm.running_var", [d]).scalars
        // BatchNorm in eval mode: y = (x - mean)·γ/√(var + eps) + β = x·scale + shift.
        let scale = (0..<d).map { Double(gamma[$0]) / (Double(variance[$0]) + 1e-5).squareRoot() }
        var bias = (0..<d).map { Double(beta[$0]) - Double(mean[$0]) * scale[$0] }
        var projections: [PackedMatrix] = []
        for s in 0..<stages {
            let c = config.hiddenSizes[s]
            let weight = try weights.tensor("decode_head.linear_c.\(s).proj.weight", [d, c])
            let projectionBias = try weights.tensor("decode_head.linear_c.\(s).proj.bias", [d])
            // Hugging Face concatenates the upsampled stages last first: stage s is slot S-1-s.
            let columns = fuse.data + (stages - 1 - s) * d
            let folded = Tensor(zeros: [d, c])
            gemm(GEMMShape(m: d, n: c, k: d, lda: stages * d), columns, weight.data, folded.data)
            for row in 0..<d {
                var sum = 0.0
                for e in 0..<d { sum += Double(columns[row * stages * d + e]) * Double(projectionBias.data[e]) }
                bias[row] += scale[row] * sum
                let scaled = folded.data + row * c
                for j in 0..<c { scaled[j] = Float(Double(scaled[j]) * scale[row]) }
            }
            projections.append(PackedMatrix(folded.data, k: c, n: d, transposed: true))
        }
        self.projections = projections
        self.bias = bias.map(Float.init)
        classifier = PackedLinear(weight: try weights.tensor("decode_head.classifier.weight", [k, d, 1, 1]).reshaped(to: [k, d]),
                                  bias: try weights.tensor("decode_head.classifier.bias", [k]))
    }

    /// The stages' tokens → logits [B, H₀, W₀, K].
    ///
    /// The fused map (D channels at 1/4 of the input: 50 MB for B2 at 512×512, its largest
    /// activation) is made a band of rows at a time, each band classified before the next:
    /// stages 1-3 are projected whole first (they are 16, 64 and 256 times smaller), then per
    /// band stage 0's projection plus the others' upsampled rows, bias, ReLU, classifier.
    func infer(_ stages: [StageOutput], batch b: Int, workspace: Workspace) -> Tensor {
        let (h0, w0) = (stages[0].height, stages[0].width)
        let d = width, c0 = stages[0].tokens.shape[2]
        let smaller = stages.dropFirst().map { b * $0.height * $0.width * d }
        let projected = workspace.buffer(.projected, count: smaller.reduce(0, +))
        var starts: [UnsafeMutablePointer<Float>] = []
        var offset = 0
        for (s, stage) in stages.enumerated().dropFirst() {
            starts.append(projected + offset)
            linearForward(stage.tokens.data, packed: projections[s], nil, projected + offset, rows: b * stage.height * stage.width)
            offset += smaller[s - 1]
        }
        let logits = Tensor(zeros: [b, h0, w0, classes])
        // Bands of about a million floats: large enough for full-speed GEMMs, small beside the map.
        let bandRows = max(1, (1 << 20) / max(1, w0 * d))
        let fused = workspace.buffer(.fused, count: min(bandRows, b * h0) * w0 * d)
        for first in stride(from: 0, to: b * h0, by: bandRows) {
            let band = first..<min(b * h0, first + bandRows)
            let pixels = band.count * w0
            // Stage 0 is already at H₀×W₀ (interpolating to the same size is the identity).
            linearForward(stages[0].tokens.data + first * w0 * c0, packed: projections[0], nil, fused, rows: pixels)
            for (s, stage) in stages.enumerated().dropFirst() {
                bilinearResize(starts[s - 1], batch: b, height: stage.height, width: stage.width, channels: d, into: fused,
                               outputHeight: h0, outputWidth: w0, accumulating: true, rows: band)
            }
            bias.withUnsafeBufferPointer { bias in
                for p in 0..<pixels { accumulate(bias.baseAddress!, into: fused + p * d, count: d) }
            }
            reluForward(fused, fused, count: pixels * d)
            classifier.apply(fused, logits.data + first * w0 * classes, rows: pixels)
        }
        return logits
    }
}
