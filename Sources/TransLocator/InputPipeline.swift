import Foundation
import ImageCodec
import TensorEngine

// The one way from a photo (and its segmentation map) to the model's input tensors, used by
// `predict` (Predictor), `eval` and validation (Evaluator) and training (ManifestBatchSource):
// decode, resize the short side, centre crop or TenCrop (evaluation) or the augmentation draws
// (training), photo and map together, normalize. docs/ARCHITECTURE.md "The input pipeline".

/// How a photo is resized before cropping, stored in the model file so that `predict` and
/// `eval` prepare photos exactly as validation did during training.
public struct Preprocessing: Codable, Equatable, Sendable {
    /// Short side after resizing, pixels (the paper: 256 for 224 crops). At least the model's
    /// `img_size`: every crop then lies inside the resized photo.
    public var resizeShortSide: Int

    enum CodingKeys: String, CodingKey { case resizeShortSide = "resize_short_side" }

    /// Resizes the short side to `resizeShortSide` pixels.
    public init(resizeShortSide: Int) { self.resizeShortSide = resizeShortSide }

    /// 256/224 of the crop, as the paper's Resize(256) + crop 224.
    public init(imageSize: Int) { resizeShortSide = (imageSize * 256 + 112) / 224 }

    /// Why these settings cannot feed `imageSize`-pixel crops, or nil if they can.
    package func problem(imageSize: Int) -> String? {
        guard resizeShortSide >= imageSize else {
            return "resize_short_side is \(resizeShortSide), expected at least the model's img_size \(imageSize) "
                + "(crops of \(imageSize) pixels are cut from the resized photo)"
        }
        return nil
    }
}

/// The training augmentation (the paper's settings; config `training.augmentation`):
/// RandomAffine's rotation, ColorJitter on the photo only, a horizontal flip shared by the
/// photo and its map.
public struct Augmentation: Sendable, Equatable {
    /// RandomAffine's rotation range, ± degrees.
    public var rotationDegrees: Double = 15
    /// ColorJitter(brightness, contrast, saturation, hue).
    public var colorJitter: [Double] = [0.4, 0.4, 0.4, 0.1]
    /// Probability of applying ColorJitter to a training photo (0...1).
    public var colorJitterProbability: Double = 0.8
    /// Whether training flips photo and map together with probability 1/2.
    public var horizontalFlip: Bool = true

    /// The paper's settings: ±15°, ColorJitter(0.4, 0.4, 0.4, 0.1) with probability 0.8, flips on.
    public init() {}
}

/// One photo to prepare, with its ADE20K segmentation map when the model has a segmentation
/// branch, and the file names that errors give.
public struct PhotoInput: Sendable {
    /// The photo, EXIF orientation applied.
    public var image: Image
    /// Its ADE20K class map (the photo's size), or nil.
    public var segmentation: SegmentationMap?
    /// The photo's file (errors name it).
    public var name: String
    /// The map's file, when it came from one.
    public var segmentationName: String?

    /// A photo already in memory; `name` and `segmentationName` are what errors call them.
    public init(image: Image, segmentation: SegmentationMap? = nil, name: String, segmentationName: String? = nil) {
        self.image = image; self.segmentation = segmentation; self.name = name; self.segmentationName = segmentationName
    }

    /// Decodes the photo (EXIF orientation applied) and, when `segmentationURL` is given, reads
    /// its map (`SegmentationMap(contentsOf:)`: class indices or palette colours).
    /// - Throws: `ImageCodecError.inFile` or the file system's error for the photo,
    ///   `SegmentationMapError` or `ImageCodecError.inFile` for the map, each naming its file.
    public init(contentsOf url: URL, segmentationAt segmentationURL: URL? = nil) throws {
        let image = try Image(contentsOf: url)
        let map = try segmentationURL.map { try SegmentationMap(contentsOf: $0) }
        self.init(image: image, segmentation: map, name: url.path, segmentationName: segmentationURL?.path)
    }
}

