import Foundation
import TensorEngine

/// Why a segmenter could not be read or run; every message names the file and the problem.
public enum SegmenterError: Error, CustomStringConvertible, Equatable {
    /// The config (Hugging Face's `config.json`, or a file's `__metadata__["config"]`) is not a SegFormer's.
    case badConfig(file: String, reason: String)
    /// The preprocessing settings (`preprocessor_config.json`) make no sense.
    case badPreprocessing(file: String, reason: String)
    /// Weights that do not fit the config: every missing, unexpected and misshaped tensor at once.
    case mismatchedWeights(file: String, missing: [String], unexpected: [String], misshaped: [String])
    /// The segmenter path holds no weights or config we can read.
    case notASegmenter(path: String, reason: String)
    /// An input too small for the network's strides and reduction ratios.
    case inputTooSmall(height: Int, width: Int, reason: String)

    /// The message, naming the file.
    public var description: String {
        switch self {
        case let .badConfig(file, reason): "\(file): not a SegFormer config: \(reason)"
        case let .badPreprocessing(file, reason): "\(file): bad preprocessing settings: \(reason)"
        case let .mismatchedWeights(file, missing, unexpected, misshaped):
            mismatchedWeightsText(file: file, subject: "the SegFormer config", missing: missing, unexpected: unexpected,
                                  misshaped: misshaped)
        case let .notASegmenter(path, reason): "\(path): not a segmenter: \(reason)"
        case let .inputTooSmall(height, width, reason): "a \(width)x\(height) input is too small for this SegFormer: \(reason)"
        }
    }
}
