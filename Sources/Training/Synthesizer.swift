import Foundation
import Parallel
import TensorEngine
import GeoCells
import ImageCodec

/// Writes a synthetic data set (`translocator synthesize`): photos at real coordinates whose look
/// depends on the place (`SyntheticWorld`), their ADE20K class maps, and manifests.
///
/// Layout of the output folder:
///
///     images/000000.png ...   RGB photos, size x size
///     seg/000000.png ...      8-bit gray PNGs of ADE20K class indices (0-based, 150 classes)
///     train.csv val.csv test.csv   manifests `image,lat,lon,seg,scene` (paths relative to DIR)
///     scene_hierarchy.csv     the scene column's hierarchy, in Places365's format
///     README.txt              what this is (and is not)
///
/// Everything is a function of the seed, the coordinates and the sizes: the same arguments
/// write the same bytes.
public struct Synthesizer: Sendable {
    /// Photos to write, split into train, validation and test.
    public var imageCount: Int
    /// Seed of the choice of coordinates, the split and every photo's drawing.
    public var seed: UInt64
    /// Side of the square photos and maps, pixels.
    public var imageSize: Int
    /// Shares of the images in the validation and test manifests (the rest is training).
    public var validationShare: Double
    /// Share of the images in the test manifest.
    public var testShare: Double

    /// A synthesizer of `imageCount` square photos of `imageSize` pixels, split by the two shares
    /// (the rest trains).
    public init(imageCount: Int = 3000, seed: UInt64 = 0, imageSize: Int = 96, validationShare: Double = 0.1,
                testShare: Double = 0.1) {
        self.imageCount = imageCount
        self.seed = seed
        self.imageSize = imageSize
        self.validationShare = validationShare
        self.testShare = testShare
    }

    /// What `synthesize` wrote.
    public struct Summary: Sendable {
        /// The folder written.
        public var directory: URL
        /// Images in the train, validation and test manifests.
        public var trainCount: Int, validationCount: Int, testCount: Int
        /// Images per scene category (`SyntheticScene.categories` order).
        public var sceneCounts: [Int]
    }

    static let readme = """
        A synthetic data set written by `translocator synthesize`.

        The photos are drawn, not taken: each sits at a real MP-16 coordinate, and its look is a
        made-up function of that place (climate-like colours by latitude, terrain, water, trees and
        buildings from smooth random fields over the sphere), plus per-photo nuisance (lighting,
        camera roll, layout, noise). A model that learns it shows that the training machinery
        works (data loading, labels, losses, optimiser, checkpoints, evaluation). It says nothing
        about geolocating real photographs.

        seg/*.png hold ADE20K class indices (0-based: 1 building, 2 sky, 4 tree, 6 road, 9 grass,
        13 earth (snow here), 16 mountain, 21 water, 29 field, 34 rock, 46 sand). The manifests'
        scene column indexes scene_hierarchy.csv (Places365's hierarchy format).

        """

