import Foundation
import XCTest
import GeoCells
import Training
@testable import CLI

/// `translocator label`: the trainer's labels written out for another trainer, checked against
/// the cells themselves (each image's fine, middle and coarse cell contains it).
final class LabelCommandTests: XCTestCase {
    func testLabelsAreTheTrainersAndTheCellsContainTheirImages() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("label-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        _ = try TrainCommandTests.makeRun(in: root)                                  // a synthesized data set in root
        let manifestURL = root.appendingPathComponent("train.csv")
        let manifest = try Manifest(contentsOf: manifestURL)
        // Partitions from half the images, so some images fall outside every cell.
        var half = Coordinates()
        for entry in manifest.entries.prefix(manifest.count / 2) { half.append(latitude: entry.latitude, longitude: entry.longitude) }
        let partitions = try GeoPartitions.build(half, minImages: 0, maxImages: [8, 4, 2])
        let folder = root.appendingPathComponent("partitions")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try partitions.write(to: folder)
        let out = root.appendingPathComponent("labels/train-labelled.csv")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)

        let result = try runCommandLineCapturingOutput(["label", "--manifest", manifestURL.path, "--partitions", folder.path,
                                                        "--out", out.path, "--scene-classes", "16"], in: root)
        XCTAssertEqual(result.code, ExitCode.success, result.stderr)
        let expected = try LabelledManifest(manifest: manifest, partitions: partitions,
                                            hierarchy: SceneHierarchy(contentsOf: root.appendingPathComponent("scene_hierarchy.csv")),
                                            sceneClasses: 16)
        XCTAssertGreaterThan(expected.outsideCount, 0)
        XCTAssertTrue(result.stdout.contains("\(expected.count) images labelled, \(expected.outsideCount) outside"), result.stdout)

        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(lines[0], ["image", "lat", "lon", "seg", "scene", "coarse", "middle", "fine", "scene_class"])
        XCTAssertEqual(lines.count - 1, expected.count)
        for (k, row) in lines.dropFirst().enumerated() {
            let entry = manifest.entries[expected.entryIndices[k]]
            XCTAssertEqual(row[0], "../" + entry.imagePath)                          // relative to the CSV's folder
            XCTAssertEqual(row[3], "../" + (entry.segmentationPath ?? ""))
            XCTAssertEqual([Double(row[1]), Double(row[2])], [entry.latitude, entry.longitude])
            XCTAssertEqual(row[5...].map { Int32($0)! }, [expected.coarse[k], expected.middle[k], expected.fine[k], expected.scene[k]])
            let leaf = S2CellID(latitude: entry.latitude, longitude: entry.longitude)
            for (partition, label) in zip([partitions.coarse, partitions.middle, partitions.fine], row[5...7]) {
                XCTAssertTrue(partition.cells[Int(label)!].cell.contains(leaf), "row \(k + 2): cell \(label) does not contain its image")
            }
        }
        XCTAssertEqual(runCommandLine(["label", "--manifest", manifestURL.path, "--partitions", folder.path, "--out", out.path,
                                       "--scene-classes", "7"]), ExitCode.usage)
    }
}
