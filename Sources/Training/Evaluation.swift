import Foundation
import GeoCells
import TensorEngine

/// The scores of a set of predictions against the truth: the paper's table (eq. 9: share within
/// 1 / 25 / 200 / 750 / 2500 km), mean and median error, and the per-image rows behind them.
public struct GeoEvaluation: Sendable {
    /// The images' names (manifest paths), truths and predictions, in input order.
    public let images: [String]
    /// The true coordinates (degrees), one per image.
    public let truths: [GeoCoordinate]
    /// The predicted coordinates (degrees), one per image.
    public let predictions: [GeoCoordinate]
    /// Great-circle error of each prediction (km, R = 6371).
    public let distancesKm: [Double]
    /// The paper's five-scale accuracies, mean and median error.
    public let table: AccuracyTable

    /// The scale names of the paper's Table 1, in `AccuracyTable.thresholdsKm` order.
    public static let scaleNames = ["Street", "City", "Region", "Country", "Continent"]

    /// Scores `predictions` against `truths` (great-circle distances, the accuracy table).
    /// - Parameters:
    ///   - images: one name per prediction (for the predictions CSV).
    ///   - truths, predictions: degrees, as many as `images`; must not be empty.
    ///   - inclusive: count an error equal to a threshold (GeoEstimation's `<=`) rather than the
    ///     paper's strict `<`.
    public init(images: [String], truths: [GeoCoordinate], predictions: [GeoCoordinate], inclusive: Bool = false) {
        precondition(images.count == truths.count && truths.count == predictions.count && !truths.isEmpty,
                     "\(images.count) images, \(truths.count) truths, \(predictions.count) predictions")
        self.images = images
        self.truths = truths
        self.predictions = predictions
        distancesKm = zip(truths, predictions).map { greatCircleDistance($0, $1) }
        table = AccuracyTable(distancesKm: distancesKm, inclusive: inclusive)
    }

    /// The baseline that always answers the most populous cell's mean coordinate (the one
    /// holding the most training images; the lowest class label among ties).
    package static func mostPopulousCell(of partition: Partition) -> GeoCoordinate {
        precondition(partition.count > 0, "baseline of an empty partition")
        let best = partition.cells.max { a, b in
            a.imageCount != b.imageCount ? a.imageCount < b.imageCount : a.classLabel > b.classLabel
        }!
        return best.mean
    }

    /// The baseline's evaluation on the same images and truths.
    public static func baseline(images: [String], truths: [GeoCoordinate], partition: Partition,
                                inclusive: Bool = false) -> GeoEvaluation {
        let answer = mostPopulousCell(of: partition)
        return GeoEvaluation(images: images, truths: truths, predictions: Array(repeating: answer, count: truths.count),
                             inclusive: inclusive)
    }

    /// The `--json` document (docs/ARCHITECTURE.md "CLI contracts"): `{"images": N, "accuracy": {"1": %, "25": %, "200": %,
    /// "750": %, "2500": %}, "meanKm": x, "medianKm": y}`; keys in that order.
    package var json: String {
        "{\"images\": \(table.count), \"accuracy\": \(accuracyJSON), \"meanKm\": \(JSONLiteral.number(table.meanKm)), "
            + "\"medianKm\": \(JSONLiteral.number(table.medianKm))}"
    }

    /// `{"1": %, "25": %, ...}`: the threshold in km (an integer) to the percent within it.
    var accuracyJSON: String {
        let pairs = zip(AccuracyTable.thresholdsKm, table.percentWithin).map { "\"\(Int($0))\": \(JSONLiteral.number($1))" }
        return "{" + pairs.joined(separator: ", ") + "}"
    }

    /// The paper's table as text: one header row, then `label` with the five percentages,
    /// and mean / median error. `label` names the row (e.g. the model, "baseline").
    package func tableText(label: String = "model") -> String {
        Self.tableText(rows: [(label, self)])
    }

    /// Several evaluations as rows of one table (e.g. the model beside the baseline).
    package static func tableText(rows: [(label: String, evaluation: GeoEvaluation)]) -> String {
        let labelWidth = max(8, rows.map(\.label.count).max() ?? 0)
        let headers = zip(scaleNames, AccuracyTable.thresholdsKm).map { "\($0) \(Int($1)) km" }
        var text = "".padding(toLength: labelWidth, withPad: " ", startingAt: 0)
        for header in headers { text += "  " + String(repeating: " ", count: max(0, 16 - header.count)) + header }
        text += "      mean km    median km\n"
        for (label, evaluation) in rows {
            text += label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
            for percent in evaluation.table.percentWithin { text += String(format: "  %15.1f%%", percent) }
            text += String(format: "  %11.1f  %11.1f\n", evaluation.table.meanKm, evaluation.table.medianKm)
        }
        let comparison = rows.first?.evaluation.table.inclusive == true ? "<=" : "<"
        text += "(\(rows.first?.evaluation.table.count ?? 0) images; share with error \(comparison) threshold, great-circle, R = 6371 km)\n"
        return text
    }

    /// The `--predictions` CSV: `image,lat,lon,pred_lat,pred_lon,distance_km`, one row per image
    /// in input order; coordinates printed to round-trip exactly.
    package var predictionsCSV: String {
        var text = "image,lat,lon,pred_lat,pred_lon,distance_km\n"
        for i in images.indices {
            text += csvField(images[i]) + ",\(truths[i].latitude),\(truths[i].longitude),"
                + "\(predictions[i].latitude),\(predictions[i].longitude),\(distancesKm[i])\n"
        }
        return text
    }
}
