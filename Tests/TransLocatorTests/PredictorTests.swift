import Foundation
import XCTest
import GeoCells
import ImageCodec
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
        let crops = predictor.cropsOf(Self.kauai, tenCrop: true), maps = predictor.cropsOf(map, tenCrop: true)
        XCTAssertEqual(crops.count, 10)
        XCTAssertEqual(maps.count, 10)
        let s = 64
        let rgb = Tensor(shape: [10, 3, s, s], values: crops.flatMap { $0.normalizedCHW() })
        let seg = Tensor(shape: [10, 3, s, s], values: maps.flatMap { $0.renderedADE20K().normalizedCHW() })
        var fine = [Float](repeating: 0, count: samplePartitions.fine.count)
        for c in 0..<10 {
            let logits = try predictor.file.model.imageLogits(rgb: Tensor(shape: [1, 3, s, s], values: Array(rgb.scalars[(c * 3 * s * s)..<((c + 1) * 3 * s * s)])),
                                                              seg: Tensor(shape: [1, 3, s, s], values: Array(seg.scalars[(c * 3 * s * s)..<((c + 1) * 3 * s * s)])))[0]
            for k in fine.indices { fine[k] += logits[.fine]![k] / 10 }
        }
        let expected = softmax(fine)
        XCTAssertEqual(ten.probability, expected[ten.classLabel], accuracy: 1e-5)
        XCTAssertEqual(ten.probability, expected.max()!, accuracy: 1e-5)
    }

    func testTransLocatorWithoutOrWithWrongMapIsAClearError() throws {
        let predictor = Predictor(try modelFile(segmentation: true))
        XCTAssertThrowsError(try predictor.predict([PhotoInput(image: Self.kauai, name: "kauai.png")])) { error in
            XCTAssertEqual(error as? PredictorError, .missingSegmentation(image: "kauai.png"))
            XCTAssertTrue("\(error)".contains("--seg") && "\(error)".contains("ViT-MT"), "\(error)")
        }
        let small = Self.stripes(width: 10, height: 10)
        XCTAssertThrowsError(try predictor.predict([PhotoInput(image: Self.kauai, segmentation: small, name: "seg.png")])) { error in
            XCTAssertTrue("\(error)".contains("seg.png: the segmentation map is 10x10, expected the photo's 512x504"), "\(error)")
        }
    }

    func testSegmentationMapsReadAsIndicesOrPaletteColours() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-seg-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let map = Self.stripes(width: 7, height: 6)
        let gray = directory.appendingPathComponent("indices.png")
        try PNGEncoder.encode(pixels: map.classes, width: 7, height: 6, colorType: .gray).write(to: gray)
        XCTAssertEqual(try readSegmentationMap(contentsOf: gray), map)
        let colours = directory.appendingPathComponent("colours.png")
        try PNGEncoder.encode(map.renderedADE20K()).write(to: colours)
        XCTAssertEqual(try readSegmentationMap(contentsOf: colours), map)
        let outside = directory.appendingPathComponent("outside.png")
        try PNGEncoder.encode(pixels: [3, 200, 5, 6], width: 2, height: 2, colorType: .gray).write(to: outside)
        XCTAssertThrowsError(try readSegmentationMap(contentsOf: outside)) { error in
            XCTAssertTrue("\(error)".contains("outside.png: pixel (1, 0) is class 200"), "\(error)")
        }
    }

    func testUndecodablePhotoOrMapIsAnErrorNamingTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-bad-\(ProcessInfo.processInfo.processIdentifier)")
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
        XCTAssertThrowsError(try readSegmentationMap(contentsOf: truncated)) { error in
            XCTAssertTrue("\(error)".contains("cut.png"), "\(error)")
        }
        XCTAssertThrowsError(try readSegmentationMap(contentsOf: directory.appendingPathComponent("absent.png"))) { error in
            XCTAssertTrue("\(error)".contains("absent.png"), "\(error)")
        }
    }
}
