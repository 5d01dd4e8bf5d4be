import XCTest
import GeoCells
@testable import Training

final class EvaluationTests: XCTestCase {
    /// Along the equator, 1° of longitude is 6371·π/180 km, so errors can be set by hand.
    static let kmPerDegree = 6371 * Double.pi / 180

    func testTableAgainstHandPlacedErrors() {
        let errorsKm = [0.5, 24, 150, 700, 2000, 5000]
        let truth = GeoCoordinate(latitude: 0, longitude: 0)
        let predictions = errorsKm.map { GeoCoordinate(latitude: 0, longitude: $0 / Self.kmPerDegree) }
        let evaluation = GeoEvaluation(images: errorsKm.map { "\($0).jpg" }, truths: Array(repeating: truth, count: 6),
                                       predictions: predictions)
        for (computed, expected) in zip(evaluation.distancesKm, errorsKm) {
            XCTAssertEqual(computed, expected, accuracy: 1e-9 * max(1, expected))
        }
        let expectedPercent = [1.0, 2, 3, 4, 5].map { 100 * $0 / 6 }
        for (computed, expected) in zip(evaluation.table.percentWithin, expectedPercent) {
            XCTAssertEqual(computed, expected, accuracy: 1e-12)
        }
        XCTAssertEqual(evaluation.table.meanKm, errorsKm.reduce(0, +) / 6, accuracy: 1e-8)
        XCTAssertEqual(evaluation.table.medianKm, (150 + 700) / 2, accuracy: 1e-9)
    }

    func testMeridianAndAntipodeDistances() {
        // 10° north along a meridian; the antipode at half the circumference.
        let truths = [GeoCoordinate(latitude: 40, longitude: -3), GeoCoordinate(latitude: 0, longitude: 0)]
        let predictions = [GeoCoordinate(latitude: 50, longitude: -3), GeoCoordinate(latitude: 0, longitude: 180)]
        let evaluation = GeoEvaluation(images: ["a", "b"], truths: truths, predictions: predictions)
        XCTAssertEqual(evaluation.distancesKm[0], 10 * Self.kmPerDegree, accuracy: 1e-9)
        XCTAssertEqual(evaluation.distancesKm[1], 6371 * Double.pi, accuracy: 1e-9)
    }

    func testJSONDocumentAndPredictionsCSV() {
        let truths = [GeoCoordinate(latitude: 0, longitude: 0), GeoCoordinate(latitude: 0, longitude: 0)]
        let predictions = [GeoCoordinate(latitude: 0, longitude: 0), GeoCoordinate(latitude: 0, longitude: 180)]
        let evaluation = GeoEvaluation(images: ["x,1.jpg", "y.jpg"], truths: truths, predictions: predictions)
        let half = 2 * 6371 * asin(1.0) / 2
        XCTAssertEqual(evaluation.json, "{\"images\": 2, \"accuracy\": {\"1\": 50.0, \"25\": 50.0, \"200\": 50.0, "
                       + "\"750\": 50.0, \"2500\": 50.0}, \"meanKm\": \(half), \"medianKm\": \(half)}")
        let parsed = try? JSONSerialization.jsonObject(with: Data(evaluation.json.utf8)) as? [String: Any]
        XCTAssertEqual(parsed?["images"] as? Int, 2)
        XCTAssertEqual(evaluation.predictionsCSV, "image,lat,lon,pred_lat,pred_lon,distance_km\n"
                       + "\"x,1.jpg\",0.0,0.0,0.0,0.0,0.0\n"
                       + "y.jpg,0.0,0.0,0.0,180.0,\(2 * 6371 * asin(1.0))\n")
        let table = evaluation.tableText()
        XCTAssertTrue(table.contains("Street 1 km"), table)
        XCTAssertTrue(table.contains("Continent 2500 km"), table)
        XCTAssertTrue(table.contains("50.0%"), table)
    }

    func testInclusiveFlagReachesTheTable() {
        // GeoCells' AccuracyTable tests < against <= on exact thresholds; here only the plumbing.
        let truth = [GeoCoordinate(latitude: 10, longitude: 10)]
        XCTAssertFalse(GeoEvaluation(images: ["a"], truths: truth, predictions: truth).table.inclusive)
        XCTAssertTrue(GeoEvaluation(images: ["a"], truths: truth, predictions: truth, inclusive: true).table.inclusive)
    }

