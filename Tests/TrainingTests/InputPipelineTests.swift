import Foundation
import XCTest
import GeoCells
import ImageCodec
import TensorEngine
@testable import TransLocator
@testable import Training

/// Train/serve agreement: a photo reaches the model through one pipeline whichever command
/// reads it. `predict`'s path (files read as `translocator predict IMAGE --seg MAP` reads them,
/// then `Predictor`) and `eval`'s path (a manifest row, then `Evaluator`, which validation
/// during training also runs) must give the same tensors, bit for bit.
final class InputPipelineTests: XCTestCase {
    /// Odd-sized photos (so resizing, rounding and crop offsets all matter) with palette-coded
    /// maps, as the demo writes them, and index-coded copies; a manifest listing the palette maps.
    static func photos(at root: URL, count: Int) throws -> (manifest: Manifest, images: [URL], maps: [URL], indexMaps: [URL]) {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var random = SeededGenerator(seed: 21)
        var rows = ["image,lat,lon,seg"], images: [URL] = [], maps: [URL] = [], indexMaps: [URL] = []
        for k in 0..<count {
            let (width, height) = (37 + 6 * k, 29 + 11 * k)                  // landscape and portrait
            let pixels = (0..<(3 * width * height)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let classes = (0..<(width * height)).map { i in UInt8((i / width * 7 + i % width) / 9 % ADE20K.classCount) }
            let map = SegmentationMap(width: width, height: height, classes: classes)
            let image = root.appendingPathComponent("photo\(k).png"), palette = root.appendingPathComponent("photo\(k)-seg.png")
            let indices = root.appendingPathComponent("photo\(k)-idx.png")
            try PNGEncoder.encode(Image(width: width, height: height, pixels: pixels)).write(to: image)
            try PNGEncoder.encode(map.renderedADE20K()).write(to: palette)
            try PNGEncoder.encode(pixels: classes, width: width, height: height, colorType: .gray).write(to: indices)
            rows.append("photo\(k).png,\(10.0 + Double(k)),\(20.0 + Double(k)),photo\(k)-seg.png")
            images.append(image); maps.append(palette); indexMaps.append(indices)
        }
        let url = root.appendingPathComponent("photos.csv")
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: url)
        return (try Manifest(contentsOf: url), images, maps, indexMaps)
    }

    /// A 16-pixel TransLocator whose photos are resized to a short side of 19 first.
    static func modelFile(partitionsOf coordinates: Coordinates) throws -> ModelFile {
        let partitions = try GeoPartitions.build(coordinates, minImages: 0, maxImages: [3, 2, 1])
        let config = ModelConfig(imageSize: 16, patchSize: 8, embedDimension: 16, depth: 1, headCount: 2, sceneClasses: 0)
        let model = try TransLocatorModel(config: config, headSizes: partitions.headSizes, seed: 4)
        return ModelFile(model: model, partitions: partitions, preprocessing: Preprocessing(resizeShortSide: 19))
    }

