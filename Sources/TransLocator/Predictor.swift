import Foundation
import ImageCodec
import TensorEngine

/// Answers "where was this taken?" with a model file: the photos prepared by the model's
/// `InputPipeline` (resize, centre crop or TenCrop, normalize; maps rendered with the ADE20K
/// palette), batched inference, ranked fine cells.
public final class Predictor {
    /// The model file it answers with (its model prepared for inference only).
    public let file: ModelFile
    /// Ranks the fine cells from the model's logits.
    public let ranker: CellRanker
    /// Prepares photos exactly as validation did in training.
    public let pipeline: InputPipeline

    /// Prepares the file's model for inference only (`TransLocatorModel.prepareForInference()`:
    /// weights packed, unpacked copies and gradients freed): the model cannot train or be saved
    /// afterwards.
    public init(_ file: ModelFile) {
        self.file = file
        ranker = CellRanker(partitions: file.partitions)
        pipeline = InputPipeline(file)
        file.model.prepareForInference()
    }

    /// The `top` best fine cells per photo, in input order.
    /// - Parameters:
    ///   - hierarchical: rank by p_fine · p_middle(parent) · p_coarse(parent).
    ///   - tenCrop: average the logits of torchvision's TenCrop instead of one center crop.
    ///   - batchSize: photos per forward.
    /// - Throws: `InputError` (a TransLocator model without a map, a map of another size),
    ///   `ModelInputError`.
    public func predict(_ photos: [PhotoInput], top: Int = 5, hierarchical: Bool = false, tenCrop: Bool = false,
                        batchSize: Int = 8) throws -> [[CellPrediction]] {
        for photo in photos { try pipeline.validate(photo) }     // every photo checked before the first forward
        var results: [[CellPrediction]] = []
        for start in stride(from: 0, to: photos.count, by: max(1, batchSize)) {
            let group = Array(photos[start..<min(photos.count, start + max(1, batchSize))])
            let (rgb, seg) = try inputTensors(group, tenCrop: tenCrop)
            for logits in try file.model.imageLogits(rgb: rgb, seg: seg, crops: tenCrop ? 10 : 1) {
                results.append(ranker.rank(logits, top: top, hierarchical: hierarchical))
            }
        }
        return results
    }

    /// The model's inputs for `photos`, as `predict` runs them.
    func inputTensors(_ photos: [PhotoInput], tenCrop: Bool) throws -> (rgb: Tensor, seg: Tensor?) {
        try pipeline.tensors(photos, tenCrop: tenCrop)
    }
}

extension TransLocatorModel {
    /// Per image, each head's logits averaged over `crops` consecutive batch rows (TenCrop:
    /// logits averaged, then softmax; `crops` = 1 for a single center crop).
    /// - Parameters:
    ///   - rgb, seg: [B·crops, 3, S, S] normalized inputs, image-major (crops of image 0 first).
    /// - Throws: `ModelInputError`.
    package func imageLogits(rgb: Tensor, seg: Tensor?, crops: Int = 1) throws -> [[HeadName: [Float]]] {
        precondition(crops >= 1 && rgb.rank == 4 && rgb.shape[0] % crops == 0,
                     "imageLogits: \(rgb.shape) is not a whole number of \(crops)-crop groups")
        let outputs = try forward(rgb: rgb, seg: seg, training: false)
        let images = rgb.shape[0] / crops
        return (0..<images).map { image in
            var result: [HeadName: [Float]] = [:]
            for (name, logits) in outputs.logits {
                let k = logits.shape[1]
                var mean = [Float](repeating: 0, count: k)
                for crop in 0..<crops {
                    let row = logits.data + (image * crops + crop) * k
                    for j in 0..<k { mean[j] += row[j] }
                }
                result[name] = mean.map { $0 / Float(crops) }
            }
            return result
        }
    }
}
