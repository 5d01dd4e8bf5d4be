import Foundation

// MARK: - Rotation as torchvision's RandomAffine(degrees) does it on PIL images

/// The inverse affine matrix torchvision's `F.affine` hands to Pillow for a rotation by
/// `degrees` (counter-clockwise) about the image centre (width/2, height/2), with no
/// translation, scale 1 and no shear: `_get_inverse_affine_matrix`, same operations in the same
/// order so the doubles agree bit for bit.
func inverseRotationMatrix(width: Int, height: Int, degrees: Double) -> [Double] {
    let rotation = degrees * (Double.pi / 180)            // math.radians
    let cx = Double(width) * 0.5, cy = Double(height) * 0.5
    // RSS without scaling, shear 0: a = cos, b = -cos·tan(0) - sin, c = sin, d = -sin·tan(0) + cos
    let a = cos(rotation) / cos(0.0)
    let b = -cos(rotation) * tan(0.0) / cos(0.0) - sin(rotation)
    let c = sin(rotation) / cos(0.0)
    let d = -sin(rotation) * tan(0.0) / cos(0.0) + cos(rotation)
    var m = [d, -b, 0.0, -c, a, 0.0].map { $0 / 1.0 }
    m[2] += m[0] * (-cx - 0) + m[1] * (-cy - 0)
    m[5] += m[3] * (-cx - 0) + m[4] * (-cy - 0)
    m[2] += cx
    m[5] += cy
    return m
}

/// Pillow's `Image.transform(size, AFFINE, matrix, NEAREST, fillcolor=fill)` for an output the
/// size of the input: output pixel (x, y) takes the source pixel under
/// (m0·x + m1·y + m2, m3·x + m4·y + m5) evaluated at pixel centres, or `fill` outside.
/// Geometry.c's fast paths are reproduced: pure scaling steps in doubles, everything else in
/// 16.16 fixed point.
func affineNearest(_ pixels: [UInt8], width: Int, height: Int, channels: Int, matrix a: [Double], fill: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: pixels.count)
    for i in 0..<(width * height) { for c in 0..<channels { out[i * channels + c] = fill[c] } }
    func floorInt(_ v: Double) -> Int { v < 0 ? Int(v.rounded(.down)) : Int(v) }       // FLOOR()
    pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            func copy(_ x: Int, _ y: Int, _ xin: Int, _ yin: Int) {
                for c in 0..<channels { dst[(y * width + x) * channels + c] = src[(yin * width + xin) * channels + c] }
            }
            if a[1] == 0 && a[3] == 0 {
                // ImagingScaleAffine: positions by repeated double addition.
                var xin = [Int](repeating: -1, count: width)
                var xo = a[2] + a[0] * 0.5
                for x in 0..<width { xin[x] = xo < 0 ? -1 : Int(xo); xo += a[0] }
                var yo = a[5] + a[4] * 0.5
                for y in 0..<height {
                    let yi = yo < 0 ? -1 : Int(yo)
                    if yi >= 0 && yi < height {
                        for x in 0..<width where xin[x] >= 0 && xin[x] < width { copy(x, y, xin[x], yi) }
                    }
                    yo += a[4]
                }
                return
            }
            // affine_fixed (check_fixed holds for any image under 32768 px a side and |m| <= 1).
            let fix = { (v: Double) in floorInt(v * 65536.0 + 0.5) }
            let a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4])
            var a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5)
            var a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5)
            for y in 0..<height {
                var xx = Int32(truncatingIfNeeded: a2), yy = Int32(truncatingIfNeeded: a5)
                for x in 0..<width {
                    let xin = Int(xx >> 16)
                    if xin >= 0 && xin < width {
                        let yin = Int(yy >> 16)
                        if yin >= 0 && yin < height { copy(x, y, xin, yin) }
                    }
                    xx &+= Int32(truncatingIfNeeded: a0)
                    yy &+= Int32(truncatingIfNeeded: a3)
                }
                a2 += a1
                a5 += a4
            }
        }
    }
    return out
}

extension Image {
    /// torchvision `F.affine(img, angle: degrees, translate: [0, 0], scale: 1, shear: [0, 0],
    /// interpolation: NEAREST, fill: fill)` on a PIL image, which `RandomAffine(degrees)` calls
    /// with its drawn angle: a counter-clockwise rotation about the centre, same size, nearest
    /// neighbour, `fill` where no source pixel lands. Pixels equal torchvision's exactly.
    /// - Parameter degrees: the angle the caller drew (e.g. uniform in [-15, 15]); share it with
    ///   the segmentation map's `rotated(degrees:fill:)` so both move together.
    public func rotated(degrees: Double, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) -> Image {
        let matrix = inverseRotationMatrix(width: width, height: height, degrees: degrees)
        return Image(width: width, height: height,
                     pixels: affineNearest(pixels, width: width, height: height, channels: 3, matrix: matrix,
                                           fill: [fill.0, fill.1, fill.2]))
    }
}
