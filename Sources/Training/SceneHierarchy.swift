import Foundation
import GeoCells

/// The Places365 scene hierarchy: each of the 365 categories' place in the 3-way (indoor,
/// outdoor natural, outdoor man-made) and the 16-way grouping, read from a file in the format of
/// Places365's `scene_hierarchy_places365.csv` (Zhou et al.):
///
///     <explanation row>
///     <row naming the levels: a first cell, then 3 level-1 names, then 16 level-2 names>
///     '/a/airfield',0,0,1,0,0,...      one row a category, in Places365 index order:
///                                      name, 3 flags, 16 flags (0 or 1)
///
/// Some categories carry several flags in a level. The authors' pipeline (GeoEstimation /
/// TIB's scene classifier, `read_hierarchy`) divides such a row by its sum and takes the argmax
/// of the scene probabilities times this matrix; for a known category that argmax is the
/// *first* flagged group (numpy's argmax returns the first maximum). `label3` / `label16` are
/// that first flag; `weights3` / `weights16` keep the normalised rows for a soft use.
public struct SceneHierarchy: Sendable, Equatable {
    /// Category names in index order, as written (quotes kept).
    public let categoryNames: [String]
    /// The 3 level-1 group names (indoor, outdoor natural, outdoor man-made), as written.
    public let level3Names: [String]
    /// The 16 level-2 group names, as written.
    public let level16Names: [String]
    /// The hard label of each category: its first flagged group.
    public let label3: [Int]
    /// The hard 16-way label of each category: its first flagged group.
    public let label16: [Int]
    /// Each category's flags divided by their sum, row-major [categories, 3] and [categories, 16].
    public let weights3: [Float]
    /// Each category's 16 level-2 flags divided by their sum, row-major [categories, 16].
    public let weights16: [Float]

    /// Groups of the first level (indoor, outdoor natural, outdoor man-made).
    public static let level3Count = 3
    /// Groups of the second level.
    public static let level16Count = 16

    /// Reads a hierarchy file in `scene_hierarchy_places365.csv`'s format; errors name it `name`
    /// (default: its path).
    /// - Throws: `CSVError` naming file:line (an unreadable file, a short row, a bad flag).
    public init(contentsOf url: URL, name: String? = nil) throws {
        try self.init(reading: CSVReader(contentsOf: url, name: name))
    }

    /// - Throws: `CSVError` naming file:line: a row with fewer than 1 + 3 + 16 fields, a flag that
    ///   is not a number >= 0, a level with no flag; `.empty` if no category rows follow.
    init(reading reader: CSVReader) throws {
        let file = reader.file
        let width = 1 + Self.level3Count + Self.level16Count
        var rowIndex = 0
        var names: [String] = [], label3: [Int] = [], label16: [Int] = []
        var weights3: [Float] = [], weights16: [Float] = []
        var levelNames: [String] = []
        try reader.forEachRecord { record in
            defer { rowIndex += 1 }
            if rowIndex == 0 { return }                                  // explanation row
            if rowIndex == 1 {
                if record.count >= width { levelNames = Array(record.strings[1..<width]) }
                return
            }
            guard record.count >= width else {
                throw CSVError.badValue(file: file, line: record.line, column: "row", value: "\(record.count) fields",
                                        expected: "a name and 3 + 16 flags")
            }
            var flags = [Float](repeating: 0, count: width - 1)
            for k in 1..<width {
                guard let value = record.double(at: k), value.isFinite, value >= 0 else {
                    throw CSVError.badValue(file: file, line: record.line, column: "flag \(k)", value: record[k],
                                            expected: "0 or 1")
                }
                flags[k - 1] = Float(value)
            }
            for (range, levelName) in [(0..<3, "level 1 (3 groups)"), (3..<19, "level 2 (16 groups)")] {
                let sum = flags[range].reduce(0, +)
                guard sum > 0 else {
                    throw CSVError.badValue(file: file, line: record.line, column: levelName, value: "no flag",
                                            expected: "at least one group flagged")
                }
                let first = range.first { flags[$0] > 0 }! - range.lowerBound
                if range.lowerBound == 0 {
                    label3.append(first)
                    weights3 += flags[range].map { $0 / sum }
                } else {
                    label16.append(first)
                    weights16 += flags[range].map { $0 / sum }
                }
            }
            names.append(record[0])
        }
        guard !names.isEmpty else { throw CSVError.empty(file: file) }
        categoryNames = names
        level3Names = levelNames.isEmpty ? (0..<3).map { "level1_\($0)" } : Array(levelNames[0..<3])
        level16Names = levelNames.isEmpty ? (0..<16).map { "level2_\($0)" } : Array(levelNames[3..<19])
        self.label3 = label3
        self.label16 = label16
        self.weights3 = weights3
        self.weights16 = weights16
    }

    /// Number of categories (365 for Places365's file).
    public var categoryCount: Int { categoryNames.count }

    /// The label of Places365 category `index` for a scene head of `classes` outputs (3, 16, or
    /// the category count for the raw index); nil if `index` is outside the hierarchy.
    public func label(ofCategory index: Int, classes: Int) -> Int? {
        guard (0..<categoryCount).contains(index) else { return nil }
        switch classes {
        case Self.level3Count: return label3[index]
        case Self.level16Count: return label16[index]
        case categoryCount: return index
        default: return nil
        }
    }
}
