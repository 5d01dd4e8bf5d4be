import Foundation
import TensorEngine
import GeoCells

/// `translocator bench partition`: seconds to partition MP-16-sized coordinates.
struct BenchPartitionCommand: Command {
    static let name = "bench partition"
    static let summary = "Seconds to partition 4.7M coordinates at three resolutions."
    static let discussion = """
        Times GeoEstimation's partitioning (tau_min 50, tau_max 5000,2000,1000) of --points \
        coordinates: leaf cells for every point (parallel), one radix sort, then the three \
        resolutions with their means. The points are the manifest's coordinates replicated with a \
        small seeded jitter (uniform +-0.01 degrees, 6 decimals as in MP-16) up to --points; the \
        default, the bundled 20k MP-16 sample grown to MP-16's 4,723,695, needs only a fresh clone. \
        Best of --repeats runs. --save-points writes the points (lat,lon) so that \
        scripts/bench/partition.py times the Python transcription of GeoEstimation on the same data.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print {\"points\": N, \"seconds\": S, ...} (S: the three resolutions together, leaf cells included)."),
        .option("points", value: "n", default: "4723695", "How many coordinates (MP-16's training set)."),
        .option("manifest", value: "csv", default: "data/mp16-sample-20k.csv", "Coordinates to replicate."),
        .option("repeats", value: "n", default: "3", "Timed runs; the best is reported."),
        .option("seed", value: "n", default: "1", "Seed of the jitter."),
        .option("save-points", value: "csv", "Also write the generated points to this file (lat,lon)."),
    ]
    static let examples = [
        "translocator bench partition",
        "translocator bench partition --json --points 1000000",
        "python3 scripts/bench/partition.py",
    ]
    static let defaultManifest = "data/mp16-sample-20k.csv"

    static func run(_ arguments: ParsedArguments) throws {
        let count = try arguments.int("points", in: 1...1_000_000_000)
        let repeats = try arguments.int("repeats", in: 1...100)
        let seed = try arguments.int("seed", in: 0...Int.max)
        let manifest = arguments.string("manifest") ?? defaultManifest
        guard FileManager.default.fileExists(atPath: manifest) else {
            throw CommandFailure("\(manifest) not found: run from the repository root or pass --manifest <csv>")
        }
        let base = try CoordinateFile(contentsOf: URL(fileURLWithPath: manifest), name: manifest).coordinates
        let points = replicated(base, count: count, seed: UInt64(seed))
        if let path = arguments.string("save-points") {
            var text = "lat,lon\n"
            text.reserveCapacity(count * 24)
            for k in 0..<count { text += "\(points.latitudes[k]),\(points.longitudes[k])\n" }
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } catch {
                throw CommandFailure("\(path): cannot write (\((error as NSError).localizedDescription))")
            }
        }
        let maxima = [5000, 2000, 1000]
        var best = (total: Double.infinity, leaf: Double.infinity, sort: Double.infinity, cells: Double.infinity)
        var cellCounts: [Int] = []
        for run in 1...repeats {
            let startCPU = processCPUSeconds()
            let start = DispatchTime.now()
            let leafIDs = leafCellIDs(points)
            let afterLeaves = DispatchTime.now()
            let leaves = SortedLeafCells(leafIDs: leafIDs)
            let afterSort = DispatchTime.now()
            let partitions = Partition.build(leaves: leaves, coordinates: points, minImages: 50, maxImages: maxima)
            let end = DispatchTime.now()
            let cpu = processCPUSeconds() - startCPU
            cellCounts = partitions.map(\.count)
            let total = seconds(start, end)
            printError(String(format: "run %d: %.3f s (leaf cells %.3f s, sort %.3f s, partitions %.3f s; CPU %.3f s, all threads)",
                              run, total, seconds(start, afterLeaves), seconds(afterLeaves, afterSort), seconds(afterSort, end), cpu))
            best.total = min(best.total, total)
            best.leaf = min(best.leaf, seconds(start, afterLeaves))
            best.sort = min(best.sort, seconds(afterLeaves, afterSort))
            best.cells = min(best.cells, seconds(afterSort, end))
        }
        if arguments.flag("json") {
            print(String(format: "{\"points\": %d, \"seconds\": %.4f, \"leafCellSeconds\": %.4f, \"sortSeconds\": %.4f, "
                         + "\"partitionSeconds\": %.4f, \"cells\": [%@], \"threads\": %d}", count, best.total, best.leaf, best.sort,
                         best.cells, cellCounts.map(String.init).joined(separator: ", "),
                         ProcessInfo.processInfo.activeProcessorCount))
        } else {
            print("points          \(count) (\(base.count) from \(manifest), replicated with jitter)")
            print(String(format: "leaf cells      %.3f s  (%.1f M points/s, %d threads)", best.leaf,
                         Double(count) / best.leaf / 1e6, ProcessInfo.processInfo.activeProcessorCount))
            print(String(format: "sort            %.3f s", best.sort))
            print(String(format: "3 resolutions   %.3f s  (%@ cells)", best.cells, cellCounts.map(String.init).joined(separator: " / ")))
            print(String(format: "total           %.3f s  (best of %d)", best.total, repeats))
        }
    }

    /// CPU time of the whole process (all threads): on a busy machine, what the work cost.
    private static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func seconds(_ start: DispatchTime, _ end: DispatchTime) -> Double {
        Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// `base` first as it is, then copies with each coordinate moved by up to 0.01 degrees
    /// (seeded), latitudes clamped and longitudes wrapped into range, rounded to 6 decimals.
    static func replicated(_ base: Coordinates, count: Int, seed: UInt64) -> Coordinates {
        var generator = SeededGenerator(seed: seed)
        func uniform() -> Double { 2 * generator.nextUnit() - 1 }   // in [-1, 1)
        var latitudes = [Double](), longitudes = [Double]()
        latitudes.reserveCapacity(count)
        longitudes.reserveCapacity(count)
        for k in 0..<count {
            var latitude = base.latitudes[k % base.count], longitude = base.longitudes[k % base.count]
            if k >= base.count {
                latitude = min(90, max(-90, ((latitude + 0.01 * uniform()) * 1e6).rounded() / 1e6))
                longitude = ((longitude + 0.01 * uniform()) * 1e6).rounded() / 1e6
                if longitude > 180 { longitude -= 360 } else if longitude < -180 { longitude += 360 }
            }
            latitudes.append(latitude)
            longitudes.append(longitude)
        }
        return Coordinates(latitudes: latitudes, longitudes: longitudes)
    }
}