/// A photo the pipeline cannot prepare for the model.
public enum InputError: Error, CustomStringConvertible, Equatable {
    case missingSegmentation(image: String)
    case segmentationSize(image: String, map: String, width: Int, height: Int, expectedWidth: Int, expectedHeight: Int)

    /// A one-line message naming the photo (and map) and what to do.
    public var description: String {
        switch self {
        case let .missingSegmentation(image):
            "\(image): this TransLocator model needs the photo's segmentation map: pass --seg SEG.png, or use a ViT-MT model"
        case let .segmentationSize(image, map, width, height, expectedWidth, expectedHeight):
            "\(image): its segmentation map \(map) is \(width)x\(height), expected the photo's \(expectedWidth)x\(expectedHeight)"
        }
    }
}

/// Prepares photos (and maps) for one model: the same resize, crops and normalization for
/// prediction, evaluation and training, so a model sees at serving time exactly what validation
/// showed it.
///
/// Evaluation: torchvision `Resize(resize_short_side)` (bilinear, antialiased as Pillow), then
/// `CenterCrop(img_size)` or `TenCrop(img_size)`; the map is resized nearest-neighbour to the
/// photo's resized size and takes the same crops. Training: resize, then one rotation, one crop
/// corner and one flip drawn for photo and map together, and ColorJitter on the photo alone,
/// every draw from the (seed, epoch, image index) stream (`trainingView`). Both end in
/// ImageNet normalization of the photo and of the map rendered with the ADE20K palette.
public struct InputPipeline: Sendable {
    /// The resize settings (from the model file or training config).
    public let preprocessing: Preprocessing
    /// Crop side, pixels: the model's `img_size`.
    public let cropSize: Int
    /// Whether the model reads maps (a TransLocator); a ViT-MT ignores any map it is given.
    public let usesSegmentation: Bool

    /// The pipeline for a model of `config` whose photos are resized as `preprocessing` says.
    /// - Precondition: `preprocessing` fits the config (`Preprocessing.problem`), which model
    ///   files and training configs check where they are read.
    public init(model config: ModelConfig, preprocessing: Preprocessing) {
        precondition(preprocessing.problem(imageSize: config.imageSize) == nil,
                     "InputPipeline: resize_short_side \(preprocessing.resizeShortSide) for \(config.imageSize)-pixel crops")
        self.preprocessing = preprocessing
        cropSize = config.imageSize
        usesSegmentation = config.segmentationBranch
    }

    /// The pipeline a model file was trained with.
    public init(_ file: ModelFile) {
        self.init(model: file.model.config, preprocessing: file.preprocessing)
    }

    /// One crop-sized photo and its map (nil for a model without maps).
    public typealias View = (photo: Image, map: SegmentationMap?)

    /// Floats of one view in one input tensor: 3 · S · S.
    package var planeCount: Int { 3 * cropSize * cropSize }

    /// Checks that the pipeline can prepare `input`: a map, of the photo's size, when the
    /// model reads maps.
    /// - Throws: `InputError` naming the photo and the map.
    public func validate(_ input: PhotoInput) throws {
        guard usesSegmentation else { return }
        guard let map = input.segmentation else { throw InputError.missingSegmentation(image: input.name) }
        guard map.width == input.image.width, map.height == input.image.height else {
            throw InputError.segmentationSize(image: input.name, map: input.segmentationName ?? "the map", width: map.width,
                                              height: map.height, expectedWidth: input.image.width, expectedHeight: input.image.height)
        }
    }

    /// The photo resized, and its map (when the model reads one) resized to match.
    /// - Throws: `InputError` (`validate`).
    func resized(_ input: PhotoInput) throws -> View {
        try validate(input)
        let photo = input.image.resized(shortSide: preprocessing.resizeShortSide)
        let map = usesSegmentation ? input.segmentation?.resized(width: photo.width, height: photo.height) : nil
        return (photo, map)
    }

