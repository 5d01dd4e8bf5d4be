import Foundation

/// The `translocator` command line: a small hand-written parser (Swift toolchain only: no package
/// dependencies). Each command declares its options once, as `OptionSpec`s; parsing, the
/// `--help` page and usage errors all come from that one declaration, so help cannot drift
/// from what the parser accepts.

/// One option of a command: `--name <value>` or a flag `--name`.
struct OptionSpec {
    /// Long name without dashes: `manifest` for `--manifest`.
    let name: String
    /// Optional one-letter short form: `k` for `-k`.
    let short: Character?
    /// Placeholder in the usage line, e.g. `csv`, `n,n,n`. `nil` for a flag.
    let valueName: String?
    /// One line: what it means and its unit (`--help` appends the default).
    let help: String
    /// Whether the command cannot run without it (shown without brackets in the usage line).
    let required: Bool
    /// The value used when the option is not given: the one place a default is written, read by
    /// the parser (`ParsedArguments.string`) and printed by `--help`.
    let defaultValue: String?

    static func option(_ name: String, short: Character? = nil, value: String, required: Bool = false, default defaultValue: String? = nil,
                       _ help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: value, help: help, required: required, defaultValue: defaultValue)
    }

    static func flag(_ name: String, short: Character? = nil, _ help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, valueName: nil, help: help, required: false, defaultValue: nil)
    }

    /// The help line as `--help` prints it.
    var helpLine: String {
        guard let defaultValue else { return help }
        let sentence = help.hasSuffix(".") ? String(help.dropLast()) : help
        return "\(sentence) (default: \(defaultValue))."
    }

    var takesValue: Bool { valueName != nil }
}

/// A usage mistake: unknown flag, missing value, malformed number. Exit code 64 (EX_USAGE).
struct UsageError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Parsed options and operands of one command invocation.
struct ParsedArguments {
    /// Options given with a value; a repeated option keeps every value in order.
    private(set) var values: [String: [String]] = [:]
    private(set) var flags: Set<String> = []
    /// Arguments that are not options, in order (everything after `--` included).
    private(set) var operands: [String] = []
    /// Each option's default from its spec.
    private var defaults: [String: String] = [:]

    /// Parses `arguments` (the words after the command name) against `specs`.
    /// `-h`/`--help` is reported through `wantsHelp` and is never an error.
    init(_ arguments: [String], specs: [OptionSpec]) throws {
        var byName: [String: OptionSpec] = [:]
        for spec in specs {
            byName[spec.name] = spec
            if let short = spec.short { byName[String(short)] = spec }
            defaults[spec.name] = spec.defaultValue
        }
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if optionsEnded || word == "-" || !word.hasPrefix("-") || Self.isNegativeNumber(word) {
                operands.append(word)
                continue
            }
            if word == "--" { optionsEnded = true; continue }
            if word == "--help" || word == "-h" { flags.insert("help"); continue }
            var name: String
            var inlineValue: String?
            if word.hasPrefix("--") {
                name = String(word.dropFirst(2))
                if let equals = name.firstIndex(of: "=") {
                    inlineValue = String(name[name.index(after: equals)...])
                    name = String(name[..<equals])
                }
            } else {
                name = String(word.dropFirst())
                if name.count > 1 {
                    // `-k5`: a short option with its value attached (POSIX getopt), for options that take one.
                    let letter = String(name.prefix(1))
                    guard let spec = byName[letter], spec.short != nil, spec.takesValue else {
                        throw UsageError("unknown option '\(word)' (short options take one letter)")
                    }
                    inlineValue = String(name.dropFirst())
                    name = letter
                }
            }
            guard let spec = byName[name] else { throw UsageError("unknown option '\(word)'") }
            if spec.takesValue {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else { throw UsageError("option '--\(spec.name)' needs a value <\(spec.valueName!)>") }
                    value = arguments[index]
                    index += 1
                }
                values[spec.name, default: []].append(value)
            } else {
                if inlineValue != nil { throw UsageError("option '--\(spec.name)' takes no value") }
                flags.insert(spec.name)
            }
        }
        if !flags.contains("help") {
            for spec in specs where spec.required && values[spec.name] == nil {
                throw UsageError("missing required option '--\(spec.name) <\(spec.valueName ?? "")>'")
            }
        }
    }

    /// `-12.5` is an operand (a negative latitude), not an option.
    private static func isNegativeNumber(_ word: String) -> Bool {
        word.count > 1 && Double(word) != nil
    }

    var wantsHelp: Bool { flags.contains("help") }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The last value given for `--name`, else its spec's default, else nil.
    func string(_ name: String) -> String? { values[name]?.last ?? defaults[name] }

    /// Whether `--name` was given on the command line (not just defaulted).
    func given(_ name: String) -> Bool { values[name] != nil }

    func requiredString(_ name: String) throws -> String {
        guard let value = string(name) else { throw UsageError("missing required option '--\(name)'") }
        return value
    }

    /// An integer option within `range` (its spec's default when not given); a malformed or
    /// out-of-range value is a usage error.
    func int(_ name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
        guard let text = string(name) else { throw UsageError("missing option '--\(name)'") }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError("--\(name) is '\(text)', expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A finite floating-point option within `range` (its spec's default when not given).
    func double(_ name: String,
                in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws -> Double {
        guard let text = string(name) else { throw UsageError("missing option '--\(name)'") }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            throw UsageError("--\(name) is '\(text)', expected a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A comma-separated list of integers: `--max 5000,2000,1000` (its spec's default when not given).
    func intList(_ name: String) throws -> [Int] {
        guard let text = string(name) else { throw UsageError("missing option '--\(name)'") }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let numbers = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard numbers.count == parts.count, !numbers.isEmpty else {
            throw UsageError("--\(name) is '\(text)', expected comma-separated integers such as 5000,2000,1000")
        }
        return numbers
    }
}
