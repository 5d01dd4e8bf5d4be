import Foundation

// MARK: - Frame and component state shared by the entropy decoders and the output stage

/// The zigzag-to-natural order of T.81 figure A.6, padded with 16 entries of 63 as libjpeg's
/// `jpeg_natural_order` is, so that a corrupt run length past coefficient 63 writes harmlessly
/// into the last coefficient instead of out of bounds (run + position <= 63 + 15).
let jpegNaturalOrder: [Int] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
] + Array(repeating: 63, count: 16)

/// One image component (SOF): its sampling factors, its quantization table, and the
/// coefficients of every block of the MCU-padded grid, 64 `Int16` per block in natural order.
final class JPEGComponent {
    let id: Int
    let horizontalSampling: Int
    let verticalSampling: Int
    let quantTableIndex: Int

    /// Size in samples before any DCT scaling: ceil(imageWidth * h / hmax) (libjpeg's
    /// `downsampled_width` at scale 1).
    var width = 0
    var height = 0
    /// Blocks that carry data in a non-interleaved scan: ceil(width / 8) x ceil(height / 8).
    var widthInBlocks = 0
    var heightInBlocks = 0
    /// The storage grid: MCUs per row x h (and per column x v), at least `widthInBlocks`.
    var blocksPerLine = 0
    var blocksPerColumn = 0
    /// `blocksPerLine * storedBlockRows * 64` coefficients, zero-initialised.
    var coefficients: UnsafeMutablePointer<Int16>?
    /// `blocksPerColumn`, or one MCU row's worth when streaming.
    var storedBlockRows = 0
    /// The 64 dequantization factors in natural order, copied when the first scan starts
    /// (a DQT may legally be redefined between frames, never mid-frame for our purposes).
    var quantization = [Int32](repeating: 0, count: 64)

    // Entropy-decoding state of the current scan.
    var dcPredictor: Int32 = 0
    var dcTable: JPEGHuffmanTable?
    var acTable: JPEGHuffmanTable?

    init(id: Int, horizontalSampling: Int, verticalSampling: Int, quantTableIndex: Int) {
        self.id = id
        self.horizontalSampling = horizontalSampling
        self.verticalSampling = verticalSampling
        self.quantTableIndex = quantTableIndex
    }

    deinit { coefficients?.deallocate() }

    @inline(__always)
    func block(row: Int, column: Int) -> UnsafeMutablePointer<Int16> {
        coefficients.unsafelyUnwrapped + (row &* blocksPerLine &+ column) &* 64
    }
}

/// The color space libjpeg infers for the file (jdapimin.c `default_decompress_parms`).
enum JPEGColorSpace: Equatable {
    case grayscale, yCbCr, rgb, cmyk, ycck
}

/// SOF: the frame header and its components, with the MCU geometry derived from them.
final class JPEGFrame {
    let progressive: Bool
    let width: Int
    let height: Int
    let components: [JPEGComponent]
    let maxHorizontalSampling: Int
    let maxVerticalSampling: Int
    let mcusPerLine: Int
    let mcusPerColumn: Int

    /// Validates the header and allocates the coefficient grids.
    /// - Throws: `.tooLarge` past `limits`, `.corrupt` for impossible sampling factors.
    init(progressive: Bool, width: Int, height: Int, components: [JPEGComponent],
         limits: DecodingLimits, offset: Int) throws {
        try limits.check(width: width, height: height)
        self.progressive = progressive
        self.width = width
        self.height = height
        self.components = components
        maxHorizontalSampling = components.map(\.horizontalSampling).max() ?? 1
        maxVerticalSampling = components.map(\.verticalSampling).max() ?? 1
        mcusPerLine = (width + 8 * maxHorizontalSampling - 1) / (8 * maxHorizontalSampling)
        mcusPerColumn = (height + 8 * maxVerticalSampling - 1) / (8 * maxVerticalSampling)
        for component in components {
            let h = component.horizontalSampling, v = component.verticalSampling
            component.width = (width * h + maxHorizontalSampling - 1) / maxHorizontalSampling
            component.height = (height * v + maxVerticalSampling - 1) / maxVerticalSampling
            component.widthInBlocks = (component.width + 7) / 8
            component.heightInBlocks = (component.height + 7) / 8
            component.blocksPerLine = mcusPerLine * h
            component.blocksPerColumn = mcusPerColumn * v
            let (blocks, o1) = component.blocksPerLine.multipliedReportingOverflow(by: component.blocksPerColumn)
            let (count, o2) = blocks.multipliedReportingOverflow(by: 64)
            if o1 || o2 || count > Int32.max { throw ImageCodecError.tooLarge(width: width, height: height, limit: limits.maxPixels) }
        }
    }

    /// Allocates zeroed coefficient storage: the whole grid, or with `streaming` one MCU row
    /// (a single-scan sequential file is converted to samples row by row as it is decoded).
    func allocateCoefficients(streaming: Bool) {
        for component in components {
            let rows = streaming ? (components.count == 1 ? 1 : component.verticalSampling) : component.blocksPerColumn
            let count = component.blocksPerLine * rows * 64
            let storage = UnsafeMutablePointer<Int16>.allocate(capacity: count)
            storage.initialize(repeating: 0, count: count)
            component.coefficients = storage
            component.storedBlockRows = rows
        }
    }
}
