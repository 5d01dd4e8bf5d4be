import XCTest
@testable import GeoCells

final class GreatCircleTests: XCTestCase {
    /// Known distances on the 6371 km sphere (haversine; reference values from Python's
    /// math module with the same formula, and the textbook figures they agree with).
    func testKnownDistances() {
        let paris = GeoCoordinate(latitude: 48.8566, longitude: 2.3522)
        let london = GeoCoordinate(latitude: 51.5074, longitude: -0.1278)
        let newYork = GeoCoordinate(latitude: 40.7128, longitude: -74.006)
        let sydney = GeoCoordinate(latitude: -33.8688, longitude: 151.2093)
        // Tolerance 1e-9 km: the same formula in double precision, summation order aside.
        XCTAssertEqual(greatCircleDistance(paris, london), 343.55606034104153, accuracy: 1e-9)
        XCTAssertEqual(greatCircleDistance(newYork, sydney), 15988.755507039632, accuracy: 1e-9)
        XCTAssertEqual(greatCircleDistance(london, newYork), 5570.222179737958, accuracy: 1e-9)
        // A quarter and a half of the circumference; zero; symmetric; across the antimeridian.
        let equator = GeoCoordinate(latitude: 0, longitude: 0)
        XCTAssertEqual(greatCircleDistance(equator, GeoCoordinate(latitude: 0, longitude: 90)), Double.pi / 2 * 6371, accuracy: 1e-9)
        XCTAssertEqual(greatCircleDistance(GeoCoordinate(latitude: 90, longitude: 0), GeoCoordinate(latitude: -90, longitude: 0)),
                       Double.pi * 6371, accuracy: 1e-9)
        XCTAssertEqual(greatCircleDistance(equator, GeoCoordinate(latitude: 0, longitude: 180)), Double.pi * 6371, accuracy: 1e-9)
        XCTAssertEqual(greatCircleDistance(paris, paris), 0)
        XCTAssertEqual(greatCircleDistance(paris, sydney), greatCircleDistance(sydney, paris), accuracy: 1e-9)
        XCTAssertEqual(greatCircleDistance(GeoCoordinate(latitude: 0, longitude: 179.5), GeoCoordinate(latitude: 0, longitude: -179.5)),
                       Double.pi / 180 * 6371, accuracy: 1e-9)
    }

    func testAccuracyTableStrictAndInclusiveAtExactThresholds() {
        // One error exactly at each threshold, plus 0.5 km and 3000 km.
        let distances: [Double] = [0.5, 1, 25, 200, 750, 2500, 3000, 10]
        let strict = AccuracyTable(distancesKm: distances)
        let inclusive = AccuracyTable(distancesKm: distances, inclusive: true)
        XCTAssertEqual(strict.percentWithin, [1, 3, 4, 5, 6].map { 100 * Double($0) / 8 })
        XCTAssertEqual(inclusive.percentWithin, [2, 4, 5, 6, 7].map { 100 * Double($0) / 8 })
        XCTAssertEqual(strict.meanKm, distances.reduce(0, +) / 8)
        XCTAssertEqual(strict.medianKm, (25 + 200) / 2)                      // even count: mean of the middle two
        XCTAssertEqual(AccuracyTable(distancesKm: [3, 1, 2]).medianKm, 2)
        XCTAssertEqual(AccuracyTable.thresholdsKm, [1, 25, 200, 750, 2500])
    }
}
