import Foundation

// The coordinate systems of Google's S2 (s2coords.h, s2geometry v0.14.0): a point on the unit
// sphere (x, y, z) lies on one of six cube faces with face coordinates (u, v) in [-1, 1]; the
// quadratic projection maps u to s in [0, 1], which is cut into 2^30 leaf columns i.
// Every expression here keeps S2's operation order: GeoCells is built without FMA contraction
// (Package.swift) so that each rounding matches the C++ bit for bit.

/// A point in R^3 (not necessarily unit length), as S2's `S2Point`.
struct S2Point: Equatable {
    var x: Double
    var y: Double
    var z: Double

    /// `S2LatLng::ToPoint`: latitude phi, longitude theta in radians.
    init(latitudeRadians phi: Double, longitudeRadians theta: Double) {
        let cosPhi = cos(phi)
        x = cos(theta) * cosPhi
        y = sin(theta) * cosPhi
        z = sin(phi)
    }

    init(x: Double, y: Double, z: Double) {
        self.x = x
        self.y = y
        self.z = z
    }

    /// `Vector3::Normalize`: multiplies by the reciprocal of the norm (not a division per axis).
    var normalized: S2Point {
        var n = (x * x + y * y + z * z).squareRoot()
        if n != 0 { n = 1 / n }
        return S2Point(x: x * n, y: y * n, z: z * n)
    }

    /// `S2LatLng(const S2Point&)` in degrees. The `+ 0.0` folds -0.0 into +0.0 as S2 does.
    var coordinate: GeoCoordinate {
        let latitude = atan2(z + 0.0, (x * x + y * y).squareRoot())
        let longitude = atan2(y + 0.0, x + 0.0)
        return GeoCoordinate(latitude: S2.degrees(fromRadians: latitude),
                             longitude: S2.degrees(fromRadians: longitude))
    }
}

/// S2's constants and coordinate conversions (s2coords.h), quadratic projection.
enum S2 {
    static let maxLevel = 30
    /// Leaf cells along one side of a face: 2^30.
    static let limitIJ = 1 << 30
    /// `kMaxSiTi`: 2^31, the resolution of cell centers and edges.
    static let maxSiTi: UInt32 = 1 << 31
    /// Bits of a cell id that hold the Hilbert position (2 * 30 + 1).
    static let positionBits = 61
    static let swapMask = 1
    static let invertMask = 2

    /// `S1Angle::Degrees`: (pi / 180) * degrees, the constant folded first as in C++.
    @inline(__always)
    static func radians(fromDegrees degrees: Double) -> Double { (Double.pi / 180) * degrees }

    /// `S1Angle::degrees()`: (180 / pi) * radians.
    @inline(__always)
    static func degrees(fromRadians radians: Double) -> Double { (180 / Double.pi) * radians }

    /// `S2::GetFace` + `ValidFaceXYZtoUV`: the face whose axis has the largest absolute
    /// component (ties go to the later axis, as S2's `LargestAbsComponent`), and (u, v) on it.
    @inline(__always)
    static func faceUV(_ p: S2Point) -> (face: Int, u: Double, v: Double) {
        let ax = abs(p.x), ay = abs(p.y), az = abs(p.z)
        var face = ax > ay ? (ax > az ? 0 : 2) : (ay > az ? 1 : 2)
        let component = face == 0 ? p.x : (face == 1 ? p.y : p.z)
        if component < 0 { face += 3 }
        switch face {
        case 0: return (0, p.y / p.x, p.z / p.x)
        case 1: return (1, -p.x / p.y, p.z / p.y)
        case 2: return (2, -p.x / p.z, -p.y / p.z)
        case 3: return (3, p.z / p.x, p.y / p.x)
        case 4: return (4, p.z / p.y, -p.x / p.y)
        default: return (5, -p.y / p.z, -p.x / p.z)
        }
    }