    func testBaselineAnswersTheMostPopulousCell() throws {
        let paris = S2CellID(latitude: 48.85, longitude: 2.35).parent(level: 4)
        let sydney = S2CellID(latitude: -33.87, longitude: 151.2).parent(level: 4)
        let lima = S2CellID(latitude: -12.05, longitude: -77.04).parent(level: 4)
        let partition = try Partition(cells: [
            PartitionCell(classLabel: 0, cell: paris, imageCount: 40, latitudeMean: 48.8, longitudeMean: 2.3),
            PartitionCell(classLabel: 1, cell: sydney, imageCount: 90, latitudeMean: -33.9, longitudeMean: 151.2),
            PartitionCell(classLabel: 2, cell: lima, imageCount: 90, latitudeMean: -12, longitudeMean: -77),
        ])
        let answer = GeoEvaluation.mostPopulousCell(of: partition)
        XCTAssertEqual(answer, GeoCoordinate(latitude: -33.9, longitude: 151.2), "ties go to the lower label")
        let truths = [GeoCoordinate(latitude: -33.9, longitude: 151.2), GeoCoordinate(latitude: 48.8, longitude: 2.3)]
        let baseline = GeoEvaluation.baseline(images: ["s", "p"], truths: truths, partition: partition)
        XCTAssertEqual(baseline.distancesKm[0], 0)
        XCTAssertEqual(baseline.table.percentWithin, [50, 50, 50, 50, 50])
    }
}

final class TrainingConfigTests: XCTestCase {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("configs")

    func testTheShippedConfigsRead() throws {
        let paper = try ConfigFile(contentsOf: Self.configs.appendingPathComponent("translocator-b16.json")).training
        XCTAssertEqual(paper.optimizer, .sgd)
        XCTAssertEqual(paper.learningRate, 0.1)
        XCTAssertEqual(paper.groupScales, ParameterGroupScales(weights: 0.2, biases: 0.0048))
        XCTAssertEqual(paper.batchSize, 256)
        XCTAssertEqual(paper.microBatchSize, 32)
        XCTAssertEqual(paper.epochs, 40)
        XCTAssertEqual(paper.warmupEpochs, 2)
        XCTAssertEqual(paper.partitionMax, [5000, 2000, 1000])
        XCTAssertEqual(paper.lossWeights.coarse, 0.5, accuracy: 1e-12)
        let tiny = try ConfigFile(contentsOf: Self.configs.appendingPathComponent("tiny.json")).training
        XCTAssertEqual(tiny.optimizer, .adamw)
        XCTAssertEqual(tiny.betas, [0.9, 0.999])
        XCTAssertEqual(tiny.statedCropSize, 64)
        XCTAssertEqual(tiny.partitionMin, 10)
        XCTAssertEqual(tiny.augmentation.colorJitter, [0.4, 0.4, 0.4, 0.1])
        let vit = try ConfigFile(contentsOf: Self.configs.appendingPathComponent("vit-mt-b16.json")).training
        XCTAssertEqual(vit.resizeShortSide, 256)
    }

    func testBadValuesNameTheKey() {
        let cases: [(String, String)] = [
            ("{\"training\": {\"optimizer\": \"lion\"}}", "c.json: training.optimizer is lion, expected \"sgd\" or \"adamw\""),
            ("{\"training\": {\"epochs\": 0}}", "c.json: training.epochs is 0, expected a value in 1...100000"),
            ("{\"training\": {\"loss_weights\": {\"middle\": 0.8, \"fine\": 0.5}}}",
             "c.json: training.loss_weights is middle 0.8 + fine 0.5, expected a sum <= 1 (the coarse weight is 1 - middle - fine)"),
            ("{\"training\": {\"batch_size\": 16, \"micro_batch_size\": 32}}",
             "c.json: training.micro_batch_size is 32, expected a value in 1...16"),
        ]
        for (json, message) in cases {
            XCTAssertThrowsError(try TrainingConfig(json: Data(json.utf8), file: "c.json"), json) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
        XCTAssertThrowsError(try TrainingConfig(json: Data("{\"training\": {\"epochs\": \"many\"}}".utf8), file: "c.json"))
    }

    func testAConfigWhoseTrainingContradictsItsModelIsAnErrorNamingTheField() throws {
        let tiny = try String(contentsOf: Self.configs.appendingPathComponent("tiny.json"), encoding: .utf8)
        XCTAssertNoThrow(try ConfigFile(json: Data(tiny.utf8), file: "tiny.json"))
        let cases: [(from: String, to: String, message: String)] = [
            ("\"resize_short_side\": 72", "\"resize_short_side\": 60",
             "t.json: training.resize_short_side is 60, expected at least model.img_size 64"),
            ("\"crop_size\": 64", "\"crop_size\": 48",
             "t.json: training.crop_size is 48, expected model.img_size 64: the crop is the model's input"),
            ("\"img_size\": 64", "\"img_size\": 80",
             "t.json: training.resize_short_side is 72, expected at least model.img_size 80"),
        ]
        for (from, to, message) in cases {
            XCTAssertTrue(tiny.contains(from), from)
            let broken = tiny.replacingOccurrences(of: from, with: to)
            XCTAssertThrowsError(try ConfigFile(json: Data(broken.utf8), file: "t.json"), to) { error in
                XCTAssertTrue("\(error)".hasPrefix(message), "\(error)")
            }
        }
    }
}
