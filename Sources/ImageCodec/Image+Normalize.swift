// MARK: - ToTensor + Normalize (torchvision), CHW Float32

/// Per-channel mean and standard deviation of the ImageNet training set (torchvision's
/// `Normalize` values in TransLocator's pipeline, TransLocator/InputPipeline.swift).
public struct ChannelStatistics: Sendable, Equatable {
    /// Per-channel mean (R, G, B) of pixel values scaled to [0, 1].
    public var mean: (Float, Float, Float)
    /// Per-channel standard deviation (R, G, B) of pixel values scaled to [0, 1].
    public var std: (Float, Float, Float)

    /// Statistics with the given per-channel `mean` and `std` (values in [0, 1] units).
    public init(mean: (Float, Float, Float), std: (Float, Float, Float)) {
        self.mean = mean
        self.std = std
    }

    /// ImageNet: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
    public static let imageNet = ChannelStatistics(mean: (0.485, 0.456, 0.406), std: (0.229, 0.224, 0.225))

    /// Equal when every mean and standard deviation is equal (tuples are not `Equatable`).
    public static func == (a: ChannelStatistics, b: ChannelStatistics) -> Bool {
        a.mean == b.mean && a.std == b.std
    }
}

extension Image {
    /// `Normalize(mean, std)(ToTensor()(image))`: a [3, height, width] Float32 tensor, row-major,
    /// each value `(x / 255 - mean[c]) / std[c]` in single precision in that order, as torch
    /// computes it (bit-identical).
    public func normalizedCHW(_ statistics: ChannelStatistics = .imageNet) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * width * height)
        out.withUnsafeMutableBufferPointer { writeNormalizedCHW(into: $0.baseAddress!, statistics) }
        return out
    }

    /// Writes the `normalizedCHW` values to `destination` (3·width·height floats), e.g. one
    /// sample's slot in a batch tensor.
    package func writeNormalizedCHW(into destination: UnsafeMutablePointer<Float>, _ statistics: ChannelStatistics = .imageNet) {
        // Each output depends on one byte and the channel: three 256-entry tables.
        let means = [statistics.mean.0, statistics.mean.1, statistics.mean.2]
        let stds = [statistics.std.0, statistics.std.1, statistics.std.2]
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { table[c * 256 + v] = (Float(v) / 255 - means[c]) / stds[c] }
        }
        let planeSize = width * height
        table.withUnsafeBufferPointer { t in
            pixels.withUnsafeBufferPointer { p in
                for i in 0..<planeSize {
                    destination[i] = t[Int(p[3 &* i])]
                    destination[planeSize &+ i] = t[256 &+ Int(p[3 &* i &+ 1])]
                    destination[2 &* planeSize &+ i] = t[512 &+ Int(p[3 &* i &+ 2])]
                }
            }
        }
    }
}
