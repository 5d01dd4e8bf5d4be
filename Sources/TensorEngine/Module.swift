// MARK: - Autograd: reverse mode, module by module
//
// Design (a tape or module-level backward; we argue for the second): module-level backward.
//
// Each module is a class that owns its parameters (value + gradient), the activations its
// backward needs, and its output and gradient buffers. `forward(x)` writes the module's own
// output buffer and keeps a reference to `x`; `backward(dy, into: dx)` runs the ops' backward
// kernels in reverse order and *accumulates* into the caller's `dx` and into every parameter's
// gradient (`+=`), exactly as the kernels do.
//
// Why not a tape: a ViT (and TransLocator's two branches with MFF fusion) is a fixed graph whose
// shapes are known once the batch size is. A tape records that graph again every step, which
// means allocating nodes and closures per op per step (against "no allocation in a step after the
// first") and hiding activation lifetimes behind reference counts. With modules:
// - memory is explicit: every buffer is sized on the first call at a shape and reused after
//   (`reuse(_:_:)`), so steady-state steps allocate nothing;
// - accumulation is free: a residual path passes the same `dx` to both branches; the two
//   branches of TransLocator and its four heads sum into one gradient with no extra buffer;
// - composites read like timm's `forward`, and their backward is that code read upwards, which
//   a reader can check line by line against the PyTorch twin.
// The cost is that a composite's backward is written by hand; each one here has a
// central-difference test and the 2-block ViT a PyTorch fixture.
//
// Contract of every module:
// - `forward(x)` returns the module's output buffer, valid until the next `forward`. The
//   module keeps `x` (not a copy): the caller must not overwrite `x` before `backward`.
//   The caller may modify the returned output in place (MFF writes fused CLS tokens back):
//   no module's backward reads its own output unless its doc says so.
// - `backward(dy, into: dx)` accumulates dL/dx into `dx` (nil when the input needs no
//   gradient) and dL/dθ into each parameter's `gradient`. `dy` is not modified.
// - `zeroGradients()` before a step (or after an optimizer step); gradients accumulate over
//   micro-batches otherwise (gradient accumulation for free).

/// A trainable tensor and its gradient, under its checkpoint name (timm's, e.g.
/// `blocks.3.attn.qkv.weight`).
///
/// The gradient is allocated on first use (a backward, an optimizer step), so a model that
/// only infers holds no gradient memory; an unallocated gradient reads as zero. An inference
/// model may also release the value of a weight that a `Linear` keeps packed for GEMM
/// (`Linear.packWeight(releasingValue: true)`): one copy of the weights instead of two.
/// Not safe to touch from two threads at once (modules run their forward and backward on one
/// thread; only the kernels inside go parallel).
public final class Parameter: @unchecked Sendable {
    /// The checkpoint name (timm's, e.g. `blocks.3.attn.qkv.weight`).
    public let name: String
    /// The value's shape (PyTorch's layout, e.g. [out, in] for a linear weight).
    public let shape: [Int]
    private var storedValue: Tensor?
    private var storedGradient: Tensor?

    init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
        storedValue = Tensor(zeros: shape)
    }

    /// Number of scalars.
    public var count: Int { shape.reduce(1, *) }

    /// The values. Reading them after `releaseValue()` is a bug of the caller: that model was
    /// made for inference only.
    public var value: Tensor {
        guard let storedValue else {
            preconditionFailure("\(name): the value was released when the weight was packed for inference; this model can only infer")
        }
        return storedValue
    }

    /// False after `releaseValue()`.
    public var hasValue: Bool { storedValue != nil }

    /// dL/dvalue, accumulated by `backward` calls; zero it with `Module.zeroGradients()`.
    /// Allocated, zero, on first access.
    package var gradient: Tensor {
        if let storedGradient { return storedGradient }
        let fresh = Tensor(zeros: shape)
        storedGradient = fresh
        return fresh
    }

    /// Whether gradient memory is allocated (false until a backward or optimizer touches it).
    var hasGradient: Bool { storedGradient != nil }

    /// Sets the gradient to zero; an unallocated one stays unallocated (it already reads as zero).
    package func zeroGradient() { storedGradient?.fill(0) }

    /// Frees the gradient (a trained model handed to inference).
    package func releaseGradient() { storedGradient = nil }

    /// Frees the value (its packed copy does the work); see the type's note.
    func releaseValue() { storedValue = nil }
}

