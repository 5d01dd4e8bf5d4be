import XCTest
import GeoCells
import ImageCodec
@testable import TensorEngine
import TransLocator
@testable import Training

final class DataPipelineTests: XCTestCase {
    /// The pipeline of a 16-pixel TransLocator whose photos are resized to `resize` first.
    static func pipeline(resize: Int = 18) -> InputPipeline {
        let config = ModelConfig(imageSize: 16, patchSize: 8, embedDimension: 16, depth: 1, headCount: 2, sceneClasses: 16)
        return InputPipeline(model: config, preprocessing: Preprocessing(resizeShortSide: resize))
    }

    /// A batch source over `labelled` with the default augmentation and seed 1.
    static func source(_ labelled: LabelledManifest, strict: Bool = false) -> ManifestBatchSource {
        ManifestBatchSource(labelled: labelled, pipeline: pipeline(), augmentation: Augmentation(), seed: 1, strict: strict)
    }

    func testPhotoAndMapShareEveryGeometricDrawAndRepeatPerEpochAndIndex() throws {
        // The photo's red channel is 10 x the map's class, so alignment is checkable pixel by pixel.
        let side = 20
        var classes = [UInt8](repeating: 0, count: side * side)
        for y in 0..<side { for x in 0..<side { classes[y * side + x] = UInt8(1 + (x / 5) + 4 * (y / 7)) } }
        let map = SegmentationMap(width: side, height: side, classes: classes)
        let photo = Image(width: side, height: side, pixels: classes.flatMap { [10 * $0, 7, 3] })
        var augmentation = Augmentation()
        augmentation.colorJitterProbability = 0                           // geometry only
        let pipeline = Self.pipeline(resize: side), input = PhotoInput(image: photo, segmentation: map, name: "p")
        func prepare(epoch: Int, index: Int) throws -> InputPipeline.View {
            try pipeline.trainingView(of: input, augmentation: augmentation, seed: 8, epoch: epoch, index: index)
        }
        var flips = 0
        for index in 0..<12 {
            let (p, m) = try prepare(epoch: 1, index: index)
            let mapOut = try! XCTUnwrap(m)
            XCTAssertEqual([p.width, p.height, mapOut.width, mapOut.height], [16, 16, 16, 16])
            for i in 0..<(16 * 16) {
                if mapOut.classes[i] == 255 {
                    XCTAssertEqual(p.pixels[3 * i], 0, "index \(index) pixel \(i): uncovered in the map, not black in the photo")
                } else {
                    XCTAssertEqual(p.pixels[3 * i], 10 * mapOut.classes[i], "index \(index) pixel \(i), seed 8")
                }
            }
            let again = try prepare(epoch: 1, index: index)
            XCTAssertEqual(again.photo, p)
            if try prepare(epoch: 2, index: index).photo != p { flips += 1 }
        }
        XCTAssertGreaterThan(flips, 8, "another epoch draws again, seed 8")
        XCTAssertEqual(try pipeline.evaluationViews(of: input, tenCrop: false)[0].photo, photo.centerCropped(width: 16, height: 16))
    }

    /// A small synthetic data set on disk with partitions that cover it.
    static func dataSet(count: Int, at root: URL) throws -> (manifest: Manifest, partitions: GeoPartitions) {
        _ = try Synthesizer(imageCount: count, seed: 2, imageSize: 24, validationShare: 0.1, testShare: 0.1)
            .synthesize(from: SynthesizerTests.places(400), to: root)
        let manifest = try Manifest(contentsOf: root.appendingPathComponent("train.csv"))
        return (manifest, try GeoPartitions.build(manifest.coordinates, minImages: 0, maxImages: [8, 4, 2]))
    }

