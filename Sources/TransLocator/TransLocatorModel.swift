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
/// Built from the engine's modules (`TransformerBlock`, `LinearStack`, ...); the two branches'
/// blocks share one `BlockWorkspace` (they run one block at a time).
///
/// Training use: `forward(rgb:seg:training: true)`, then `backward(logitGradients:)` (or
/// `lossAndBackward`), which accumulates into every `Parameter.gradient`.
public final class TransLocatorModel {
    /// The architecture (branches, fusion, heads' hidden widths, sizes).
    public let config: ModelConfig
    /// Classes of the coarse, middle and fine heads.
    public let headSizes: HeadSizes
    let rgb: VisionTransformer
    let seg: VisionTransformer?
    let fusion: [CLSFusion]
    let scorer: LinearStack?
    let heads: [(name: HeadName, mlp: LinearStack)]
    /// Every parameter, in the twin's `named_parameters()` order.
    public let parameters: [Parameter]

    private var state: ForwardState?
    /// Set by `prepareForInference()`.
    public private(set) var isInferenceOnly = false

    /// A model with timm's ViT init for the branches, N(0, 0.02) heads with zero biases, MFF as
    /// the mean of the two CLS tokens (f = I, g = I/2; see `ModelConfig.multimodalFeatureFusion`),
    /// and the scorer as timm inits linears (the twin's `init_weights`). Gradients are allocated
    /// by the first backward, so a model built for inference holds only its weights.
    /// - Throws: `ModelConfigError` when the config or head sizes are invalid.
    public init(config: ModelConfig, headSizes: HeadSizes, seed: UInt64 = 0) throws {
        try config.validate(file: "model config")
        for (name, size) in [("coarse", headSizes.coarse), ("middle", headSizes.middle), ("fine", headSizes.fine)] where size < 1 {
            throw ModelConfigError.invalid(file: "partition", field: "\(name) classes", value: "\(size)", expected: "at least 1")
        }
        self.config = config
        self.headSizes = headSizes
        let vit = config.vit, c = config.embedDimension
        let workspace = BlockWorkspace()
        rgb = VisionTransformer(config: vit, prefix: "rgb.", workspace: workspace)
        seg = config.segmentationBranch ? VisionTransformer(config: vit, prefix: "seg.", workspace: workspace) : nil
        fusion = config.fusesEveryBlock ? (0..<config.depth).map { CLSFusion(channels: c, name: "fusion.\($0)") } : []
        scorer = config.weighsModalities
            ? LinearStack(widths: [c] + config.modalityAttentionHidden + [1], activation: .relu, name: "modality_attention") : nil
        let feature = config.featureDimension
        func head(_ name: HeadName, _ hidden: [Int], _ classes: Int) -> (name: HeadName, mlp: LinearStack) {
            (name, LinearStack(widths: [feature] + hidden + [classes], activation: .gelu, name: "heads.\(name.rawValue)"))
        }
        var heads = [head(.coarse, config.headHidden.coarse, headSizes.coarse),
                     head(.middle, config.headHidden.middle, headSizes.middle),
                     head(.fine, config.headHidden.fine, headSizes.fine)]
        if config.sceneClasses > 0 { heads.append(head(.scene, config.headHidden.scene, config.sceneClasses)) }
        self.heads = heads
        var parameters = rgb.parameters + (seg?.parameters ?? [])
        parameters += fusion.flatMap(\.parameters)
        parameters += scorer?.parameters ?? []
        parameters += heads.flatMap { $0.mlp.parameters }
        self.parameters = parameters
        initialize(seed: seed)
    }

    private func initialize(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        rgb.initialize(using: &generator)
        seg?.initialize(using: &generator)
        for mff in fusion { mff.initializeAsMean() }
        for layer in scorer?.layers ?? [] { layer.weight.value.fillNormal(std: 0.02, using: &generator) }   // trunc_normal(0.02, ±2)
        for (_, head) in heads {
            for layer in head.layers { layer.weight.value.fillNormal(std: 0.02, using: &generator) }
        }
    }

    /// The parameter named `name`, or nil.
    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    /// Sets every gradient to zero (gradients are allocated by the first backward).
    package func zeroGradients() { for p in parameters { p.zeroGradient() } }

