import Foundation

/// The three partitions a model classifies into, coarse to fine (GeoEstimation's tau_max
/// 5000 / 2000 / 1000 over one tau_min), and their folder: `coarse.csv`, `middle.csv`,
/// `fine.csv` as `translocator partition` writes them.
public struct GeoPartitions: Equatable, Sendable {
    /// The coarsest partition (`coarse.csv`; GeoEstimation's tau_max 5000).
    public var coarse: Partition
    /// The middle partition (`middle.csv`; tau_max 2000).
    public var middle: Partition
    /// The finest partition (`fine.csv`; tau_max 1000).
    public var fine: Partition

    /// The three partitions, coarse to fine.
    public init(coarse: Partition, middle: Partition, fine: Partition) {
        self.coarse = coarse; self.middle = middle; self.fine = fine
    }

    /// The file names in a partition folder, coarse to fine.
    public static let fileNames = ["coarse.csv", "middle.csv", "fine.csv"]

    /// coarse, middle, fine.
    public var all: [Partition] { [coarse, middle, fine] }

    /// GeoEstimation's adaptive cells of `coordinates` at three resolutions (`Partition.build`).
    /// - Parameter maxImages: tau_max of coarse, middle and fine, strictly decreasing.
    /// - Throws: `PartitionError.invalidParameters` unless there are three valid limits.
    public static func build(_ coordinates: Coordinates, minImages: Int = 50,
                             maxImages: [Int] = [5000, 2000, 1000]) throws -> GeoPartitions {
        guard maxImages.count == 3 else {
            throw PartitionError.invalidParameters("three tau_max values (coarse, middle, fine) are needed, got \(maxImages.count)")
        }
        let levels = try Partition.build(coordinates, minImages: minImages, maxImages: maxImages)
        return GeoPartitions(coarse: levels[0], middle: levels[1], fine: levels[2])
    }

    /// Reads `folder/coarse.csv`, `middle.csv` and `fine.csv` (ours or GeoEstimation's).
    /// - Throws: what `Partition(contentsOf:)` throws, naming the file.
    public init(contentsOf folder: URL) throws {
        let read = try Self.fileNames.map { try Partition(contentsOf: folder.appendingPathComponent($0)) }
        self.init(coarse: read[0], middle: read[1], fine: read[2])
    }

    /// Writes the three files into `folder` (which must exist), each atomically.
    /// - Throws: `PartitionError.cannotWrite`.
    public func write(to folder: URL) throws {
        try Partition.write(Array(zip(all, Self.fileNames.map { folder.appendingPathComponent($0) })))
    }
}
