import Foundation

// MARK: - ColorJitter as torchvision applies it to PIL images

/// One draw of torchvision's `ColorJitter`: the order of the four adjustments and their factors.
/// A nil factor skips that adjustment (torchvision's `None`).
public struct ColorJitterParameters: Sendable, Equatable {
    /// A permutation of 0...3: 0 brightness, 1 contrast, 2 saturation, 3 hue (`torch.randperm(4)`).
    public var order: [Int]
    /// Brightness factor (1 = unchanged; torchvision draws it from [1 - b, 1 + b]).
    public var brightness: Double?
    /// Contrast factor (1 = unchanged).
    public var contrast: Double?
    /// Saturation factor (1 = unchanged, 0 = gray).
    public var saturation: Double?
    /// Hue shift in [-0.5, 0.5] of a full turn.
    public var hue: Double?

    /// One jitter draw: `order` a permutation of 0...3 (checked), nil factors skipped.
    public init(order: [Int] = [0, 1, 2, 3], brightness: Double? = nil, contrast: Double? = nil,
                saturation: Double? = nil, hue: Double? = nil) {
        precondition(order.sorted() == [0, 1, 2, 3], "order must be a permutation of 0...3, got \(order)")
        self.order = order
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
    }

    /// Draws like `ColorJitter(brightness, contrast, saturation, hue).get_params`: factors uniform in
    /// [max(0, 1 - x), 1 + x], hue uniform in [-hue, hue], a uniformly random order. A zero
    /// strength leaves that adjustment out. (Same distribution as torchvision, not its RNG stream.)
    ///
    /// Every number comes from `generator.next()` through the arithmetic spelled out here, in a
    /// fixed order (order: 3 draws, then brightness, contrast, saturation, hue for the strengths
    /// that are not zero), never through the standard library's `random(in:using:)` or
    /// `shuffled(using:)`, whose use of the generator may change between Swift versions: a
    /// seeded run augments the same on every toolchain.
    public static func random<G: RandomNumberGenerator>(brightness: Double = 0.4, contrast: Double = 0.4,
                                                         saturation: Double = 0.4, hue: Double = 0.1,
                                                         using generator: inout G) -> ColorJitterParameters {
        // A uniform double in [0, 1) from the top 53 bits.
        func unit() -> Double { Double(generator.next() >> 11) * 0x1.0p-53 }
        func factor(_ x: Double) -> Double? { x > 0 ? max(0, 1 - x) + (1 + x - max(0, 1 - x)) * unit() : nil }
        // Fisher–Yates from the back; j in 0...i from the high word of a 64x64 product.
        var order = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) {
            order.swapAt(i, Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high))
        }
        let b = factor(brightness), c = factor(contrast), s = factor(saturation)
        let h = hue > 0 ? -hue + 2 * hue * unit() : nil
        return ColorJitterParameters(order: order, brightness: b, contrast: c, saturation: s, hue: h)
    }
}

extension Image {
    /// Applies the four adjustments in `parameters.order` (torchvision `ColorJitter.forward`).
    public func colorJittered(_ parameters: ColorJitterParameters) -> Image {
        var image = self
        for step in parameters.order {
            switch step {
            case 0: if let f = parameters.brightness { image = image.adjustedBrightness(f) }
            case 1: if let f = parameters.contrast { image = image.adjustedContrast(f) }
            case 2: if let f = parameters.saturation { image = image.adjustedSaturation(f) }
            default: if let f = parameters.hue { image = image.adjustedHue(f) }
            }
        }
        return image
    }

    /// torchvision `adjust_brightness` on PIL: `ImageEnhance.Brightness`, a blend with black.
    public func adjustedBrightness(_ factor: Double) -> Image {
        blended(towards: { _ in (0, 0, 0) }, factor: factor)
    }

