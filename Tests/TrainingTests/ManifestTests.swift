import XCTest
import TensorEngine
@testable import GeoCells
@testable import Training

final class ManifestTests: XCTestCase {
    private let folder = URL(fileURLWithPath: "/data/set")

    private func read(_ text: String, skipInvalid: Bool = false) throws -> Manifest {
        try Manifest(reading: CSVReader(text: text, file: "train.csv"), directory: folder, skipInvalid: skipInvalid)
    }

    func testOurLayoutWithOptionalColumnsInAnyOrder() throws {
        let manifest = try read("scene,lon,image,lat,seg\n12,2.5,a/1.jpg,-1.25,s/1.png\n,3,\"b, c.jpg\",4,\n")
        XCTAssertEqual(manifest.entries, [
            ManifestEntry(imagePath: "a/1.jpg", latitude: -1.25, longitude: 2.5, segmentationPath: "s/1.png", scene: 12, line: 2),
            ManifestEntry(imagePath: "b, c.jpg", latitude: 4, longitude: 3, segmentationPath: nil, scene: nil, line: 3),
        ])
        XCTAssertEqual(manifest.imageURL(of: manifest.entries[0]).path, "/data/set/a/1.jpg")
        XCTAssertEqual(manifest.segmentationURL(of: manifest.entries[0])?.path, "/data/set/s/1.png")
        XCTAssertEqual(manifest.url(forPath: "/abs/x.jpg").path, "/abs/x.jpg")
        XCTAssertEqual(manifest.coordinates, Coordinates(latitudes: [-1.25, 4], longitudes: [2.5, 3]))
    }

    func testMP16MetaLayout() throws {
        // TransLocator / GeoEstimation meta CSVs: IMG_ID is the path under the image folder.
        let manifest = try read("IMG_ID,AUTHOR,LAT,LON,S3_Label,S16_Label,S365_Label\n3f/a4/618.jpg,x@N00,51.5,-0.12,1,7,243\n")
        XCTAssertEqual(manifest.entries, [ManifestEntry(imagePath: "3f/a4/618.jpg", latitude: 51.5, longitude: -0.12, scene: 243, line: 2)])
    }

    func testBadRowsNameFileLineColumnAndValue() {
        let cases: [(String, String)] = [
            ("image,lat,lon\na.jpg,1,2\nb.jpg,91.2,3\n", "train.csv:3: lat is '91.2', expected degrees in [-90, 90]"),
            ("image,lat,lon\nb.jpg,1,east\n", "train.csv:2: lon is 'east', expected degrees in [-180, 180]"),
            ("image,lat,lon\n,1,2\n", "train.csv:2: image is missing"),
            ("image,lat,lon\nb.jpg,1\n", "train.csv:2: lon is '', expected degrees in [-180, 180]"),
            ("image,lat,lon,scene\nb.jpg,1,2,365\n", "train.csv:2: scene is '365', expected a Places365 index in 0...364"),
            ("image,lat,lon,scene\nb.jpg,1,2,3.5\n", "train.csv:2: scene is '3.5', expected a Places365 index in 0...364"),
            ("lat,lon\n1,2\n", "train.csv: missing required column 'image'"),
            ("image,lat\na,1\n", "train.csv: missing required column 'lon'"),
            ("image,lat,lon\n", "train.csv: no data rows"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try read(text), text) { error in
                XCTAssertEqual("\(error)", message, text)
            }
        }
    }

    func testSkipInvalidCountsAndKeepsTheRest() throws {
        let manifest = try read("image,lat,lon\na.jpg,1,2\nb.jpg,nan,3\nc.jpg,5,6\nd.jpg,7,200\n", skipInvalid: true)
        XCTAssertEqual(manifest.entries.map(\.imagePath), ["a.jpg", "c.jpg"])
        XCTAssertEqual(manifest.skippedRows, 2)
        XCTAssertEqual(manifest.firstSkipped?.description, "train.csv:3: lat is 'nan', expected degrees in [-90, 90]")
    }

    func testMissingFilesAreErrorsOrSkippedAndCounted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data([1]).write(to: directory.appendingPathComponent("here.jpg"))
        let url = directory.appendingPathComponent("test.csv")
        try "image,lat,lon,seg\nhere.jpg,1,2,\ngone.jpg,3,4,\nhere.jpg,5,6,gone.png\n".write(to: url, atomically: true, encoding: .utf8)
        let manifest = try Manifest(contentsOf: url, name: "test.csv")
        XCTAssertThrowsError(try manifest.checkingFiles(skipMissing: false)) { error in
            XCTAssertEqual("\(error)", "test.csv:3: image 'gone.jpg' does not exist")
        }
        let (kept, missing) = try manifest.checkingFiles(skipMissing: true)
        XCTAssertEqual(kept.entries.map(\.line), [2])
        XCTAssertEqual(missing.map(\.description), ["test.csv:3: image 'gone.jpg' does not exist",
                                                    "test.csv:4: seg 'gone.png' does not exist"])
    }

    func testCSVTextRoundTrips() throws {
        let entries = [
            ManifestEntry(imagePath: "a \"q\", b.jpg", latitude: 0.1 + 0.2, longitude: -179.99999999999997,
                          segmentationPath: "s.png", scene: 0),
            ManifestEntry(imagePath: "c.jpg", latitude: -90, longitude: 180, scene: 364),
        ]
        let text = Manifest(entries: entries, directory: folder).csvText
        let back = try read(text)
        XCTAssertEqual(back.entries.map(\.imagePath), entries.map(\.imagePath))
        XCTAssertEqual(back.entries.map(\.latitude), entries.map(\.latitude))          // exact: shortest round-trip printing
        XCTAssertEqual(back.entries.map(\.longitude), entries.map(\.longitude))
        XCTAssertEqual(back.entries.map(\.segmentationPath), entries.map(\.segmentationPath))
        XCTAssertEqual(back.entries.map(\.scene), entries.map(\.scene))
    }
}

