import Foundation
import TensorEngine

/// The geo-localization heads, in loss order (eq. 8).
public enum HeadName: String, CaseIterable, Sendable, Codable {
    case coarse, middle, fine, scene
}

/// TransLocator (paper section 3) and its configurations: ViT-MT (one branch), two branches
/// without MFF or modality attention, with or without the scene head (Table 2's ablations).
///
/// Parameters carry the PyTorch twin's names (scripts/model/twin.py): `rgb.*` and `seg.*` timm
/// ViT branches, `fusion.{k}.f/g`, `modality_attention.0/.2`, `heads.{coarse,middle,fine,scene}.{0,2,..}`.
///
/// Training use: `forward(rgb:seg:training: true)`, then `backward(logitGradients:)` (or
/// `lossAndBackward`), which accumulates into every `Parameter.gradient`.
public final class TransLocatorModel {
    public let config: ModelConfig
    public let headSizes: HeadSizes
    let rgb: VisionTransformer
    let seg: VisionTransformer?
    let fusion: [(f: Linear, g: Linear)]
    let scorer: MLP?
    let heads: [(name: HeadName, mlp: MLP)]
    /// Every parameter, in the twin's `named_parameters()` order.
    public let parameters: [Parameter]

    private var state: ForwardState?
    /// Set by `prepareForInference()`.
    public private(set) var isInferenceOnly = false

    /// A model with timm's ViT init for the branches, N(0, 0.02) heads with zero biases, MFF as
    /// the mean of the two CLS tokens (f = I, g = I/2), and the scorer as timm inits linears
    /// (the twin's `init_weights`).
    /// - Throws: `ModelConfigError` when the config or head sizes are invalid.
    public init(config: ModelConfig, headSizes: HeadSizes, seed: UInt64 = 0) throws {
        try config.validate(file: "model config")
        for (name, size) in [("coarse", headSizes.coarse), ("middle", headSizes.middle), ("fine", headSizes.fine)] where size < 1 {
            throw ModelConfigError.invalid(file: "partition", field: "\(name) classes", value: "\(size)", expected: "at least 1")
        }
        self.config = config
        self.headSizes = headSizes
        let vit = config.vit, c = config.embedDimension
        rgb = VisionTransformer(config: vit, prefix: "rgb.")
        seg = config.segmentationBranch ? VisionTransformer(config: vit, prefix: "seg.") : nil
        fusion = config.fusesEveryBlock
            ? (0..<config.depth).map { (Linear("fusion.\($0).f", inputs: c, outputs: c), Linear("fusion.\($0).g", inputs: c, outputs: c)) }
            : []
        scorer = config.weighsModalities
            ? MLP("modality_attention", sizes: [c] + config.modalityAttentionHidden + [1], activation: .relu) : nil
        let feature = config.featureDimension
        var heads: [(name: HeadName, mlp: MLP)] = [
            (.coarse, MLP("heads.coarse", sizes: [feature] + config.headHidden.coarse + [headSizes.coarse], activation: .gelu)),
            (.middle, MLP("heads.middle", sizes: [feature] + config.headHidden.middle + [headSizes.middle], activation: .gelu)),
            (.fine, MLP("heads.fine", sizes: [feature] + config.headHidden.fine + [headSizes.fine], activation: .gelu)),
        ]
        if config.sceneClasses > 0 {
            heads.append((.scene, MLP("heads.scene", sizes: [feature] + config.headHidden.scene + [config.sceneClasses], activation: .gelu)))
        }
        self.heads = heads
        var parameters = rgb.parameters + (seg?.parameters ?? [])
        parameters += fusion.flatMap { $0.f.parameters + $0.g.parameters }
        parameters += scorer?.parameters ?? []
        parameters += heads.flatMap { $0.mlp.parameters }
        self.parameters = parameters
        initialize(seed: seed)
    }

    private func initialize(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        rgb.initialize(using: &generator)
        seg?.initialize(using: &generator)
        for (f, g) in fusion {
            let c = f.inputs
            for i in 0..<c {
                f.weight.value[i * c + i] = 1
                g.weight.value[i * c + i] = 0.5
            }
        }
        for layer in scorer?.layers ?? [] { layer.weight.value.fillNormal(std: 0.02, using: &generator) }   // trunc_normal(0.02, ±2)
        for (_, head) in heads {
            for layer in head.layers { layer.weight.value.fillNormal(std: 0.02, using: &generator) }
        }
    }

    /// The parameter named `name`, or nil.
    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    /// Sets every gradient to zero (gradients are allocated by the first backward).
    public func zeroGradients() { for p in parameters { p.zeroGradient() } }

