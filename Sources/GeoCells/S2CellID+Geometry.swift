import Foundation

extension S2CellID {
    /// The cell's center, as S2's `S2CellId::ToLatLng()` gives it (the center of the cell in
    /// (s, t) mapped to the sphere; not normalized first, as in S2).
    public var center: GeoCoordinate {
        let (face, i, j) = faceIJ()
        // S2CellId::GetCenterSiTi: for a non-leaf cell, (i, j) is a leaf next to the center,
        // one step right/up or left/down of it depending on bit 2 of the id.
        let delta = isLeaf ? 1 : (((i ^ Int(id >> 2)) & 1) != 0 ? 2 : 0)
        let u = S2.stToUV(S2.siTiToST(UInt32(2 * i + delta)))
        let v = S2.stToUV(S2.siTiToST(UInt32(2 * j + delta)))
        return S2.point(face: face, u: u, v: v).coordinate
    }

    /// The four corners in counter-clockwise order (lower left, lower right, upper right,
    /// upper left in (u, v)), as `S2LatLng(S2Cell(id).GetVertex(k))`.
    public var vertices: [GeoCoordinate] {
        let (face, i, j) = faceIJ()
        // S2CellId::IJLevelToBoundUV
        let cellSize = 1 << (Self.maxLevel - level)
        func bound(_ ij: Int) -> (Double, Double) {
            let low = ij & -cellSize
            return (S2.stToUV(S2.ijToSTMin(low)), S2.stToUV(S2.ijToSTMin(low + cellSize)))
        }
        let (uLow, uHigh) = bound(i)
        let (vLow, vHigh) = bound(j)
        return [(uLow, vLow), (uHigh, vLow), (uHigh, vHigh), (uLow, vHigh)].map { u, v in
            S2.point(face: face, u: u, v: v).normalized.coordinate
        }
    }
}

// MARK: - Tokens

/// A malformed S2 token: not 1 to 16 hexadecimal digits, or not naming a valid cell.
public struct S2TokenError: Error, CustomStringConvertible, Equatable {
    /// The text that was rejected.
    public let token: String
    /// A one-line message quoting the token.
    public var description: String { "'\(token)' is not an S2 cell token (1-16 hex digits naming a valid cell)" }
}

extension S2CellID {
    /// The id in lowercase hex without trailing zeros (`S2CellId::ToToken`): "89c25" for a
    /// level-9 cell over New York. The zero id is "X".
    public var token: String {
        if id == 0 { return "X" }
        let zeroDigits = id.trailingZeroBitCount / 4
        let digits = String(id >> UInt64(4 * zeroDigits), radix: 16)
        return String(repeating: "0", count: 16 - zeroDigits - digits.count) + digits
    }

    /// Parses a token (either case), as `S2CellId::FromToken`, and requires a valid cell.
    /// - Throws: `S2TokenError` naming the token.
    public init(token: String) throws {
        let utf8 = Array(token.utf8)
        guard (1...16).contains(utf8.count) else { throw S2TokenError(token: token) }
        var id: UInt64 = 0
        var shift: UInt64 = 60
        for byte in utf8 {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw S2TokenError(token: token)
            }
            id |= UInt64(digit) << shift
            shift &-= 4
        }
        let cell = S2CellID(id: id)
        guard cell.isValid else { throw S2TokenError(token: token) }
        self = cell
    }
}
