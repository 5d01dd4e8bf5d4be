import XCTest
import TensorEngine
@testable import GeoCells

func fixtureURL(_ name: String, _ ext: String = "csv") throws -> URL {
    try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"), "fixture \(name).\(ext)")
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("geocells-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

final class PartitionTests: XCTestCase {
    /// partition-manifest.csv and partition-{coarse,middle,fine}.csv: the Python transcription of
    /// GeoEstimation's create_cells.py (scripts/geocells/create_cells.py, numpy and as-written
    /// agreeing) with --img_min 10 --img_max 400,150,60. Everything exact: labels, tokens, counts
    /// and the means (both sum in input order and divide once).
    func testPartitionMatchesPythonTranscription() throws {
        let manifest = try CoordinateFile(contentsOf: fixtureURL("partition-manifest"))
        XCTAssertEqual(manifest.coordinates.count, 6496)
        let partitions = try Partition.build(manifest.coordinates, minImages: 10, maxImages: [400, 150, 60])
        for (partition, name) in zip(partitions, ["coarse", "middle", "fine"]) {
            let expected = try Partition(contentsOf: fixtureURL("partition-\(name)"))
            XCTAssertEqual(partition.count, expected.count, name)
            for (cell, reference) in zip(partition.cells, expected.cells) where cell != reference {
                XCTFail("\(name): \(cell) != Python's \(reference)")
            }
            // The file text round-trips exactly.
            XCTAssertEqual(try Partition(reading: CSVReader(text: partition.csvText, file: name)), partition)
        }
    }

    /// Law: every cell of a partition holds more than min and at most max images unless it is
    /// a leaf (level 30); labels follow ascending ids; cells are disjoint; every kept image finds
    /// its own cell by lookup (seed 11).
    func testPartitionLaws() throws {
        var rng = SeededGenerator(seed: 11)
        var coordinates = Coordinates()
        let centers = (0..<12).map { _ in (Double.random(in: -60...70, using: &rng), Double.random(in: -180...180, using: &rng)) }
        for _ in 0..<30_000 {
            let (lat, lon) = centers[Int.random(in: 0..<centers.count, using: &rng)]
            let spread = [0.001, 0.05, 2][Int.random(in: 0...2, using: &rng)]
            coordinates.append(latitude: max(-90, min(90, lat + Double.random(in: -spread...spread, using: &rng))),
                               longitude: max(-180, min(180, lon + Double.random(in: -spread...spread, using: &rng))))
        }
        for _ in 0..<700 { coordinates.append(latitude: 10, longitude: 20) }   // one leaf over every max
        let leaves = SortedLeafCells(coordinates)
        for (minImages, maxImages) in [(5, 600), (20, 200), (0, 50)] {
            let partition = Partition(leaves: leaves, coordinates: coordinates, minImages: minImages, maxImages: maxImages)
            var kept = 0
            for (label, cell) in partition.cells.enumerated() {
                XCTAssertEqual(cell.classLabel, label)
                XCTAssertGreaterThan(cell.imageCount, minImages, "seed 11, \(cell.cell.token)")
                XCTAssertTrue(cell.imageCount <= maxImages || cell.cell.level == 30, "seed 11, \(cell.cell.token) holds \(cell.imageCount)")
                XCTAssertGreaterThanOrEqual(cell.cell.level, 2)
                kept += cell.imageCount
            }
            for (a, b) in zip(partition.cells, partition.cells.dropFirst()) {
                XCTAssertLessThan(a.cell.rangeMax.id, b.cell.rangeMin.id, "seed 11: ascending and disjoint")
            }
            var found = 0
            for k in 0..<coordinates.count {
                if let label = partition.classLabel(latitude: coordinates.latitudes[k], longitude: coordinates.longitudes[k]) {
                    XCTAssertTrue(partition.cells[label].cell.contains(S2CellID(latitude: coordinates.latitudes[k],
                                                                                longitude: coordinates.longitudes[k])))
                    found += 1
                }
            }
            XCTAssertEqual(found, kept, "seed 11, min \(minImages) max \(maxImages): each kept image finds its cell")
            XCTAssertTrue(partition.cells.contains { $0.cell.level == 30 && $0.imageCount == 700 })
        }
    }

    /// The algorithm's corners on a hand-made case: a level-2 cell at exactly min is deleted,
    /// an over-full cell splits only itself, and small children are dropped, not merged.
    func testSmallCellsAreDroppedNotMerged() throws {
        var coordinates = Coordinates()
        for _ in 0..<3 { coordinates.append(latitude: -45, longitude: -120) }     // == min: deleted
        for k in 0..<8 { coordinates.append(latitude: 48 + Double(k) * 1e-4, longitude: 2) }
        for k in 0..<2 { coordinates.append(latitude: 48.9 + Double(k) * 1e-4, longitude: 2.9) }
        let partition = try XCTUnwrap(Partition.build(coordinates, minImages: 3, maxImages: [9]).first)
        XCTAssertEqual(partition.count, 1)
        XCTAssertEqual(partition.cells[0].imageCount, 8)
        XCTAssertLessThanOrEqual(partition.cells[0].imageCount, 9)
        XCTAssertNil(partition.classLabel(latitude: -45, longitude: -120))
        XCTAssertNil(partition.classLabel(latitude: 48.9, longitude: 2.9))
        XCTAssertEqual(partition.classLabel(latitude: 48, longitude: 2), 0)
    }

    func testMeanLongitudeAcrossTheAntimeridian() {
        // Plain mean, bit for bit, when the span is <= 180.
        XCTAssertEqual(Partition.meanLongitude(sum: 0.1 + 0.2, shiftedSum: 0, count: 2, minimum: 0.1, maximum: 0.2), (0.1 + 0.2) / 2)
        // 179 and -179 average to 180 (or -180), not 0.
        let mean = Partition.meanLongitude(sum: 0, shiftedSum: 179 + 181, count: 2, minimum: -179, maximum: 179)
        XCTAssertEqual(abs(mean), 180)
        let skewed = Partition.meanLongitude(sum: 179 - 178 - 178, shiftedSum: 179 + 182 + 182, count: 3, minimum: -178, maximum: 179)
        XCTAssertEqual(skewed, -179)
    }

    /// A level-0 partition puts +179 and -179 in one cell (face 3): the guard must fire there.
    func testMinLevelZeroMeansStraddleCorrectly() {
        let coordinates = Coordinates(latitudes: [10, 10, 10, 10], longitudes: [179, -179, 178, -178])
        let partition = Partition(leaves: SortedLeafCells(coordinates), coordinates: coordinates, minImages: 1,
                                  maxImages: 10, minLevel: 0)
        XCTAssertEqual(partition.count, 1)
        XCTAssertEqual(abs(partition.cells[0].longitudeMean), 180)
    }

    /// GeoEstimation's published file format: two metadata lines, `imgs_per_cell`.
    func testReadsGeoEstimationFiles() throws {
        let text = """
            num_images: 4723695
            min_concept_probability: ---
            class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean
            1,365,589,36.14504555687608,102.98971323599338
            0,8747c,827,38.67121908948002,-109.49742631801699

            """
        let partition = try Partition(reading: CSVReader(text: text, file: "cells_50_1000.csv"))
        XCTAssertEqual(partition.count, 2)
        XCTAssertEqual(partition.cells[0].cell.token, "8747c")
        XCTAssertEqual(partition.cells[1].imageCount, 589)
        XCTAssertEqual(partition.cells[1].latitudeMean, 36.14504555687608)
        XCTAssertEqual(partition.classLabel(latitude: 38.67121908948002, longitude: -109.49742631801699), 0)
    }

    /// GeoEstimation's published MP-16 partitions, when a developer points GEOESTIMATION_CELLS at
    /// a folder holding cells_50_{5000,2000,1000}.csv (not bundled: third-party files, 1.2 MB).
    /// The head sizes of the paper; each cell's mean finds its own class in most cells.
    func testReadsPublishedGeoEstimationPartitions() throws {
        guard let folder = ProcessInfo.processInfo.environment["GEOESTIMATION_CELLS"] else {
            throw XCTSkip("set GEOESTIMATION_CELLS to a folder with GeoEstimation's cells_50_*.csv")
        }
        for (maxImages, expected) in [(5000, 3298), (2000, 7202), (1000, 12893)] {
            let partition = try Partition(contentsOf: URL(fileURLWithPath: "\(folder)/cells_50_\(maxImages).csv"))
            XCTAssertEqual(partition.count, expected)
            let ownClass = partition.cells.filter {
                partition.classLabel(latitude: $0.latitudeMean, longitude: $0.longitudeMean) == $0.classLabel
            }
            XCTAssertGreaterThan(Double(ownClass.count), 0.9 * Double(expected), "cells_50_\(maxImages).csv")
        }
    }

    func testBadPartitionFilesThrow() {
        let header = "class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean\n"
        let cases: [(String, String)] = [
            (header + "0,zz,10,1,2\n", "p.csv:2: hex_id is 'zz'"),
            (header + "0,89c25,ten,1,2\n", "p.csv:2: imgs_per_class is 'ten'"),
            (header + "0,89c25,10,91,2\n", "p.csv:2: latitude_mean is '91'"),
            (header + "1,89c25,10,1,2\n", "labels"),
            (header + "0,89c25,10,1,2\n1,89c25c,10,1,2\n", "overlap"),
            ("class_label,hex_id\n0,89c25\n", "missing required column 'imgs_per_class'"),
            ("a,b\n1,2\n", "missing required column 'class_label'"),
            (header, "no data rows"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try Partition(reading: CSVReader(text: text, file: "p.csv")), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error) should contain \(message)")
            }
        }
    }

    func testParameterChecks() {
        XCTAssertNoThrow(try Partition.checkParameters(minImages: 50, maxImages: [5000, 2000, 1000]))
        XCTAssertThrowsError(try Partition.checkParameters(minImages: 50, maxImages: [5000, 5000, 1000]))
        XCTAssertThrowsError(try Partition.checkParameters(minImages: 50, maxImages: [1000, 2000]))
        XCTAssertThrowsError(try Partition.checkParameters(minImages: 1000, maxImages: [5000, 2000, 1000]))
        XCTAssertThrowsError(try Partition.checkParameters(minImages: 50, maxImages: []))
        XCTAssertThrowsError(try Partition.checkParameters(minImages: -1, maxImages: [10]))
    }

    func testAtomicWriteLeavesNoTemporaries() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let partition = try XCTUnwrap(Partition.build(Coordinates(latitudes: Array(repeating: 1, count: 5),
                                                                  longitudes: Array(repeating: 2, count: 5)),
                                                      minImages: 1, maxImages: [10]).first)
        let url = directory.appendingPathComponent("fine.csv")
        try partition.write(to: url)
        XCTAssertEqual(try Partition(contentsOf: url), partition)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["fine.csv"])
        let missing = directory.appendingPathComponent("no/such/dir/fine.csv")
        XCTAssertThrowsError(try partition.write(to: missing))
    }

    /// The parallel sort against the reference radix sort: sizes around the insertion-sort and
    /// chunk thresholds, keys in one top bucket, in many, and real leaf ids with duplicates.
    func testParallelRadixSortMatchesReference() {
        var rng = SeededGenerator(seed: 17)
        var cases: [[UInt64]] = [[], [5], [3, 1, 2]]
        for count in [63, 64, 65, 4095, 4097, 70_001, 300_000] {
            cases.append((0..<count).map { _ in rng.next() })
            cases.append((0..<count).map { _ in (7 << 53) | (rng.next() >> 20) })          // one top bucket
            cases.append((0..<count).map { _ in rng.next() >> UInt64.random(in: 0...63, using: &rng) })
        }
        var leaves = (0..<200_000).map { _ in
            S2CellID(latitude: Double.random(in: -90...90, using: &rng), longitude: Double.random(in: -180...180, using: &rng)).id
        }
        leaves += leaves.prefix(50_000)
        cases.append(leaves)
        for keys in cases {
            var expectedKeys = keys
            var expectedOrder = (0..<UInt32(keys.count)).map { $0 }
            radixSort(keys: &expectedKeys, payload: &expectedOrder)
            let (sortedKeys, order) = parallelRadixSort(keys)
            XCTAssertEqual(sortedKeys, expectedKeys, "seed 17, \(keys.count) keys")
            XCTAssertEqual(order, expectedOrder, "seed 17, \(keys.count) keys: ties must keep input order")
        }
    }

    /// The radix sort against the standard library's sort on awkward sizes, payload following.
    func testRadixSortMatchesSort() {
        var rng = SeededGenerator(seed: 13)
        for count in [0, 1, 2, 3, 17, 1000, 65_537] {
            var keys = (0..<count).map { _ in rng.next() >> UInt64.random(in: 0...40, using: &rng) }
            keys += keys.prefix(count / 3)                              // duplicates: stable order
            var payload = (0..<UInt32(keys.count)).map { $0 }
            let expected = keys.indices.sorted { (keys[$0], $0) < (keys[$1], $1) }
            radixSort(keys: &keys, payload: &payload)
            XCTAssertEqual(payload.map(Int.init), expected, "seed 13, count \(count)")
        }
    }
}