    var linears: [Linear] {
        [rgb, seg].compactMap { $0 }.flatMap { $0.blocks.flatMap(\.linears) }
            + fusion.flatMap { [$0.f, $0.g] } + (scorer?.layers ?? []) + heads.flatMap { $0.mlp.layers }
    }

    /// Packs every linear weight for GEMM once (inference between training steps: validation);
    /// costs a copy of the linear weights. `weightsDidChange()` drops the packed copies.
    public func packWeights() { for linear in linears { linear.pack() } }

    /// Makes this an inference-only model: packs every linear weight for GEMM and frees the
    /// unpacked copies and any gradients, so that it holds one copy of its weights (issue 4:
    /// inference peak memory at most 1.5x the weight bytes). Afterwards it can run
    /// `forward(training: false)` only; training, saving or reading the packed weights' values
    /// is a bug that traps.
    public func prepareForInference() {
        for linear in linears { linear.pack(releasingValue: true) }
        for parameter in parameters { parameter.releaseGradient() }
        isInferenceOnly = true
    }

    /// Drops packed weights: call after changing parameter values (an optimizer step).
    public func weightsDidChange() {
        precondition(!isInferenceOnly, "weightsDidChange: this model was prepared for inference only")  // invariant: only Predictor and the benchmark prepare models for inference, and they never train them
        for linear in linears { linear.packed = nil }
    }
}

/// Logits of one forward, each [B, K], plus f_mm [B, featureDimension] and, with modality
/// attention, w_mm [B, 2] (eq. 5).
public struct ModelOutputs {
    public var logits: [HeadName: Tensor]
    public var features: Tensor
    public var modalityWeights: Tensor?
}

/// The activations of the last forward, for its backward.
final class ForwardState {
    let batch: Int
    let training: Bool
    let rgb: ViTActivations
    let seg: ViTActivations?
    let scratch: BackwardScratch?
    /// Per fused block: the two CLS tokens before fusion and Σ f(cls) [B, C] each (eq. 4).
    let fusionInputs: [(rgb: Tensor, seg: Tensor, sum: Tensor)]
    let stackedCLS: Tensor      // [2B, C]: the scorer's input
    let scores: Tensor          // [2B, 1]
    let weights: Tensor         // [B, 2]
    let features: Tensor        // [B, F]
    var logits: [HeadName: Tensor] = [:]

    init(model: TransLocatorModel, batch: Int, training: Bool) {
        self.batch = batch
        self.training = training
        let vit = model.config.vit, c = vit.embedDimension
        rgb = ViTActivations(config: vit, batch: batch, training: training)
        seg = model.seg == nil ? nil : ViTActivations(config: vit, batch: batch, training: training, sharingCachesWith: rgb)
        scratch = training ? BackwardScratch(config: vit, batch: batch) : nil
        fusionInputs = model.fusion.indices.map { _ in
            (Tensor(zeros: [batch, c]), Tensor(zeros: [batch, c]), Tensor(zeros: [batch, c]))
        }
        stackedCLS = Tensor(zeros: [2 * batch, c])
        scores = Tensor(zeros: [2 * batch, 1])
        weights = Tensor(zeros: [batch, 2])
        features = Tensor(zeros: [batch, model.config.featureDimension])
        for (name, head) in model.heads { logits[name] = Tensor(zeros: [batch, head.outputs]) }
    }
}

/// An input that does not fit the model.
public enum ModelInputError: Error, CustomStringConvertible, Equatable {
    case wrongShape(input: String, shape: [Int], expected: String)
    case missingSegmentation

    public var description: String {
        switch self {
        case let .wrongShape(input, shape, expected): "the \(input) input is \(shape), expected \(expected)"
        case .missingSegmentation:
            "this TransLocator model needs a segmentation map for every image: pass --seg, or use a ViT-MT model"
        }
    }
}

extension TransLocatorModel {
    // MARK: Forward

