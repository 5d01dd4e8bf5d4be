import XCTest
@testable import GeoCells

final class CoordinateFileTests: XCTestCase {
    private func read(_ text: String, skipInvalid: Bool = false) throws -> CoordinateFile {
        try CoordinateFile(reading: CSVReader(text: text, file: "train.csv"), skipInvalid: skipInvalid)
    }

    func testColumnsInAnyOrderAndCase() throws {
        let a = try read("image,lon,lat,scene\nx.jpg,2.5,-1.25,3\n")
        XCTAssertEqual(a.coordinates, Coordinates(latitudes: [-1.25], longitudes: [2.5]))
        let b = try read("\u{FEFF}LAT,LON\r\n10,20\r\n\r\n-90,180\r\n")
        XCTAssertEqual(b.coordinates, Coordinates(latitudes: [10, -90], longitudes: [20, 180]))
        let c = try read("image,lat,lon\n\"a, \"\"b\"\"\nc.jpg\",\" 1.5 \",2\nd.jpg,3,4")
        XCTAssertEqual(c.coordinates, Coordinates(latitudes: [1.5, 3], longitudes: [2, 4]))
    }

    func testQuotedFieldsAndLineNumbers() throws {
        var records: [(Int, [String])] = []
        try CSVReader(text: "a,b\n\"x\ny\",\"q\"\"q\"\n\n3,\n", file: "f").forEachRecord { records.append(($0.line, $0.strings)) }
        XCTAssertEqual(records.map(\.0), [1, 2, 5])
        XCTAssertEqual(records.map(\.1), [["a", "b"], ["x\ny", "q\"q"], ["3", ""]])
        XCTAssertThrowsError(try CSVReader(text: "a\n\"open\n", file: "f").forEachRecord { _ in }) { error in
            XCTAssertEqual(error as? CSVError, .unterminatedQuote(file: "f", line: 2))
        }
    }

    func testBadRowsNameFileLineAndValue() {
        let cases: [(String, String)] = [
            ("lat,lon\n1,2\n91.2,3\n", "train.csv:3: lat is '91.2', expected degrees in [-90, 90]"),
            ("lat,lon\n1,-180.5\n", "train.csv:2: lon is '-180.5', expected degrees in [-180, 180]"),
            ("lat,lon\nnan,2\n", "train.csv:2: lat is 'nan'"),
            ("lat,lon\nNaN,2\n", "train.csv:2: lat is 'NaN'"),
            ("lat,lon\n1,east\n", "train.csv:2: lon is 'east'"),
            ("lat,lon\n,2\n", "train.csv:2: lat is ''"),
            ("lat,lon\n1\n", "train.csv:2: lon is ''"),
            ("lat,lon\n1,inf\n", "train.csv:2: lon is 'inf'"),
            ("lat,lon\n0x1p3,2\n", "train.csv:2: lat is '0x1p3'"),
            ("image,lon\na,2\n", "train.csv: missing required column 'lat'"),
            ("lat,lon\n", "train.csv: no data rows"),
            ("", "train.csv: no data rows"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try read(text), message) { error in
                XCTAssertEqual("\(error)".prefix(message.count), Substring(message))
            }
        }
    }

    func testSkipInvalidDropsAndCounts() throws {
        let file = try read("lat,lon\n1,2\n91,3\nx,4\n5,6\n", skipInvalid: true)
        XCTAssertEqual(file.coordinates, Coordinates(latitudes: [1, 5], longitudes: [2, 6]))
        XCTAssertEqual(file.skippedRows, 2)
        XCTAssertEqual(file.firstSkipped,
                       .badValue(file: "train.csv", line: 3, column: "lat", value: "91", expected: "degrees in [-90, 90]"))
        XCTAssertThrowsError(try read("lat,lon\n91,3\n", skipInvalid: true))    // nothing left
    }

    func testMissingFile() {
        XCTAssertThrowsError(try CoordinateFile(contentsOf: URL(fileURLWithPath: "/no/such/train.csv"))) { error in
            XCTAssertTrue("\(error)".hasPrefix("/no/such/train.csv: cannot read"), "\(error)")
        }
    }
}
