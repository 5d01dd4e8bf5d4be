import Foundation

/// A latitude/longitude pair in degrees.
public struct GeoCoordinate: Hashable, Sendable, CustomStringConvertible {
    /// Degrees, north positive, in [-90, 90].
    public var latitude: Double
    /// Degrees, east positive, normally in [-180, 180].
    public var longitude: Double

    /// A point at `latitude`, `longitude` (degrees); not checked.
    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// `latitude,longitude` in degrees.
    public var description: String { "\(latitude),\(longitude)" }
}

/// A cell of Google's S2 hierarchy, bit-exact with the C++ library (s2geometry v0.14.0):
/// 3 bits of cube face, then two bits per level of Hilbert-curve position, then a 1 marking
/// the level. Levels run from 0 (a cube face) to 30 (leaf cells, about 1 cm).
public struct S2CellID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 64-bit cell id.
    public let id: UInt64

    /// The deepest level: leaf cells, about 1 cm across.
    public static let maxLevel = 30

    /// Wraps a raw id; check `isValid` before using one that came from outside.
    public init(id: UInt64) { self.id = id }

    /// The leaf cell (level 30) containing a point, as `S2CellId(S2LatLng::FromDegrees(lat, lng))`.
    /// - Parameters: latitude, longitude in degrees (longitudes outside [-180, 180] wrap).
    public init(latitude: Double, longitude: Double) {
        self.init(point: S2Point(latitudeRadians: S2.radians(fromDegrees: latitude),
                                 longitudeRadians: S2.radians(fromDegrees: longitude)))
    }

    /// `S2CellId(const S2Point&)`.
    init(point: S2Point) {
        let (face, u, v) = S2.faceUV(point)
        self.init(face: face, i: S2.stToIJ(S2.uvToST(u)), j: S2.stToIJ(S2.uvToST(v)))
    }

    /// `S2CellId::FromFaceIJ`: the leaf cell at (i, j) on `face`, 4 levels per table lookup.
    init(face: Int, i: Int, j: Int) {
        self.init(id: S2HilbertTables.shared.position.withUnsafeBufferPointer {
            Self.leafID(face: face, i: i, j: j, positionTable: $0.baseAddress!)
        })
    }

    @inline(__always)
    static func leafID(face: Int, i: Int, j: Int, positionTable: UnsafePointer<UInt16>) -> UInt64 {
        var n = UInt64(face) << (S2.positionBits - 1)
        var bits = face & S2.swapMask
        let mask = (1 << S2HilbertTables.lookupBits) - 1
        for k in stride(from: 7, through: 0, by: -1) {
            bits += ((i >> (k * S2HilbertTables.lookupBits)) & mask) << (S2HilbertTables.lookupBits + 2)
            bits += ((j >> (k * S2HilbertTables.lookupBits)) & mask) << 2
            bits = Int(positionTable[bits])
            n |= UInt64(bits >> 2) << (k * 2 * S2HilbertTables.lookupBits)
            bits &= S2.swapMask | S2.invertMask
        }
        return n &* 2 &+ 1
    }

    // MARK: - Structure

    /// The cube face, 0...5.
    public var face: Int { Int(id >> S2.positionBits) }

    /// The lowest set bit: marks the level.
    var lowestOnBit: UInt64 { id & (0 &- id) }

    @inline(__always)
    static func lowestOnBit(level: Int) -> UInt64 { 1 << UInt64(2 * (maxLevel - level)) }

    /// Whether the id names a cell: face 0...5 and the level bit at an even position.
    public var isValid: Bool { face < 6 && (lowestOnBit & 0x1555_5555_5555_5555) != 0 }

    /// 0 (face) ... 30 (leaf).
    public var level: Int {
        precondition(id != 0, "level of the zero (None) cell id")
        return Self.maxLevel - id.trailingZeroBitCount >> 1
    }

    /// Whether this is a leaf cell (level 30).
    public var isLeaf: Bool { id & 1 != 0 }

    /// The ancestor at `level` (`level` <= `self.level`); the cell itself at its own level.
    public func parent(level: Int) -> S2CellID {
        precondition((0...self.level).contains(level), "parent level \(level) of a level-\(self.level) cell")
        let newLowestBit = Self.lowestOnBit(level: level)
        return S2CellID(id: (id & (0 &- newLowestBit)) | newLowestBit)
    }

    /// The immediate parent (level - 1).
    public var parent: S2CellID { parent(level: level - 1) }

    /// Child 0...3 in Hilbert order (`S2CellId::child`).
    public func child(_ position: Int) -> S2CellID {
        precondition(!isLeaf && (0..<4).contains(position), "child \(position) of level-\(level) cell")
        let newLowestBit = lowestOnBit >> 2
        return S2CellID(id: id &+ UInt64(bitPattern: Int64(2 * position + 1 - 4)) &* newLowestBit)
    }

    /// The four children in Hilbert (= ascending id) order.
    public var children: [S2CellID] { (0..<4).map(child) }

    /// The smallest leaf id inside the cell.
    public var rangeMin: S2CellID { S2CellID(id: id - (lowestOnBit - 1)) }

    /// The largest leaf id inside the cell.
    public var rangeMax: S2CellID { S2CellID(id: id + (lowestOnBit - 1)) }

    /// Whether `other` is this cell or one of its descendants.
    public func contains(_ other: S2CellID) -> Bool {
        other.id >= rangeMin.id && other.id <= rangeMax.id
    }

    /// Orders cells by id: along the Hilbert curve, a parent's descendants between its `rangeMin` and `rangeMax`.
    public static func < (lhs: S2CellID, rhs: S2CellID) -> Bool { lhs.id < rhs.id }

    /// The cell's token (`token`), as S2 prints it.
    public var description: String { token }

    // MARK: - Face, i, j

    /// `S2CellId::ToFaceIJOrientation`: the face and the (i, j) of the leaf cell at the
    /// cell's Hilbert position (for a non-leaf cell, a leaf next to its center).
    func faceIJ() -> (face: Int, i: Int, j: Int) {
        let table = S2HilbertTables.shared.ij
        var i = 0, j = 0
        var bits = face & S2.swapMask
        let lookupBits = S2HilbertTables.lookupBits
        for k in stride(from: 7, through: 0, by: -1) {
            let levels = k == 7 ? Self.maxLevel - 7 * lookupBits : lookupBits
            bits += Int((id >> UInt64(k * 2 * lookupBits + 1)) & ((1 << UInt64(2 * levels)) - 1)) << 2
            bits = Int(table[bits])
            i += (bits >> (lookupBits + 2)) << (k * lookupBits)
            j += ((bits >> 2) & ((1 << lookupBits) - 1)) << (k * lookupBits)
            bits &= S2.swapMask | S2.invertMask
        }
        return (face, i, j)
    }
}