    /// torchvision `adjust_contrast` on PIL: `ImageEnhance.Contrast`, a blend with the mean gray
    /// level (`int(mean of convert("L") + 0.5)`).
    public func adjustedContrast(_ factor: Double) -> Image {
        var histogramSum = 0
        for i in 0..<(width * height) {
            histogramSum += Int(luma(pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]))
        }
        let mean = UInt8(Int(Double(histogramSum) / Double(max(1, width * height)) + 0.5))
        return blended(towards: { _ in (mean, mean, mean) }, factor: factor)
    }

    /// torchvision `adjust_saturation` on PIL: `ImageEnhance.Color`, a blend with the image's gray.
    public func adjustedSaturation(_ factor: Double) -> Image {
        blended(towards: { p in let l = luma(p.0, p.1, p.2); return (l, l, l) }, factor: factor)
    }

    /// torchvision `adjust_hue` on PIL: Pillow's HSV conversion, H += int(hue·255) mod 256, back.
    /// - Parameter hueFactor: in [-0.5, 0.5].
    public func adjustedHue(_ hueFactor: Double) -> Image {
        precondition(hueFactor >= -0.5 && hueFactor <= 0.5, "hue factor \(hueFactor) outside [-0.5, 0.5]")
        let shift = UInt8(truncatingIfNeeded: Int32(hueFactor * 255))     // np.int32(...).astype(np.uint8)
        var out = pixels
        for i in 0..<(width * height) {
            let (h, s, v) = rgbToHSV(pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2])
            let rgb = hsvToRGB(h &+ shift, s, v)
            out[3 * i] = rgb.0; out[3 * i + 1] = rgb.1; out[3 * i + 2] = rgb.2
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// Pillow `Image.blend(degenerate, self, factor)` (Blend.c): in single precision,
    /// degenerate + factor·(self - degenerate), truncated; clipped to 0...255 outside [0, 1].
    func blended(towards degenerate: ((UInt8, UInt8, UInt8)) -> (UInt8, UInt8, UInt8), factor: Double) -> Image {
        let alpha = Float(factor)                  // Blend.c takes a C float
        if alpha == 0 {
            var out = pixels
            for i in 0..<(width * height) {
                let d = degenerate((pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]))
                out[3 * i] = d.0; out[3 * i + 1] = d.1; out[3 * i + 2] = d.2
            }
            return Image(width: width, height: height, pixels: out)
        }
        if alpha == 1 { return self }
        let interpolate = alpha >= 0 && alpha <= 1
        func mix(_ d: UInt8, _ x: UInt8) -> UInt8 {
            let t = Float(Int(d)) + alpha * Float(Int(x) - Int(d))
            if interpolate { return UInt8(t) }
            return t <= 0 ? 0 : (t >= 255 ? 255 : UInt8(t))
        }
        var out = pixels
        for i in 0..<(width * height) {
            let p = (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2])
            let d = degenerate(p)
            out[3 * i] = mix(d.0, p.0); out[3 * i + 1] = mix(d.1, p.1); out[3 * i + 2] = mix(d.2, p.2)
        }
        return Image(width: width, height: height, pixels: out)
    }
}

/// Pillow's RGB -> L (Convert.c `L24`): ITU-R 601-2 luma in 16-bit fixed point, rounded.
@inline(__always)
func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
    let red: Int = Int(r) &* 19595, green: Int = Int(g) &* 38470, blue: Int = Int(b) &* 7471
    return UInt8(truncatingIfNeeded: (red &+ green &+ blue &+ 0x8000) >> 16)
}

/// Pillow's `rgb2hsv_row` (Convert.c, after colorsys.py): float storage, double arithmetic where
/// the C mixes in double constants, truncation to 8 bits.
func rgbToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
    let maxc = max(r, g, b), minc = min(r, g, b)
    if minc == maxc { return (0, 0, maxc) }
    let cr = Float(Int(maxc) - Int(minc))
    let s: Float = cr / Float(maxc)
    let rc: Float = Float(Int(maxc) - Int(r)) / cr
    let gc: Float = Float(Int(maxc) - Int(g)) / cr
    let bc: Float = Float(Int(maxc) - Int(b)) / cr
    var h: Float
    if r == maxc { h = bc - gc }
    else if g == maxc { h = Float(2.0 + Double(rc) - Double(bc)) }
    else { h = Float(4.0 + Double(gc) - Double(rc)) }
    h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
    let uh = clip8Int(Int(Double(h) * 255.0)), us = clip8Int(Int(Double(s) * 255.0))
    return (uh, us, maxc)
}

@inline(__always)
func clip8Int(_ v: Int) -> UInt8 { v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v)) }

/// Pillow's `hsv2rgb` (Convert.c).
func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
    if s == 0 { return (v, v, v) }
    let i = Int((Double(Float(h)) * 6.0 / 255.0).rounded(.down))
    let f = Float(Double(Float(h)) * 6.0 / 255.0 - Double(Float(i)))
    let fs = Float(Double(Float(s)) / 255.0)
    let vd = Double(Float(v))
    let p = clip8Int(Int((vd * (1.0 - Double(fs))).rounded()))
    let q = clip8Int(Int((vd * (1.0 - Double(fs * f))).rounded()))            // fs·f in float, as C
    let t = clip8Int(Int((vd * (1.0 - Double(fs) * (1.0 - Double(f)))).rounded()))
    switch i % 6 {
    case 0: return (v, t, p)
    case 1: return (q, v, p)
    case 2: return (p, v, t)
    case 3: return (p, q, v)
    case 4: return (t, p, v)
    default: return (v, p, q)
    }
}
