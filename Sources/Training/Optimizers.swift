import Foundation

// The two optimizers (the paper's AdamW, the authors' SGD) as pure functions over flat Float buffers: one call updates one
// parameter tensor in place. Hyper-parameters arrive in Double and are rounded to Float once,
// as PyTorch passes Python floats to float32 kernels; the arithmetic follows PyTorch's
// single-tensor implementations (torch/optim/sgd.py, adamw.py) step for step.

// MARK: - SGD with momentum (torch.optim.SGD, dampening 0, not Nesterov)

/// One SGD step on `count` parameters:
///
///     d = g + λ·p;   b = μ·b + d;   p = p - η·b
///
/// PyTorch starts the buffer as a copy of d on the first step; a zero buffer gives the same
/// (μ·0 + d = d exactly), so `momentumBuffer` starts zeroed.
/// - Parameters:
///   - parameters, gradients, momentumBuffer: `count` elements each; `gradients` is only read.
///   - learningRate: η of this step (the schedule's rate times the group's scale).
///   - momentum: μ (0.9 in the authors' code); weightDecay: λ (L2, added to the gradient).
func sgdStep(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                    momentumBuffer b: UnsafeMutablePointer<Float>, count: Int,
                    learningRate: Double, momentum: Double, weightDecay: Double) {
    let eta = Float(learningRate), mu = Float(momentum), lambda = Float(weightDecay)
    let etaV = SIMD8<Float>(repeating: eta), muV = SIMD8<Float>(repeating: mu), lambdaV = SIMD8<Float>(repeating: lambda)
    var i = 0
    while i &+ 8 <= count {
        let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
        let bv = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        let d = gv + lambdaV * pv
        let buffer = muV * bv + d
        UnsafeMutableRawPointer(b + i).storeBytes(of: buffer, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(p + i).storeBytes(of: pv - etaV * buffer, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count {
        let d = g[i] + lambda * p[i]
        b[i] = mu * b[i] + d
        p[i] -= eta * b[i]
        i &+= 1
    }
}

// MARK: - AdamW (torch.optim.AdamW: Loshchilov & Hutter's decoupled weight decay)

/// One AdamW step on `count` parameters, `step` counting from 1:
///
///     p = p·(1 - η·λ)
///     m = m + (1 - β1)·(g - m)                 (torch: exp_avg.lerp_(grad, 1 - β1))
///     v = β2·v + (1 - β2)·g²
///     p = p - (η / (1 - β1^t)) · m / (√v / √(1 - β2^t) + ε)
///
/// - Parameters:
///   - parameters, gradients, firstMoment (m), secondMoment (v): `count` elements each; the
///     moments start zeroed; `gradients` is only read.
///   - step: t >= 1, the number of this step (bias correction).
func adamWStep(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                      firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
                      count: Int, learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
                      weightDecay: Double, step: Int) {
    precondition(step >= 1, "AdamW step counts from 1, got \(step)")
    let decay = Float(1 - learningRate * weightDecay)
    let oneMinusBeta1 = Float(1 - beta1), beta2F = Float(beta2), oneMinusBeta2 = Float(1 - beta2)
    let stepSize = Float(learningRate / (1 - pow(beta1, Double(step))))
    let correction2Root = Float((1 - pow(beta2, Double(step))).squareRoot())
    let epsilonF = Float(epsilon)
    let decayV = SIMD8<Float>(repeating: decay), w1 = SIMD8<Float>(repeating: oneMinusBeta1)
    let b2 = SIMD8<Float>(repeating: beta2F), w2 = SIMD8<Float>(repeating: oneMinusBeta2)
    let negativeSizeV = SIMD8<Float>(repeating: -stepSize), rootV = SIMD8<Float>(repeating: correction2Root)
    let epsilonV = SIMD8<Float>(repeating: epsilonF)
    var i = 0
    while i &+ 8 <= count {
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
        let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) * decayV
        var mv = UnsafeRawPointer(m + i).loadUnaligned(as: SIMD8<Float>.self)
        mv = mv + w1 * (gv - mv)
        let vv = b2 * UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<Float>.self) + w2 * gv * gv   // torch addcmul_: (value·g)·g
        let denominator = vv.squareRoot() / rootV + epsilonV
        UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(p + i).storeBytes(of: pv + negativeSizeV * mv / denominator, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count {
        let pv = p[i] * decay
        m[i] = m[i] + oneMinusBeta1 * (g[i] - m[i])
        v[i] = beta2F * v[i] + oneMinusBeta2 * g[i] * g[i]
        let denominator = v[i].squareRoot() / correction2Root + epsilonF
        p[i] = pv + -stepSize * m[i] / denominator          // torch addcdiv_: (value·m)/denom
        i &+= 1
    }
}

// MARK: - The authors' parameter groups

/// Learning-rate multipliers by parameter kind, as the authors' SGD setup gives them (docs/ARCHITECTURE.md "Where the paper is silent":
/// weights x0.2, biases x0.0048). A parameter is a bias when its timm name ends in `bias`; every
/// other tensor (weights, LayerNorm scales, `cls_token`, `pos_embed`) is in the weight group.
public struct ParameterGroupScales: Sendable, Equatable {
    /// Multiplier of the weight group's learning rate.
    public var weights: Double
    /// Multiplier of the bias group's learning rate.
    public var biases: Double

    /// Multipliers for weights and biases (default 1: one learning rate for all).
    public init(weights: Double = 1, biases: Double = 1) {
        self.weights = weights
        self.biases = biases
    }

    /// The multiplier of the parameter named `name` (timm naming, e.g. `blocks.3.attn.qkv.bias`).
    func scale(forParameterNamed name: String) -> Double {
        name.hasSuffix("bias") ? biases : weights
    }
}