/// A layer with parameters and a hand-written backward (see the design note above).
protocol Module: AnyObject {
    /// Every parameter of this module and its children, in a fixed order.
    var parameters: [Parameter] { get }
}

extension Module {
    /// Sets every parameter gradient to zero.
    func zeroGradients() { for parameter in parameters { parameter.zeroGradient() } }

    /// Parameters by checkpoint name.
    var parametersByName: [String: Parameter] {
        Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Total number of scalar parameters.
    var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

/// `buffer` if it already has `shape`, else a new zero tensor stored back into `buffer`: how a
/// module sizes its activations once per shape.
@inline(__always)
package func reuse(_ buffer: inout Tensor?, _ shape: [Int]) -> Tensor {
    if let existing = buffer, existing.shape == shape { return existing }
    let fresh = Tensor(zeros: shape)
    buffer = fresh
    return fresh
}

/// A checkpoint name under a prefix: `qualified("blocks.0", "norm1")` is `blocks.0.norm1`.
func qualified(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

func requireSame(_ a: [Int], _ b: [Int], _ what: String) {
    precondition(a == b, "\(what): shape \(a), expected \(b)")
}

// MARK: - Linear

/// torch.nn.Linear: y = x·Wᵀ + b over the last dimension. Parameters `NAME.weight` [out, in]
/// and `NAME.bias` [out].
package final class Linear: Module {
    package let weight: Parameter
    let bias: Parameter?
    package let inFeatures: Int, outFeatures: Int
    private var input: Tensor?
    /// The last forward's output (attention's backward reads q, k, v from it).
    private(set) var output: Tensor?
    private var packedWeight: PackedMatrix?

    package init(inFeatures: Int, outFeatures: Int, bias hasBias: Bool = true, name: String) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(name: qualified(name, "weight"), shape: [outFeatures, inFeatures])
        bias = hasBias ? Parameter(name: qualified(name, "bias"), shape: [outFeatures]) : nil
    }

    package var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// timm's ViT init for Linear layers: weight trunc_normal(std 0.02), bias 0.
    func resetParameters(using generator: inout SeededGenerator) {
        weight.value.fillTruncatedNormal(std: 0.02, using: &generator)
        bias?.value.fill(0)
    }

    /// Packs the weight once for inference; later `forward`s use the packed copy until
    /// `unpackWeight()` (call it before changing the weight). `releasingValue`: free the
    /// unpacked weight too (inference-only models: one copy of the weights, not two); such a
    /// layer cannot be unpacked, trained or saved.
    package func packWeight(releasingValue: Bool = false) {
        if packedWeight == nil { packedWeight = PackedMatrix(weight: weight.value) }
        if releasingValue { weight.releaseValue() }
    }

    package func unpackWeight() {
        precondition(weight.hasValue, "\(weight.name): cannot unpack a weight whose value was released")
        packedWeight = nil
    }

    /// x: [..., in] → [..., out].
    package func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures, "\(weight.name): input \(x.shape), expected last dimension \(inFeatures)")
        let y = reuse(&output, Array(x.shape.dropLast()) + [outFeatures])
        apply(x, into: y)
        input = x
        return y
    }

    /// y = x·Wᵀ + b, or y += x·Wᵀ + b with `accumulating` (a residual add folded into the
    /// GEMM): the forward without saving anything, into the caller's buffer. x: [..., in],
    /// y: [..., out] with the same leading dimensions.
    func apply(_ x: Tensor, into y: Tensor, accumulating: Bool = false) {
        let rows = x.count / inFeatures
        precondition(x.shape.last == inFeatures && y.count == rows * outFeatures,
                     "\(weight.name): input \(x.shape), output \(y.shape), expected [..., \(inFeatures)] → [..., \(outFeatures)]")
        if let packedWeight {
            linearForward(x.data, packed: packedWeight, bias?.value.data, y.data, rows: rows, accumulating: accumulating)
        } else {
            linearForward(x.data, weight.value.data, bias?.value.data, y.data, rows: rows, inFeatures: inFeatures,
                          outFeatures: outFeatures, accumulating: accumulating)
        }
    }

