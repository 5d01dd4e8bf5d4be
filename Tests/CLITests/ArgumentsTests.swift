import XCTest
@testable import CLI

final class ArgumentsTests: XCTestCase {
    private let specs: [OptionSpec] = [
        .option("manifest", value: "csv", required: true, "Manifest."),
        .option("max", value: "n,n,n", default: "5000,2000,1000", "Maxima."),
        .option("top", short: "k", value: "k", default: "5", "How many."),
        .option("seed", value: "s", "Seed."),
        .flag("json", "JSON output."),
    ]

    func testParsesOptionsFlagsOperandsAndNegativeNumbers() throws {
        let parsed = try ParsedArguments(["--manifest", "a.csv", "-12.5", "--json", "-k", "3", "--max=9,8,7", "--", "--not-an-option"],
                                         specs: specs)
        XCTAssertEqual(parsed.string("manifest"), "a.csv")
        XCTAssertTrue(parsed.flag("json"))
        XCTAssertEqual(try parsed.int("top"), 3)
        XCTAssertEqual(try parsed.intList("max"), [9, 8, 7])
        XCTAssertEqual(parsed.operands, ["-12.5", "--not-an-option"])
    }

    func testUsageErrorsNameTheOption() {
        XCTAssertThrowsError(try ParsedArguments(["--manifest", "a", "--bogus"], specs: specs)) { error in
            XCTAssertTrue("\(error)".contains("--bogus"), "\(error)")
        }
        XCTAssertThrowsError(try ParsedArguments(["--json"], specs: specs)) { error in
            XCTAssertTrue("\(error)".contains("--manifest"), "\(error)")
        }
        XCTAssertThrowsError(try ParsedArguments(["--manifest"], specs: specs))
        XCTAssertThrowsError(try ParsedArguments(["--manifest", "a", "--json=1"], specs: specs))
        let parsed = try? ParsedArguments(["--manifest", "a", "--max", "5,x", "-k", "2.5"], specs: specs)
        XCTAssertThrowsError(try parsed?.intList("max"))
        XCTAssertThrowsError(try parsed?.int("top"))
        XCTAssertThrowsError(try ParsedArguments(["--manifest", "a", "-x5"], specs: specs), "no option x")
        XCTAssertThrowsError(try ParsedArguments(["--manifest", "a", "-jx"], specs: specs), "-j is not an option taking a value")
    }

    func testDefaultsComeFromTheSpecAndHelpPrintsThem() throws {
        let parsed = try ParsedArguments(["--manifest", "a"], specs: specs)
        XCTAssertEqual(try parsed.int("top"), 5)
        XCTAssertEqual(try parsed.intList("max"), [5000, 2000, 1000])
        XCTAssertFalse(parsed.given("top"))
        XCTAssertNil(parsed.string("seed"), "no default, not given")
        XCTAssertEqual(specs[2].helpLine, "How many (default: 5).")
        XCTAssertEqual(specs[3].helpLine, "Seed.")
    }

    func testShortOptionTakesAnAttachedValue() throws {
        let parsed = try ParsedArguments(["--manifest", "a", "-k5"], specs: specs)
        XCTAssertEqual(try parsed.int("top"), 5)
        XCTAssertTrue(parsed.given("top"))
        XCTAssertEqual(try ParsedArguments(["--manifest", "a", "-k12"], specs: specs).int("top"), 12)
    }

    /// Every default a command uses is in its spec (and so in `--help`): no option's help text
    /// carries a hand-written "(default: n)" for a literal value the parser would not know.
    func testEveryLiteralDefaultLivesInTheSpec() {
        for command in allCommands {
            for option in command.options {
                guard let range = option.help.range(of: "(default: ") else { continue }
                let value = option.help[range.upperBound...].prefix { $0 != ")" && $0 != "," && $0 != ";" }
                XCTAssertNil(Double(value), "\(command.name) --\(option.name): default \(value) belongs in the spec")
            }
        }
    }

    func testHelpNeedsNoRequiredOption() throws {
        XCTAssertTrue(try ParsedArguments(["--help"], specs: specs).wantsHelp)
    }

    func testEveryCommandHasHelpWithOptionsAndExamples() {
        XCTAssertEqual(Set(allCommands.map { $0.name }).count, allCommands.count, "command names must be unique")
        for command in allCommands {
            let help = command.helpText
            XCTAssertTrue(help.hasPrefix("USAGE: translocator \(command.name)"), command.name)
            XCTAssertTrue(help.contains("--help"), command.name)
            XCTAssertFalse(command.examples.isEmpty, "\(command.name) has no examples")
            for option in command.options { XCTAssertTrue(help.contains("--\(option.name)"), "\(command.name) --\(option.name)") }
        }
    }

    func testExitCodes() {
        XCTAssertEqual(runCommandLine(["no-such-command"]), ExitCode.usage)
        XCTAssertEqual(runCommandLine(["--help"]), ExitCode.success)
        XCTAssertEqual(runCommandLine([]), ExitCode.usage)
    }
}

final class ProgressLineTests: XCTestCase {
    func testDurationsReadAsHumansWriteThem() {
        XCTAssertEqual(ProgressLine.duration(5), "5s")
        XCTAssertEqual(ProgressLine.duration(75), "1m15s")
        XCTAssertEqual(ProgressLine.duration(4000), "1h06m")
    }
}
