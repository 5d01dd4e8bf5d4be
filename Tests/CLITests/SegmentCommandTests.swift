import Foundation
import XCTest
import ImageCodec
import Segmenter
import TensorEngine
import TransLocator
import Training
@testable import CLI

/// `segment`, `bundle`, `predict` from the photo alone and `train --segmenter`, end to end with
/// a tiny random SegFormer (Tests/SegmenterTests/Fixtures/segformer-four-stages.safetensors:
/// ADE20K's 150 labels, its config in __metadata__) and tiny TransLocator models.
final class SegmentCommandTests: XCTestCase {
    static let repository = PredictCommandTests.repository
    static let segmenter = repository.appendingPathComponent("Tests/SegmenterTests/Fixtures/segformer-four-stages.safetensors").path
    static let otherSegmenter = repository.appendingPathComponent("Tests/SegmenterTests/Fixtures/segformer-three-stages.safetensors").path
    static let photo = repository.appendingPathComponent("data/kauai.png").path

    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-segment-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }

    func testWritesIndexMapsThePhotosSizeWithSharesAndPalette() throws {
        let directory = try temporaryDirectory()
        let out = directory.appendingPathComponent("maps")
        let result = try runCommandLineCapturingOutput(["segment", Self.photo, "--segmenter", Self.segmenter, "--out", out.path,
                                                        "--palette", "--json", "-k", "3"], in: directory)
        XCTAssertEqual(result.code, ExitCode.success, result.stderr)
        let documents = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(documents.count, 1)
        XCTAssertEqual(documents[0]["width"] as? Int, 512)
        XCTAssertEqual(documents[0]["height"] as? Int, 504)
        let classes = try XCTUnwrap(documents[0]["classes"] as? [[String: Any]])
        XCTAssertEqual(classes.count, 3)
        let shares = classes.compactMap { $0["share"] as? Double }
        XCTAssertEqual(shares, shares.sorted(by: >))
        XCTAssertTrue(shares.allSatisfy { $0 > 0 && $0 <= 1 })

        // The map as the library makes it, and readable where --seg reads maps.
        let written = try SegmentationMap(contentsOf: out.appendingPathComponent("kauai.png"))
        let expected = try Segmenter(contentsOf: URL(fileURLWithPath: Self.segmenter)).segment([Image(contentsOf: URL(fileURLWithPath: Self.photo))])
        XCTAssertEqual(written, expected[0])
        let histogram = Dictionary(grouping: written.classes, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(classes.first?["index"] as? Int, histogram.max { $0.value < $1.value }.map { Int($0.key) })
        let palette = try Image(contentsOf: out.appendingPathComponent("kauai.palette.png"))
        XCTAssertEqual(palette, written.renderedADE20K())

        // Two photos that would overwrite each other's map, and a missing segmenter.
        XCTAssertEqual(runCommandLine(["segment", Self.photo, Self.photo, "--segmenter", Self.segmenter, "--out", out.path]), ExitCode.usage)
        let missing = try runCommandLineCapturingOutput(["segment", Self.photo, "--segmenter", directory.appendingPathComponent("nope").path],
                                                        in: directory)
        XCTAssertEqual(missing.code, ExitCode.failure)
        XCTAssertTrue(missing.stderr.contains("nope: not a segmenter: no such file or folder"), missing.stderr)
    }

    func testAModelThatCarriesItsSegmenterPredictsFromThePhotoAlone() throws {
        let directory = try temporaryDirectory()
        let plain = directory.appendingPathComponent("plain.safetensors"), bundled = directory.appendingPathComponent("bundled.safetensors")
        try PredictCommandTests.makeModel(segmentation: true, at: plain)
        let map = directory.appendingPathComponent("maps/kauai.png")
        XCTAssertEqual(runCommandLine(["segment", Self.photo, "--segmenter", Self.segmenter, "--out", map.deletingLastPathComponent().path]),
                       ExitCode.success)

        // Without a segmenter the paper's model cannot run on a photo alone, and says what to do.
        let refused = try runCommandLineCapturingOutput(["predict", Self.photo, "--model", plain.path], in: directory)
        XCTAssertEqual(refused.code, ExitCode.failure)
        XCTAssertTrue(refused.stderr.contains("carries no segmenter"), refused.stderr)

        XCTAssertEqual(runCommandLine(["bundle", "--model", plain.path, "--segmenter", Self.segmenter, "--out", bundled.path]),
                       ExitCode.success)
        let file = try ModelFile(contentsOf: bundled)
        XCTAssertEqual(file.segmenterRecord?.name, "segformer-four-stages")
        XCTAssertEqual(file.segmenterRecord?.sha256, try sha256Hex(contentsOf: URL(fileURLWithPath: Self.segmenter)))
        XCTAssertEqual(file.segmenterRecord?.bundled, true)

        // The same answer three ways: the bundled segmenter, --segmenter, and its map given with --seg.
        let alone = try runCommandLineCapturingOutput(["predict", Self.photo, "--model", bundled.path, "--json"], in: directory)
        XCTAssertEqual(alone.code, ExitCode.success, alone.stderr)
        XCTAssertFalse(alone.stderr.contains("warning"), alone.stderr)
        let given = try runCommandLineCapturingOutput(["predict", Self.photo, "--model", plain.path, "--seg", map.path, "--json"], in: directory)
        XCTAssertEqual(given.code, ExitCode.success, given.stderr)
        XCTAssertEqual(alone.stdout, given.stdout)
        let named = try runCommandLineCapturingOutput(["predict", Self.photo, "--model", bundled.path, "--segmenter", Self.segmenter,
                                                       "--json"], in: directory)
        XCTAssertEqual(named.stdout, given.stdout)
        XCTAssertFalse(named.stderr.contains("warning"), named.stderr)

        // Another segmenter than the model's is a warning (and this one has 19 classes, not ADE20K's 150: an error).
        let other = try runCommandLineCapturingOutput(["predict", Self.photo, "--model", bundled.path, "--segmenter", Self.otherSegmenter],
                                                      in: directory)
        XCTAssertEqual(other.code, ExitCode.usage)
        XCTAssertTrue(other.stderr.contains("segments into 19 classes"), other.stderr)
        var record = try XCTUnwrap(file.segmenterRecord)
        record.sha256 = String(repeating: "0", count: 64)
        var metadata = file.metadata
        metadata["segmenter"] = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        let retrained = directory.appendingPathComponent("retrained.safetensors")
        try ModelFile(model: file.model, partitions: file.partitions, preprocessing: file.preprocessing, metadata: metadata)
            .write(to: retrained)
        let warned = try runCommandLineCapturingOutput(["predict", Self.photo, "--model", retrained.path, "--segmenter", Self.segmenter],
                                                       in: directory)
        XCTAssertEqual(warned.code, ExitCode.success, warned.stderr)
        XCTAssertTrue(warned.stderr.contains("warning: \(retrained.path) was trained on maps from segformer-four-stages (sha256 000000000000)"),
                      warned.stderr)
    }

    func testBadPhotosAreErrorsNamingTheFile() throws {
        let directory = try temporaryDirectory()
        // A PNG whose header claims 100000 x 100000 pixels: refused before anything is allocated.
        var png = [UInt8](PNGEncoder.encode(Image(width: 1, height: 1)))
        for (offset, value) in [(16, UInt32(100_000)), (20, UInt32(100_000))] {
            withUnsafeBytes(of: value.bigEndian) { png.replaceSubrange(offset..<offset + 4, with: $0) }
        }
        let crc = png.withUnsafeBufferPointer { crc32($0.baseAddress! + 12, count: 17) }     // IHDR's type and data
        withUnsafeBytes(of: crc.bigEndian) { png.replaceSubrange(29..<33, with: $0) }
        let bomb = directory.appendingPathComponent("bomb.png")
        try Data(png).write(to: bomb)
        let truncated = directory.appendingPathComponent("truncated.png")
        try Data(try Data(contentsOf: URL(fileURLWithPath: Self.photo)).prefix(2000)).write(to: truncated)
        for (file, problem) in [(bomb, "decompression-bomb"), (truncated, "truncated.png")] {
            let result = try runCommandLineCapturingOutput(["segment", file.path, "--segmenter", Self.segmenter, "--out", directory.path],
                                                           in: directory)
            XCTAssertEqual(result.code, ExitCode.failure, file.path)
            XCTAssertTrue(result.stderr.contains(file.lastPathComponent) && result.stderr.contains(problem), result.stderr)
        }
    }

    /// A manifest of three photos, one of them missing.
    func makeManifest(in directory: URL) throws -> URL {
        let photos = directory.appendingPathComponent("photos/sub")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        let image = try Image(contentsOf: URL(fileURLWithPath: Self.photo))
        try PNGEncoder.encode(image.resized(width: 64, height: 48)).write(to: photos.appendingPathComponent("a.png"))
        try PNGEncoder.encode(image.resized(width: 40, height: 70)).write(to: directory.appendingPathComponent("photos/a.png"))
        let manifest = directory.appendingPathComponent("photos/list.csv")
        try Data("image,lat,lon\nsub/a.png,22.0,-159.5\nmissing.jpg,1,2\na.png,-33.9,151.2\n".utf8).write(to: manifest)
        return manifest
    }

    func testSegmentsAManifestResumablyAndRefusesMixingSegmenters() throws {
        let directory = try temporaryDirectory()
        let manifest = try makeManifest(in: directory)
        let out = directory.appendingPathComponent("segmented")
        let first = try runCommandLineCapturingOutput(["segment", "--manifest", manifest.path, "--segmenter", Self.segmenter,
                                                       "--out", out.path], in: directory)
        XCTAssertEqual(first.code, ExitCode.success, first.stderr)
        XCTAssertTrue(first.stdout.contains("segmented 2 photos (0 maps already there, 1 left out)"), first.stdout)
        XCTAssertTrue(first.stderr.contains("list.csv:3"), first.stderr)                       // the missing photo's row
        let written = try Manifest(contentsOf: out.appendingPathComponent("manifest.csv"))
        XCTAssertEqual(written.entries.map(\.segmentationPath), ["maps/sub/a.png", "maps/a.png"])
        XCTAssertEqual(written.entries.map(\.imagePath), ["../photos/sub/a.png", "../photos/a.png"])
        XCTAssertEqual(written.entries.map(\.latitude), [22.0, -33.9])
        for entry in written.entries {                                                          // maps the photos' size
            let photo = try Image(contentsOf: written.imageURL(of: entry))
            let map = try SegmentationMap(contentsOf: try XCTUnwrap(written.segmentationURL(of: entry)))
            XCTAssertEqual([map.width, map.height], [photo.width, photo.height])
        }

        // A rerun skips the maps already there (an interrupted run resumes the same way): the first
        // row's map is gone and made again, the last row's is kept; rows stay in manifest order.
        let map = out.appendingPathComponent("maps/a.png")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: map.path)
        try FileManager.default.removeItem(at: out.appendingPathComponent("maps/sub/a.png"))
        let again = try runCommandLineCapturingOutput(["segment", "--manifest", manifest.path, "--segmenter", Self.segmenter,
                                                       "--out", out.path], in: directory)
        XCTAssertTrue(again.stdout.contains("segmented 1 photos (1 maps already there, 1 left out)"), again.stdout)
        let date = try FileManager.default.attributesOfItem(atPath: map.path)[.modificationDate] as? Date
        XCTAssertEqual(date, Date(timeIntervalSince1970: 0))
        let rewritten = try Manifest(contentsOf: out.appendingPathComponent("manifest.csv"))
        XCTAssertEqual(rewritten.entries.map(\.segmentationPath), ["maps/sub/a.png", "maps/a.png"])

        let mixed = try runCommandLineCapturingOutput(["segment", "--manifest", manifest.path, "--segmenter", Self.otherSegmenter,
                                                       "--out", out.path], in: directory)
        XCTAssertEqual(mixed.code, ExitCode.failure)
        XCTAssertTrue(mixed.stderr.contains("holds maps made by segformer-four-stages"), mixed.stderr)
    }

    func testTrainingWithASegmenterRecordsAndBundlesIt() throws {
        let run = try TrainCommandTests.makeRun(in: try temporaryDirectory())
        let synthesized = try Manifest(contentsOf: run.root.appendingPathComponent("train.csv"))
        var unsegmented = synthesized
        for i in unsegmented.entries.indices where i % 2 == 0 { unsegmented.entries[i].segmentationPath = nil }  // half lack a map
        let trainCSV = run.root.appendingPathComponent("train-half.csv")
        try Data(unsegmented.csvText.utf8).write(to: trainCSV)
        let arguments = Array(run.arguments.dropLast(2)) + ["--train", trainCSV.path]
        let out = run.root.appendingPathComponent("run")
        let result = try runCommandLineCapturingOutput(arguments + ["--out", out.path, "--max-steps", "2", "--segmenter", Self.segmenter,
                                                                    "--bundle-segmenter"], in: run.root)
        XCTAssertEqual(result.code, ExitCode.success, result.stderr)
        let made = unsegmented.entries.filter { $0.segmentationPath == nil }.count
        XCTAssertTrue(result.stderr.contains("\(made) made, 0 cached, \(unsegmented.count - made) given"), result.stderr)
        let file = try ModelFile(contentsOf: out.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(file.segmenterRecord?.name, "segformer-four-stages")
        XCTAssertNotNil(file.bundledSegmenter)
        let photo = run.root.appendingPathComponent(synthesized.entries[0].imagePath).path
        let predicted = try runCommandLineCapturingOutput(["predict", photo, "--model", out.appendingPathComponent("last.safetensors").path],
                                                          in: run.root)
        XCTAssertEqual(predicted.code, ExitCode.success, predicted.stderr)

        // The maps are a cache: a resumed run makes none again.
        let resumed = try runCommandLineCapturingOutput(arguments + ["--out", out.path, "--max-steps", "3", "--resume",
                                                                     "--segmenter", Self.segmenter, "--bundle-segmenter"], in: run.root)
        XCTAssertEqual(resumed.code, ExitCode.success, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("0 made, \(made) cached"), resumed.stderr)

        // Resumed without --segmenter, the run keeps the checkpoint's segmenter in what it writes.
        let again = try runCommandLineCapturingOutput(arguments + ["--out", out.path, "--max-steps", "4", "--resume"], in: run.root)
        XCTAssertEqual(again.code, ExitCode.success, again.stderr)
        let kept = try ModelFile(contentsOf: out.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(kept.segmenterRecord?.sha256, file.segmenterRecord?.sha256)
        XCTAssertNotNil(kept.bundledSegmenter)
    }
}
