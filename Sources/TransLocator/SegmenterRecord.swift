import Foundation
import Segmenter
import TensorEngine

/// Which segmenter made a model's training maps: `__metadata__["segmenter"]` of a model file
/// (docs/ARCHITECTURE.md "File formats"). Predict compares it with the segmenter it is given and
/// warns when they differ: a model reads maps as the segmenter it was trained with drew them.
public struct SegmenterRecord: Codable, Equatable, Sendable {
    /// The segmenter's name (its folder or file name).
    public var name: String
    /// SHA-256 of its weight file.
    public var sha256: String
    /// Hugging Face's SegformerConfig, as JSON text.
    public var config: String
    /// Its `preprocessor_config.json` text; nil for the processor's defaults.
    public var preprocessing: String?
    /// Whether the model file carries its weights (`segmenter.*` tensors).
    public var bundled: Bool

    /// Names of bundled segmenter tensors start with this.
    static let tensorPrefix = "segmenter."

    /// The identity this record names.
    public var identity: SegmenterIdentity { SegmenterIdentity(name: name, sha256: sha256) }

    init(_ files: SegmenterFiles, bundled: Bool) {
        name = files.identity.name
        sha256 = files.identity.sha256
        config = files.config
        preprocessing = files.preprocessing
        self.bundled = bundled
    }

    /// Reads the record's JSON.
    /// - Throws: `WeightFileError.missingMetadata` naming `file` when it does not parse.
    init(json text: String, file: String) throws {
        do { self = try JSONDecoder().decode(SegmenterRecord.self, from: Data(text.utf8)) } catch {
            throw WeightFileError.missingMetadata(file: file, key: "segmenter",
                                                  reason: "expected {\"name\", \"sha256\", \"config\", \"preprocessing\", \"bundled\"}")
        }
    }

    var jsonString: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The bundled segmenter's files from the model file's `segmenter.*` tensors.
    func files(in file: WeightFile) throws -> SegmenterFiles {
        var weights: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix(Self.tensorPrefix) {
            weights[String(name.dropFirst(Self.tensorPrefix.count))] = try file.tensor(name)
        }
        guard !weights.isEmpty else {
            throw WeightFileError.missingMetadata(file: file.path, key: "segmenter",
                                                  reason: "says the segmenter is bundled, but the file holds no segmenter.* tensors")
        }
        return SegmenterFiles(weights: weights, config: config, preprocessing: preprocessing, identity: identity, source: file.path)
    }
}

extension SegmenterFiles {
    /// The network's own tensors (`segformer.*`, `decode_head.*`), by name: what a model file
    /// carries when it bundles the segmenter (a fixture's inputs and outputs stay out).
    var modelWeights: [(name: String, tensor: Tensor)] {
        weights.filter { $0.key.hasPrefix("segformer.") || $0.key.hasPrefix("decode_head.") }
            .sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
    }
}
