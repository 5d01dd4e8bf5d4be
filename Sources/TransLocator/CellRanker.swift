import Foundation
import GeoCells
import TensorEngine

/// One ranked answer to "where was this taken?": a fine geo-cell with its probability and the
/// mean coordinate of its training images.
public struct CellPrediction: Equatable, Sendable, Codable {
    /// 1 for the best.
    public var rank: Int
    /// The fine partition's class label.
    public var classLabel: Int
    /// softmax probability of the fine head, or with `hierarchical` the product
    /// p_fine · p_middle(parent) · p_coarse(parent) (not renormalized, as GeoEstimation).
    public var probability: Double
    /// The cell's mean coordinate, degrees.
    public var latitude: Double
    /// The cell's mean longitude, degrees.
    public var longitude: Double
    /// The cell's S2 token.
    public var token: String
}

/// Turns model outputs into ranked fine cells: softmax, optional hierarchical combination
/// (p_fine · p_middle(parent) · p_coarse(parent), as GeoEstimation), top-k.
public struct CellRanker: Sendable {
    /// The coarse, middle and fine partitions the model's heads classify into.
    public let partitions: GeoPartitions
    /// For each fine class, the middle and coarse classes whose cells contain it (nil if none:
    /// its hierarchical probability is 0).
    let middleParent: [Int?]
    let coarseParent: [Int?]

    /// A ranker for a model's partitions; finds each fine cell's middle and coarse parents once.
    public init(partitions: GeoPartitions) {
        self.partitions = partitions
        middleParent = partitions.fine.cells.map { partitions.middle.classLabel(containing: $0.cell.rangeMin) }
        coarseParent = partitions.fine.cells.map { partitions.coarse.classLabel(containing: $0.cell.rangeMin) }
    }

    /// The fine-cell scores of one image.
    /// - Parameter logits: each head's logits for the image (coarse, middle, fine; K values each).
    func scores(_ logits: [HeadName: [Float]], hierarchical: Bool) -> [Double] {
        let fine = softmax(logits[.fine] ?? [])
        guard hierarchical, let middleLogits = logits[.middle], let coarseLogits = logits[.coarse] else { return fine }
        let middle = softmax(middleLogits), coarse = softmax(coarseLogits)
        return fine.indices.map { k in
            guard let m = middleParent[k], let c = coarseParent[k] else { return 0 }
            return fine[k] * middle[m] * coarse[c]
        }
    }

    /// The `top` best fine cells of one image, best first (ties: lower class label first).
    public func rank(_ logits: [HeadName: [Float]], top: Int, hierarchical: Bool = false) -> [CellPrediction] {
        let scores = scores(logits, hierarchical: hierarchical)
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return order.prefix(max(0, top)).enumerated().map { rank, k in
            let cell = partitions.fine.cells[k]
            return CellPrediction(rank: rank + 1, classLabel: k, probability: scores[k], latitude: cell.latitudeMean,
                                  longitude: cell.longitudeMean, token: cell.cell.token)
        }
    }
}

/// Softmax in double precision (stable: the maximum is subtracted first).
func softmax(_ logits: [Float]) -> [Double] {
    guard let top = logits.max() else { return [] }
    let exponentials = logits.map { exp(Double($0) - Double(top)) }
    let total = exponentials.reduce(0, +)
    return exponentials.map { $0 / total }
}