    /// Chooses `imageCount` of `coordinates` (a seeded shuffle), renders them in parallel and
    /// writes the folder.
    /// - Parameter progress: called with the number of images done so far (from any thread).
    /// - Throws: `SynthesisError` if there are too few coordinates or a file cannot be written.
    public func synthesize(from coordinates: Coordinates, to directory: URL,
                           progress: (@Sendable (Int) -> Void)? = nil) throws -> Summary {
        guard imageCount >= 3 else { throw SynthesisError.tooFewImages(imageCount) }
        guard coordinates.count >= imageCount else {
            throw SynthesisError.notEnoughCoordinates(available: coordinates.count, requested: imageCount)
        }
        let fileManager = FileManager.default
        for folder in ["images", "seg"] {
            do {
                try fileManager.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
            } catch {
                throw SynthesisError.cannotWrite(file: directory.appendingPathComponent(folder).path, reason: error.localizedDescription)
            }
        }
        var chooser = CounterRandom(seed: seed, stream: RandomStream.synthesis.rawValue, epoch: -2, index: 0)
        var chosen = Array(0..<coordinates.count)
        for i in 0..<imageCount { chosen.swapAt(i, i + chooser.index(below: coordinates.count - i)) }
        let points = chosen.prefix(imageCount).map {
            GeoCoordinate(latitude: coordinates.latitudes[$0], longitude: coordinates.longitudes[$0])
        }
        let world = SyntheticWorld(seed: seed)
        let size = imageSize
        var scenes = [Int](repeating: -1, count: imageCount)
        var failures = [String?](repeating: nil, count: imageCount)
        let done = Counter()
        scenes.withUnsafeMutableBufferPointer { sceneBuffer in
            failures.withUnsafeMutableBufferPointer { failureBuffer in
                // Worker i writes only slot i of `scenes` and `failures`, and its own two files.
                let sceneOut = SharedPointer(base: sceneBuffer.baseAddress!)
                let failureOut = SharedPointer(base: failureBuffer.baseAddress!)
                parallelFor(tasks: imageCount) { _, i in
                    let sample = world.render(at: points[i], index: i, size: size)
                    let name = Self.fileName(i)
                    do {
                        try PNGEncoder.encode(sample.photo).write(to: directory.appendingPathComponent("images/" + name))
                        try PNGEncoder.encode(pixels: sample.classMap, width: size, height: size, colorType: .gray)
                            .write(to: directory.appendingPathComponent("seg/" + name))
                        sceneOut.base[i] = sample.scene
                    } catch {
                        failureOut.base[i] = "\(name): \(error.localizedDescription)"
                    }
                    progress?(done.increment())
                }
            }
        }
        if let failure = failures.compactMap({ $0 }).first { throw SynthesisError.cannotWrite(file: directory.path, reason: failure) }
        let validationCount = max(1, Int((Double(imageCount) * validationShare).rounded()))
        let testCount = max(1, Int((Double(imageCount) * testShare).rounded()))
        let trainCount = imageCount - validationCount - testCount
        guard trainCount >= 1 else { throw SynthesisError.tooFewImages(imageCount) }
        let splits = [("train.csv", 0..<trainCount), ("val.csv", trainCount..<(trainCount + validationCount)),
                      ("test.csv", (trainCount + validationCount)..<imageCount)]
        for (name, range) in splits {
            let entries = range.map { i in
                ManifestEntry(imagePath: "images/" + Self.fileName(i), latitude: points[i].latitude, longitude: points[i].longitude,
                              segmentationPath: "seg/" + Self.fileName(i), scene: scenes[i])
            }
            try write(Manifest(entries: entries, directory: directory).csvText, to: directory.appendingPathComponent(name))
        }
        try write(SyntheticScene.hierarchyCSV, to: directory.appendingPathComponent("scene_hierarchy.csv"))
        try write(Self.readme, to: directory.appendingPathComponent("README.txt"))
        var sceneCounts = [Int](repeating: 0, count: SyntheticScene.categories.count)
        for scene in scenes { sceneCounts[scene] += 1 }
        return Summary(directory: directory, trainCount: trainCount, validationCount: validationCount, testCount: testCount,
                       sceneCounts: sceneCounts)
    }

    static func fileName(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".png"
    }

    private func write(_ text: String, to url: URL) throws {
        do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
            throw SynthesisError.cannotWrite(file: url.path, reason: error.localizedDescription)
        }
    }
}

/// Why `synthesize` could not run.
public enum SynthesisError: Error, CustomStringConvertible, Equatable {
    case tooFewImages(Int)
    case notEnoughCoordinates(available: Int, requested: Int)
    case cannotWrite(file: String, reason: String)

    /// A one-line message saying what is missing or which file cannot be written.
    public var description: String {
        switch self {
        case let .tooFewImages(count): "\(count) images cannot fill train, validation and test manifests (need at least 3)"
        case let .notEnoughCoordinates(available, requested):
            "\(requested) images requested but the coordinate file has only \(available) rows"
        case let .cannotWrite(file, reason): "\(file): cannot write (\(reason))"
        }
    }
}

/// A thread-safe counter for progress reports from parallel workers.
final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()

    /// Adds one and returns the new value.
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
