import Dispatch
import Foundation
import Parallel

/// One class of a partition: an S2 cell, how many training images it holds, and the mean of
/// their coordinates (what a prediction of this class answers).
public struct PartitionCell: Equatable, Sendable {
    /// The class this cell is (0..<N within its partition).
    public var classLabel: Int
    /// The S2 cell (any level).
    public var cell: S2CellID
    /// Training images inside the cell when the partition was built.
    public var imageCount: Int
    /// Mean latitude of those images (degrees).
    public var latitudeMean: Double
    /// Mean longitude of those images (degrees).
    public var longitudeMean: Double

    /// A class from its label, cell, image count and mean coordinate (degrees).
    public init(classLabel: Int, cell: S2CellID, imageCount: Int, latitudeMean: Double, longitudeMean: Double) {
        self.classLabel = classLabel
        self.cell = cell
        self.imageCount = imageCount
        self.latitudeMean = latitudeMean
        self.longitudeMean = longitudeMean
    }

    /// The images' mean coordinate: the location a prediction of this class answers.
    public var mean: GeoCoordinate { GeoCoordinate(latitude: latitudeMean, longitude: longitudeMean) }
}

/// A partition file that makes no sense: labels not 0..<N, invalid or overlapping cells.
public enum PartitionError: Error, CustomStringConvertible, Equatable {
    case badLabels(String)
    case overlappingCells(String, String)
    case invalidParameters(String)
    case cannotWrite(file: String, reason: String)

    /// A one-line message naming the problem (labels, overlapping cells or file).
    public var description: String {
        switch self {
        case let .badLabels(detail): "partition class labels must be 0..<N, each once: \(detail)"
        case let .overlappingCells(a, b): "partition cells \(a) and \(b) overlap"
        case let .invalidParameters(detail): detail
        case let .cannotWrite(file, reason): "\(file): cannot write (\(reason))"
        }
    }
}

/// A set of disjoint S2 cells, each a class (GeoEstimation's geo-cells, one resolution).
public struct Partition: Equatable, Sendable {
    /// Cells indexed by class label: `cells[k].classLabel == k`.
    public let cells: [PartitionCell]
    /// Class labels in ascending cell-id order, for the containment search.
    private let labelsByID: [Int]

    /// A partition of `cells`, checked.
    /// - Throws: `PartitionError` unless labels are exactly 0..<N and the cells are valid and disjoint.
    public init(cells: [PartitionCell]) throws {
        var byLabel = [PartitionCell?](repeating: nil, count: cells.count)
        for cell in cells {
            guard cell.cell.isValid else { throw PartitionError.badLabels("cell id \(cell.cell.id) is not a valid S2 cell") }
            guard (0..<cells.count).contains(cell.classLabel) else {
                throw PartitionError.badLabels("label \(cell.classLabel) with \(cells.count) cells")
            }
            guard byLabel[cell.classLabel] == nil else { throw PartitionError.badLabels("label \(cell.classLabel) twice") }
            byLabel[cell.classLabel] = cell
        }
        let ordered = byLabel.map { $0! }
        let labelsByID = ordered.indices.sorted { ordered[$0].cell.id < ordered[$1].cell.id }
        for (a, b) in zip(labelsByID, labelsByID.dropFirst()) where ordered[a].cell.rangeMax.id >= ordered[b].cell.rangeMin.id {
            throw PartitionError.overlappingCells(ordered[a].cell.token, ordered[b].cell.token)
        }
        self.cells = ordered
        self.labelsByID = labelsByID
    }

    /// Cells already labelled 0..<N in ascending, disjoint id order.
    private init(validatedCells cells: [PartitionCell]) {
        self.cells = cells
        labelsByID = Array(cells.indices)
    }

    /// Number of classes.
    public var count: Int { cells.count }

