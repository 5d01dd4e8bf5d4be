import Foundation
import TensorEngine

/// A weight file as the model reads it: TensorEngine's `SafeTensors` (F32, F16, BF16 and F64
/// read as Float32; safetensors or a PyTorch checkpoint) plus each tensor's shape and the
/// file's path for error messages.
struct WeightFile {
    struct Entry {
        let dtype: String
        let shape: [Int]
    }

    let path: String
    let entries: [String: Entry]
    /// Tensor names in header order.
    let names: [String]
    let metadata: [String: String]
    private let file: SafeTensors

    /// Reads a safetensors file or a PyTorch checkpoint (`SafeTensors(weightsAt:)`; integer
    /// tensors skipped).
    /// - Throws: `SafeTensorsError` or `PyTorchCheckpointError` naming the file and what is wrong, never traps.
    init(contentsOf url: URL) throws {
        try self.init(file: SafeTensors(weightsAt: url), path: url.path)
    }

    init(file: SafeTensors, path: String) {
        self.file = file
        self.path = path
        names = file.names
        metadata = file.metadata
        var entries: [String: Entry] = [:]
        for name in file.names { entries[name] = Entry(dtype: file.dtypes[name] ?? "F32", shape: file.tensors[name]!.shape) }
        self.entries = entries
    }

    /// The tensor `name` as Float32.
    /// - Throws: `WeightFileError.missingTensor` when absent.
    func tensor(_ name: String) throws -> Tensor {
        guard let tensor = file[name] else { throw WeightFileError.missingTensor(file: path, tensor: name) }
        return tensor
    }

    /// Writes F32 tensors in the given order, with `metadata` as `__metadata__`.
    /// - Throws: `SafeTensorsError` when the file cannot be written.
    static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to url: URL) throws {
        var file = SafeTensors()
        file.metadata = metadata
        for (name, tensor) in tensors { file.set(name, tensor) }
        try file.write(to: url)
    }
}

/// A safetensors file that does not hold what the model needs (unreadable or malformed files
/// are TensorEngine's `SafeTensorsError`).
public enum WeightFileError: Error, CustomStringConvertible, Equatable {
    case missingTensor(file: String, tensor: String)
    /// Keys the model needs but the file lacks, keys the file has that the model does not know,
    /// and keys whose shapes differ: all at once.
    case mismatchedKeys(file: String, missing: [String], unexpected: [String], misshaped: [String])
    case missingMetadata(file: String, key: String, reason: String)

    /// A message naming the file and the offending keys (missing, unexpected and misshaped listed on their own lines).
    public var description: String {
        switch self {
        case let .missingTensor(file, tensor): "\(file): no tensor '\(tensor)'"
        case let .mismatchedKeys(file, missing, unexpected, misshaped):
            mismatchedWeightsText(file: file, subject: "the model", missing: missing, unexpected: unexpected, misshaped: misshaped)
        case let .missingMetadata(file, key, reason): "\(file): __metadata__.\(key): \(reason)"
        }
    }
}
