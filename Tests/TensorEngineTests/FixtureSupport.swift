import Foundation
import XCTest
@testable import TensorEngine

/// A safetensors fixture under Tests/TensorEngineTests/Fixtures/.
func fixture(_ name: String) throws -> SafeTensors {
    let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
    return try SafeTensors(contentsOf: url)
}

/// max |ours - theirs| / max |theirs| over a whole tensor: sums reorder their products, so the
/// error scales with the tensor's magnitude, not each element's (per-element relative error is
/// meaningless where an output or a gradient crosses 0).
func relativeError(_ ours: Tensor, _ theirs: Tensor) -> Double {
    var worst = 0.0, scale = 0.0
    for i in 0..<theirs.count {
        worst = max(worst, abs(Double(ours[i]) - Double(theirs[i])))
        scale = max(scale, abs(Double(theirs[i])))
    }
    return worst / max(scale, 1e-30)
}
