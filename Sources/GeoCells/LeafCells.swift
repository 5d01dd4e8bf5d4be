import Dispatch
import Foundation
import Parallel

/// Points a parallel loop over coordinates takes per chunk at least: 32 Ki S2 conversions take
/// about 5 ms on one thread (`bench partition`: 200k leaf cells in 17 ms on two), far above a
/// Dispatch hop.
let coordinateChunk = 1 << 15

/// The leaf cell id of every coordinate, in input order.
/// - Complexity: O(n), parallel over the cores (each worker writes its own slice of the result).
package func leafCellIDs(_ coordinates: Coordinates) -> [UInt64] {
    let count = coordinates.count
    var ids = [UInt64](repeating: 0, count: count)
    let table = S2HilbertTables.shared.position
    coordinates.latitudes.withUnsafeBufferPointer { latitudes in
        coordinates.longitudes.withUnsafeBufferPointer { longitudes in
            table.withUnsafeBufferPointer { table in
                ids.withUnsafeMutableBufferPointer { ids in
                    let output = SharedPointer(base: ids.baseAddress!)
                    // Inputs are only read; each worker writes only output[range].
                    let latitude = SharedPointer(base: UnsafeMutablePointer(mutating: latitudes.baseAddress!))
                    let longitude = SharedPointer(base: UnsafeMutablePointer(mutating: longitudes.baseAddress!))
                    let positionTable = SharedPointer(base: UnsafeMutablePointer(mutating: table.baseAddress!))
                    parallelChunks(count, minimumChunk: coordinateChunk) { range in
                        let lat = latitude.base, lon = longitude.base, lookup = UnsafePointer(positionTable.base)
                        for k in range {
                            let point = S2Point(latitudeRadians: S2.radians(fromDegrees: lat[k]),
                                                longitudeRadians: S2.radians(fromDegrees: lon[k]))
                            let (face, u, v) = S2.faceUV(point)
                            output.base[k] = S2CellID.leafID(face: face, i: S2.stToIJ(S2.uvToST(u)),
                                                             j: S2.stToIJ(S2.uvToST(v)), positionTable: lookup)
                        }
                    }
                }
            }
        }
    }
    return ids
}

/// Leaf cells of a set of coordinates in ascending id order, with the input index of each:
/// what every resolution of a partition is cut from (the parents of sorted ids are sorted).
package struct SortedLeafCells: Sendable {
    /// Leaf ids, ascending (ties keep input order).
    let ids: [UInt64]
    /// `order[k]`: the input index of `ids[k]`.
    let order: [UInt32]

    /// - Complexity: O(n) (leaf ids in parallel, then a radix sort).
    init(_ coordinates: Coordinates) {
        self.init(leafIDs: leafCellIDs(coordinates))
    }

    package init(leafIDs: [UInt64]) {
        precondition(leafIDs.count < Int(UInt32.max), "\(leafIDs.count) points: more than 2^32 - 1")
        (ids, order) = parallelRadixSort(leafIDs)
    }

    var count: Int { ids.count }
}
