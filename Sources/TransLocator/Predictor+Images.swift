import Foundation
import ImageCodec
import TensorEngine

/// One photo to locate, with its ADE20K segmentation map when the model has a segmentation branch.
public struct PhotoInput: Sendable {
    public var image: Image
    public var segmentation: SegmentationMap?
    /// For error messages (the file name).
    public var name: String

    public init(image: Image, segmentation: SegmentationMap? = nil, name: String) {
        self.image = image; self.segmentation = segmentation; self.name = name
    }
}

/// Input that `predict` cannot use.
public enum PredictorError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case missingSegmentation(image: String)
    case segmentationSize(file: String, width: Int, height: Int, expectedWidth: Int, expectedHeight: Int)
    case segmentationClass(file: String, x: Int, y: Int, value: Int)
    case segmentationColor(file: String, x: Int, y: Int, red: UInt8, green: UInt8, blue: UInt8)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read: \(reason)"
        case let .missingSegmentation(image):
            "\(image): this TransLocator model needs the photo's segmentation map: pass --seg SEG.png, or use a ViT-MT model"
        case let .segmentationSize(file, width, height, expectedWidth, expectedHeight):
            "\(file): the segmentation map is \(width)x\(height), expected the photo's \(expectedWidth)x\(expectedHeight)"
        case let .segmentationClass(file, x, y, value):
            "\(file): pixel (\(x), \(y)) is class \(value), expected an ADE20K class index 0...\(ADE20K.classCount - 1)"
        case let .segmentationColor(file, x, y, red, green, blue):
            "\(file): pixel (\(x), \(y)) has colour (\(red), \(green), \(blue)), which is not in the ADE20K palette"
        }
    }
}

/// Reads a segmentation map: an 8-bit gray (or palette-indexed) PNG of ADE20K class indices
/// 0...149, or an RGB image coded with the ADE20K palette (each colour mapped back to its class).
/// - Throws: `ImageCodecError` for an undecodable file, `PredictorError` for an index outside
///   0...149 or a colour outside the palette, each naming the file and the pixel.
public func readSegmentationMap(contentsOf url: URL) throws -> SegmentationMap {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw PredictorError.unreadable(file: url.path, reason: error.localizedDescription)
    }
    let map: SegmentationMap
    if let indexed = try? SegmentationMap(pngData: data) {
        map = indexed
    } else {
        let image = try Image(contentsOf: url)
        var colors: [UInt32: UInt8] = [:]
        for c in 0..<ADE20K.classCount {
            let p = ADE20K.palette
            colors[UInt32(p[3 * c]) << 16 | UInt32(p[3 * c + 1]) << 8 | UInt32(p[3 * c + 2])] = UInt8(c)
        }
        var classes = [UInt8](repeating: 0, count: image.width * image.height)
        for i in classes.indices {
            let (r, g, b) = (image.pixels[3 * i], image.pixels[3 * i + 1], image.pixels[3 * i + 2])
            guard let c = colors[UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)] else {
                throw PredictorError.segmentationColor(file: url.path, x: i % image.width, y: i / image.width, red: r, green: g, blue: b)
            }
            classes[i] = c
        }
        map = SegmentationMap(width: image.width, height: image.height, classes: classes)
    }
    if let bad = map.classes.firstIndex(where: { Int($0) >= ADE20K.classCount }) {
        throw PredictorError.segmentationClass(file: url.path, x: bad % map.width, y: bad / map.width, value: Int(map.classes[bad]))
    }
    return map
}

/// Answers "where was this taken?" with a model file: preprocessing (resize the short side,
/// center crop or TenCrop, ImageNet normalization; the map resized nearest-neighbour and
/// rendered with the ADE20K palette), batched inference, ranked fine cells.
public final class Predictor {
    public let file: ModelFile
    public let ranker: CellRanker

