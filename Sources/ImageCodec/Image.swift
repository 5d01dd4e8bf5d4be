import Foundation

/// An 8-bit RGB image, row-major, interleaved (`R G B R G B ...`), EXIF orientation already
/// applied. This is what every decoder returns and what preprocessing consumes
/// (`Image(decoding:)` / `Image(contentsOf:)`).
public struct Image: Equatable, Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    /// Wraps `pixels` (`width * height * 3` bytes of interleaved RGB).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "Image \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width x height` image filled with one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = fill.0; pixels[i + 1] = fill.1; pixels[i + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// Bytes in one row of `pixels` (`width * 3`).
    public var bytesPerRow: Int { width * 3 }
}

/// The container formats the codec reads, told apart by their first bytes.
package enum ImageFormat: Sendable {
    case jpeg, png

    /// Sniffs the signature: JPEG's SOI marker FF D8, PNG's 8-byte signature.
    package init?(sniffing data: Data) {
        if data.count >= 2 && data[data.startIndex] == 0xFF && data[data.startIndex + 1] == 0xD8 {
            self = .jpeg
        } else if data.count >= 8 && data.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else {
            return nil
        }
    }
}