    /// The centre crop, or TenCrop's ten views (the five crops of the photo, then of its mirror
    /// image: torchvision's order), photo and map cut alike.
    /// - Throws: `InputError`.
    public func evaluationViews(of input: PhotoInput, tenCrop: Bool) throws -> [View] {
        let (photo, map) = try resized(input)
        let s = cropSize
        guard tenCrop else { return [(photo.centerCropped(width: s, height: s), map?.centerCropped(width: s, height: s))] }
        let photos = photo.tenCrops(width: s, height: s)
        let maps = map?.tenCrops(width: s, height: s)
        return photos.indices.map { (photos[$0], maps?[$0]) }
    }

    /// The augmented view of training image `index` in `epoch`. Order: resize, rotate both by
    /// one drawn angle (the map filled with 255, "ignore", rendered black, where the photo is
    /// filled black), crop both at one drawn corner, flip both on one draw, jitter the photo.
    /// The draws come from `CounterRandom(seed, .augmentation, epoch, index)` in a fixed order,
    /// so a view depends on neither threads, batch composition nor a resume.
    /// - Throws: `InputError`.
    public func trainingView(of input: PhotoInput, augmentation: Augmentation, seed: UInt64, epoch: Int, index: Int) throws -> View {
        var (photo, map) = try resized(input)
        let c = cropSize
        var random = CounterRandom(seed: seed, stream: RandomStream.augmentation.rawValue, epoch: epoch, index: index)
        let angle = random.uniform(-augmentation.rotationDegrees, augmentation.rotationDegrees)
        let left = random.index(below: photo.width - c + 1), top = random.index(below: photo.height - c + 1)
        let flip = augmentation.horizontalFlip && random.nextUnit() < 0.5
        let jitter = random.nextUnit() < augmentation.colorJitterProbability
        if angle != 0 {
            photo = photo.rotated(degrees: angle)
            map = map?.rotated(degrees: angle, fill: 255)
        }
        photo = photo.cropped(left: left, top: top, width: c, height: c)
        map = map?.cropped(left: left, top: top, width: c, height: c)
        if flip {
            photo = photo.flippedHorizontally()
            map = map?.flippedHorizontally()
        }
        if jitter {
            let strengths = augmentation.colorJitter
            let parameters = ColorJitterParameters.random(brightness: strengths[0], contrast: strengths[1], saturation: strengths[2],
                                                          hue: strengths[3], using: &random)
            photo = photo.colorJittered(parameters)
        }
        return (photo, map)
    }

    /// Writes a view's normalized photo to `rgb` and its rendered, normalized map to `seg`
    /// (`planeCount` floats each: one row of a [B, 3, S, S] batch).
    package func write(_ view: View, rgb: UnsafeMutablePointer<Float>, seg: UnsafeMutablePointer<Float>?) {
        precondition(view.photo.width == cropSize && view.photo.height == cropSize,
                     "InputPipeline.write: a \(view.photo.width)x\(view.photo.height) view for \(cropSize)-pixel inputs")
        view.photo.writeNormalizedCHW(into: rgb)
        if let seg, let map = view.map { map.renderedADE20K().writeNormalizedCHW(into: seg) }
    }

    /// The model's inputs for `inputs`: [B · crops, 3, S, S] each, image-major (crops of image 0
    /// first), crops 10 with `tenCrop` and 1 otherwise; `seg` nil for a model without maps.
    /// - Throws: `InputError` naming the first photo that cannot be prepared.
    public func tensors(_ inputs: [PhotoInput], tenCrop: Bool) throws -> (rgb: Tensor, seg: Tensor?) {
        let crops = tenCrop ? 10 : 1, s = cropSize
        let rgb = Tensor(zeros: [inputs.count * crops, 3, s, s])
        let seg = usesSegmentation ? Tensor(zeros: [inputs.count * crops, 3, s, s]) : nil
        for (i, input) in inputs.enumerated() {
            for (c, view) in try evaluationViews(of: input, tenCrop: tenCrop).enumerated() {
                let row = (i * crops + c) * planeCount
                write(view, rgb: rgb.data + row, seg: seg.map { $0.data + row })
            }
        }
        return (rgb, seg)
    }
}
