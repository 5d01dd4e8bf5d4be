import XCTest
import TensorEngine
@testable import GeoCells

/// Rows of a fixture CSV as dictionaries keyed by the header.
func fixtureRows(_ name: String) throws -> [[String: String]] {
    let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "csv", subdirectory: "Fixtures"),
                            "fixture \(name).csv missing")
    var header: [String] = []
    var rows: [[String: String]] = []
    try CSVReader(contentsOf: url).forEachRecord { record in
        if header.isEmpty { header = record.strings; return }
        rows.append(Dictionary(uniqueKeysWithValues: zip(header, record.strings)))
    }
    return rows
}

final class S2CellIDTests: XCTestCase {
    /// s2-points.csv: S2CellId(S2LatLng::FromDegrees(lat, lon)) from s2geometry 0.14.0
    /// (scripts/geocells/make_s2_fixtures.py): random points, poles, +-180, face edges, cube
    /// corners and points exactly on cell boundaries. Exact: the leaf id must match bit for bit.
    func testLeafCellsMatchS2Geometry() throws {
        let rows = try fixtureRows("s2-points")
        XCTAssertGreaterThan(rows.count, 4000)
        var mismatches = 0
        for row in rows {
            let latitude = try XCTUnwrap(Double(row["lat"]!)), longitude = try XCTUnwrap(Double(row["lon"]!))
            let expected = try XCTUnwrap(UInt64(row["leaf_id"]!))
            let cell = S2CellID(latitude: latitude, longitude: longitude)
            if cell.id != expected {
                mismatches += 1
                if mismatches <= 10 {
                    XCTFail("(\(row["lat"]!), \(row["lon"]!)): leaf \(cell.id) (\(cell.token)), "
                            + "S2 says \(expected) (\(S2CellID(id: expected).token))")
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "of \(rows.count) points")
    }

    /// The same leaves through the parallel batch path the partitioner uses.
    func testBatchLeafCellsMatchS2Geometry() throws {
        let rows = try fixtureRows("s2-points")
        var coordinates = Coordinates()
        for row in rows { coordinates.append(latitude: Double(row["lat"]!)!, longitude: Double(row["lon"]!)!) }
        // Replicate past the parallel threshold so several workers run.
        var many = Coordinates()
        for _ in 0..<20 { many.latitudes += coordinates.latitudes; many.longitudes += coordinates.longitudes }
        let ids = leafCellIDs(many)
        for (k, id) in ids.enumerated() where id != UInt64(rows[k % rows.count]["leaf_id"]!)! {
            XCTFail("batch leaf \(k): \(id), S2 says \(rows[k % rows.count]["leaf_id"]!)")
            return
        }
    }

    /// s2-cells.csv: cells at every level 0...30 with S2's ToToken, level, ToLatLng (center) and
    /// S2LatLng(S2Cell::GetVertex(k)). Ids and tokens exact; centers and vertices exact too:
    /// the same operations in the same order over the same glibc libm (atan2, sqrt).
    func testTokensCentersAndVerticesMatchS2Geometry() throws {
        let rows = try fixtureRows("s2-cells")
        XCTAssertGreaterThan(rows.count, 2000)
        var levelsSeen = Set<Int>()
        for row in rows {
            let cell = S2CellID(id: try XCTUnwrap(UInt64(row["id"]!)))
            let label = "cell \(row["id"]!) (\(row["token"]!))"
            XCTAssertTrue(cell.isValid, label)
            XCTAssertEqual(cell.token, row["token"]!, label)
            XCTAssertEqual(try S2CellID(token: row["token"]!), cell, label)
            XCTAssertEqual(cell.level, Int(row["level"]!)!, label)
            levelsSeen.insert(cell.level)
            let center = cell.center
            XCTAssertEqual(center.latitude, Double(row["center_lat"]!)!, "\(label) center latitude")
            XCTAssertEqual(center.longitude, Double(row["center_lon"]!)!, "\(label) center longitude")
            for (k, vertex) in cell.vertices.enumerated() {
                XCTAssertEqual(vertex.latitude, Double(row["v\(k)_lat"]!)!, "\(label) vertex \(k) latitude")
                XCTAssertEqual(vertex.longitude, Double(row["v\(k)_lon"]!)!, "\(label) vertex \(k) longitude")
            }
        }
        XCTAssertEqual(levelsSeen, Set(0...30))
    }

    func testKnownCells() throws {
        // New York: tokens of its level-8 and level-9 cells, from s2geometry 0.14.0.
        let cell = S2CellID(latitude: 40.7128, longitude: -74.006)
        XCTAssertEqual(cell.parent(level: 8).token, "89c25")
        XCTAssertEqual(cell.parent(level: 9).token, "89c25c")
        XCTAssertEqual(S2CellID(id: 0).token, "X")
        XCTAssertEqual(try S2CellID(token: "89C25").token, "89c25")
        XCTAssertEqual(cell.face, 4)
        XCTAssertTrue(cell.isLeaf)
        XCTAssertEqual(cell.level, 30)
    }

    func testMalformedTokensThrowNamingTheToken() {
        for token in ["", "X", "zz", "89c2g", "0123456789abcdef0", "0", "8", "c0000000000000001", " 89c25"] {
            XCTAssertThrowsError(try S2CellID(token: token), "'\(token)'") { error in
                XCTAssertEqual(error as? S2TokenError, S2TokenError(token: token))
                XCTAssertTrue("\(error)".contains("'\(token)'"))
            }
        }
    }

    /// Law: token round-trips for random valid cells at every level (seed 3).
    func testTokenRoundTrip() throws {
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<20_000 {
            let leaf = S2CellID(latitude: Double.random(in: -90...90, using: &rng),
                                longitude: Double.random(in: -180...180, using: &rng))
            let cell = leaf.parent(level: Int.random(in: 0...30, using: &rng))
            XCTAssertEqual(try S2CellID(token: cell.token), cell, "seed 3, cell \(cell.id)")
            XCTAssertEqual(try S2CellID(token: cell.token.uppercased()), cell, "seed 3, cell \(cell.id)")
        }
    }

    /// Law: a parent contains its children and their leaves, the children tile its range in
    /// ascending order, and a cell's center lies in it (seed 5).
    func testParentContainsChildren() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<5_000 {
            let leaf = S2CellID(latitude: Double.random(in: -90...90, using: &rng),
                                longitude: Double.random(in: -180...180, using: &rng))
            let level = Int.random(in: 0...29, using: &rng)
            let cell = leaf.parent(level: level)
            XCTAssertTrue(cell.contains(leaf), "seed 5, \(cell.token) should contain \(leaf.token)")
            XCTAssertEqual(cell.level, level)
            let children = cell.children
            XCTAssertEqual(children.first?.rangeMin, cell.rangeMin, "seed 5, \(cell.token)")
            XCTAssertEqual(children.last?.rangeMax, cell.rangeMax, "seed 5, \(cell.token)")
            for (a, b) in zip(children, children.dropFirst()) {
                XCTAssertEqual(a.rangeMax.id &+ 2, b.rangeMin.id, "seed 5, \(cell.token): children must tile")
            }
            for child in children {
                XCTAssertEqual(child.parent, cell, "seed 5, child \(child.token)")
                XCTAssertTrue(cell.contains(child))
                XCTAssertFalse(child.contains(cell))
                XCTAssertEqual(child.level, level + 1)
            }
            let center = cell.center
            XCTAssertTrue(cell.contains(S2CellID(latitude: center.latitude, longitude: center.longitude)),
                          "seed 5, center of \(cell.token)")
        }
    }
}
