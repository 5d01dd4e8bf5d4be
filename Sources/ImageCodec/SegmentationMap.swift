import Foundation

// MARK: - Class-index maps (the segmentation branch's input before rendering)

/// A semantic segmentation map: one class index per pixel, row-major (ADE20K: 0...149).
/// Geometric ops mirror `Image`'s and take the same explicit parameters, so that a photo and
/// its map can share one random draw; resampling is always nearest-neighbour, which never
/// invents a class.
public struct SegmentationMap: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// `width * height` class indices.
    public var classes: [UInt8]

    public init(width: Int, height: Int, classes: [UInt8]) {
        precondition(width >= 0 && height >= 0 && classes.count == width * height,  // invariant: sizes are computed by our callers; bytes from files are checked by the decoders first
                     "SegmentationMap \(width)x\(height) needs \(width * height) indices, got \(classes.count)")
        self.width = width
        self.height = height
        self.classes = classes
    }

    /// Reads an 8-bit (or lower) gray PNG of class indices, or a palette PNG whose indices are the
    /// classes (the colours are ignored).
    /// - Throws: `ImageCodecError` (`.unsupported` for RGB or 16-bit PNGs).
    public init(pngData: Data, limits: DecodingLimits = .default) throws {
        let map = try PNGDecoder.decodeIndices(pngData, limits: limits)
        self.init(width: map.width, height: map.height, classes: map.indices)
    }

    /// Renders the map with the ADE20K palette (`ADE20K.palette`); indices >= 150 (e.g. 255,
    /// "ignore") render black.
    public func renderedADE20K() -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        ADE20K.palette.withUnsafeBufferPointer { palette in
            for i in 0..<(width * height) {
                let c = Int(classes[i])
                guard c < ADE20K.classCount else { continue }
                pixels[3 * i] = palette[3 * c]; pixels[3 * i + 1] = palette[3 * c + 1]; pixels[3 * i + 2] = palette[3 * c + 2]
            }
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    /// Nearest-neighbour resize (Pillow `resize(..., NEAREST)`, which torchvision uses for maps).
    public func resized(width newWidth: Int, height newHeight: Int) -> SegmentationMap {
        precondition(newWidth >= 1 && newHeight >= 1, "resize to \(newWidth)x\(newHeight)")  // invariant: sizes are computed by our callers; bytes from files are checked by the decoders first
        if newWidth == width && newHeight == height { return self }
        return SegmentationMap(width: newWidth, height: newHeight,
                               classes: resampleNearest(classes, width: width, height: height, channels: 1, to: newWidth, newHeight))
    }

    /// Nearest-neighbour resize of the short side to `shortSide` (sizes as `Image.resized(shortSide:)`).
    public func resized(shortSide: Int) -> SegmentationMap {
        let size = resizedSize(width: width, height: height, shortSide: shortSide)
        return resized(width: size.width, height: size.height)
    }

    /// Pillow `crop`: outside the map is `fill`.
    public func cropped(left: Int, top: Int, width cropWidth: Int, height cropHeight: Int, fill: UInt8 = 0) -> SegmentationMap {
        var out = cropPixels(classes, width: width, height: height, channels: 1,
                             left: left, top: top, cropWidth: cropWidth, cropHeight: cropHeight)
        if fill != 0 {
            for y in 0..<cropHeight {
                for x in 0..<cropWidth where !(0..<width).contains(left + x) || !(0..<height).contains(top + y) {
                    out[y * cropWidth + x] = fill
                }
            }
        }
        return SegmentationMap(width: cropWidth, height: cropHeight, classes: out)
    }

    /// torchvision `CenterCrop` with the same offsets as `Image.centerCropped`.
    public func centerCropped(width cropWidth: Int, height cropHeight: Int, fill: UInt8 = 0) -> SegmentationMap {
        cropped(left: centerCropOrigin(size: width, crop: cropWidth), top: centerCropOrigin(size: height, crop: cropHeight),
                width: cropWidth, height: cropHeight, fill: fill)
    }

    public func flippedHorizontally() -> SegmentationMap {
        SegmentationMap(width: width, height: height, classes: flipPixels(classes, width: width, height: height, channels: 1))
    }

    /// The rotation of `Image.rotated(degrees:fill:)`, with `fill` as the class where nothing lands.
    public func rotated(degrees: Double, fill: UInt8 = 0) -> SegmentationMap {
        let matrix = inverseRotationMatrix(width: width, height: height, degrees: degrees)
        return SegmentationMap(width: width, height: height,
                               classes: affineNearest(classes, width: width, height: height, channels: 1, matrix: matrix, fill: [fill]))
    }
}
