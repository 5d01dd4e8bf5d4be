import Foundation
import GeoCells
import Training

/// `translocator synthesize`: a learnable synthetic data set at real MP-16 coordinates.
struct SynthesizeCommand: Command {
    static let name = "synthesize"
    static let summary = "Write a synthetic data set (a test of the machinery, not of geolocation)."
    static let discussion = """
        Writes a small data set whose photos are drawn, not taken: each sits at a real MP-16 \
        coordinate (from --coordinates), and its look is a made-up function of that place: \
        climate-like colour bands by latitude, terrain, water, trees and buildings from smooth \
        random fields over the sphere, plus per-photo nuisance (lighting, camera roll, layout, \
        noise). Beside each photo (DIR/images/*.png) goes its ADE20K class map (DIR/seg/*.png, \
        8-bit class indices), and DIR/train.csv, val.csv, test.csv list them as manifests \
        (image,lat,lon,seg,scene; 80/10/10). A model that learns this data shows that training, \
        checkpoints and evaluation work; it says nothing about geolocating real photographs. \
        The same --seed writes the same files.
        """
    static let options: [OptionSpec] = [
        .option("out", value: "dir", required: true, "Folder to write (created if missing)."),
        .option("images", value: "n", default: "3000", "How many photos."),
        .option("seed", value: "s", default: "0", "Seed of the synthetic world and of every photo."),
        .option("size", value: "pixels", default: "96", "Side of the square photos and maps."),
        .option("coordinates", value: "csv", default: defaultCoordinates,
                "CSV with LAT,LON columns to take places from (the default is found here or in the repository the binary was built in)."),
    ]
    static let examples = [
        "translocator synthesize --out synthetic",
        "translocator synthesize --out /tmp/small --images 300 --seed 7 --size 64",
    ]

    static let defaultCoordinates = "data/mp16-sample-20k.csv"

    static func run(_ arguments: ParsedArguments) throws {
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        let count = try arguments.int("images", in: 3...10_000_000)
        let seed = try arguments.int("seed", in: 0...Int.max)
        let size = try arguments.int("size", in: 16...4096)
        let coordinatePath = try arguments.requiredString("coordinates")
        let coordinateURL = arguments.given("coordinates") ? URL(fileURLWithPath: coordinatePath) : BuiltIn.repositoryFile(coordinatePath)
        guard let coordinateURL, FileManager.default.fileExists(atPath: coordinateURL.path) else {
            throw CommandFailure("\(coordinatePath) not found: pass --coordinates <csv> with LAT,LON columns")
        }
        let coordinates = try CoordinateFile(contentsOf: coordinateURL, name: coordinatePath).coordinates
        let synthesizer = Synthesizer(imageCount: count, seed: UInt64(seed), imageSize: size)
        printError("synthesize: a test of the training machinery, not of geolocation (the photos are drawn)")
        let progress = SharedProgress(ProgressLine("synthesize", total: count, unit: "images"))
        let summary = try synthesizer.synthesize(from: coordinates, to: out) { done in progress.update(done) }
        progress.finish(count)
        print("wrote \(count) synthetic photos and class maps to \(out.path) "
              + "(train \(summary.trainCount), val \(summary.validationCount), test \(summary.testCount))")
        let scenes = zip(SyntheticScene.categories, summary.sceneCounts).map { "\($0.name) \($1)" }
        print("scenes: " + scenes.joined(separator: ", "))
        print("manifests: \(out.appendingPathComponent("train.csv").path), val.csv, test.csv")
        print("note: synthetic data tests the machinery (loading, training, checkpoints, eval), not geolocation")
    }
}

/// A progress line shared by parallel workers: one lock around the updates.
final class SharedProgress: @unchecked Sendable {
    private let line: ProgressLine
    private let lock = NSLock()

    init(_ line: ProgressLine) { self.line = line }

    func update(_ done: Int) {
        lock.lock()
        defer { lock.unlock() }
        line.update(done)
    }

    func finish(_ done: Int) {
        lock.lock()
        defer { lock.unlock() }
        line.finish(done)
    }
}
