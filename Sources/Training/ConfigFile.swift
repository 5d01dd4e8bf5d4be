import Foundation
import TransLocator

/// A config file (configs/*.json): the `model` object and the `training` object, read and
/// checked together, so that a value contradicting another object is an error naming the file
/// and the field when the file is read, never a trap later.
public struct ConfigFile: Sendable, Equatable {
    /// The `"model"` object: the architecture.
    public var model: ModelConfig
    /// The `"training"` object: optimizer, schedule, batch, loss and augmentation settings.
    public var training: TrainingConfig

    /// A config from its two parts, unchecked (files are checked when read).
    public init(model: ModelConfig, training: TrainingConfig) {
        self.model = model
        self.training = training
    }

    /// Reads and checks `url`; errors name it as `name` (default: its path).
    /// - Throws: `ModelConfigError` or `TrainingConfigError` naming the file and the field.
    public init(contentsOf url: URL, name: String? = nil) throws {
        let file = name ?? url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TrainingConfigError.unreadable(file: file, reason: error.localizedDescription)
        }
        try self.init(json: data, file: file)
    }

    /// Parses and checks a whole config document.
    /// - Throws: `ModelConfigError` or `TrainingConfigError` naming `file` and the field.
    public init(json data: Data, file: String) throws {
        let model = try ModelConfig(configJSON: data, file: file)
        let training = try TrainingConfig(json: data, file: file)
        if let problem = Preprocessing(resizeShortSide: training.resizeShortSide).problem(imageSize: model.imageSize) {
            throw TrainingConfigError.badValue(file: file, key: "training.resize_short_side", value: "\(training.resizeShortSide)",
                                               expected: "at least model.img_size \(model.imageSize) (\(problem))")
        }
        if let crop = training.statedCropSize, crop != model.imageSize {
            throw TrainingConfigError.badValue(file: file, key: "training.crop_size", value: "\(crop)",
                                               expected: "model.img_size \(model.imageSize): the crop is the model's input "
                                                   + "(drop the key, or change img_size)")
        }
        self.init(model: model, training: training)
    }

    /// How a model trained with this config resizes photos (stored in its model file).
    public var preprocessing: Preprocessing { Preprocessing(resizeShortSide: training.resizeShortSide) }
}