    /// Runs the model on a batch.
    /// - Parameters:
    ///   - rgb: normalized photos [B, 3, S, S] (S = `config.imageSize`).
    ///   - seg: their ADE20K maps rendered with the palette and normalized like photos, same shape;
    ///     required when the config has the segmentation branch, ignored otherwise.
    ///   - training: keep every activation for `backward`; otherwise reuse one block's buffers.
    /// - Returns: the heads' logits (fresh tensors), f_mm and w_mm.
    /// - Throws: `ModelInputError` for a wrong shape or a missing segmentation map.
    public func forward(rgb images: Tensor, seg maps: Tensor? = nil, training: Bool = false) throws -> ModelOutputs {
        let s = config.imageSize
        precondition(!(training && isInferenceOnly), "forward(training: true) on a model prepared for inference only")  // invariant: only Predictor and the benchmark prepare models for inference, and they never train them
        guard images.rank == 4, images.shape[1] == 3, images.shape[2] == s, images.shape[3] == s, images.shape[0] > 0 else {
            throw ModelInputError.wrongShape(input: "rgb", shape: images.shape, expected: "[B, 3, \(s), \(s)]")
        }
        let batch = images.shape[0]
        if seg != nil {
            guard let maps else { throw ModelInputError.missingSegmentation }
            guard maps.shape == images.shape else {
                throw ModelInputError.wrongShape(input: "seg", shape: maps.shape, expected: "\(images.shape), as the rgb input")
            }
        }
        if state == nil || state!.batch != batch || state!.training != training {
            state = nil    // release the old activations before allocating new ones
            state = ForwardState(model: self, batch: batch, training: training)
        }
        let state = state!
        run(state, images.data, maps?.data)
        var logits: [HeadName: Tensor] = [:]
        for (name, tensor) in state.logits { logits[name] = tensor.copy() }
        return ModelOutputs(logits: logits, features: state.features.copy(),
                            modalityWeights: scorer == nil ? nil : state.weights.copy())
    }

    private func run(_ state: ForwardState, _ images: UnsafePointer<Float>, _ maps: UnsafePointer<Float>?) {
        let b = state.batch, c = config.embedDimension, n = config.vit.tokenCount
        rgb.embed(images, into: state.rgb)
        if let seg, let maps, let segState = state.seg { seg.embed(maps, into: segState) }
        for k in 0..<config.depth {
            rgb.blocks[k].forward(state.rgb.x.data, batch: b, cache: state.rgb.cache(forBlock: k))
            guard let seg, let segState = state.seg else { continue }
            seg.blocks[k].forward(segState.x.data, batch: b, cache: segState.cache(forBlock: k))
            guard !fusion.isEmpty else { continue }
            // eq. 4: cls <- g(f(cls_rgb) + f(cls_seg)), written back to both branches
            let (f, g) = fusion[k]
            let saved = state.fusionInputs[k]
            let fr = Tensor(zeros: [b, c]), fs = Tensor(zeros: [b, c]), fused = Tensor(zeros: [b, c])
            for item in 0..<b {
                (saved.rgb.data + item * c).update(from: state.rgb.x.data + item &* n &* c, count: c)
                (saved.seg.data + item * c).update(from: segState.x.data + item &* n &* c, count: c)
            }
            f.forward(saved.rgb.data, rows: b, fr.data)
            f.forward(saved.seg.data, rows: b, fs.data)
            for i in 0..<(b * c) { saved.sum.data[i] = fr.data[i] + fs.data[i] }
            g.forward(saved.sum.data, rows: b, fused.data)
            for item in 0..<b {
                (state.rgb.x.data + item &* n &* c).update(from: fused.data + item * c, count: c)
                (segState.x.data + item &* n &* c).update(from: fused.data + item * c, count: c)
            }
        }
        rgb.finalCLS(state.rgb)
        let features = state.features.data, width = config.featureDimension
        if let seg, let segState = state.seg {
            seg.finalCLS(segState)
            let cr = state.rgb.cls.data, cs = segState.cls.data
            if let scorer {
                // eqs. 5-7: shared scorer on both CLS tokens, softmax over the two branches
                state.stackedCLS.data.update(from: cr, count: b * c)
                (state.stackedCLS.data + b * c).update(from: cs, count: b * c)
                scorer.forward(state.stackedCLS.data, rows: 2 * b, state.scores.data)
                for item in 0..<b {
                    let sr = state.scores[item], ss = state.scores[b + item], top = max(sr, ss)
                    let er = exp(sr - top), es = exp(ss - top)
                    state.weights[2 * item] = er / (er + es)
                    state.weights[2 * item + 1] = es / (er + es)
                }
            }
            for item in 0..<b {
                let wr = scorer == nil ? 0 : state.weights[2 * item], ws = scorer == nil ? 0 : state.weights[2 * item + 1]
                for j in 0..<c {
                    features[item * width + j] = (1 + wr) * cr[item * c + j]
                    features[item * width + c + j] = (1 + ws) * cs[item * c + j]
                }
            }
        } else {
            features.update(from: state.rgb.cls.data, count: b * c)
        }
        for (name, head) in heads { head.forward(features, rows: b, state.logits[name]!.data) }
    }

    // MARK: Backward

