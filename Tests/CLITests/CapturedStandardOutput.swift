import Foundation
@testable import CLI

/// Runs the CLI in-process with its standard output captured: fd 1 is redirected to a file in
/// `directory` for the call (the commands print with `print`, which writes to fd 1).
func runCommandLineCapturingStandardOutput(_ arguments: [String], in directory: URL) throws -> (code: Int32, stdout: Data) {
    let capture = directory.appendingPathComponent("stdout-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: capture.path, contents: nil)
    let handle = try FileHandle(forWritingTo: capture)
    fflush(nil)   // all C streams: `stdout` itself is not concurrency-safe to name
    let saved = dup(1)
    dup2(handle.fileDescriptor, 1)
    let code = runCommandLine(arguments)
    fflush(nil)
    dup2(saved, 1)
    close(saved)
    try handle.close()
    return (code, try Data(contentsOf: capture))
}
