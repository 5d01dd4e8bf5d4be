import Foundation
import Parallel
import GeoCells

/// Every image's class at each partition level (coarse, middle, fine), for the geo-cell heads.
///
/// An image is kept only if some cell of *every* level contains it: GeoEstimation assigns the
/// classes from the partitions and drops images without one (their cells were deleted for holding
/// <= tau_min images). The dropped images are counted, never silently lost.
struct GeoLabels: Sendable, Equatable {
    /// Indices (into the labelled coordinates) of the images kept, ascending.
    let keptIndices: [Int]
    /// `classes[level][k]`: the class of image `keptIndices[k]` in partition `level`.
    let classes: [[Int32]]
    /// Images outside some level's cells, left out.
    let outsideCount: Int

    /// - Parameters:
    ///   - coordinates: the images' coordinates (degrees).
    ///   - partitions: one partition a level, coarse first.
    /// - Complexity: O(n · levels · log cells), parallel over chunks of images.
    init(coordinates: Coordinates, partitions: [Partition]) {
        let count = coordinates.count
        let levels = partitions.count
        // Worker c writes only its chunk's slots of `labels` (level-major) and of `inside`.
        var labels = [Int32](repeating: -1, count: levels * count)
        var inside = [Bool](repeating: false, count: count)
        let chunkSize = 4096                      // images a task: a few milliseconds of S2 lookups, many tasks a worker
        let chunks = (count + chunkSize - 1) / chunkSize
        labels.withUnsafeMutableBufferPointer { labelBuffer in
            inside.withUnsafeMutableBufferPointer { insideBuffer in
                let labelsOut = SharedPointer(base: labelBuffer.baseAddress!)
                let insideOut = SharedPointer(base: insideBuffer.baseAddress!)
                parallelFor(tasks: chunks) { _, chunk in
                    for i in chunk * chunkSize ..< min(count, (chunk + 1) * chunkSize) {
                        let leaf = S2CellID(latitude: coordinates.latitudes[i], longitude: coordinates.longitudes[i])
                        var all = true
                        for level in 0..<levels {
                            guard let label = partitions[level].classLabel(containing: leaf) else { all = false; break }
                            labelsOut.base[level * count + i] = Int32(label)
                        }
                        insideOut.base[i] = all
                    }
                }
            }
        }
        let kept = (0..<count).filter { inside[$0] }
        keptIndices = kept
        classes = (0..<levels).map { level in kept.map { labels[level * count + $0] } }
        outsideCount = count - kept.count
    }

    var count: Int { keptIndices.count }
}
