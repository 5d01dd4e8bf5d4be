import XCTest
import GeoCells
@testable import ImageCodec
@testable import Training

final class SynthesizerTests: XCTestCase {
    static let usedClasses: Set<UInt8> = [ADE20KClass.building, ADE20KClass.sky, ADE20KClass.tree, ADE20KClass.road,
                                          ADE20KClass.grass, ADE20KClass.earth, ADE20KClass.mountain, ADE20KClass.water,
                                          ADE20KClass.field, ADE20KClass.rock, ADE20KClass.sand]

    /// Places spread over the globe (a Fibonacci lattice), standing in for the MP-16 sample.
    static func places(_ count: Int) -> Coordinates {
        var coordinates = Coordinates()
        for i in 0..<count {
            let z = 1 - 2 * (Double(i) + 0.5) / Double(count)
            let longitude = (Double(i) * 137.50776405003785).truncatingRemainder(dividingBy: 360) - 180
            coordinates.append(latitude: asin(z) * 180 / .pi, longitude: longitude)
        }
        return coordinates
    }

    func testRenderingIsDeterministicAndDependsOnTheImage() {
        let world = SyntheticWorld(seed: 3)
        let place = GeoCoordinate(latitude: 35.7, longitude: 139.7)
        let a = world.render(at: place, index: 5, size: 24), b = world.render(at: place, index: 5, size: 24)
        XCTAssertEqual(a.photo, b.photo)
        XCTAssertEqual(a.classMap, b.classMap)
        XCTAssertNotEqual(world.render(at: place, index: 6, size: 24).photo, a.photo)
        XCTAssertNotEqual(SyntheticWorld(seed: 4).render(at: place, index: 5, size: 24).photo, a.photo)
        XCTAssertTrue(Set(a.classMap).isSubset(of: Self.usedClasses))
        XCTAssertTrue(a.classMap.contains(ADE20KClass.sky))
    }

    func testWrittenDataSetReadsBackAndRepeatsForASeed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("synthesize-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let synthesizer = Synthesizer(imageCount: 20, seed: 9, imageSize: 32)
        let summary = try synthesizer.synthesize(from: Self.places(200), to: root.appendingPathComponent("a"))
        _ = try synthesizer.synthesize(from: Self.places(200), to: root.appendingPathComponent("b"))
        XCTAssertEqual([summary.trainCount, summary.validationCount, summary.testCount], [16, 2, 2])
        XCTAssertEqual(summary.sceneCounts.reduce(0, +), 20)
        var seen = 0
        for name in ["train.csv", "val.csv", "test.csv"] {
            let manifestURL = root.appendingPathComponent("a/" + name)
            XCTAssertEqual(try Data(contentsOf: manifestURL), try Data(contentsOf: root.appendingPathComponent("b/" + name)), name)
            let manifest = try Manifest(contentsOf: manifestURL)
            let (checked, missing) = try manifest.checkingFiles(skipMissing: false)
            XCTAssertTrue(missing.isEmpty)
            for entry in checked.entries {
                seen += 1
                let photoData = try Data(contentsOf: manifest.imageURL(of: entry))
                XCTAssertEqual(photoData, try Data(contentsOf: root.appendingPathComponent("b/" + entry.imagePath)),
                               "same seed, same bytes")
                let photo = try PNGDecoder.decode(photoData)
                XCTAssertEqual([photo.width, photo.height], [32, 32])
                let map = try PNGDecoder.decodeIndices(Data(contentsOf: manifest.segmentationURL(of: entry)!))
                XCTAssertEqual([map.width, map.height], [32, 32])
                XCTAssertTrue(Set(map.indices).isSubset(of: Self.usedClasses), entry.imagePath)
                let scene = try XCTUnwrap(entry.scene)
                XCTAssertTrue((0..<SyntheticScene.categories.count).contains(scene))
            }
        }
        XCTAssertEqual(seen, 20)
        let hierarchy = try SceneHierarchy(contentsOf: root.appendingPathComponent("a/scene_hierarchy.csv"))
        XCTAssertEqual(hierarchy.categoryCount, SyntheticScene.categories.count)
        XCTAssertThrowsError(try Synthesizer(imageCount: 300).synthesize(from: Self.places(200),
                                                                         to: root.appendingPathComponent("c"))) { error in
            XCTAssertEqual(error as? SynthesisError, .notEnoughCoordinates(available: 200, requested: 300))
        }
    }

    /// The look depends on the place: snowy high latitudes are brighter on the ground than the
    /// tropics, and a nearest-centroid rule on mean colours tells latitude bands apart far above
    /// chance, despite each photo's own lighting, layout and noise.
    func testLookDependsOnLatitude() {
        let world = SyntheticWorld(seed: 1)
        let places = Self.places(500)
        let bands = [0.0, 15, 35, 55, 70, 91]
        func band(_ latitude: Double) -> Int { bands.lastIndex { abs(latitude) >= $0 }! }
        var features: [[Double]] = [], labels: [Int] = []
        var groundBrightness = [Double](repeating: 0, count: 5), groundCounts = [Double](repeating: 0, count: 5)
        for i in 0..<places.count {
            let sample = world.render(at: GeoCoordinate(latitude: places.latitudes[i], longitude: places.longitudes[i]), index: i, size: 24)
            var sums = [Double](repeating: 0, count: 6), counts = [1e-9, 1e-9]
            for p in 0..<(24 * 24) {
                let isSky = sample.classMap[p] == ADE20KClass.sky ? 0 : 1
                for c in 0..<3 { sums[isSky * 3 + c] += Double(sample.photo.pixels[p * 3 + c]) }
                counts[isSky] += 1
            }
            let feature = (0..<6).map { sums[$0] / counts[$0 / 3] }
            features.append(feature)
            labels.append(band(places.latitudes[i]))
            groundBrightness[labels[i]] += feature[3...5].reduce(0, +) / 3
            groundCounts[labels[i]] += 1
        }
        let polar = groundBrightness[4] / groundCounts[4], tropical = groundBrightness[0] / groundCounts[0]
        XCTAssertGreaterThan(polar, tropical + 40, "mean ground brightness, polar \(polar) vs tropical \(tropical), seed 1")
        // Nearest centroid, fitted on even images, scored on odd ones.
        var centroids = [[Double]](repeating: [Double](repeating: 0, count: 6), count: 5), sizes = [Double](repeating: 0, count: 5)
        for i in stride(from: 0, to: places.count, by: 2) {
            for k in 0..<6 { centroids[labels[i]][k] += features[i][k] }
            sizes[labels[i]] += 1
        }
        for b in 0..<5 where sizes[b] > 0 { centroids[b] = centroids[b].map { $0 / sizes[b] } }
        var correct = 0, tested = 0
        for i in stride(from: 1, to: places.count, by: 2) {
            let guess = (0..<5).filter { sizes[$0] > 0 }.min { a, b in
                zip(features[i], centroids[a]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
                    < zip(features[i], centroids[b]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            }!
            correct += guess == labels[i] ? 1 : 0
            tested += 1
        }
        let accuracy = Double(correct) / Double(tested)
        XCTAssertGreaterThan(accuracy, 0.45, "latitude band from mean colours: \(accuracy) (chance about 0.2), seed 1")
    }
}