    var linears: [Linear] {
        [rgb, seg].compactMap { $0 }.flatMap(\.linears) + fusion.flatMap { [$0.f, $0.g] } + (scorer?.layers ?? [])
            + heads.flatMap { $0.mlp.layers }
    }

    /// Packs every linear weight for GEMM once (inference between training steps: validation);
    /// costs a copy of the linear weights. `weightsDidChange()` drops the packed copies.
    package func packWeights() { for linear in linears { linear.packWeight() } }

    /// Makes this an inference-only model: packs every linear weight for GEMM and frees the
    /// unpacked copies and any gradients, so that it holds one copy of its weights (inference
    /// peak memory stays under 1.5x the weight bytes: `bench forward` reports it). Afterwards it can run
    /// `forward(training: false)` only; training, saving or reading the packed weights' values
    /// is a bug that traps.
    public func prepareForInference() {
        for linear in linears { linear.packWeight(releasingValue: true) }
        for parameter in parameters { parameter.releaseGradient() }
        isInferenceOnly = true
    }

    /// Drops packed weights: call after changing parameter values (an optimizer step).
    package func weightsDidChange() {
        precondition(!isInferenceOnly, "weightsDidChange: this model was prepared for inference only")
        for linear in linears { linear.unpackWeight() }
    }
}

/// Logits of one forward, each [B, K], plus f_mm [B, featureDimension] and, with modality
/// attention, w_mm [B, 2] (eq. 5).
public struct ModelOutputs {
    /// Each head's logits, [B, K] (K its class count).
    public var logits: [HeadName: Tensor]
    /// f_mm, the fused features the heads read: [B, featureDimension].
    public var features: Tensor
    /// w_mm, the modality weights (RGB, segmentation) of eq. 5: [B, 2]; nil without modality attention.
    public var modalityWeights: Tensor?
}

/// What the last forward leaves for its backward (the modules keep their own activations).
final class ForwardState {
    let batch: Int
    let training: Bool
    let stackedCLS: Tensor      // [2B, C]: the scorer's input, rgb's final CLS rows then seg's
    let weights: Tensor         // [B, 2]: w_rgb, w_seg
    let features: Tensor        // [B, F]
    var rgbCLS: Tensor?, segCLS: Tensor?             // final normalized CLS [B, C] (the norms' buffers)
    var logits: [HeadName: Tensor] = [:]             // the heads' output buffers
    /// Training: gradients of each branch's residual stream [B, N, C], two per branch (a
    /// block's output and input).
    private(set) lazy var rgbGradients = (Tensor(zeros: streamShape), Tensor(zeros: streamShape))
    private(set) lazy var segGradients = (Tensor(zeros: streamShape), Tensor(zeros: streamShape))
    /// Training: the backward's gradients of f_mm [B, F], the final CLS tokens [B, C] each, the
    /// scorer's scores [2B, 1] and input [2B, C], made by the first backward and reused after.
    private(set) lazy var dFeatures = Tensor(zeros: [batch, featureDimension])
    private(set) lazy var dCLS = (rgb: Tensor(zeros: [batch, channels]), seg: Tensor(zeros: [batch, channels]))
    private(set) lazy var dScores = Tensor(zeros: [2 * batch, 1])
    private(set) lazy var dStackedCLS = Tensor(zeros: [2 * batch, channels])
    private let streamShape: [Int]
    private let channels: Int, featureDimension: Int

    init(model: TransLocatorModel, batch: Int, training: Bool) {
        self.batch = batch
        self.training = training
        let c = model.config.embedDimension
        streamShape = [batch, model.config.vit.tokenCount, c]
        channels = c
        featureDimension = model.config.featureDimension
        stackedCLS = Tensor(zeros: [2 * batch, c])
        weights = Tensor(zeros: [batch, 2])
        features = Tensor(zeros: [batch, model.config.featureDimension])
    }
}

/// An input that does not fit the model.
public enum ModelInputError: Error, CustomStringConvertible, Equatable {
    case wrongShape(input: String, shape: [Int], expected: String)
    case missingSegmentation

    /// A one-line message naming the input and what was expected.
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
    ///   - training: keep every activation for `backward`; otherwise run each block in place on
    ///     one residual stream per branch, with one block's temporaries for all blocks.
    /// - Returns: the heads' logits, f_mm and w_mm, as fresh tensors.
    /// - Throws: `ModelInputError` for a wrong shape or a missing segmentation map.
    public func forward(rgb images: Tensor, seg maps: Tensor? = nil, training: Bool = false) throws -> ModelOutputs {
        let outputs = try forwardIntoOwnBuffers(rgb: images, seg: maps, training: training)
        return ModelOutputs(logits: outputs.logits.mapValues { $0.copy() }, features: outputs.features.copy(),
                            modalityWeights: outputs.modalityWeights?.copy())
    }

