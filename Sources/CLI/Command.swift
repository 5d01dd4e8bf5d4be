import Foundation

/// A `translocator` subcommand. One file per command (docs/ARCHITECTURE.md "Layers"); each is listed in
/// `allCommands` (Main.swift).
protocol Command: Sendable {
    /// The word after `translocator`: `partition`, `cell`, ...
    static var name: String { get }
    /// One line for `translocator --help`.
    static var summary: String { get }
    /// Usage operands after the options, e.g. `<lat> <lon>`; empty if none.
    static var operandsUsage: String { get }
    /// The paragraph under the usage line: what it does, and what it writes where.
    static var discussion: String { get }
    static var options: [OptionSpec] { get }
    /// Real invocations for the EXAMPLES section.
    static var examples: [String] { get }
    /// Runs the command. Results go to stdout, progress and warnings to stderr.
    /// - Throws: `UsageError` (exit 64) or any other error (exit 1, printed as `error: ...`).
    static func run(_ arguments: ParsedArguments) throws
}

extension Command {
    static var operandsUsage: String { "" }

    /// The `--help` page, rendered from the declaration.
    static var helpText: String {
        var usage = "USAGE: translocator \(name)"
        for option in options {
            let word = option.valueName.map { "--\(option.name) <\($0)>" } ?? "--\(option.name)"
            usage += option.required ? " \(word)" : " [\(word)]"
        }
        if !operandsUsage.isEmpty { usage += " \(operandsUsage)" }
        var rows: [(String, String)] = options.map { option in
            var left = option.short.map { "-\($0), " } ?? ""
            left += "--\(option.name)"
            if let value = option.valueName { left += " <\(value)>" }
            return (left, option.helpLine)
        }
        rows.append(("-h, --help", "Show this help."))
        let width = rows.map(\.0.count).max() ?? 0
        var text = wrapped(usage, indent: 6) + "\n\n" + wrapped(discussion, indent: 0) + "\n\nOPTIONS:\n"
        for (left, right) in rows {
            text += "  " + left.padding(toLength: width + 2, withPad: " ", startingAt: 0) + right + "\n"
        }
        if !examples.isEmpty {
            text += "\nEXAMPLES:\n" + examples.map { "  \($0)\n" }.joined()
        }
        return text
    }
}

/// Greedy word wrap at 100 columns; continuation lines indented by `indent` spaces.
func wrapped(_ text: String, indent: Int, width: Int = 100) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { paragraph -> String in
        var lines: [String] = []
        var line = ""
        for word in paragraph.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = String(repeating: " ", count: indent)
            } else if !line.isEmpty && !line.hasSuffix(" ") {
                line += " "
            }
            line += word
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }.joined(separator: "\n")
}

/// Writes to stderr: progress, warnings, timings (stdout carries results only).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
