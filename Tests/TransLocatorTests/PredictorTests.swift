import Foundation
import XCTest
import GeoCells
@testable import ImageCodec
import TensorEngine
@testable import TransLocator

/// The predictor end to end on the bundled Kauai photo with tiny models (configs/tiny.json,
/// random init, partitions of the bundled MP-16 sample): what it returns must be consistent
/// with the model's own logits and the partition, whatever the (untrained) weights say.
final class PredictorTests: XCTestCase {
    static let kauai: Image = {
        // Part of the repository; a failure here is a broken checkout.
        try! Image(contentsOf: repositoryData.appendingPathComponent("kauai.png"))
    }()

    func modelFile(segmentation: Bool) throws -> ModelFile {
        var config = try tinyConfig()
        if !segmentation {
            config.architecture = "vit-mt"
            config.segmentationBranch = false
        }
        let model = try TransLocatorModel(config: config, headSizes: samplePartitions.headSizes, seed: 5)
        return ModelFile(model: model, partitions: samplePartitions)
    }

    /// A map the photo's size: sky over tree over sea, by rows.
    static func stripes(width: Int, height: Int) -> SegmentationMap {
        SegmentationMap(width: width, height: height,
                        classes: (0..<(width * height)).map { i in [2, 4, 26][3 * (i / width) / height] })
    }

    func testViTMTPredictsRankedCellsOfTheFinePartition() throws {
        let predictor = Predictor(try modelFile(segmentation: false))
        let result = try predictor.predict([PhotoInput(image: Self.kauai, name: "kauai.png")], top: 5)
        XCTAssertEqual(result.count, 1)
        let predictions = result[0]
        XCTAssertEqual(predictions.map(\.rank), [1, 2, 3, 4, 5])
        XCTAssertEqual(predictions.map(\.probability), predictions.map(\.probability).sorted(by: >))
        for p in predictions {
            let cell = samplePartitions.fine.cells[p.classLabel]
            XCTAssertEqual(p.token, cell.cell.token)
            XCTAssertEqual(p.latitude, cell.latitudeMean)
            XCTAssertEqual(p.longitude, cell.longitudeMean)
            XCTAssertTrue(p.probability > 0 && p.probability < 1)
        }
        // The same photo preprocessed by hand gives the same top cell and probability.
        let s = 64
        let crop = Self.kauai.resized(shortSide: 73).centerCropped(width: s, height: s)
        let input = Tensor(shape: [1, 3, s, s], values: crop.normalizedCHW())
        let logits = try predictor.file.model.imageLogits(rgb: input, seg: nil)[0]
        XCTAssertEqual(predictor.ranker.rank(logits, top: 1)[0], predictions[0])
    }

    func testBatchingAndTenCropAreConsistent() throws {
        let predictor = Predictor(try modelFile(segmentation: true))
        let flipped = Self.kauai.flippedHorizontally()
        let map = Self.stripes(width: Self.kauai.width, height: Self.kauai.height)
        let photos = [PhotoInput(image: Self.kauai, segmentation: map, name: "a"),
                      PhotoInput(image: flipped, segmentation: map.flippedHorizontally(), name: "b")]
        let together = try predictor.predict(photos, top: 3, batchSize: 2)
        let alone = try photos.map { try predictor.predict([$0], top: 3)[0] }
        for (x, y) in zip(together.joined(), alone.joined()) {
            XCTAssertEqual(x.classLabel, y.classLabel)
            XCTAssertEqual(x.probability, y.probability, accuracy: 1e-6)
        }
        // TenCrop: the softmax of the mean of the ten crops' logits.
        let ten = try predictor.predict([photos[0]], top: 1, tenCrop: true)[0][0]
        let views = try predictor.pipeline.evaluationViews(of: photos[0], tenCrop: true)
        XCTAssertEqual(views.count, 10)
        // By hand: torchvision's TenCrop of the resized photo and of its map resized to match.
        let resized = Self.kauai.resized(shortSide: 73)
        let resizedMap = map.resized(width: resized.width, height: resized.height)
        XCTAssertEqual(views.map(\.photo), resized.tenCrops(width: 64, height: 64))
        XCTAssertEqual(views.map(\.map), resizedMap.tenCrops(width: 64, height: 64))
        let s = 64
        let rgbValues: [Float] = views.flatMap { $0.photo.normalizedCHW() }
        let segValues: [Float] = views.flatMap { $0.map!.renderedADE20K().normalizedCHW() }
        let rgb = Tensor(shape: [10, 3, s, s], values: rgbValues)
        let seg = Tensor(shape: [10, 3, s, s], values: segValues)
        var fine = [Float](repeating: 0, count: samplePartitions.fine.count)
        let plane = 3 * s * s
        for c in 0..<10 {
            let rgbCrop = Tensor(shape: [1, 3, s, s], values: Array(rgb.scalars[(c * plane)..<((c + 1) * plane)]))
            let segCrop = Tensor(shape: [1, 3, s, s], values: Array(seg.scalars[(c * plane)..<((c + 1) * plane)]))
            let logits = try predictor.file.model.imageLogits(rgb: rgbCrop, seg: segCrop)[0]
            let fineLogits = try XCTUnwrap(logits[HeadName.fine])
            for k in fine.indices { fine[k] += fineLogits[k] / 10 }
        }
        let expected = softmax(fine)
        XCTAssertEqual(ten.probability, expected[ten.classLabel], accuracy: 1e-5)
        XCTAssertEqual(ten.probability, expected.max()!, accuracy: 1e-5)
    }

    func testTransLocatorWithoutOrWithWrongMapIsAClearError() throws {
        let predictor = Predictor(try modelFile(segmentation: true))
        XCTAssertThrowsError(try predictor.predict([PhotoInput(image: Self.kauai, name: "kauai.png")])) { error in
            XCTAssertEqual(error as? InputError, .missingSegmentation(image: "kauai.png"))
            XCTAssertTrue("\(error)".contains("--seg") && "\(error)".contains("ViT-MT"), "\(error)")
        }
        let small = Self.stripes(width: 10, height: 10)
        let input = PhotoInput(image: Self.kauai, segmentation: small, name: "kauai.png", segmentationName: "seg.png")
        XCTAssertThrowsError(try predictor.predict([input])) { error in
            XCTAssertTrue("\(error)".contains("kauai.png: its segmentation map seg.png is 10x10, expected the photo's 512x504"), "\(error)")
        }
    }

    func testUndecodablePhotoOrMapIsAnErrorNamingTheFile() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("translocator-bad-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = directory.appendingPathComponent("notes.jpg")
        try Data("not a photo".utf8).write(to: text)
        XCTAssertThrowsError(try Image(contentsOf: text)) { error in
            XCTAssertTrue("\(error)".contains("notes.jpg"), "\(error)")
        }
        let truncated = directory.appendingPathComponent("cut.png")
        let png = PNGEncoder.encode(pixels: Self.stripes(width: 7, height: 6).classes, width: 7, height: 6, colorType: .gray)
        try png.prefix(png.count / 2).write(to: truncated)
        XCTAssertThrowsError(try SegmentationMap(contentsOf: truncated)) { error in
            XCTAssertTrue("\(error)".contains("cut.png"), "\(error)")
        }
        XCTAssertThrowsError(try SegmentationMap(contentsOf: directory.appendingPathComponent("absent.png"))) { error in
            XCTAssertTrue("\(error)".contains("absent.png"), "\(error)")
        }
    }
}