final class LabelTests: XCTestCase {
    func testEveryKeptImageLiesInItsCellAndOutsidersAreCounted() throws {
        // Two dense clusters (Paris, Sydney) and a few strays in the Pacific that no cell keeps.
        var random = CounterRandom(seed: 11, stream: 99, epoch: 0, index: 0)
        var coordinates = Coordinates()
        for _ in 0..<300 { coordinates.append(latitude: 48.85 + random.uniform(-2, 2), longitude: 2.35 + random.uniform(-2, 2)) }
        for _ in 0..<200 { coordinates.append(latitude: -33.87 + random.uniform(-1, 1), longitude: 151.2 + random.uniform(-1, 1)) }
        for k in 0..<5 { coordinates.append(latitude: -10 - Double(k), longitude: -140 + Double(k)) }
        let partitions = try Partition.build(coordinates, minImages: 10, maxImages: [400, 100, 40])
        let labels = GeoLabels(coordinates: coordinates, partitions: partitions)
        XCTAssertEqual(labels.outsideCount + labels.count, coordinates.count)
        XCTAssertGreaterThanOrEqual(labels.outsideCount, 5, "the Pacific strays, seed 11")
        XCTAssertFalse(labels.keptIndices.contains(where: { $0 >= 500 }), "no stray is kept, seed 11")
        XCTAssertEqual(labels.classes.count, 3)
        for (level, partition) in partitions.enumerated() {
            for (k, index) in labels.keptIndices.enumerated() {
                let cell = partition.cells[Int(labels.classes[level][k])].cell
                XCTAssertTrue(cell.contains(S2CellID(latitude: coordinates.latitudes[index], longitude: coordinates.longitudes[index])),
                              "image \(index), level \(level), seed 11")
            }
        }
    }
}

final class SceneHierarchyTests: XCTestCase {
    /// Five categories in Places365's layout: two explanation rows, then name, 3 flags, 16 flags.
    static let hierarchy = """
        category,level1,,,level2,,,,,,,,,,,,,,,
        ,indoor,outdoor natural,outdoor man-made,g0,g1,g2,g3,g4,g5,g6,g7,g8,g9,g10,g11,g12,g13,g14,g15
        '/a/airfield',0,0,1,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0
        '/a/alcove',1,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0
        '/b/badlands',0,1,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0
        '/b/balcony/exterior',0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1
        '/b/bazaar/outdoor',1,0,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1
        """

    func testLabelsAreTheFirstFlagAndWeightsAreNormalised() throws {
        let hierarchy = try SceneHierarchy(reading: CSVReader(text: Self.hierarchy, file: "h.csv"))
        XCTAssertEqual(hierarchy.categoryCount, 5)
        XCTAssertEqual(hierarchy.categoryNames[3], "'/b/balcony/exterior'")
        XCTAssertEqual(hierarchy.level3Names, ["indoor", "outdoor natural", "outdoor man-made"])
        XCTAssertEqual(hierarchy.level16Names.last, "g15")
        XCTAssertEqual(hierarchy.label3, [2, 0, 1, 2, 0])
        XCTAssertEqual(hierarchy.label16, [10, 2, 7, 14, 0])
        XCTAssertEqual(Array(hierarchy.weights3[12..<15]), [0.5, 0, 0.5])                 // bazaar: indoor and outdoor
        XCTAssertEqual(hierarchy.weights16[3 * 16 + 14], 0.5)
        XCTAssertEqual(hierarchy.weights16[3 * 16 + 15], 0.5)
        XCTAssertEqual(hierarchy.label(ofCategory: 4, classes: 3), 0)
        XCTAssertEqual(hierarchy.label(ofCategory: 4, classes: 16), 0)
        XCTAssertEqual(hierarchy.label(ofCategory: 4, classes: 5), 4)
        XCTAssertNil(hierarchy.label(ofCategory: 5, classes: 16))
    }

    func testBadRowsNameTheLine() {
        let noFlag = Self.hierarchy + "\n'/c/cave',0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
        XCTAssertThrowsError(try SceneHierarchy(reading: CSVReader(text: noFlag, file: "h.csv"))) { error in
            XCTAssertEqual("\(error)", "h.csv:8: level 1 (3 groups) is 'no flag', expected at least one group flagged")
        }
        let short = Self.hierarchy + "\n'/c/cave',0,1"
        XCTAssertThrowsError(try SceneHierarchy(reading: CSVReader(text: short, file: "h.csv"))) { error in
            XCTAssertEqual("\(error)", "h.csv:8: row is '3 fields', expected a name and 3 + 16 flags")
        }
        let word = Self.hierarchy + "\n'/c/cave',0,yes,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
        XCTAssertThrowsError(try SceneHierarchy(reading: CSVReader(text: word, file: "h.csv"))) { error in
            XCTAssertEqual("\(error)", "h.csv:8: flag 2 is 'yes', expected 0 or 1")
        }
    }

    func testTheSynthesizersHierarchyReads() throws {
        let hierarchy = try SceneHierarchy(reading: CSVReader(text: SyntheticScene.hierarchyCSV, file: "s.csv"))
        XCTAssertEqual(hierarchy.categoryCount, SyntheticScene.categories.count)
        XCTAssertEqual(hierarchy.label16, SyntheticScene.categories.map(\.group16))
        XCTAssertEqual(hierarchy.label3, SyntheticScene.categories.map(\.group3))
    }
}