    /// Backpropagates logit gradients ([B, K] per head; a missing head counts as zero) through
    /// the last training forward, accumulating into every `Parameter.gradient`.
    public func backward(logitGradients: [HeadName: Tensor]) {
        guard let state, state.training, let scratch = state.scratch else {
            preconditionFailure("backward needs a forward with training: true before it")
        }
        let b = state.batch, c = config.embedDimension, n = config.vit.tokenCount, width = config.featureDimension
        let dFeatures = Tensor(zeros: [b, width])
        for (name, head) in heads {
            guard let dy = logitGradients[name] else { continue }
            precondition(dy.shape == [b, head.outputs], "backward: \(name) gradient is \(dy.shape), expected \([b, head.outputs])")  // invariant: configs, weights and partitions are validated when loaded (ModelConfig, import, ModelFile)
            head.backward(dy.data, dx: dFeatures.data, accumulateInput: true)
        }
        let dClsRGB = Tensor(zeros: [b, c])
        if let seg, let segState = state.seg {
            let dClsSeg = Tensor(zeros: [b, c])
            let cr = state.rgb.cls.data, cs = segState.cls.data
            let dStacked = Tensor(zeros: [2 * b, c]), dScores = Tensor(zeros: [2 * b, 1])
            for item in 0..<b {
                let wr = scorer == nil ? 0 : state.weights[2 * item], ws = scorer == nil ? 0 : state.weights[2 * item + 1]
                var dwr: Float = 0, dws: Float = 0
                for j in 0..<c {
                    let gr = dFeatures[item * width + j], gs = dFeatures[item * width + c + j]
                    dClsRGB[item * c + j] = (1 + wr) * gr
                    dClsSeg[item * c + j] = (1 + ws) * gs
                    dwr += gr * cr[item * c + j]
                    dws += gs * cs[item * c + j]
                }
                let mean = wr * dwr + ws * dws                         // softmax backward over 2
                dScores[item] = wr * (dwr - mean)
                dScores[b + item] = ws * (dws - mean)
            }
            if let scorer {
                scorer.backward(dScores.data, dx: dStacked.data, accumulateInput: false)
                for i in 0..<(b * c) {
                    dClsRGB.data[i] += dStacked.data[i]
                    dClsSeg.data[i] += dStacked.data[b * c + i]
                }
            }
            rgb.finalCLSBackward(state.rgb, dCLS: dClsRGB.data)
            seg.finalCLSBackward(segState, dCLS: dClsSeg.data)
            for k in stride(from: config.depth - 1, through: 0, by: -1) {
                if !fusion.isEmpty { fusionBackward(k, state: state, segState: segState) }
                rgb.blocks[k].backward(state.rgb.dx.data, batch: b, cache: state.rgb.cache(forBlock: k), scratch: scratch)
                seg.blocks[k].backward(segState.dx.data, batch: b, cache: segState.cache(forBlock: k), scratch: scratch)
            }
            seg.embedBackward(segState)
        } else {
            dClsRGB.data.update(from: dFeatures.data, count: b * c)
            rgb.finalCLSBackward(state.rgb, dCLS: dClsRGB.data)
            for k in stride(from: config.depth - 1, through: 0, by: -1) {
                rgb.blocks[k].backward(state.rgb.dx.data, batch: b, cache: state.rgb.cache(forBlock: k), scratch: scratch)
            }
        }
        rgb.embedBackward(state.rgb)
        _ = n
    }

    /// Backward of eq. 4 at block k: the fused CLS went to both branches, so its gradient is the
    /// sum of theirs; each branch's pre-fusion CLS gets f's backward (replacing, not adding to,
    /// its row: the old CLS was overwritten).
    private func fusionBackward(_ k: Int, state: ForwardState, segState: ViTActivations) {
        let b = state.batch, c = config.embedDimension, n = config.vit.tokenCount
        let (f, g) = fusion[k]
        let saved = state.fusionInputs[k]
        let dFused = Tensor(zeros: [b, c]), dSum = Tensor(zeros: [b, c])
        let dRGB = Tensor(zeros: [b, c]), dSeg = Tensor(zeros: [b, c])
        for item in 0..<b {
            let r = state.rgb.dx.data + item &* n &* c, s = segState.dx.data + item &* n &* c
            for j in 0..<c { dFused[item * c + j] = r[j] + s[j] }
        }
        g.backward(saved.sum.data, rows: b, dFused.data, dx: dSum.data)
        f.backward(saved.rgb.data, rows: b, dSum.data, dx: dRGB.data)
        f.backward(saved.seg.data, rows: b, dSum.data, dx: dSeg.data)
        for item in 0..<b {
            (state.rgb.dx.data + item &* n &* c).update(from: dRGB.data + item * c, count: c)
            (segState.dx.data + item &* n &* c).update(from: dSeg.data + item * c, count: c)
        }
    }
}