    func testPredictAndEvalPrepareTheSamePhotoBitForBit() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-agreement-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (manifest, images, maps, _) = try Self.photos(at: root, count: 3)
        let file = try Self.modelFile(partitionsOf: manifest.coordinates)
        let predictor = Predictor(file)
        let evaluator = Evaluator(modelFile: file)
        for tenCrop in [false, true] {
            var evaluating = evaluator
            evaluating.tenCrop = tenCrop
            let served = try predictor.inputTensors(zip(images, maps).map { try PhotoInput(contentsOf: $0, segmentationAt: $1) },
                                                    tenCrop: tenCrop)
            let evaluated = try evaluating.inputTensors(manifest.entries, of: manifest)
            XCTAssertEqual(evaluated.entries, manifest.entries)
            XCTAssertEqual(served.rgb.shape, [3 * (tenCrop ? 10 : 1), 3, 16, 16])
            XCTAssertEqual(served.rgb.shape, evaluated.rgb.shape)
            // Bit patterns, so that -0.0 against 0.0 or one NaN would fail too.
            XCTAssertEqual(served.rgb.scalars.map(\.bitPattern), evaluated.rgb.scalars.map(\.bitPattern), "photos, tenCrop \(tenCrop)")
            XCTAssertEqual(try XCTUnwrap(served.seg).scalars.map(\.bitPattern), try XCTUnwrap(evaluated.seg).scalars.map(\.bitPattern),
                           "maps, tenCrop \(tenCrop)")
        }
        // And both are what the rules say: torchvision Resize(19) + CenterCrop(16) + Normalize.
        let photo = try Image(contentsOf: images[1])
        let resized = photo.resized(shortSide: 19)
        let expected = resized.centerCropped(width: 16, height: 16).normalizedCHW()
        let served = try predictor.inputTensors([try PhotoInput(contentsOf: images[1], segmentationAt: maps[1])], tenCrop: false)
        XCTAssertEqual(served.rgb.scalars, expected)
    }

    func testPaletteMapsInAManifestTrainAsIndexMapsDo() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-palette-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (manifest, _, _, indexMaps) = try Self.photos(at: root, count: 3)
        let file = try Self.modelFile(partitionsOf: manifest.coordinates)
        var indexed = manifest
        for k in indexed.entries.indices { indexed.entries[k].segmentationPath = indexMaps[k].lastPathComponent }
        func batch(_ manifest: Manifest) throws -> TrainingBatch {
            let labelled = try LabelledManifest(manifest: manifest, partitions: file.partitions, hierarchy: nil, sceneClasses: 0)
            XCTAssertEqual(labelled.count, 3)
            let source = ManifestBatchSource(labelled: labelled, pipeline: InputPipeline(file), augmentation: Augmentation(), seed: 5,
                                             strict: true)
            return try XCTUnwrap(source.batch(indices: [0, 1, 2], epoch: 1).batch)
        }
        let palette = try batch(manifest), indices = try batch(indexed)
        XCTAssertEqual(palette.rgb.scalars, indices.rgb.scalars)
        XCTAssertEqual(try XCTUnwrap(palette.seg).scalars, try XCTUnwrap(indices.seg).scalars)
    }

    func testAMapOfAnotherSizeIsAnErrorNamingThePhotoAndTheMap() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-size-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (manifest, images, maps, _) = try Self.photos(at: root, count: 2)
        let file = try Self.modelFile(partitionsOf: manifest.coordinates)
        XCTAssertThrowsError(try Predictor(file).predict([try PhotoInput(contentsOf: images[0], segmentationAt: maps[1])])) { error in
            XCTAssertEqual("\(error)", "\(images[0].path): its segmentation map \(maps[1].path) is 43x40, expected the photo's 37x29")
        }
        var swapped = manifest
        swapped.entries[0].segmentationPath = "photo1-seg.png"
        XCTAssertThrowsError(try Evaluator(modelFile: file).evaluate(swapped)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(manifest.file):2: segmentation map 'photo1-seg.png' cannot be read"), "\(error)")
            XCTAssertTrue("\(error)".contains("is 43x40, expected the photo's 37x29"), "\(error)")
        }
    }

    func testAModelFileWhoseResizeIsBelowItsInputIsRefusedWhenRead() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-resize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let (manifest, _, _, _) = try Self.photos(at: root, count: 2)
        let file = try Self.modelFile(partitionsOf: manifest.coordinates)
        var metadata = file.metadata
        metadata["preprocessing"] = "{\"resize_short_side\": 12}"
        let tensors = file.model.parameters.map { (name: $0.name, tensor: $0.value) }
        metadata["format"] = ModelFile.format
        metadata["config"] = file.model.config.jsonString
        metadata["partitions"] = ModelFile.encode(file.partitions)
        let url = root.appendingPathComponent("small.safetensors")
        try WeightFile.write(tensors, metadata: metadata, to: url)
        XCTAssertThrowsError(try ModelFile(contentsOf: url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): __metadata__.preprocessing: resize_short_side is 12, expected at least the "
                           + "model's img_size 16 (crops of 16 pixels are cut from the resized photo)")
        }
    }
}
