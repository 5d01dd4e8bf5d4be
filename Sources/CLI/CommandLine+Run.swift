import Foundation

/// Every subcommand, in the order `translocator --help` lists them. A name may have two words
/// (`bench gemm`): the first word then groups a family, and `translocator bench --help` lists it.
let allCommands: [any Command.Type] = [
    DemoCommand.self,
    PartitionCommand.self,
    CellCommand.self,
    PredictCommand.self,
    VerifyImportCommand.self,
    VerifySegmenterCommand.self,
    SegmentCommand.self,
    BundleCommand.self,
    BenchForwardCommand.self,
    BenchSegmentCommand.self,
    BenchTrainCommand.self,
    BenchPartitionCommand.self,
    BenchGEMMCommand.self,
    DecodeCommand.self,
    BenchDecodeCommand.self,
    SynthesizeCommand.self,
    ManifestCommand.self,
    LabelCommand.self,
    EvalCommand.self,
    TrainCommand.self,
]

/// The help page of a command family such as `bench`: its members and their summaries.
func familyHelp(_ family: String, members: [any Command.Type]) -> String {
    let rows = members.map { "  " + $0.name.padding(toLength: 22, withPad: " ", startingAt: 0) + $0.summary }
    return "USAGE: translocator \(family) <name> [options]\n\nCOMMANDS:\n" + rows.joined(separator: "\n")
        + "\n\nRun 'translocator \(family) <name> --help' for its options.\n"
}

/// Exit codes (docs/ARCHITECTURE.md "CLI contracts"): 0 success, 1 ran and failed, 64 usage error.
enum ExitCode {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
}

/// One line a command for the help: its name padded to the longest name and two spaces, its summary.
let commandList: String = {
    let column = allCommands.map { $0.name.count }.max()! + 2
    return allCommands.map { "  " + $0.name.padding(toLength: column, withPad: " ", startingAt: 0) + $0.summary }
        .joined(separator: "\n")
}()

let topLevelHelp = """
    USAGE: translocator <command> [options] [operands]

    Tells where in the world a photo was taken: TransLocator (ECCV 2022), a dual-branch Vision
    Transformer over a photo and its semantic map, classifying into adaptive S2 geo-cells.
    Pure Swift, one self-contained engine.

    COMMANDS:
    \(commandList)

    Run 'translocator <command> --help' for a command's options and examples.

    """

/// Runs one invocation and returns its exit code. Separate from `exit` so the whole CLI is a
/// function of its arguments.
func runCommandLine(_ arguments: [String]) -> Int32 {
    guard let commandName = arguments.first else {
        printError(topLevelHelp)
        return ExitCode.usage
    }
    if commandName == "--help" || commandName == "-h" || commandName == "help" {
        print(topLevelHelp, terminator: "")
        return ExitCode.success
    }
    var nameWords = 1
    var found = allCommands.first(where: { $0.name == commandName })
    if arguments.count > 1, let twoWord = allCommands.first(where: { $0.name == "\(commandName) \(arguments[1])" }) {
        found = twoWord
        nameWords = 2
    }
    guard let command = found else {
        let family = allCommands.filter { $0.name.hasPrefix(commandName + " ") }
        if !family.isEmpty {
            let asksHelp = arguments.count > 1 && ["--help", "-h"].contains(arguments[1])
            if asksHelp { print(familyHelp(commandName, members: family), terminator: "") }
            else {
                printError("error: '\(commandName)' needs one of: "
                           + "\(family.map { $0.name.split(separator: " ").last ?? "" }.joined(separator: ", "))\n"
                           + familyHelp(commandName, members: family))
            }
            return asksHelp ? ExitCode.success : ExitCode.usage
        }
        printError("error: unknown command '\(commandName)'. Run 'translocator --help' for the list.")
        return ExitCode.usage
    }
    do {
        let parsed = try ParsedArguments(Array(arguments.dropFirst(nameWords)), specs: command.options)
        if parsed.wantsHelp {
            print(command.helpText, terminator: "")
            return ExitCode.success
        }
        try command.run(parsed)
        return ExitCode.success
    } catch let error as UsageError {
        // One line, as every error: the help page is one flag away.
        printError("error: \(error.message) (see 'translocator \(command.name) --help')")
        return ExitCode.usage
    } catch let error as CommandFailure {
        printError("error: \(error.message)")
        return ExitCode.failure
    } catch {
        printError("error: \(error)")
        return ExitCode.failure
    }
}

/// A command that ran and failed for a reason it words itself (a check over tolerance, say).
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