    func testBatchesFromAManifestSkipMissingImages() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (manifest, partitions) = try Self.dataSet(count: 12, at: root)
        let hierarchy = try SceneHierarchy(contentsOf: root.appendingPathComponent("scene_hierarchy.csv"))
        let labelled = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: hierarchy, sceneClasses: 16)
        XCTAssertEqual(labelled.count, manifest.count)
        let source = Self.source(labelled)
        let (batch, skipped) = try source.batch(indices: [0, 3, 5], epoch: 0)
        XCTAssertEqual(batch?.rgb.shape, [3, 3, 16, 16])
        XCTAssertEqual(batch?.seg?.shape, [3, 3, 16, 16])
        XCTAssertEqual(batch?.labels[.fine], [0, 3, 5].map { Int(labelled.fine[$0]) })
        XCTAssertTrue(skipped.isEmpty)
        XCTAssertEqual(try source.batch(indices: [0, 3, 5], epoch: 0).batch?.rgb.scalars, batch?.rgb.scalars, "deterministic")

        try FileManager.default.removeItem(at: manifest.imageURL(of: manifest.entries[labelled.entryIndices[3]]))
        let (partial, missing) = try source.batch(indices: [0, 3, 5], epoch: 0)
        XCTAssertEqual(missing, [3])
        XCTAssertEqual(partial?.rgb.shape, [2, 3, 16, 16])
        XCTAssertEqual(partial?.labels[.scene], [0, 5].map { Int(labelled.scene[$0]) })
        XCTAssertEqual(Array(partial!.rgb.scalars[768...]), Array(batch!.rgb.scalars[1536...]), "rows compacted in order")
        XCTAssertEqual(source.problems(inEpoch: 0).count, 1)
        XCTAssertEqual(source.problems(inEpoch: 1).count, 0)
    }

    /// A labelled data set of 10 training images on disk (16-way scene labels) and a model for it.
    static func labelledDataSet(at root: URL) throws -> (labelled: LabelledManifest, partitions: GeoPartitions, model: TransLocatorModel) {
        let (manifest, partitions) = try dataSet(count: 12, at: root)
        let hierarchy = try SceneHierarchy(contentsOf: root.appendingPathComponent("scene_hierarchy.csv"))
        let labelled = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: hierarchy, sceneClasses: 16)
        let config = ModelConfig(imageSize: 16, patchSize: 8, embedDimension: 16, depth: 1, headCount: 2, sceneClasses: 16)
        return (labelled, partitions, try TransLocatorModel(config: config, headSizes: partitions.headSizes, seed: 1))
    }

    func testBadImagesAreSkippedAndReportedOrStopAStrictRunNamingFileAndLine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("strict-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (labelled, partitions, model) = try Self.labelledDataSet(at: root)
        let manifest = labelled.manifest
        let missing = manifest.entries[labelled.entryIndices[3]], corrupt = manifest.entries[labelled.entryIndices[5]]
        try FileManager.default.removeItem(at: manifest.imageURL(of: missing))
        try Data("not an image".utf8).write(to: manifest.imageURL(of: corrupt))
        let missingError = ManifestError.missingFile(file: manifest.file, line: missing.line, column: "image", path: missing.imagePath)

        let lenient = Self.source(labelled)
        let (batch, skipped) = try lenient.batch(indices: [0, 3, 5, 6], epoch: 0)
        XCTAssertEqual(skipped, [3, 5])
        XCTAssertEqual(batch?.count, 2)
        let problems = lenient.problems(inEpoch: 0)
        XCTAssertEqual(problems.first, missingError)
        XCTAssertEqual(problems.count, 2)
        XCTAssertTrue("\(problems[1])".hasPrefix("\(manifest.file):\(corrupt.line): image '\(corrupt.imagePath)' cannot be read"),
                      "\(problems[1])")

        let strict = Self.source(labelled, strict: true)
        XCTAssertThrowsError(try strict.batch(indices: [0, 3, 5], epoch: 0)) { XCTAssertEqual($0 as? ManifestError, missingError) }
        XCTAssertThrowsError(try strict.batch(indices: [5, 0], epoch: 0)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(manifest.file):\(corrupt.line): image"), "\(error)")
        }

        // Through the loop (with prefetch): counted for the epoch's report, or the run stops.
        var config = TrainingConfig()
        config.epochs = 1
        let plan = AccumulationPlan(imageCount: labelled.count, batchSize: 4, microBatchSize: 2)
        let schedule = LearningRateSchedule(baseLearningRate: 1e-3, warmupSteps: 0, totalSteps: plan.stepsPerEpoch, finalScale: 1)
        let loop = TrainingLoop(plan: plan, epochs: 1, checkpointURL: root.appendingPathComponent("c.safetensors"), partitions: partitions)
        var summaries: [TrainingLoop.EpochSummary] = []
        let trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 3))
        let source = Self.source(labelled)
        XCTAssertTrue(try loop.run(trainer, source: source, onEpoch: { summaries.append($0) }))
        XCTAssertEqual(summaries.map(\.skipped), [2])
        XCTAssertEqual(source.problems(inEpoch: 0).count, 2)
        XCTAssertLessThanOrEqual(source.buffersMade, 8, "recycled: two steps of two micro-batches, a short last one, compacted ones")
        let strictTrainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 3))
        XCTAssertThrowsError(try loop.run(strictTrainer, source: strict)) { XCTAssertTrue($0 is ManifestError, "\($0)") }
    }

    func testRecycledBatchBuffersAreReusedAndRefilled() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("recycle-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (labelled, _, _) = try Self.labelledDataSet(at: root)
        let source = Self.source(labelled)
        let first = try XCTUnwrap(source.batch(indices: [0, 1], epoch: 0).batch)
        let firstPixels = first.rgb.scalars
        let other = try XCTUnwrap(source.batch(indices: [2, 3], epoch: 0).batch)
        let otherPixels = other.rgb.scalars
        XCTAssertEqual(source.buffersMade, 2)
        source.recycle(first)
        source.recycle(other)
        let again = try XCTUnwrap(source.batch(indices: [0, 1], epoch: 0).batch)
        XCTAssertEqual(source.buffersMade, 2, "an idle buffer was reused")
        XCTAssertTrue(again.rgb.storage === other.rgb.storage, "the last recycled buffer, refilled")
        XCTAssertEqual(again.rgb.scalars, firstPixels)
        XCTAssertNotEqual(otherPixels, firstPixels, "a different batch")
    }

    func testEvaluatorScoresAModelFileAndNamesMissingImages() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("evaluator-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (manifest, partitions) = try Self.dataSet(count: 10, at: root)
        let config = ModelConfig(imageSize: 16, patchSize: 8, embedDimension: 16, depth: 1, headCount: 2, sceneClasses: 16)
        let model = try TransLocatorModel(config: config, headSizes: partitions.headSizes, seed: 1)
        let url = root.appendingPathComponent("model.safetensors")
        try ModelFile(model: model, partitions: partitions, preprocessing: Preprocessing(resizeShortSide: 18)).write(to: url)
        var evaluator = Evaluator(modelFile: try ModelFile(contentsOf: url))
        evaluator.batchSize = 3
        let result = try evaluator.evaluate(manifest)
        XCTAssertEqual(result.evaluation.images, manifest.entries.map(\.imagePath))
        let cellMeans = Set(partitions.fine.cells.map(\.mean))
        XCTAssertTrue(result.evaluation.predictions.allSatisfy { cellMeans.contains($0) }, "answers are fine-cell means")
        evaluator.tenCrop = true
        XCTAssertEqual(try evaluator.evaluate(manifest).evaluation.images.count, manifest.count)

        try FileManager.default.removeItem(at: manifest.imageURL(of: manifest.entries[1]))
        XCTAssertThrowsError(try evaluator.evaluate(manifest)) { error in
            XCTAssertEqual("\(error)", "\(manifest.file):3: image '\(manifest.entries[1].imagePath)' does not exist")
        }
        evaluator.skipInvalid = true
        let skipping = try evaluator.evaluate(manifest)
        XCTAssertEqual(skipping.evaluation.images.count, manifest.count - 1)
        XCTAssertEqual(skipping.skipped.count, 1)
    }
}
