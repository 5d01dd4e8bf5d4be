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

/// Runs the CLI in-process with standard output and standard error captured (fd 1 and fd 2
/// redirected to files in `directory` for the call).
func runCommandLineCapturingOutput(_ arguments: [String], in directory: URL) throws -> (code: Int32, stdout: String, stderr: String) {
    let errorCapture = directory.appendingPathComponent("stderr-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: errorCapture.path, contents: nil)
    let handle = try FileHandle(forWritingTo: errorCapture)
    let saved = dup(2)
    dup2(handle.fileDescriptor, 2)
    let result = try runCommandLineCapturingStandardOutput(arguments, in: directory)
    dup2(saved, 2)
    close(saved)
    try handle.close()
    return (result.code, String(decoding: result.stdout, as: UTF8.self),
            String(decoding: try Data(contentsOf: errorCapture), as: UTF8.self))
}