    package func backward(_ dy: Tensor, into dx: Tensor?) {
        guard let x = input else { preconditionFailure("\(weight.name): backward before forward") }
        requireSame(dy.shape, Array(x.shape.dropLast()) + [outFeatures], "\(weight.name) backward dy")
        if let dx { requireSame(dx.shape, x.shape, "\(weight.name) backward dx") }
        linearBackward(x.data, weight.value.data, dy.data, dx?.data, weight.gradient.data, bias?.gradient.data,
                       rows: x.count / inFeatures, inFeatures: inFeatures, outFeatures: outFeatures)
    }
}

// MARK: - LayerNorm

/// torch.nn.LayerNorm over the last dimension (eps 1e-6, timm's ViT). Parameters `NAME.weight`,
/// `NAME.bias` [C], initialised to 1 and 0.
package final class LayerNorm: Module {
    package let weight: Parameter, bias: Parameter
    let channels: Int
    let eps: Float
    private var input: Tensor?
    private var output: Tensor?, mean: Tensor?, rstd: Tensor?

    package init(channels: Int, eps: Float = 1e-6, name: String) {
        self.channels = channels
        self.eps = eps
        weight = Parameter(name: qualified(name, "weight"), shape: [channels])
        bias = Parameter(name: qualified(name, "bias"), shape: [channels])
        weight.value.fill(1)
    }

    package var parameters: [Parameter] { [weight, bias] }

    package func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == channels, "\(weight.name): input \(x.shape), expected last dimension \(channels)")
        let rows = x.count / channels
        let y = reuse(&output, x.shape)
        let m = reuse(&mean, [rows]), r = reuse(&rstd, [rows])
        layerNormForward(x.data, weight.value.data, bias.value.data, y.data, mean: m.data, rstd: r.data,
                         rows: rows, columns: channels, eps: eps)
        input = x
        return y
    }

    /// y = LayerNorm(x), saving nothing (inference); mean and rstd [rows] are the caller's
    /// scratch. x, y: [..., C] (y may alias x).
    func apply(_ x: Tensor, into y: Tensor, mean: Tensor, rstd: Tensor) {
        let rows = x.count / channels
        precondition(x.shape.last == channels && y.count == x.count && mean.count >= rows && rstd.count >= rows,
                     "\(weight.name): input \(x.shape), output \(y.shape), statistics \(mean.shape), expected [..., \(channels)]")
        layerNormForward(x.data, weight.value.data, bias.value.data, y.data, mean: mean.data, rstd: rstd.data,
                         rows: rows, columns: channels, eps: eps)
    }

    package func backward(_ dy: Tensor, into dx: Tensor?) {
        guard let x = input, let m = mean, let r = rstd else { preconditionFailure("\(weight.name): backward before forward") }
        requireSame(dy.shape, x.shape, "\(weight.name) backward dy")
        if let dx { requireSame(dx.shape, x.shape, "\(weight.name) backward dx") }
        layerNormBackward(x.data, weight.value.data, mean: m.data, rstd: r.data, dy.data, dx?.data,
                          weight.gradient.data, bias.gradient.data, rows: x.count / channels, columns: channels)
    }
}

// MARK: - GELU

/// torch.nn.GELU() (exact erf form). No parameters.
final class GELU: Module {
    private var input: Tensor?
    private var output: Tensor?

    init() {}
    var parameters: [Parameter] { [] }

    func forward(_ x: Tensor) -> Tensor {
        let y = reuse(&output, x.shape)
        geluForward(x.data, y.data, count: x.count)
        input = x
        return y
    }

    func backward(_ dy: Tensor, into dx: Tensor?) {
        guard let x = input else { preconditionFailure("GELU: backward before forward") }
        requireSame(dy.shape, x.shape, "GELU backward dy")
        guard let dx else { return }
        requireSame(dx.shape, x.shape, "GELU backward dx")
        geluBackward(x.data, dy.data, dx.data, count: x.count)
    }
}
