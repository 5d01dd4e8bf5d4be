import TensorEngine

// MARK: - Linear

/// torch.nn.Linear: y = x·Wᵀ + b, weight [O, I], bias [O].
final class Linear {
    let weight: Parameter
    let bias: Parameter
    let inputs: Int
    let outputs: Int
    /// The weight packed for GEMM (inference); dropped when the weights change.
    var packed: PackedMatrix?

    init(_ name: String, inputs: Int, outputs: Int) {
        self.inputs = inputs
        self.outputs = outputs
        weight = Parameter(name: name + ".weight", shape: [outputs, inputs])
        bias = Parameter(name: name + ".bias", shape: [outputs])
    }

    var parameters: [Parameter] { [weight, bias] }

    /// y [R, O] = x·Wᵀ + b from x [R, I]; with `accumulate`, y += x·Wᵀ + b (a residual add
    /// folded into the GEMM's beta).
    func forward(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if let packed {
            linearForward(x, packed: packed, bias.value.data, y, rows: rows, accumulating: accumulate)
        } else {
            linearForward(x, weight.value.data, bias.value.data, y, rows: rows, inFeatures: inputs, outFeatures: outputs,
                          accumulating: accumulate)
        }
    }

    /// dx += dy·W when dx is given (zeroed first unless `accumulateInput`); dW += dyᵀ·x; db += Σ dy.
    func backward(_ x: UnsafePointer<Float>, rows: Int, _ dy: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false) {
        if let dx, !accumulateInput { dx.update(repeating: 0, count: rows * inputs) }
        linearBackward(x, weight.value.data, dy, dx, weight.gradient.data, bias.gradient.data, rows: rows,
                       inFeatures: inputs, outFeatures: outputs)
    }

    /// `releasingValue`: free the unpacked weight (inference-only models).
    func pack(releasingValue: Bool = false) {
        if packed == nil { packed = PackedMatrix(weight: weight.value) }
        if releasingValue { weight.releaseValue() }
    }
}

// MARK: - LayerNorm

/// torch.nn.LayerNorm over the last dimension; timm's ViT uses eps 1e-6.
final class LayerNorm {
    let weight: Parameter
    let bias: Parameter
    let channels: Int
    let epsilon: Float = 1e-6

    init(_ name: String, channels: Int) {
        self.channels = channels
        weight = Parameter(name: name + ".weight", shape: [channels])
        bias = Parameter(name: name + ".bias", shape: [channels])
        weight.value.fill(1)
    }

    var parameters: [Parameter] { [weight, bias] }

    /// y [R, C] from x [R, C]; mean and rstd [R] are saved for backward.
    func forward(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>,
                 mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        layerNormForward(x, weight.value.data, bias.value.data, y, mean: mean, rstd: rstd, rows: rows,
                         columns: channels, eps: epsilon)
    }

    /// dx += ...; parameter gradients accumulate. Reads the forward's input x, mean and rstd.
    func backward(_ x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int,
                  _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        layerNormBackward(x, weight.value.data, mean: mean, rstd: rstd, dy, dx, weight.gradient.data,
                          bias.gradient.data, rows: rows, columns: channels)
    }
}

// MARK: - MLP (heads and the modality scorer)

/// Linear layers with an activation between them: a head `[in, *hidden, out]` with GELU (the
/// twin's `make_head`), or the modality scorer `[C, 8, 1]` with ReLU. Layers are named
/// `prefix.0`, `prefix.2`, ... as in torch's `nn.Sequential` (activations take the odd indices).
final class MLP {
    enum Activation { case gelu, relu }

    let layers: [Linear]
    let activation: Activation
    /// Per layer: input rows (a copy of the caller's for layer 0), pre-activation outputs.
    private var inputs: [Tensor] = []
    private var preActivations: [Tensor] = []
    private var rows = -1

    init(_ prefix: String, sizes: [Int], activation: Activation) {
        precondition(sizes.count >= 2, "MLP needs at least input and output sizes, got \(sizes)")  // invariant: configs, weights and partitions are validated when loaded (ModelConfig, import, ModelFile)
        layers = (0..<(sizes.count - 1)).map { Linear("\(prefix).\(2 * $0)", inputs: sizes[$0], outputs: sizes[$0 + 1]) }
        self.activation = activation
    }

    var parameters: [Parameter] { layers.flatMap(\.parameters) }
    var outputs: Int { layers[layers.count - 1].outputs }

    private func prepare(rows: Int) {
        guard rows != self.rows else { return }
        self.rows = rows
        inputs = layers.map { Tensor(zeros: [rows, $0.inputs]) }
        preActivations = layers.map { Tensor(zeros: [rows, $0.outputs]) }
    }

    /// y [R, out] from x [R, in]; saves what backward needs.
    func forward(_ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        prepare(rows: rows)
        inputs[0].data.update(from: x, count: rows * layers[0].inputs)
        for (i, layer) in layers.enumerated() {
            let last = i == layers.count - 1
            let z = last ? y : preActivations[i].data
            layer.forward(inputs[i].data, rows: rows, z)
            if last { break }
            let a = inputs[i + 1].data, count = rows * layer.outputs
            switch activation {
            case .gelu: geluForward(z, a, count: count)
            case .relu: for j in 0..<count { a[j] = max(z[j], 0) }
            }
        }
    }

    /// dx (= or +=) from dy [R, out]; parameter gradients accumulate. Reads the last forward.
    func backward(_ dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool) {
        var upstream = Tensor(zeros: [rows, outputs])
        upstream.data.update(from: dy, count: rows * outputs)
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[i]
            if i == 0 {
                layer.backward(inputs[0].data, rows: rows, upstream.data, dx: dx, accumulateInput: accumulateInput)
                break
            }
            let below = Tensor(zeros: [rows, layer.inputs])
            layer.backward(inputs[i].data, rows: rows, upstream.data, dx: below.data)
            let z = preActivations[i - 1].data, count = rows * layer.inputs
            switch activation {
            case .gelu:
                let dz = Tensor(zeros: [rows, layer.inputs])
                geluBackward(z, below.data, dz.data, count: count)
                upstream = dz
            case .relu:
                for j in 0..<count where z[j] <= 0 { below.data[j] = 0 }
                upstream = below
            }
        }
    }
}
