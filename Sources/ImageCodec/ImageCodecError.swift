import Foundation

/// Why an image could not be decoded or encoded. Every case that comes from the bytes of a file
/// carries the byte offset where the problem was seen (docs/CONTRIBUTING.md); `Image(contentsOf:)`
/// wraps errors in `.inFile` so that the message names the file too.
public enum ImageCodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data ended before the structure being read was complete.
    case truncated(offset: Int, expected: String)
    /// A value that the format forbids or that contradicts the rest of the file.
    case corrupt(offset: Int, reason: String)
    /// A valid file using a feature we do not decode (arithmetic coding, 12-bit, lossless, ...).
    case unsupported(String)
    /// The image has more pixels than the decompression-bomb limit allows.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// The first bytes are neither a JPEG nor a PNG signature.
    case unknownFormat
    /// A checksum (PNG CRC-32 or Adler-32) disagrees with the data it covers.
    case checksumMismatch(offset: Int, kind: String, stored: UInt32, computed: UInt32)
    /// Any of the above, raised while reading `path`.
    indirect case inFile(path: String, underlying: ImageCodecError)

    /// The error without a file name attached.
    var withoutFile: ImageCodecError {
        if case let .inFile(_, underlying) = self { return underlying.withoutFile }
        return self
    }

    /// This error, attached to `path` (a file name replaces any earlier one).
    package func attaching(path: String) -> ImageCodecError {
        .inFile(path: path, underlying: withoutFile)
    }

    /// A one-line message naming the file (if attached), the byte offset and the problem.
    public var description: String {
        switch self {
        case let .truncated(offset, expected):
            "truncated at byte \(offset): expected \(expected)"
        case let .corrupt(offset, reason):
            "corrupt at byte \(offset): \(reason)"
        case let .unsupported(feature):
            "unsupported: \(feature)"
        case let .tooLarge(width, height, limit):
            "image is \(width)x\(height) = \(width.multipliedReportingOverflow(by: height).partialValue) pixels, "
                + "over the limit of \(limit) (decompression-bomb guard)"
        case .unknownFormat:
            "not a JPEG or PNG file (unrecognised signature)"
        case let .checksumMismatch(offset, kind, stored, computed):
            "\(kind) mismatch at byte \(offset): stored \(String(stored, radix: 16)), computed \(String(computed, radix: 16))"
        case let .inFile(path, underlying):
            "\(path): \(underlying.description)"
        }
    }
}

/// Limits a decoder enforces before it allocates.
public struct DecodingLimits: Sendable, Equatable {
    /// Largest `width * height` accepted. Pillow's `Image.MAX_IMAGE_PIXELS` default
    /// (int(1024 * 1024 * 1024 // 4 // 3) = 89,478,485), past which Pillow warns and, at twice
    /// that, refuses; we refuse at the limit itself.
    public var maxPixels: Int

    /// Pillow's `Image.MAX_IMAGE_PIXELS` default: 89,478,485 pixels.
    public static let pillowDefaultMaxPixels = 89_478_485

    /// Limits refusing images of more than `maxPixels` pixels (default: Pillow's limit).
    public init(maxPixels: Int = DecodingLimits.pillowDefaultMaxPixels) {
        self.maxPixels = maxPixels
    }

    /// Pillow's limit, `pillowDefaultMaxPixels`.
    public static let `default` = DecodingLimits()

    /// Throws `.tooLarge` unless `width x height` is within the limit (overflow counts as over).
    func check(width: Int, height: Int) throws(ImageCodecError) {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maxPixels { throw .tooLarge(width: width, height: height, limit: maxPixels) }
    }
}
