import Foundation
import GeoCells
import Segmenter
import TensorEngine

extension GeoPartitions {
    /// The head sizes they give.
    public var headSizes: HeadSizes { HeadSizes(coarse: coarse.count, middle: middle.count, fine: fine.count) }

    func partition(_ head: HeadName) -> Partition? {
        switch head {
        case .coarse: coarse
        case .middle: middle
        case .fine: fine
        case .scene: nil
        }
    }
}

// MARK: - The model file

/// A model file (docs/ARCHITECTURE.md "File formats"): one safetensors file with every parameter as F32 under
/// its twin name, and `__metadata__` holding
/// - `format`: `translocator-model/1`;
/// - `config`: the `"model"` object (ModelConfig, snake_case);
/// - `partitions`: `{"coarse": {"tokens": [...], "latitudes": [...], "longitudes": [...],
///   "images": [...]}, "middle": ..., "fine": ...}`, index = class label, coordinates the
///   cell's mean in degrees;
/// - `preprocessing`: `{"resize_short_side": n}`;
/// - `segmenter` (when the training maps came from a segmenter): `SegmenterRecord` as JSON; a
///   model file that carries its segmenter also holds the segmenter's weights as
///   `segmenter.<Hugging Face name>` tensors.
/// Checkpoints add tensors and metadata keys of their own; loading a model ignores them.
public struct ModelFile {
    static let format = "translocator-model/1"

    /// The model, with its parameters loaded.
    public let model: TransLocatorModel
    /// The coarse, middle and fine partitions its heads classify into (class label = index).
    public let partitions: GeoPartitions
    /// How photos were resized in training, so prediction prepares them the same way.
    public let preprocessing: Preprocessing
    /// Every `__metadata__` entry, ours included (checkpoints keep their own keys here).
    public let metadata: [String: String]
    /// The segmenter the training maps came from, if one did (name, digest, config).
    public let segmenterRecord: SegmenterRecord?
    /// The segmenter's files when the model file carries them: then `predict` needs only the photo.
    public let bundledSegmenter: SegmenterFiles?

    /// A model file for `model` and the partitions its heads were sized for (they must match).
    /// - Parameters:
    ///   - preprocessing: the resize used in training; nil for the paper's 256/224 of `img_size`.
    ///   - metadata: extra `__metadata__` entries to write (checkpoints add their own keys).
    ///   - segmenter: the segmenter that made the training maps, recorded in the file.
    ///   - bundlingSegmenter: also carry the segmenter's weights, so that predict needs only photos.
    public init(model: TransLocatorModel, partitions: GeoPartitions, preprocessing: Preprocessing? = nil,
                metadata: [String: String] = [:], segmenter: SegmenterFiles? = nil, bundlingSegmenter: Bool = false) {
        precondition(partitions.headSizes == model.headSizes,
                     "ModelFile: partitions \(partitions.headSizes) for a model with heads \(model.headSizes)")
        let preprocessing = preprocessing ?? Preprocessing(imageSize: model.config.imageSize)
        precondition(preprocessing.problem(imageSize: model.config.imageSize) == nil,
                     "ModelFile: resize_short_side \(preprocessing.resizeShortSide) for \(model.config.imageSize)-pixel inputs")
        self.model = model
        self.partitions = partitions
        self.preprocessing = preprocessing
        self.metadata = metadata
        // A record passed on in `metadata` without the files can only say which segmenter it was.
        segmenterRecord = segmenter.map { SegmenterRecord($0, bundled: bundlingSegmenter) }
            ?? metadata["segmenter"].flatMap { try? SegmenterRecord(json: $0, file: "") }.map { record in
                var unbundled = record
                unbundled.bundled = false
                return unbundled
            }
        bundledSegmenter = bundlingSegmenter ? segmenter : nil
    }

    /// Writes the model file; `extraTensors` (a checkpoint's optimizer state) follow the parameters.
    /// - Throws: `SafeTensorsError` when the file cannot be written.
    public func write(to url: URL, extraTensors: [(name: String, tensor: Tensor)] = []) throws {
        var metadata = self.metadata
        metadata["format"] = Self.format
        metadata["config"] = model.config.jsonString
        metadata["partitions"] = Self.encode(partitions)
        metadata["preprocessing"] = String(decoding: try JSONEncoder().encode(preprocessing), as: UTF8.self)
        if let segmenterRecord { metadata["segmenter"] = segmenterRecord.jsonString }
        let segmenterTensors = (bundledSegmenter?.modelWeights ?? []).map { (name: SegmenterRecord.tensorPrefix + $0.name, tensor: $0.tensor) }
        let tensors = model.parameters.map { (name: $0.name, tensor: $0.value) } + segmenterTensors + extraTensors
        try WeightFile.write(tensors, metadata: metadata, to: url)
    }

