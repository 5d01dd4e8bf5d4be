// MARK: - ReLU (torch.nn.ReLU)

/// y = max(x, 0).  x, y: `count` elements, any shape (y may alias x). Saves nothing: backward
/// reads the forward's input.
package func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i &+ 8 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: v.replacing(with: 0, where: v .< 0), as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count { y[i] = x[i] < 0 ? 0 : x[i]; i &+= 1 }
}

/// dx += dy where x > 0 (torch's choice at 0: no gradient).  Reads the forward's input;
/// accumulates.
func reluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         count: Int) {
    for i in 0..<count where x[i] > 0 { dx[i] += dy[i] }
}