    /// The class whose cell contains `leaf`, searching levels 2 through 30 as GeoEstimation's
    /// `assign_classes.py` does (which stops at 29; level-30 cells are found here); nil if none.
    /// - Complexity: O(log N): the cells are disjoint, so at most one can contain the leaf.
    public func classLabel(containing leaf: S2CellID) -> Int? {
        var low = 0, high = labelsByID.count                     // first cell with rangeMin > leaf
        while low < high {
            let middle = (low + high) / 2
            if cells[labelsByID[middle]].cell.rangeMin.id <= leaf.id { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let candidate = cells[labelsByID[low - 1]]
        guard candidate.cell.contains(leaf), candidate.cell.level >= 2 else { return nil }
        return candidate.classLabel
    }

    /// The class of a point in degrees; nil if no cell contains it.
    public func classLabel(latitude: Double, longitude: Double) -> Int? {
        classLabel(containing: S2CellID(latitude: latitude, longitude: longitude))
    }
}

// MARK: - Building (GeoEstimation, create_cells.py)

extension Partition {
    /// GeoEstimation's adaptive partitioning (Müller-Budack et al., ECCV 2018, `create_cells.py`):
    /// 1. every image goes to its leaf cell's parent at level `minLevel` (2);
    /// 2. cells holding <= `minImages` are deleted with their images;
    /// 3. while a cell holds > `maxImages` and the level is below 30, the level rises by one and
    ///    only the images of over-full cells move to their parent at the new level;
    /// 4. cells holding <= `minImages` are deleted again.
    /// Labels are assigned in ascending cell-id order (the original's follow dictionary order).
    /// Means are summed in input order, as the original's loop does; longitudes are averaged
    /// across the antimeridian when a cell's images straddle it (see `meanLongitude`).
    ///
    /// - Parameters:
    ///   - leaves: the coordinates' leaf cells, sorted.
    ///   - coordinates: the same coordinates, in input order (degrees).
    ///   - minImages: tau_min (50 in the paper); maxImages: tau_max (5000, 2000 or 1000).
    /// - Complexity: O(cells log n) to cut the sorted leaves, O(n) for the means.
    init(leaves: SortedLeafCells, coordinates: Coordinates, minImages: Int, maxImages: Int,
                minLevel: Int = 2, maxLevel: Int = S2CellID.maxLevel) {
        self = Self.build(leaves: leaves, coordinates: coordinates, minImages: minImages, maxImages: [maxImages],
                          minLevel: minLevel, maxLevel: maxLevel)[0]
    }

    /// The partitions for several tau_max at once (coarse to fine), cut from the same sorted
    /// leaves; the means of all of them take one scatter of labels to input order, then one
    /// pass each over the coordinates (the passes run in parallel).
    package static func build(leaves: SortedLeafCells, coordinates: Coordinates, minImages: Int, maxImages: [Int],
                             minLevel: Int = 2, maxLevel: Int = S2CellID.maxLevel) -> [Partition] {
        precondition(leaves.count == coordinates.count, "\(leaves.count) leaves for \(coordinates.count) coordinates")
        precondition(minImages >= 0 && maxImages.allSatisfy { $0 > minImages } && (0...30).contains(minLevel)
                     && (minLevel...30).contains(maxLevel),
                     "partition parameters min \(minImages), max \(maxImages), levels \(minLevel)...\(maxLevel)")
        let cuts = maxImages.map { cut(leaves, minImages: minImages, maxImages: $0, minLevel: minLevel, maxLevel: maxLevel) }
        let labels = inputLabels(cuts, order: leaves.order)
        var means = [[GeoCoordinate]](repeating: [], count: cuts.count)
        means.withUnsafeMutableBufferPointer { means in
            let output = SharedPointer(base: means.baseAddress!)
            parallelFor(tasks: cuts.count) { _, m in          // writes only means[m]
                output.base[m] = Self.means(coordinates, labels: labels, partition: m, partitions: cuts.count,
                                            classCount: cuts[m].count)
            }
        }
        return zip(cuts, means).map { cut, means in
            Partition(validatedCells: cut.enumerated().map { label, entry in   // labels 0..<N in id order
                PartitionCell(classLabel: label, cell: entry.cell, imageCount: entry.range.count,
                              latitudeMean: means[label].latitude, longitudeMean: means[label].longitude)
            })
        }
    }

    /// Steps 1 to 4 on the sorted leaves: the cells kept and the sorted positions each holds,
    /// in ascending id order (disjoint by construction).
    private static func cut(_ leaves: SortedLeafCells, minImages: Int, maxImages: Int, minLevel: Int,
                            maxLevel: Int) -> [(cell: S2CellID, range: Range<Int>)] {
        var ranges: [(cell: S2CellID, range: Range<Int>)] = []
        leaves.ids.withUnsafeBufferPointer { ids in
            // Step 1-2: runs of equal level-minLevel parents, small ones dropped.
            var start = 0
            while start < ids.count {
                let cell = S2CellID(id: ids[start]).parent(level: minLevel)
                let end = Self.firstIndex(after: cell, in: ids, from: start)
                if end - start > minImages {
                    Self.split(cell, start..<end, ids, minImages: minImages, maxImages: maxImages,
                               maxLevel: maxLevel, into: &ranges)
                }
                start = end
            }
        }
        return ranges
    }

    /// For input `k` and partition `m`, its class at `labels[k * partitions + m]` (-1: deleted).
    /// One random write per input (the three labels side by side), parallel over sorted positions.
    private static func inputLabels(_ cuts: [[(cell: S2CellID, range: Range<Int>)]], order: [UInt32]) -> [Int32] {
        let count = order.count, partitions = cuts.count
        var sortedLabels = [Int32](repeating: -1, count: count * partitions)    // [m * count + position]
        for (m, cut) in cuts.enumerated() {
            for (label, entry) in cut.enumerated() {
                let range = m * count + entry.range.lowerBound ..< m * count + entry.range.upperBound
                sortedLabels.replaceSubrange(range, with: repeatElement(Int32(label), count: range.count))
            }
        }
        var labels = [Int32](repeating: -1, count: count * partitions)
        sortedLabels.withUnsafeBufferPointer { source in
            order.withUnsafeBufferPointer { order in
                labels.withUnsafeMutableBufferPointer { target in
                    let source = SharedPointer(base: UnsafeMutablePointer(mutating: source.baseAddress!))
                    let order = SharedPointer(base: UnsafeMutablePointer(mutating: order.baseAddress!))
                    let target = SharedPointer(base: target.baseAddress!)
                    parallelChunks(count, minimumChunk: coordinateChunk) { range in     // order is a permutation: writes are disjoint
                        for position in range {
                            let row = target.base + Int(order.base[position]) &* partitions
                            for m in 0..<partitions { row[m] = source.base[m &* count &+ position] }
                        }
                    }
                }
            }
        }
        return labels
    }

    /// Step 3 for one cell holding `range` of the sorted ids, and step 4 for what it leaves.
    private static func split(_ cell: S2CellID, _ range: Range<Int>, _ ids: UnsafeBufferPointer<UInt64>,
                              minImages: Int, maxImages: Int, maxLevel: Int,
                              into ranges: inout [(cell: S2CellID, range: Range<Int>)]) {
        if range.count > maxImages && cell.level < maxLevel {
            var start = range.lowerBound
            for child in cell.children where start < range.upperBound {
                let end = firstIndex(after: child, in: ids, from: start, upTo: range.upperBound)
                if end > start {
                    split(child, start..<end, ids, minImages: minImages, maxImages: maxImages,
                          maxLevel: maxLevel, into: &ranges)
                }
                start = end
            }
        } else if range.count > minImages {
            ranges.append((cell, range))
        }
    }

    /// The first index in `ids[start..<end]` whose id lies beyond `cell` (binary search).
    private static func firstIndex(after cell: S2CellID, in ids: UnsafeBufferPointer<UInt64>, from start: Int,
                                   upTo end: Int? = nil) -> Int {
        let limit = cell.rangeMax.id
        var low = start, high = end ?? ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] <= limit { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Per-class means of partition `m`, summed in input order as `create_cells.py` does
    /// (`sum / count`).
    private static func means(_ coordinates: Coordinates, labels: [Int32], partition m: Int, partitions: Int,
                              classCount: Int) -> [GeoCoordinate] {
        // Per class: latitude sum, longitude sum, shifted longitude sum, min and max longitude, count.
        var sums = [Double](repeating: 0, count: 6 * classCount)
        for label in 0..<classCount {
            sums[6 * label + 3] = .infinity
            sums[6 * label + 4] = -.infinity
        }
        coordinates.latitudes.withUnsafeBufferPointer { latitudes in
            coordinates.longitudes.withUnsafeBufferPointer { longitudes in
                labels.withUnsafeBufferPointer { labels in
                    sums.withUnsafeMutableBufferPointer { sums in
                        for k in 0..<latitudes.count {
                            let label = Int(labels[k &* partitions &+ m])
                            guard label >= 0 else { continue }
                            let longitude = longitudes[k]
                            let sum = sums.baseAddress! + 6 &* label
                            sum[0] += latitudes[k]
                            sum[1] += longitude
                            sum[2] += longitude < 0 ? longitude + 360 : longitude
                            sum[3] = min(sum[3], longitude)
                            sum[4] = max(sum[4], longitude)
                            sum[5] += 1
                        }
                    }
                }
            }
        }
        return (0..<classCount).map { label in
            let sum = Array(sums[6 * label ..< 6 * label + 6])
            return GeoCoordinate(latitude: sum[0] / sum[5],
                                 longitude: meanLongitude(sum: sum[1], shiftedSum: sum[2], count: sum[5],
                                                          minimum: sum[3], maximum: sum[4]))
        }
    }

    /// The plain mean `sum / count`, bit for bit, unless the longitudes span more than 180
    /// degrees, which only a cell straddling the antimeridian can do; then negative longitudes
    /// count as lon + 360 and the mean is wrapped back into (-180, 180].
    /// For S2 cells at level >= 1 the guard never fires: longitude 180 is the v = 0 line of faces
    /// 2, 3 and 5, a cell edge at every level >= 1 (and +180 / -180 fall on its two sides), so no
    /// such cell straddles it and the plain mean is already right. It matters for `minLevel` 0.
    static func meanLongitude(sum: Double, shiftedSum: Double, count: Double, minimum: Double, maximum: Double) -> Double {
        guard maximum - minimum > 180 else { return sum / count }
        let mean = shiftedSum / count
        return mean > 180 ? mean - 360 : mean
    }
}

// MARK: - Several resolutions

extension Partition {
    /// The partitions for each `maxImages` (coarse to fine: 5000, 2000, 1000 in the paper),
    /// cut from one sort of the leaf cells.
    /// - Throws: `PartitionError.invalidParameters` unless maxImages strictly decreases and
    ///   minImages is below every one of them.
    public static func build(_ coordinates: Coordinates, minImages: Int = 50,
                             maxImages: [Int] = [5000, 2000, 1000]) throws -> [Partition] {
        try checkParameters(minImages: minImages, maxImages: maxImages)
        return build(leaves: SortedLeafCells(coordinates), coordinates: coordinates, minImages: minImages, maxImages: maxImages)
    }

    /// The rules `build` and `translocator partition` apply to tau_min and the tau_max list.
    package static func checkParameters(minImages: Int, maxImages: [Int]) throws {
        guard !maxImages.isEmpty else { throw PartitionError.invalidParameters("--max needs at least one value") }
        guard minImages >= 0 else { throw PartitionError.invalidParameters("--min is \(minImages), expected >= 0") }
        for (coarser, finer) in zip(maxImages, maxImages.dropFirst()) where finer >= coarser {
            throw PartitionError.invalidParameters("--max \(maxImages.map(String.init).joined(separator: ",")) "
                                                   + "must strictly decrease (coarse to fine)")
        }
        if let smallest = maxImages.min(), smallest <= minImages {
            throw PartitionError.invalidParameters("--min \(minImages) must be below every --max value (smallest: \(smallest))")
        }
    }
}