    /// Prepares the file's model for inference only (`TransLocatorModel.prepareForInference()`:
    /// weights packed, unpacked copies and gradients freed): the model cannot train or be saved
    /// afterwards.
    public init(_ file: ModelFile) {
        self.file = file
        ranker = CellRanker(partitions: file.partitions)
        file.model.prepareForInference()
    }

    /// The `top` best fine cells per photo, in input order.
    /// - Parameters:
    ///   - hierarchical: rank by p_fine · p_middle(parent) · p_coarse(parent).
    ///   - tenCrop: average the logits of torchvision's TenCrop instead of one center crop.
    ///   - batchSize: photos per forward.
    /// - Throws: `PredictorError` (a TransLocator model without a map, a map of another size),
    ///   `ModelInputError`.
    public func predict(_ photos: [PhotoInput], top: Int = 5, hierarchical: Bool = false, tenCrop: Bool = false,
                        batchSize: Int = 8) throws -> [[CellPrediction]] {
        let model = file.model, s = model.config.imageSize, usesMaps = model.config.segmentationBranch
        for photo in photos {
            guard usesMaps else { break }
            guard let map = photo.segmentation else { throw PredictorError.missingSegmentation(image: photo.name) }
            guard map.width == photo.image.width, map.height == photo.image.height else {
                throw PredictorError.segmentationSize(file: photo.name, width: map.width, height: map.height,
                                                      expectedWidth: photo.image.width, expectedHeight: photo.image.height)
            }
        }
        let crops = tenCrop ? 10 : 1, plane = 3 * s * s
        var results: [[CellPrediction]] = []
        for start in stride(from: 0, to: photos.count, by: max(1, batchSize)) {
            let group = photos[start..<min(photos.count, start + max(1, batchSize))]
            let rgb = Tensor(zeros: [group.count * crops, 3, s, s])
            let seg = usesMaps ? Tensor(zeros: [group.count * crops, 3, s, s]) : nil
            for (i, photo) in group.enumerated() {
                for (c, crop) in cropsOf(photo.image, tenCrop: tenCrop).enumerated() {
                    crop.writeNormalizedCHW(into: rgb.data + (i * crops + c) * plane)
                }
                if let seg, let map = photo.segmentation {
                    for (c, crop) in cropsOf(map, tenCrop: tenCrop).enumerated() {
                        crop.renderedADE20K().writeNormalizedCHW(into: seg.data + (i * crops + c) * plane)
                    }
                }
            }
            for logits in try model.imageLogits(rgb: rgb, seg: seg, crops: crops) {
                results.append(ranker.rank(logits, top: top, hierarchical: hierarchical))
            }
        }
        return results
    }

    /// torchvision `Resize(shortSide)` (bilinear, antialiased as Pillow) then `CenterCrop(S)` or
    /// `TenCrop(S)`.
    func cropsOf(_ image: Image, tenCrop: Bool) -> [Image] {
        let s = file.model.config.imageSize
        let resized = image.resized(shortSide: file.preprocessing.resizeShortSide)
        return tenCrop ? resized.tenCrops(width: s, height: s) : [resized.centerCropped(width: s, height: s)]
    }

    /// The same geometry for the map, nearest-neighbour: TenCrop's order is the five crops
    /// (top-left, top-right, bottom-left, bottom-right, center), then those of the mirror image.
    func cropsOf(_ map: SegmentationMap, tenCrop: Bool) -> [SegmentationMap] {
        let s = file.model.config.imageSize
        let resized = map.resized(shortSide: file.preprocessing.resizeShortSide)
        guard tenCrop else { return [resized.centerCropped(width: s, height: s)] }
        func five(_ m: SegmentationMap) -> [SegmentationMap] {
            [m.cropped(left: 0, top: 0, width: s, height: s), m.cropped(left: m.width - s, top: 0, width: s, height: s),
             m.cropped(left: 0, top: m.height - s, width: s, height: s),
             m.cropped(left: m.width - s, top: m.height - s, width: s, height: s), m.centerCropped(width: s, height: s)]
        }
        return five(resized) + five(resized.flippedHorizontally())
    }
}