    /// Reads a model file written by `write` (or the twin's exporter).
    /// - Throws: `SafeTensorsError` (not safetensors) or `WeightFileError` naming the file: no translocator metadata, a
    ///   config or partition that does not parse, weights that do not fit the config (every
    ///   missing and misshaped parameter at once).
    public init(contentsOf url: URL) throws {
        let file = try WeightFile(contentsOf: url)
        let path = file.path
        guard let configText = file.metadata["config"], let partitionText = file.metadata["partitions"] else {
            throw WeightFileError.missingMetadata(file: path, key: file.metadata["config"] == nil ? "config" : "partitions",
                                                  reason: "absent: not a translocator model file (make one with 'translocator train')")
        }
        let config: ModelConfig
        do { config = try ModelConfig(configJSON: Data(configText.utf8), file: path + " __metadata__.config") } catch {
            throw WeightFileError.missingMetadata(file: path, key: "config", reason: "\(error)")
        }
        let partitions = try Self.decodePartitions(partitionText, file: path)
        let model: TransLocatorModel
        do { model = try TransLocatorModel(config: config, headSizes: partitions.headSizes) } catch {
            throw WeightFileError.missingMetadata(file: path, key: "config", reason: "\(error)")
        }
        var missing: [String] = [], misshaped: [String] = []
        for parameter in model.parameters {
            guard let entry = file.entries[parameter.name] else { missing.append(parameter.name); continue }
            if entry.shape != parameter.value.shape {
                misshaped.append("\(parameter.name) \(entry.shape) (expected \(parameter.value.shape))")
            }
        }
        guard missing.isEmpty, misshaped.isEmpty else {
            throw WeightFileError.mismatchedKeys(file: path, missing: missing, unexpected: [], misshaped: misshaped)
        }
        for parameter in model.parameters { parameter.value.assign(try file.tensor(parameter.name)) }
        var preprocessing = Preprocessing(imageSize: config.imageSize)
        if let text = file.metadata["preprocessing"] {
            guard let decoded = try? JSONDecoder().decode(Preprocessing.self, from: Data(text.utf8)) else {
                throw WeightFileError.missingMetadata(file: path, key: "preprocessing", reason: "expected {\"resize_short_side\": n}")
            }
            if let problem = decoded.problem(imageSize: config.imageSize) {
                throw WeightFileError.missingMetadata(file: path, key: "preprocessing", reason: problem)
            }
            preprocessing = decoded
        }
        var segmenter: SegmenterFiles?
        if let text = file.metadata["segmenter"] {
            let record = try SegmenterRecord(json: text, file: path)
            if record.bundled { segmenter = try record.files(in: file) }
        }
        self.init(model: model, partitions: partitions, preprocessing: preprocessing, metadata: file.metadata,
                  segmenter: segmenter, bundlingSegmenter: segmenter != nil)
    }

    // MARK: Partitions as JSON

    struct PartitionColumns: Codable {
        var tokens: [String]
        var latitudes: [Double]
        var longitudes: [Double]
        var images: [Int]
    }

    static func encode(_ partitions: GeoPartitions) -> String {
        var object: [String: PartitionColumns] = [:]
        for (name, partition) in [("coarse", partitions.coarse), ("middle", partitions.middle), ("fine", partitions.fine)] {
            object[name] = PartitionColumns(tokens: partition.cells.map(\.cell.token), latitudes: partition.cells.map(\.latitudeMean),
                                            longitudes: partition.cells.map(\.longitudeMean), images: partition.cells.map(\.imageCount))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Strings, finite doubles and integers always encode.
        return (try? encoder.encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decodePartitions(_ text: String, file: String) throws -> GeoPartitions {
        func fail(_ reason: String) -> WeightFileError { .missingMetadata(file: file, key: "partitions", reason: reason) }
        guard let object = try? JSONDecoder().decode([String: PartitionColumns].self, from: Data(text.utf8)) else {
            throw fail("expected {\"coarse\"|\"middle\"|\"fine\": {\"tokens\", \"latitudes\", \"longitudes\", \"images\"}}")
        }
        func partition(_ name: String) throws -> Partition {
            guard let columns = object[name] else { throw fail("no \(name) partition") }
            let n = columns.tokens.count
            guard columns.latitudes.count == n, columns.longitudes.count == n, columns.images.count == n, n > 0 else {
                throw fail("\(name): columns of different lengths or empty")
            }
            var cells: [PartitionCell] = []
            for k in 0..<n {
                guard let cell = try? S2CellID(token: columns.tokens[k]) else {
                    throw fail("\(name)[\(k)]: token '\(columns.tokens[k])' is not an S2 cell")
                }
                guard (-90...90).contains(columns.latitudes[k]), (-180...180).contains(columns.longitudes[k]) else {
                    throw fail("\(name)[\(k)]: mean (\(columns.latitudes[k]), \(columns.longitudes[k])) is not in degrees")
                }
                cells.append(PartitionCell(classLabel: k, cell: cell, imageCount: columns.images[k],
                                           latitudeMean: columns.latitudes[k], longitudeMean: columns.longitudes[k]))
            }
            do { return try Partition(cells: cells) } catch { throw fail("\(name): \(error)") }
        }
        return GeoPartitions(coarse: try partition("coarse"), middle: try partition("middle"), fine: try partition("fine"))
    }
}
