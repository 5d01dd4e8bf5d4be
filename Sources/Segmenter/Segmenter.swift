import Foundation
import ImageCodec
import TensorEngine

// MARK: - Photo to class map

/// How a photo becomes a segmenter's input, in the fields of Hugging Face's
/// `preprocessor_config.json` (SegformerImageProcessor): stretch to `height`×`width` with
/// Pillow's bilinear filter (aspect ratio not kept), multiply by `rescale_factor` (1/255), then
/// subtract `image_mean` and divide by `image_std` per channel (ImageNet's by default).
///
/// The photo is read as everywhere in translocator (`Image(contentsOf:)`): EXIF orientation
/// applied, as Pillow's `ImageOps.exif_transpose`, so the map lies over the pixels the model
/// sees. (Hugging Face's processor does not rotate by itself; the photos the maps are made for,
/// and the maps, are both upright here.)
public struct SegFormerPreprocessing: Equatable, Sendable {
    /// Input size; nil keeps each photo's own size (`do_resize` false).
    public var size: (height: Int, width: Int)?
    /// Multiplier from 0-255 to the model's scale (`rescale_factor`; 1 with `do_rescale` false).
    public var rescale: Double
    /// Per-channel mean and standard deviation (`image_mean`, `image_std`; 0 and 1 with
    /// `do_normalize` false).
    public var mean: [Double], std: [Double]

