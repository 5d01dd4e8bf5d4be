import Foundation

// MARK: - Class-index maps (the segmentation branch's input before rendering)

/// A semantic segmentation map: one class index per pixel, row-major (ADE20K: 0...149).
/// Geometric ops mirror `Image`'s and take the same explicit parameters, so that a photo and
/// its map can share one random draw; resampling is always nearest-neighbour, which never
/// invents a class.
public struct SegmentationMap: Equatable, Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height` class indices.
    public var classes: [UInt8]

    /// Wraps `classes` (`width * height` class indices, row-major); indices are not checked.
    public init(width: Int, height: Int, classes: [UInt8]) {
        precondition(width >= 0 && height >= 0 && classes.count == width * height,
                     "SegmentationMap \(width)x\(height) needs \(width * height) indices, got \(classes.count)")
        self.width = width
        self.height = height
        self.classes = classes
    }

    /// Reads an 8-bit (or lower) gray PNG of class indices, or a palette PNG whose indices are the
    /// classes (the colours are ignored). Indices are not checked against a class count.
    /// - Throws: `ImageCodecError` (`.unsupported` for RGB or 16-bit PNGs).
    public init(pngData: Data, limits: DecodingLimits = .default) throws {
        let map = try PNGDecoder.decodeIndices(pngData, limits: limits)
        self.init(width: map.width, height: map.height, classes: map.indices)
    }

    /// Reads an ADE20K map file, the one reader for every command: an 8-bit (or lower) gray or
    /// palette-indexed PNG of class indices 0...149, or an RGB image coded with the ADE20K
    /// palette (`renderedADE20K`, as `translocator demo` writes), each colour mapped back to
    /// its class.
    /// - Throws: `SegmentationMapError` naming the file (unreadable, an index outside 0...149, a
    ///   colour outside the palette), or `ImageCodecError.inFile` when it does not decode.
    public init(contentsOf url: URL, limits: DecodingLimits = .default) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SegmentationMapError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        do {
            try self.init(decodingADE20K: data, file: url.path, limits: limits)
        } catch let error as ImageCodecError {
            throw error.attaching(path: url.path)
        }
    }

    /// `init(contentsOf:)` on bytes already read; `file` names them in errors.
    init(decodingADE20K data: Data, file: String, limits: DecodingLimits = .default) throws {
        let indexed = ImageFormat(sniffing: data) == .png
            && (try? PNGDecoder.header(of: data)).map { ($0.colorType == .gray || $0.colorType == .palette) && $0.bitDepth <= 8 } == true
        if indexed {
            try self.init(pngData: data, limits: limits)
        } else {
            let image = try Image(decoding: data, limits: limits)
            var classOfColor: [UInt32: UInt8] = [:]
            let palette = ADE20K.palette
            for c in 0..<ADE20K.classCount {
                classOfColor[UInt32(palette[3 * c]) << 16 | UInt32(palette[3 * c + 1]) << 8 | UInt32(palette[3 * c + 2])] = UInt8(c)
            }
            var classes = [UInt8](repeating: 0, count: image.width * image.height)
            for i in classes.indices {
                let (r, g, b) = (image.pixels[3 * i], image.pixels[3 * i + 1], image.pixels[3 * i + 2])
                guard let c = classOfColor[UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)] else {
                    throw SegmentationMapError.colorNotInPalette(file: file, x: i % image.width, y: i / image.width,
                                                                 red: r, green: g, blue: b)
                }
                classes[i] = c
            }
            self.init(width: image.width, height: image.height, classes: classes)
        }
        if let bad = classes.firstIndex(where: { Int($0) >= ADE20K.classCount }) {
            throw SegmentationMapError.classOutOfRange(file: file, x: bad % width, y: bad / width, value: Int(classes[bad]))
        }
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
        precondition(newWidth >= 1 && newHeight >= 1, "resize to \(newWidth)x\(newHeight)")
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
    public func cropped(left: Int, top: Int, width cropWidth: Int, height cropHeight: Int, fill: UInt8) -> SegmentationMap {
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

    /// The rotation of `Image.rotated(degrees:fill:)`, with `fill` as the class where nothing lands.
    public func rotated(degrees: Double, fill: UInt8 = 0) -> SegmentationMap {
        let matrix = inverseRotationMatrix(width: width, height: height, degrees: degrees)
        return SegmentationMap(width: width, height: height,
                               classes: affineNearest(classes, width: width, height: height, channels: 1, matrix: matrix, fill: [fill]))
    }
}

extension SegmentationMap: CroppableRaster {
    /// Pillow `crop`: outside the map is class 0 (`cropped(left:top:width:height:fill:)` picks another).
    public func cropped(left: Int, top: Int, width cropWidth: Int, height cropHeight: Int) -> SegmentationMap {
        cropped(left: left, top: top, width: cropWidth, height: cropHeight, fill: 0)
    }

    /// The mirror image, as `Image.flippedHorizontally()` flips the photo.
    public func flippedHorizontally() -> SegmentationMap {
        SegmentationMap(width: width, height: height, classes: flipPixels(classes, width: width, height: height, channels: 1))
    }
}

/// A segmentation map file that decodes but is not an ADE20K map, or cannot be read.
public enum SegmentationMapError: Error, CustomStringConvertible, Equatable, Sendable {
    case unreadable(file: String, reason: String)
    case classOutOfRange(file: String, x: Int, y: Int, value: Int)
    case colorNotInPalette(file: String, x: Int, y: Int, red: UInt8, green: UInt8, blue: UInt8)

    /// A one-line message naming the file, the pixel and the offending value.
    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read: \(reason)"
        case let .classOutOfRange(file, x, y, value):
            "\(file): pixel (\(x), \(y)) is class \(value), expected an ADE20K class index 0...\(ADE20K.classCount - 1)"
        case let .colorNotInPalette(file, x, y, red, green, blue):
            "\(file): pixel (\(x), \(y)) has colour (\(red), \(green), \(blue)), which is not in the ADE20K palette"
        }
    }
}