    /// `S2::FaceUVtoXYZ`.
    @inline(__always)
    static func point(face: Int, u: Double, v: Double) -> S2Point {
        switch face {
        case 0: return S2Point(x: 1, y: u, z: v)
        case 1: return S2Point(x: -u, y: 1, z: v)
        case 2: return S2Point(x: -u, y: -v, z: 1)
        case 3: return S2Point(x: -1, y: -v, z: -u)
        case 4: return S2Point(x: v, y: -1, z: -u)
        default: return S2Point(x: v, y: u, z: -1)
        }
    }

    /// `S2::UVtoST`, quadratic projection.
    @inline(__always)
    static func uvToST(_ u: Double) -> Double {
        if u >= 0 { return 0.5 * (1 + 3 * u).squareRoot() }
        return 1 - 0.5 * (1 - 3 * u).squareRoot()
    }

    /// `S2::STtoUV`, quadratic projection.
    @inline(__always)
    static func stToUV(_ s: Double) -> Double {
        if s >= 0.5 { return (1.0 / 3.0) * (4 * s * s - 1) }
        return (1.0 / 3.0) * (1 - 4 * (1 - s) * (1 - s))
    }

    /// `S2::STtoIJ` (v0.14: floor, clamped to [0, 2^30 - 1]; NaN and s <= 0 give 0).
    @inline(__always)
    static func stToIJ(_ s: Double) -> Int {
        guard s > 0 else { return 0 }
        return min(Int(Double(limitIJ) * s), limitIJ - 1)
    }

    /// `S2::IJtoSTMin`.
    @inline(__always)
    static func ijToSTMin(_ i: Int) -> Double { (1.0 / Double(limitIJ)) * Double(i) }

    /// `S2::SiTitoST`.
    @inline(__always)
    static func siTiToST(_ si: UInt32) -> Double { (1.0 / Double(maxSiTi)) * Double(si) }
}

// MARK: - Hilbert curve lookup tables (s2cell_id.cc, InitLookupCell)

/// The Hilbert-curve tables S2 uses to convert 4 bits of i and j (plus the orientation)
/// into 8 bits of curve position and back, 4 levels at a time.
struct S2HilbertTables: Sendable {
    static let lookupBits = 4
    /// `kPosToIJ[orientation][position]`: the (i, j) quadrant (i in bit 1) of each sub-cell.
    static let positionToIJ: [[Int]] = [[0, 1, 3, 2], [0, 2, 3, 1], [3, 2, 0, 1], [3, 1, 0, 2]]
    /// `kPosToOrientation`: how the orientation changes entering each sub-cell.
    static let positionToOrientation = [S2.swapMask, 0, 0, S2.invertMask + S2.swapMask]

    /// "iiiijjjjoo" -> "ppppppppoo".
    let position: [UInt16]
    /// "ppppppppoo" -> "iiiijjjjoo".
    let ij: [UInt16]

    static let shared = S2HilbertTables()

    private init() {
        var position = [UInt16](repeating: 0, count: 1 << (2 * Self.lookupBits + 2))
        var ij = position
        func initCell(level: Int, i: Int, j: Int, originalOrientation: Int, pos: Int, orientation: Int) {
            if level == Self.lookupBits {
                let ijBits = (i << Self.lookupBits) + j
                position[(ijBits << 2) + originalOrientation] = UInt16((pos << 2) + orientation)
                ij[(pos << 2) + originalOrientation] = UInt16((ijBits << 2) + orientation)
                return
            }
            let quadrants = Self.positionToIJ[orientation]
            for k in 0..<4 {
                initCell(level: level + 1, i: (i << 1) + (quadrants[k] >> 1), j: (j << 1) + (quadrants[k] & 1),
                         originalOrientation: originalOrientation, pos: (pos << 2) + k,
                         orientation: orientation ^ Self.positionToOrientation[k])
            }
        }
        for orientation in 0..<4 {
            initCell(level: 0, i: 0, j: 0, originalOrientation: orientation, pos: 0, orientation: orientation)
        }
        self.position = position
        self.ij = ij
    }
}
