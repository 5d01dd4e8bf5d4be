import XCTest
@testable import TensorEngine

/// A tensor to perturb and the gradient buffer its backward accumulates into.
struct Differentiable {
    let name: String
    let value: Tensor
    let gradient: Tensor

    init(_ name: String, _ value: Tensor, _ gradient: Tensor) {
        self.name = name
        self.value = value
        self.gradient = gradient
    }

    init(_ parameter: Parameter) { self.init(parameter.name, parameter.value, parameter.gradient) }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let t = Tensor(zeros: shape)
    t.fillUniform(low: -scale, high: scale, using: &rng)
    return t
}

/// Central-difference check of a backward. The scalar loss is L = Σ r·y for a fixed random r
/// (so every output element matters), summed in Double. For each tensor, up to `samples`
/// elements (spread over it) are moved by ±h; the numeric slope (L₊ - L₋)/2h must match the
/// analytic gradient within `tolerance`·max(1, |numeric|).
///
/// Tolerance: the kernels run in Float32, so L carries rounding of ~1e-7·Σ|r·y|, divided by
/// 2h = 2e-2: about 1e-5·size for these small shapes, plus the O(h²) truncation of the
/// central difference (~1e-4·|f'''|). 5e-3 leaves room for both and still fails on any real
/// mistake (a wrong sign, a missing term, a transposed index).
func assertGradientsMatch(_ label: String, _ tensors: [Differentiable], forward: () -> Tensor,
                          backward: (Tensor) -> Void, seed: UInt64 = 99, h: Float = 1e-2, tolerance: Double = 5e-3,
                          samples: Int = 24, file: StaticString = #filePath, line: UInt = #line) {
    let output = forward()
    let upstream = randomTensor(output.shape, seed: seed)
    func loss() -> Double {
        let y = forward()
        var sum = 0.0
        for i in 0..<y.count { sum += Double(y.data[i]) * Double(upstream.data[i]) }
        return sum
    }
    for t in tensors { t.gradient.fill(0) }
    _ = forward()
    backward(upstream)
    let analytic = tensors.map { $0.gradient.copy() }
    for (index, t) in tensors.enumerated() {
        let step = max(1, t.value.count / samples)
        for i in stride(from: 0, to: t.value.count, by: step) {
            let saved = t.value.data[i]
            t.value.data[i] = saved + h
            let plus = loss()
            t.value.data[i] = saved - h
            let minus = loss()
            t.value.data[i] = saved
            let numeric = (plus - minus) / (2 * Double(h))
            let got = Double(analytic[index].data[i])
            if abs(got - numeric) > tolerance * max(1, abs(numeric)) {
                XCTFail("\(label): d/d\(t.name)[\(i)] analytic \(got), central difference \(numeric) (seed \(seed))",
                        file: file, line: line)
                return
            }
        }
    }
}
