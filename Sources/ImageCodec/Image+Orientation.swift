import Foundation

extension Image {
    /// The image as a viewer shows it, given EXIF orientation `orientation` (1...8): the same
    /// transpose Pillow's `ImageOps.exif_transpose` applies (2 mirror, 3 rotate 180, 4 flip,
    /// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise).
    /// Other values return the image unchanged.
    public func oriented(_ orientation: Int) -> Image {
        guard (2...8).contains(orientation) else { return self }
        let w = width, h = height
        let swapsAxes = orientation >= 5
        let outWidth = swapsAxes ? h : w, outHeight = swapsAxes ? w : h
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                let src = source.baseAddress!, dst = target.baseAddress!
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        // (sx, sy): the stored pixel shown at (x, y).
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case 4: (sx, sy) = (x, h - 1 - y)
                        case 5: (sx, sy) = (y, x)
                        case 6: (sx, sy) = (y, h - 1 - x)
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                        default: (sx, sy) = (w - 1 - y, x)
                        }
                        let s = (sy * w + sx) * 3, d = (y * outWidth + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return Image(width: outWidth, height: outHeight, pixels: out)
    }
}