    /// `forward` without copying its outputs: the logits, f_mm and w_mm are the model's own
    /// buffers, overwritten by the next forward. A training step reads them once before its
    /// backward, and the copies were the only allocations a step after the first still made.
    package func forwardIntoOwnBuffers(rgb images: Tensor, seg maps: Tensor? = nil, training: Bool = false) throws -> ModelOutputs {
        let s = config.imageSize
        precondition(!(training && isInferenceOnly), "forward(training: true) on a model prepared for inference only")
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
            state = nil    // release the old buffers before allocating new ones
            state = ForwardState(model: self, batch: batch, training: training)
        }
        let state = state!
        run(state, images, maps)
        return ModelOutputs(logits: state.logits, features: state.features, modalityWeights: scorer == nil ? nil : state.weights)
    }

    private func run(_ state: ForwardState, _ images: Tensor, _ maps: Tensor?) {
        let b = state.batch, c = config.embedDimension
        func step(_ block: TransformerBlock, _ x: Tensor) -> Tensor {
            guard state.training else { block.inferInPlace(x); return x }
            return block.forward(x)
        }
        var x = rgb.embed(images)
        var y = seg.flatMap { branch in maps.map { branch.embed($0) } }
        for k in 0..<config.depth {
            x = step(rgb.blocks[k], x)
            guard let seg, let segStream = y else { continue }
            y = step(seg.blocks[k], segStream)
            if !fusion.isEmpty { fusion[k].forward(rgb: x, seg: y!) }      // eq. 4, after every block
        }
        let cr = rgb.finalCLS(x)
        state.rgbCLS = cr
        let features = state.features.data, width = config.featureDimension
        if let seg, let y {
            let cs = seg.finalCLS(y)
            state.segCLS = cs
            if let scorer {
                // eqs. 5-7: shared scorer on both CLS tokens, softmax over the two branches
                state.stackedCLS.data.update(from: cr.data, count: b * c)
                (state.stackedCLS.data + b * c).update(from: cs.data, count: b * c)
                let scores = scorer.forward(state.stackedCLS)
                for item in 0..<b {
                    let sr = scores[item], ss = scores[b + item], top = max(sr, ss)
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
            features.update(from: cr.data, count: b * c)
        }
        for (name, head) in heads { state.logits[name] = head.forward(state.features) }
    }

    // MARK: Backward

    /// Backpropagates logit gradients ([B, K] per head; a missing head counts as zero) through
    /// the last training forward, accumulating into every `Parameter.gradient`.
    package func backward(logitGradients: [HeadName: Tensor]) {
        guard let state, state.training, let cr = state.rgbCLS else {
            preconditionFailure("backward needs a forward with training: true before it")
        }
        let b = state.batch, c = config.embedDimension, width = config.featureDimension
        let dFeatures = state.dFeatures
        dFeatures.fill(0)                                          // the heads accumulate into it
        for (name, head) in heads {
            guard let dy = logitGradients[name] else { continue }
            precondition(dy.shape == [b, head.outFeatures], "backward: \(name) gradient is \(dy.shape), expected \([b, head.outFeatures])")
            head.backward(dy, into: dFeatures)
        }
        let (dClsRGB, dClsSeg) = state.dCLS                         // every element written below
        var (dOut, dIn) = state.rgbGradients
        guard let seg, let cs = state.segCLS else {
            dClsRGB.data.update(from: dFeatures.data, count: b * c)
            rgb.finalCLSBackward(dClsRGB, into: dOut)
            for block in rgb.blocks.reversed() {
                dIn.fill(0)
                block.backward(dOut, into: dIn)
                swap(&dOut, &dIn)
            }
            rgb.embedBackward(dOut)
            return
        }
        let dScores = state.dScores                                 // every element written below
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
            let dStacked = state.dStackedCLS
            dStacked.fill(0)                                       // the scorer accumulates into it
            scorer.backward(dScores, into: dStacked)
            accumulate(dStacked.data, into: dClsRGB.data, count: b * c)
            accumulate(dStacked.data + b * c, into: dClsSeg.data, count: b * c)
        }
        var (dSegOut, dSegIn) = state.segGradients
        rgb.finalCLSBackward(dClsRGB, into: dOut)
        seg.finalCLSBackward(dClsSeg, into: dSegOut)
        for k in stride(from: config.depth - 1, through: 0, by: -1) {
            if !fusion.isEmpty { fusion[k].backward(rgb: dOut, seg: dSegOut) }
            dIn.fill(0)
            rgb.blocks[k].backward(dOut, into: dIn)
            swap(&dOut, &dIn)
            dSegIn.fill(0)
            seg.blocks[k].backward(dSegOut, into: dSegIn)
            swap(&dSegOut, &dSegIn)
        }
        rgb.embedBackward(dOut)
        seg.embedBackward(dSegOut)
    }
}

