// MARK: - A stack of linear layers (torch nn.Sequential of Linear and an activation)

/// Linear layers with an activation between consecutive ones: torch's
/// `nn.Sequential(Linear, act, Linear, act, ..., Linear)` for widths `[in, hidden..., out]`.
/// Layers are named `NAME.0`, `NAME.2`, ... (the activations take the odd indices), so their
/// parameters are `NAME.0.weight`, `NAME.0.bias`, ... as in a PyTorch state dict.
/// Input [..., in], output [..., out] (the last layer's buffer).
package final class LinearStack: Module {
    package enum Activation: Sendable { case gelu, relu }

    package let layers: [Linear]
    let activation: Activation
    /// Per hidden layer: its pre-activation is the layer's own output; the activated values here.
    private var activated: [Tensor?]
    private var dActivated: [Tensor?], dPreActivation: [Tensor?]

    /// - Parameter widths: `[in, hidden..., out]`, at least two.
    package init(widths: [Int], activation: Activation, name: String) {
        precondition(widths.count >= 2 && widths.allSatisfy { $0 > 0 },
                     "LinearStack \(name): widths \(widths), expected [in, ..., out], all positive")
        layers = (0..<(widths.count - 1)).map {
            Linear(inFeatures: widths[$0], outFeatures: widths[$0 + 1], name: qualified(name, String(2 * $0)))
        }
        self.activation = activation
        activated = Array(repeating: nil, count: layers.count - 1)
        dActivated = activated
        dPreActivation = activated
    }

    package var parameters: [Parameter] { layers.flatMap(\.parameters) }
    var inFeatures: Int { layers[0].inFeatures }
    package var outFeatures: Int { layers[layers.count - 1].outFeatures }

    /// x: [..., in] → [..., out]. Saves what backward needs (each layer its input).
    package func forward(_ x: Tensor) -> Tensor {
        var y = layers[0].forward(x)
        for i in 1..<layers.count {
            let a = reuse(&activated[i - 1], y.shape)
            switch activation {
            case .gelu: geluForward(y.data, a.data, count: y.count)
            case .relu: reluForward(y.data, a.data, count: y.count)
            }
            y = layers[i].forward(a)
        }
        return y
    }

    package func backward(_ dy: Tensor, into dx: Tensor?) {
        var upstream = dy
        for i in stride(from: layers.count - 1, to: 0, by: -1) {
            guard let a = activated[i - 1], let z = layers[i - 1].output else {
                preconditionFailure("\(layers[i].weight.name): backward before forward")
            }
            let dA = reuse(&dActivated[i - 1], a.shape), dZ = reuse(&dPreActivation[i - 1], a.shape)
            dA.fill(0)
            layers[i].backward(upstream, into: dA)
            dZ.fill(0)
            switch activation {
            case .gelu: geluBackward(z.data, dA.data, dZ.data, count: dZ.count)
            case .relu: reluBackward(z.data, dA.data, dZ.data, count: dZ.count)
            }
            upstream = dZ
        }
        layers[0].backward(upstream, into: dx)
    }
}
