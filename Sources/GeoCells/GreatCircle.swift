import Foundation

/// The mean Earth radius GeoEstimation and TransLocator score with (km).
let earthRadiusKm = 6371.0

/// Great-circle distance in km between two points in degrees: the haversine formula on a sphere
/// of radius 6371 km, as GeoEstimation's `vectorized_gc_distance` computes it.
public func greatCircleDistance(_ a: GeoCoordinate, _ b: GeoCoordinate) -> Double {
    let latitudeA = a.latitude * (Double.pi / 180), latitudeB = b.latitude * (Double.pi / 180)
    let halfLatitudeDelta = (latitudeB - latitudeA) / 2
    let halfLongitudeDelta = (b.longitude - a.longitude) * (Double.pi / 180) / 2
    let sinLatitude = sin(halfLatitudeDelta), sinLongitude = sin(halfLongitudeDelta)
    let h = sinLatitude * sinLatitude + cos(latitudeA) * cos(latitudeB) * sinLongitude * sinLongitude
    return 2 * earthRadiusKm * asin(min(1, h.squareRoot()))   // min: rounding may push h past 1
}

/// The paper's accuracy table (eq. 9): the share of predictions within 1 / 25 / 200 / 750 /
/// 2500 km of the truth (street, city, region, country, continent), plus mean and median error.
public struct AccuracyTable: Equatable, Sendable {
    /// Thresholds in km, in table order.
    public static let thresholdsKm: [Double] = [1, 25, 200, 750, 2500]

    /// Number of predictions scored.
    public let count: Int
    /// Percent of predictions within each threshold, in `thresholdsKm` order.
    public let percentWithin: [Double]
    /// Mean great-circle error (km).
    public let meanKm: Double
    /// Middle error; the mean of the two middle ones for an even count (as numpy's median).
    public let medianKm: Double
    /// Whether a distance equal to a threshold counts (GeoEstimation's `<=`) or not (the paper's `<`).
    public let inclusive: Bool

    /// The table of a set of prediction errors.
    /// - Parameters:
    ///   - distancesKm: one great-circle error per prediction (km); must not be empty.
    ///   - inclusive: count d <= threshold rather than d < threshold.
    public init(distancesKm: [Double], inclusive: Bool = false) {
        precondition(!distancesKm.isEmpty, "accuracy table of no predictions")
        count = distancesKm.count
        self.inclusive = inclusive
        percentWithin = Self.thresholdsKm.map { threshold in
            let hits = distancesKm.reduce(0) { $0 + ((inclusive ? $1 <= threshold : $1 < threshold) ? 1 : 0) }
            return 100 * Double(hits) / Double(distancesKm.count)
        }
        meanKm = distancesKm.reduce(0, +) / Double(distancesKm.count)
        let sorted = distancesKm.sorted()
        let middle = sorted.count / 2
        medianKm = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