// MARK: - Multimodal feature fusion (eq. 4)

/// MFF after one block: cls ← g(f(cls_rgb) + f(cls_seg)), written back as both branches' CLS
/// token. f and g are C → C linears, `fusion.k.f` and `fusion.k.g` (the twin's names). f runs
/// once on the two CLS tokens stacked [2B, C].
final class CLSFusion {
    let f: Linear, g: Linear
    private var stacked: Tensor?, sum: Tensor?
    private var dFused: Tensor?, dSum: Tensor?, dProjected: Tensor?, dStacked: Tensor?

    init(channels: Int, name: String) {
        f = Linear(inFeatures: channels, outFeatures: channels, name: name + ".f")
        g = Linear(inFeatures: channels, outFeatures: channels, name: name + ".g")
    }

    var parameters: [Parameter] { f.parameters + g.parameters }

    /// f = I, g = I/2, zero biases: the fused token starts as the mean of the two CLS tokens
    /// (the twin's init; the paper does not say; see `ModelConfig.multimodalFeatureFusion`).
    func initializeAsMean() {
        let c = f.inFeatures
        f.weight.value.fill(0)
        g.weight.value.fill(0)
        for i in 0..<c {
            f.weight.value[i * c + i] = 1
            g.weight.value[i * c + i] = 0.5
        }
    }

    /// Rewrites the CLS rows of both streams [B, N, C] with the fused token. Keeps what
    /// backward needs.
    func forward(rgb x: Tensor, seg y: Tensor) {
        let b = x.shape[0], n = x.shape[1], c = x.shape[2]
        let s = reuse(&stacked, [2 * b, c])
        tokenSliceForward(x.data, s.data, token: 0, batch: b, tokens: n, channels: c)
        tokenSliceForward(y.data, s.data + b * c, token: 0, batch: b, tokens: n, channels: c)
        let projected = f.forward(s)
        let total = reuse(&sum, [b, c])
        addForward(projected.data, projected.data + b * c, total.data, count: b * c)
        let fused = g.forward(total)
        for item in 0..<b {
            (x.data + item * n * c).update(from: fused.data + item * c, count: c)
            (y.data + item * n * c).update(from: fused.data + item * c, count: c)
        }
    }

    /// dx, dy: gradients of the two streams after fusion [B, N, C]. The fused token went to
    /// both, so its gradient is the sum of their CLS rows; on return each CLS row holds the
    /// gradient of that branch's CLS before fusion (replacing it: the old token was overwritten).
    func backward(rgb dx: Tensor, seg dy: Tensor) {
        let b = dx.shape[0], n = dx.shape[1], c = dx.shape[2]
        let dF = reuse(&dFused, [b, c])
        for item in 0..<b {
            addForward(dx.data + item * n * c, dy.data + item * n * c, dF.data + item * c, count: c)
        }
        let dS = reuse(&dSum, [b, c])
        dS.fill(0)
        g.backward(dF, into: dS)
        let dP = reuse(&dProjected, [2 * b, c])
        dP.data.update(from: dS.data, count: b * c)
        (dP.data + b * c).update(from: dS.data, count: b * c)
        let dIn = reuse(&dStacked, [2 * b, c])
        dIn.fill(0)
        f.backward(dP, into: dIn)
        for item in 0..<b {
            (dx.data + item * n * c).update(from: dIn.data + item * c, count: c)
            (dy.data + item * n * c).update(from: dIn.data + (b + item) * c, count: c)
        }
    }
}
