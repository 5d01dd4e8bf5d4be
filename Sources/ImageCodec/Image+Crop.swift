// MARK: - Crop, center crop, five/ten crop, horizontal flip (torchvision on PIL images)

/// Copies the `cropWidth x cropHeight` window whose top-left corner is (`left`, `top`) out of
/// `channels`-interleaved pixels; parts outside the source are zero, as Pillow's `crop`.
func cropPixels(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                left: Int, top: Int, cropWidth: Int, cropHeight: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * channels)
    let x0 = max(left, 0), x1 = min(left + cropWidth, width)
    guard x1 > x0 else { return out }
    pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for y in max(top, 0)..<max(max(top, 0), min(top + cropHeight, height)) {
                (dst.baseAddress! + ((y - top) * cropWidth + (x0 - left)) * channels)
                    .update(from: src.baseAddress! + (y * width + x0) * channels, count: (x1 - x0) * channels)
            }
        }
    }
    return out
}

/// Mirror image of each row.
func flipPixels(_ pixels: [UInt8], width: Int, height: Int, channels: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: pixels.count)
    pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height {
                let row = src.baseAddress! + y * width * channels
                let o = dst.baseAddress! + y * width * channels
                for x in 0..<width {
                    for c in 0..<channels { o[(width - 1 - x) * channels + c] = row[x * channels + c] }
                }
            }
        }
    }
    return out
}

/// torchvision `center_crop`'s top-left corner: `int(round((size - crop) / 2))` with Python's
/// round-half-to-even, or, when the crop is larger, minus the left/top zero padding it adds.
func centerCropOrigin(size: Int, crop: Int) -> Int {
    if crop > size { return -((crop - size) / 2) }
    return Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
}

/// A raster that crops and flips: `Image` and `SegmentationMap`. The crop rules (centre crop,
/// FiveCrop, TenCrop) are written once, here, so a photo and its map always take the same crops.
public protocol CroppableRaster {
    var width: Int { get }
    var height: Int { get }
    /// Pillow's `crop((left, top, left + width, top + height))`; outside the source is zero.
    func cropped(left: Int, top: Int, width: Int, height: Int) -> Self
    /// Mirror image (torchvision `hflip`, Pillow `FLIP_LEFT_RIGHT`).
    func flippedHorizontally() -> Self
}

extension CroppableRaster {
    /// torchvision `CenterCrop((height, width))`: offsets rounded half-to-even; a crop larger
    /// than the raster is zero-padded as torchvision pads.
    public func centerCropped(width cropWidth: Int, height cropHeight: Int) -> Self {
        cropped(left: centerCropOrigin(size: width, crop: cropWidth), top: centerCropOrigin(size: height, crop: cropHeight),
                width: cropWidth, height: cropHeight)
    }

    /// torchvision `FiveCrop`: top-left, top-right, bottom-left, bottom-right, center. The crop
    /// must fit (torchvision raises otherwise); callers size it from validated settings.
    public func fiveCrops(width cropWidth: Int, height cropHeight: Int) -> [Self] {
        precondition(cropWidth <= width && cropHeight <= height, "five crops of \(cropWidth)x\(cropHeight) from \(width)x\(height)")
        return [cropped(left: 0, top: 0, width: cropWidth, height: cropHeight),
                cropped(left: width - cropWidth, top: 0, width: cropWidth, height: cropHeight),
                cropped(left: 0, top: height - cropHeight, width: cropWidth, height: cropHeight),
                cropped(left: width - cropWidth, top: height - cropHeight, width: cropWidth, height: cropHeight),
                centerCropped(width: cropWidth, height: cropHeight)]
    }

    /// torchvision `TenCrop`: the five crops, then the five crops of the horizontally flipped raster.
    public func tenCrops(width cropWidth: Int, height cropHeight: Int) -> [Self] {
        fiveCrops(width: cropWidth, height: cropHeight) + flippedHorizontally().fiveCrops(width: cropWidth, height: cropHeight)
    }
}

extension Image: CroppableRaster {
    /// Pillow's `crop((left, top, left + width, top + height))`: the region `cropWidth x cropHeight`
    /// pixels at (`left`, `top`); pixels outside the source are black. The offsets may be negative.
    public func cropped(left: Int, top: Int, width cropWidth: Int, height cropHeight: Int) -> Image {
        precondition(cropWidth >= 0 && cropHeight >= 0, "crop \(cropWidth)x\(cropHeight)")
        return Image(width: cropWidth, height: cropHeight,
                     pixels: cropPixels(pixels, width: width, height: height, channels: 3,
                                        left: left, top: top, cropWidth: cropWidth, cropHeight: cropHeight))
    }

    /// The mirror image (torchvision `hflip`, Pillow `FLIP_LEFT_RIGHT`).
    public func flippedHorizontally() -> Image {
        Image(width: width, height: height, pixels: flipPixels(pixels, width: width, height: height, channels: 3))
    }
}