    /// SegformerImageProcessor's defaults: 512×512, 1/255, ImageNet mean and std.
    public static let huggingFaceDefault = SegFormerPreprocessing(
        size: (512, 512), rescale: 1.0 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// The settings as given.
    public init(size: (height: Int, width: Int)?, rescale: Double, mean: [Double], std: [Double]) {
        self.size = size
        self.rescale = rescale
        self.mean = mean
        self.std = std
    }

    public static func == (a: SegFormerPreprocessing, b: SegFormerPreprocessing) -> Bool {
        a.size?.height == b.size?.height && a.size?.width == b.size?.width && a.rescale == b.rescale
            && a.mean == b.mean && a.std == b.std
    }

    /// Reads a `preprocessor_config.json` (absent fields take the processor's defaults).
    /// - Throws: `SegmenterError.badPreprocessing` for a size that is not a height and width
    ///   (or one side), a resampling filter other than bilinear, or means and deviations that
    ///   are not three finite numbers (deviations positive).
    public init(json data: Data, file: String) throws {
        func fail(_ reason: String) -> SegmenterError { .badPreprocessing(file: file, reason: reason) }
        let root: HeaderJSON
        do { root = try HeaderJSON.parse(Array(data)) } catch let error as HeaderJSON.ParseError {
            throw fail("not valid JSON at byte \(error.offset): \(error.reason)")
        }
        guard case let .object(members) = root else { throw fail("not a JSON object") }
        func field(_ key: String) -> HeaderJSON? { members.last { $0.0 == key }?.1 }
        func flag(_ key: String) throws -> Bool {
            guard let value = field(key) else { return true }
            guard case let .bool(flag) = value else { throw fail("'\(key)' holds \(value), not true or false") }
            return flag
        }
        func side(_ value: HeaderJSON?, _ key: String) throws -> Int {
            guard case let .number(number)? = value, let side = Int(exactly: number), (1...8192).contains(side) else {
                throw fail("'\(key)' is not a side in 1...8192 pixels")
            }
            return side
        }
        func triple(_ key: String, default fallback: [Double]) throws -> [Double] {
            guard let value = field(key) else { return fallback }
            guard case let .array(items) = value, items.count == 3 else { throw fail("'\(key)' is not three numbers") }
            return try items.map {
                guard case let .number(number) = $0, number.isFinite else { throw fail("'\(key)' holds \($0)") }
                return number
            }
        }
        let defaults = Self.huggingFaceDefault
        if try flag("do_resize") {
            switch field("size") {
            case nil: size = defaults.size
            case let .number(number)?: let s = try side(.number(number), "size"); size = (s, s)
            case let .object(sides)?:
                let lookup = { (key: String) in sides.last { $0.0 == key }?.1 }
                guard lookup("shortest_edge") == nil else {
                    throw fail("'size' gives a shortest edge; a SegFormer processor stretches to a height and width")
                }
                size = (try side(lookup("height"), "size.height"), try side(lookup("width"), "size.width"))
            case let value?: throw fail("'size' holds \(value)")
            }
            if let resample = field("resample"), resample != .number(2) {
                throw fail("'resample' \(resample): only 2 (bilinear, the processor's default) is implemented")
            }
        } else {
            size = nil
        }
        if try flag("do_rescale") {
            if let value = field("rescale_factor") {
                guard case let .number(factor) = value, factor.isFinite, factor > 0 else { throw fail("'rescale_factor' holds \(value)") }
                rescale = factor
            } else {
                rescale = defaults.rescale
            }
        } else {
            rescale = 1
        }
        if try flag("do_normalize") {
            mean = try triple("image_mean", default: defaults.mean)
            std = try triple("image_std", default: defaults.std)
            guard std.allSatisfy({ $0 > 0 }) else { throw fail("'image_std' holds a deviation that is not positive") }
        } else {
            mean = [0, 0, 0]
            std = [1, 1, 1]
        }
    }

    /// The settings as `preprocessor_config.json` fields (what a model file stores beside a bundled segmenter).
    public var jsonString: String {
        var fields: [String] = []
        if let size {
            fields.append("\"do_resize\":true,\"resample\":2,\"size\":{\"height\":\(size.height),\"width\":\(size.width)}")
        } else {
            fields.append("\"do_resize\":false")
        }
        fields.append("\"do_rescale\":true,\"rescale_factor\":\(rescale)")
        fields.append("\"do_normalize\":true,\"image_mean\":[\(mean.map { "\($0)" }.joined(separator: ","))],"
                      + "\"image_std\":[\(std.map { "\($0)" }.joined(separator: ","))]")
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// A batch of photos as the model's input [B, H, W, 3], channels-last. With `size` nil the
    /// photos must share one size.
    public func pixels(of images: [Image]) -> Tensor {
        precondition(!images.isEmpty, "SegFormerPreprocessing: no images")
        let (height, width) = size ?? (images[0].height, images[0].width)
        let batch = Tensor(zeros: [images.count, height, width, 3])
        // One table per channel: (v·rescale - mean)/std for each of the 256 byte values, computed
        // in Double as the processor's NumPy float64 arithmetic is, then rounded once.
        let table = (0..<3).map { c in (0..<256).map { Float((Double($0) * rescale - mean[c]) / std[c]) } }
        for (i, image) in images.enumerated() {
            let resized = size == nil ? image : image.resized(width: width, height: height, filter: .bilinear)
            precondition(resized.width == width && resized.height == height,
                         "SegFormerPreprocessing: photos of different sizes without resizing")
            let out = batch.data + i * height * width * 3
            resized.pixels.withUnsafeBufferPointer { pixels in
                for p in 0..<(height * width) {
                    for c in 0..<3 { out[3 * p + c] = table[c][Int(pixels[3 * p + c])] }
                }
            }
        }
        return batch
    }
}

/// Which segmenter made a set of maps: the name a person knows it by and the SHA-256 of its
/// weight file, so that a model can say what it was trained with and predict can warn when it
/// is given another.
public struct SegmenterIdentity: Codable, Equatable, Sendable {
    /// The folder or file name (e.g. `segformer-b0-finetuned-ade-512-512`).
    public var name: String
    /// SHA-256 of the weight file, lowercase hex.
    public var sha256: String

    /// An identity as given.
    public init(name: String, sha256: String) {
        self.name = name
        self.sha256 = sha256
    }
}

/// A semantic segmenter ready to run: a SegFormer, its preprocessing, and its identity.
public final class Segmenter: @unchecked Sendable {
    /// The network.
    public let model: SegFormer
    /// How photos become its input.
    public let preprocessing: SegFormerPreprocessing
    /// Its name and weight-file digest.
    public let identity: SegmenterIdentity

    /// A segmenter from parts (a model file's bundled segmenter, tests).
    public init(model: SegFormer, preprocessing: SegFormerPreprocessing, identity: SegmenterIdentity) {
        self.model = model
        self.preprocessing = preprocessing
        self.identity = identity
    }

    /// Reads a segmenter as users have it (see `SegmenterFiles`) and builds it.
    /// - Throws: `SegmenterError` (no config or weights found, a bad config, weights that do not
    ///   fit it), the weight readers' errors for unreadable weights.
    public convenience init(contentsOf url: URL) throws {
        try self.init(SegmenterFiles(contentsOf: url))
    }

    /// Builds the segmenter the files describe.
    /// - Throws: `SegmenterError` for a bad config or preprocessing, or weights that do not fit.
    public convenience init(_ files: SegmenterFiles) throws {
        let config = try SegFormerConfig(json: Data(files.config.utf8), file: files.configSource)
        var preprocessing = SegFormerPreprocessing.huggingFaceDefault
        if let text = files.preprocessing {
            preprocessing = try SegFormerPreprocessing(json: Data(text.utf8), file: files.preprocessingSource)
        }
        let model = try SegFormer(config: config, weights: files.weights, file: files.weightsSource)
        self.init(model: model, preprocessing: preprocessing, identity: files.identity)
    }

    /// Class maps of `images`, each at its photo's size: the logits (1/4 of the input size)
    /// resized bilinearly to the photo and the arg-max taken per pixel (Hugging Face's
    /// `post_process_semantic_segmentation` with the photo's size as target).
    /// - Throws: `SegmenterError.inputTooSmall` when `preprocessing` keeps sizes and a photo is
    ///   too small for the network.
    public func segment(_ images: [Image]) throws -> [SegmentationMap] {
        if images.isEmpty { return [] }
        guard model.config.inputChannels == 3 else {
            throw SegmenterError.badConfig(file: identity.name, reason: "it takes \(model.config.inputChannels)-channel inputs, not RGB photos")
        }
        guard model.config.labels.count <= 256 else {
            throw SegmenterError.badConfig(file: identity.name, reason: "\(model.config.labels.count) labels do not fit 8-bit maps")
        }
        if preprocessing.size == nil {            // each photo its own size: one at a time
            return try images.flatMap { try segment(batch: [$0]) }
        }
        return try segment(batch: images)
    }

    private func segment(batch images: [Image]) throws -> [SegmentationMap] {
        let logits = try model.logits(preprocessing.pixels(of: images))
        let (h, w, k) = (logits.shape[1], logits.shape[2], logits.shape[3])
        return images.enumerated().map { i, image in
            var classes = [UInt8](repeating: 0, count: image.width * image.height)
            classes.withUnsafeMutableBufferPointer { out in
                bilinearArgmax(logits.data + i * h * w * k, height: h, width: w, classes: k, outputHeight: image.height,
                               outputWidth: image.width, into: out.baseAddress!)
            }
            return SegmentationMap(width: image.width, height: image.height, classes: classes)
        }
    }
}

/// A segmenter's files as read, before the network is built: its weights under Hugging Face's
/// names, its config and preprocessing as JSON text, and its identity. What a model file stores
/// when it carries its segmenter.
public struct SegmenterFiles {
    /// Weights by Hugging Face name (float tensors; integer ones such as `num_batches_tracked` skipped).
    public var weights: [String: Tensor]
    /// Hugging Face's SegformerConfig as JSON text.
    public var config: String
    /// `preprocessor_config.json`'s text; nil for the processor's defaults.
    public var preprocessing: String?
    /// Name and weight-file digest.
    public var identity: SegmenterIdentity
    /// Where each part came from, for error messages.
    public var weightsSource: String, configSource: String, preprocessingSource: String

    /// Parts as given (a model file's bundled segmenter).
    public init(weights: [String: Tensor], config: String, preprocessing: String?, identity: SegmenterIdentity, source: String) {
        self.weights = weights
        self.config = config
        self.preprocessing = preprocessing
        self.identity = identity
        weightsSource = source
        configSource = source + " (segmenter config)"
        preprocessingSource = source + " (segmenter preprocessing)"
    }

    /// Reads a segmenter as users have it:
    /// - a folder as Hugging Face's hub gives it: `config.json`, weights in `model.safetensors`
    ///   or `pytorch_model.bin`, and `preprocessor_config.json` (optional: the processor's
    ///   defaults otherwise);
    /// - or one weight file (safetensors or a PyTorch checkpoint) with the config in its
    ///   `__metadata__["config"]` (and preprocessing in `__metadata__["preprocessing"]`), or
    ///   beside it as `config.json` (and `preprocessor_config.json`).
    /// The identity is the folder's (or file's) name and the weight file's SHA-256.
    /// - Throws: `SegmenterError.notASegmenter` (nothing there, no weights or config found),
    ///   the weight readers' errors for unreadable weights.
    public init(contentsOf url: URL) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw SegmenterError.notASegmenter(path: url.path, reason: "no such file or folder")
        }
        let folder = isFolder.boolValue ? url : url.deletingLastPathComponent()
        let weightsURL: URL
        if isFolder.boolValue {
            let candidates = ["model.safetensors", "pytorch_model.bin"].map { folder.appendingPathComponent($0) }
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
                throw SegmenterError.notASegmenter(path: url.path, reason: "no model.safetensors or pytorch_model.bin in the folder")
            }
            weightsURL = found
        } else {
            weightsURL = url
        }
        let file = try SafeTensors(weightsAt: weightsURL)
        func sidecar(_ key: String, _ name: String) throws -> (text: String, source: String)? {
            if !isFolder.boolValue, let text = file.metadata[key] { return (text, weightsURL.path + " __metadata__.\(key)") }
            let sidecar = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: sidecar.path) else { return nil }
            do { return (String(decoding: try Data(contentsOf: sidecar), as: UTF8.self), sidecar.path) } catch {
                throw SegmenterError.notASegmenter(path: sidecar.path, reason: "cannot read: \(error.localizedDescription)")
            }
        }
        guard let config = try sidecar("config", "config.json") else {
            throw SegmenterError.notASegmenter(path: url.path, reason: "no config: neither __metadata__[\"config\"] nor config.json beside it")
        }
        let preprocessing = try sidecar("preprocessing", "preprocessor_config.json")
        let name = (isFolder.boolValue ? url.standardizedFileURL : weightsURL.deletingPathExtension()).lastPathComponent
        weights = file.tensors
        self.config = config.text
        self.preprocessing = preprocessing?.text
        identity = SegmenterIdentity(name: name, sha256: try sha256Hex(contentsOf: weightsURL))
        weightsSource = weightsURL.path
        configSource = config.source
        preprocessingSource = preprocessing?.source ?? "defaults"
    }
}
