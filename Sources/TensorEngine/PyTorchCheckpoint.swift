import Foundation

/// A PyTorch checkpoint (`torch.save`) that cannot be read as weights. Each case names the file
/// and the place: the zip entry, the pickle's byte offset, the tensor or the storage.
public enum PyTorchCheckpointError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    /// Written by torch < 1.6 or with `_use_new_zipfile_serialization=False`: a bare pickle stream.
    case legacyFormat(file: String)
    /// Neither a zip archive nor the legacy format, or a zip without a `torch.save` layout.
    case notACheckpoint(file: String, reason: String)
    /// A damaged or truncated zip structure at a byte offset.
    case badZip(file: String, offset: Int, reason: String)
    case compressedEntry(file: String, entry: String, method: Int)
    case encryptedEntry(file: String, entry: String)
    /// The archive's `byteorder` is not "little".
    case byteOrder(file: String, value: String)
    /// A malformed pickle, an opcode outside the subset, or a limit reached (`file` names the entry too).
    case pickle(file: String, offset: Int, reason: String)
    /// The pickle names a global other than OrderedDict, the tensor rebuild functions and the storage types.
    case forbiddenGlobal(file: String, offset: Int, name: String)
    /// The pickle calls something other than OrderedDict or a tensor rebuild function.
    case forbiddenCall(file: String, offset: Int, callable: String)
    /// A persistent id names a storage the archive lacks or holds at another size.
    case badStorage(file: String, key: String, reason: String)
    /// A tensor's view does not fit its storage.
    case badTensor(file: String, tensor: String, reason: String)
    /// The pickled object is not a dict of tensors (possibly nested), or is too large to flatten.
    case notAStateDict(file: String, reason: String)
    case duplicateName(file: String, tensor: String)

    /// A one-line message naming the file, the place and the problem.
    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read: \(reason)"
        case let .legacyFormat(file):
            "\(file): a PyTorch checkpoint in the legacy pre-1.6 format (not a zip archive), which is not read; "
                + "re-save it with torch >= 1.6: torch.save(torch.load(path, weights_only=True), path)"
        case let .notACheckpoint(file, reason): "\(file): not a PyTorch checkpoint: \(reason)"
        case let .badZip(file, offset, reason): "\(file): zip byte \(offset): \(reason)"
        case let .compressedEntry(file, entry, method):
            "\(file): zip entry '\(entry)' is compressed (\(Self.compressionName(method))); torch.save stores entries "
                + "uncompressed, so save it again with torch.save rather than re-zipping it"
        case let .encryptedEntry(file, entry): "\(file): zip entry '\(entry)' is encrypted"
        case let .byteOrder(file, value):
            "\(file): byteorder is '\(value)', only 'little' is read (re-save the checkpoint on a little-endian machine)"
        case let .pickle(file, offset, reason): "\(file) byte \(offset): \(reason)"
        case let .forbiddenGlobal(file, offset, name):
            "\(file) byte \(offset): refused global '\(name)': a weights file needs only collections.OrderedDict, "
                + "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch.*Storage (nothing is ever run)"
        case let .forbiddenCall(file, offset, callable):
            "\(file) byte \(offset): refused call of \(callable): only OrderedDict and the tensor rebuild functions are called"
        case let .badStorage(file, key, reason): "\(file): storage '\(key)': \(reason)"
        case let .badTensor(file, tensor, reason): "\(file): tensor '\(tensor)': \(reason)"
        case let .notAStateDict(file, reason): "\(file): not a state dict: \(reason)"
        case let .duplicateName(file, tensor): "\(file): tensor name '\(tensor)' appears twice"
        }
    }

    private static func compressionName(_ method: Int) -> String {
        switch method {                                              // APPNOTE 4.4.5
        case 8: "deflate"
        case 12: "bzip2"
        case 14: "LZMA"
        case 93: "Zstandard"
        default: "method \(method)"
        }
    }
}

extension SafeTensors {
    /// Reads a weights file of either format, chosen by its content: a PyTorch checkpoint
    /// (`torch.save`'s zip archive, e.g. `pytorch_model.bin`, `*.pth`, `*.pt`) or a safetensors file.
    /// Float tensors (F32, F16, BF16, F64) are read as Float32; integer and bool tensors (a
    /// BatchNorm's `num_batches_tracked`) are left out. A checkpoint is read as
    /// `torch.load(weights_only=True)` would: its pickle may only rebuild tensors and dicts, and
    /// nothing in it is ever executed. Nested dicts are flattened with "." between keys, except a
    /// lone wrapper such as `{"state_dict": {...}, "epoch": 9}`, which is unwrapped.
    /// - Parameter url: the file (memory-mapped while it is read).
    /// - Throws: `SafeTensorsError` for an unreadable or malformed safetensors file,
    ///   `PyTorchCheckpointError` for a checkpoint that is malformed, of the legacy pre-1.6
    ///   format, or asks for anything beyond tensors; never traps on file contents.
    public init(weightsAt url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) }
        catch { throw SafeTensorsError.unreadable(file: url.path, reason: error.localizedDescription) }
        if PyTorchCheckpoint.isCheckpoint(data) {
            try self.init(pyTorchCheckpoint: data, file: url.path)
        } else {
            try self.init(data: data, file: url.path, skippingNonFloat: true)
        }
    }

    /// Reads a PyTorch checkpoint (see `init(weightsAt:)`).
    /// - Throws: `PyTorchCheckpointError` naming the file and the problem.
    package init(pyTorchCheckpointAt url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) }
        catch { throw PyTorchCheckpointError.unreadable(file: url.path, reason: error.localizedDescription) }
        try self.init(pyTorchCheckpoint: data, file: url.path)
    }

    /// Reads the bytes of a PyTorch checkpoint; `file` names it in errors.
    /// - Throws: `PyTorchCheckpointError` naming the file and the problem.
    package init(pyTorchCheckpoint data: Data, file: String) throws {
        self = try data.withUnsafeBytes { try PyTorchCheckpoint(bytes: $0, file: file).read() }
    }
}

/// `torch.save`'s zip layout (torch >= 1.6, torch/serialization.py `_save`):
/// `<archive>/data.pkl` pickles the object, each storage's bytes are `<archive>/data/<key>`, and
/// `<archive>/byteorder` says "little" (absent before torch 1.10: little then too). A tensor is
/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`, its storage the persistent id
/// `('storage', torch.FloatStorage, key, location, numel)`; views of one storage share its key.
struct PyTorchCheckpoint {
    let bytes: UnsafeRawBufferPointer
    let file: String

    /// Deepest dict nesting followed (a state dict is one level, a wrapper two or three).
    static let maximumDepth = 32
    /// Longest tensor name, and the most name bytes in all, so that a pickle reusing long keys
    /// in deep nests cannot make names without bound.
    static let maximumNameBytes = 4096
    static let maximumTotalNameBytes = 64 << 20
    /// Most tensors named (ViT-L has ~300); each costs a name and a path while the dicts are walked.
    static let maximumTensors = 1 << 20

    /// A storage a persistent id named.
    private struct Storage {
        let key: String
        let type: TorchStorageType
        /// The storage's bytes in the archive.
        let data: Range<Int>
        var elementCount: Int { data.count / type.elementSize }
    }

    /// The legacy format's first bytes: pickle PROTO, then LONG1 of torch's magic number
    /// 0x1950a86a20f9469cfc6c (torch/serialization.py `MAGIC_NUMBER`), little-endian.
    private static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Whether `data` is a PyTorch checkpoint, current (a zip archive) or legacy, rather than a
    /// safetensors file (whose first 8 bytes are a header length under 100 MB).
    static func isCheckpoint(_ data: Data) -> Bool {
        let head = [UInt8](data.prefix(32))
        return head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) || isLegacy(head)
    }

    private static func isLegacy(_ head: [UInt8]) -> Bool {
        guard head.first == 0x80, head.count >= legacyMagic.count else { return false }
        return (0...(head.count - legacyMagic.count)).contains { head[$0..<$0 + legacyMagic.count].elementsEqual(legacyMagic) }
    }

    func read() throws -> SafeTensors {
        let head = [UInt8](bytes.prefix(32))
        if Self.isLegacy(head) || (bytes.count > 262 && Array(bytes[257..<262]) == Array("ustar".utf8)) {
            throw PyTorchCheckpointError.legacyFormat(file: file)              // ustar: torch's oldest, tar format
        }
        guard Self.isCheckpoint(Data(head)) else {
            throw PyTorchCheckpointError.notACheckpoint(file: file, reason: "no zip signature (torch >= 1.6 writes a zip archive)")
        }
        let archive = try ZipArchive(bytes, file: file)
        let folder = try Self.archiveFolder(archive, file: file)
        if let order = archive[folder + "byteorder"] {
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[order.data]).prefix(16), as: UTF8.self)
            guard value == "little" else { throw PyTorchCheckpointError.byteOrder(file: file, value: Unpickler.printable(value)) }
        }
        guard let pickle = archive[folder + "data.pkl"] else {
            throw PyTorchCheckpointError.notACheckpoint(file: file, reason: "no \(Unpickler.printable(folder))data.pkl in the archive")
        }
        var storages: [Storage] = [], storageIndex: [String: Int] = [:]
        var unpickler = Unpickler(Array(bytes[pickle.data]), file: "\(file): \(pickle.name)")
        let root = try unpickler.load { id in
            let storage = try storageFromID(id, archive: archive, folder: folder)
            if let index = storageIndex[storage.key] {
                guard storages[index].type == storage.type else {
                    throw PickleRefusal(reason: "storage '\(storage.key)' is named as \(storages[index].type.rawValue) "
                                        + "and as \(storage.type.rawValue)")
                }
                return .storage(index)
            }
            storageIndex[storage.key] = storages.count
            storages.append(storage)
            return .storage(storages.count - 1)
        }
        return try weights(root, unpickler: unpickler, storages: storages)
    }

    /// The folder every entry sits in (`archive/` when saved to a buffer, the file's stem when saved to a path). Like
    /// torch's reader, the first entry's folder; TorchScript archives are told apart by their code.
    private static func archiveFolder(_ archive: ZipArchive, file: String) throws -> String {
        guard let first = archive.entries.first, let slash = first.name.firstIndex(of: "/") else {
            throw PyTorchCheckpointError.notACheckpoint(file: file, reason: "the archive has no folder holding data.pkl")
        }
        let folder = String(first.name[...slash])
        if archive[folder + "constants.pkl"] != nil || archive.entries.contains(where: { $0.name.hasPrefix(folder + "code/") }) {
            throw PyTorchCheckpointError.notACheckpoint(file: file, reason: "a TorchScript archive (torch.jit.save); "
                                                        + "save the model's state_dict() with torch.save instead")
        }
        return folder
    }

    /// `('storage', torch.FloatStorage, key, location, numel)`: the storage's entry, checked to
    /// hold exactly numel elements.
    private func storageFromID(_ id: [PickleValue], archive: ZipArchive, folder: String) throws -> Storage {
        guard id.count == 5, case .string("storage") = id[0] else {
            throw PickleRefusal(reason: "persistent id of \(id.count) items is not ('storage', type, key, location, numel)")
        }
        guard case let .global(.storageType(type)) = id[1], case let .string(key) = id[2], case .string = id[3],
              case let .int(count) = id[4], count >= 0 else {
            throw PickleRefusal(reason: "storage id holds (\(id.map(\.kind).joined(separator: ", "))), "
                                + "expected ('storage', a torch storage type, a string key, a string location, an element count)")
        }
        let name = folder + "data/" + key
        guard let entry = archive[name] else {
            throw PyTorchCheckpointError.badStorage(file: file, key: Unpickler.printable(key),
                                                    reason: "the archive has no entry '\(Unpickler.printable(name))'")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: type.elementSize)
        guard !overflow, byteCount == entry.data.count else {
            throw PyTorchCheckpointError.badStorage(file: file, key: Unpickler.printable(key),
                                                    reason: "the pickle says \(count) elements of "
                                                    + "\(type.elementSize) bytes, the entry holds \(entry.data.count) bytes")
        }
        return Storage(key: key, type: type, data: entry.data)
    }

    // MARK: Tensors

    /// The tensors of the pickled object, named and read as Float32 (integer and bool ones named in `skipped`).
    private func weights(_ root: PickleValue, unpickler: Unpickler, storages: [Storage]) throws -> SafeTensors {
        guard case .dict = root else {
            throw PyTorchCheckpointError.notAStateDict(file: file, reason: "the pickled object is \(root.kind), expected a dict of tensors")
        }
        var leaves: [(path: [String], tensor: Int)] = [], visited = Set<Int>()
        try collect(root, path: [], unpickler: unpickler, into: &leaves, visited: &visited)
        let isFloat = { (leaf: (path: [String], tensor: Int)) in storages[unpickler.tensors[leaf.tensor].storage].type.isFloat }
        // A lone wrapper ({"state_dict": {...}, "epoch": 9}, {"model": {...}}) is unwrapped: every float
        // tensor sits under one top-level key. Integer tensors beside it (a step counter) do not
        // count: they are skipped anyway, and would otherwise prefix every weight's name.
        var wrapperDepth = 0
        while let first = leaves.first(where: isFloat)?.path.dropFirst(wrapperDepth).first,
              leaves.filter(isFloat).allSatisfy({ $0.path.count > wrapperDepth + 1 && $0.path[wrapperDepth] == first }) {
            wrapperDepth += 1
        }
        let wrapper = leaves.first(where: isFloat).map { Array($0.path.prefix(wrapperDepth)) } ?? []

        var result = SafeTensors(), seen = Set<String>(), nameBytes = 0
        var read: [Int: Tensor] = [:], elementBudget = 2 * bytes.count + (1 << 24)
        for leaf in leaves {
            let path = leaf.path.starts(with: wrapper) ? Array(leaf.path.dropFirst(wrapper.count)) : leaf.path
            let name = path.joined(separator: ".")
            nameBytes += name.utf8.count
            guard name.utf8.count <= Self.maximumNameBytes, nameBytes <= Self.maximumTotalNameBytes else {
                throw PyTorchCheckpointError.notAStateDict(file: file, reason: "tensor names longer than \(Self.maximumNameBytes) "
                                                           + "bytes, or over \(Self.maximumTotalNameBytes) bytes in all")
            }
            guard seen.insert(name).inserted else { throw PyTorchCheckpointError.duplicateName(file: file, tensor: name) }
            let view = unpickler.tensors[leaf.tensor], storage = storages[view.storage]
            let count = try elementCount(view, storage: storage, name: name)
            guard storage.type.isFloat else {
                result.skipped.append(name)
                continue
            }
            if read[leaf.tensor] == nil {          // one tensor under two names (a memo reference) is read once
                elementBudget -= count
                guard elementBudget >= 0 else {
                    throw PyTorchCheckpointError.badTensor(file: file, tensor: name, reason: "the views read so far hold more than 2 "
                                                           + "elements per byte of the file (expanded or overlapping views?)")
                }
                read[leaf.tensor] = gather(view, storage: storage)
            }
            result.append(name, read[leaf.tensor]!, dtype: storage.type.dtype)
        }
        return result
    }

    /// Depth-first, in dict order: each tensor with its path of keys. Values that are neither
    /// dicts nor tensors (epochs, config strings, lists of optimizer groups) are passed over.
    private func collect(_ value: PickleValue, path: [String], unpickler: Unpickler,
                         into leaves: inout [(path: [String], tensor: Int)], visited: inout Set<Int>) throws {
        switch value {
        case let .tensor(index):
            guard leaves.count < Self.maximumTensors else {
                throw PyTorchCheckpointError.notAStateDict(file: file, reason: "more than \(Self.maximumTensors) tensors")
            }
            leaves.append((path, index))
        case let .dict(index):
            let place = path.isEmpty ? "the top level" : "'\(path.joined(separator: "."))'"
            guard path.count < Self.maximumDepth else {
                throw PyTorchCheckpointError.notAStateDict(file: file, reason: "dicts nested deeper than \(Self.maximumDepth) at \(place)")
            }
            guard visited.insert(index).inserted else {      // legitimate state dicts never share a dict
                throw PyTorchCheckpointError.notAStateDict(file: file, reason: "the dict at \(place) is reached twice (shared or cyclic)")
            }
            for (key, item) in unpickler.dicts[index] {
                switch item {
                case .tensor, .dict: break
                default: continue
                }
                let name: String
                switch key {
                case let .string(text): name = text
                case let .int(number): name = String(number)          // an optimizer's per-parameter state
                default:
                    throw PyTorchCheckpointError.notAStateDict(file: file, reason: "a key of \(place) is \(key.kind), expected a string")
                }
                try collect(item, path: path + [name], unpickler: unpickler, into: &leaves, visited: &visited)
            }
        default: break
        }
    }

    /// The view's element count, once its offset, sizes and strides are checked against the storage.
    private func elementCount(_ view: PickledTensor, storage: Storage, name: String) throws -> Int {
        let layout = "offset \(view.offset), size \(view.shape), stride \(view.strides)"
        guard view.offset >= 0, view.shape.allSatisfy({ $0 >= 0 }), view.strides.allSatisfy({ $0 >= 0 }) else {
            throw PyTorchCheckpointError.badTensor(file: file, tensor: name, reason: "a negative offset, size or stride (\(layout))")
        }
        var count = 1, last = view.offset, overflow = false
        for (size, stride) in zip(view.shape, view.strides) {
            let product = count.multipliedReportingOverflow(by: size)
            let reach = (max(size, 1) - 1).multipliedReportingOverflow(by: stride)
            let sum = last.addingReportingOverflow(reach.partialValue)
            (count, last) = (product.partialValue, sum.partialValue)
            overflow = overflow || product.overflow || reach.overflow || sum.overflow
        }
        guard !overflow else { throw PyTorchCheckpointError.badTensor(file: file, tensor: name, reason: "\(layout) overflows") }
        guard count == 0 || last < storage.elementCount else {
            throw PyTorchCheckpointError.badTensor(file: file, tensor: name, reason: "view (\(layout)) reaches element \(last), "
                                                   + "past its storage '\(storage.key)' of \(storage.elementCount) elements")
        }
        return count
    }

    /// The view as a dense row-major Float32 tensor: in one run when it is contiguous, else innermost
    /// rows converted with their stride, the outer index advanced like an odometer. The view was
    /// checked by `elementCount`.
    private func gather(_ view: PickledTensor, storage: Storage) -> Tensor {
        let tensor = Tensor(zeros: view.shape), count = tensor.count
        guard count > 0 else { return tensor }
        let rank = view.shape.count, elementSize = storage.type.elementSize, dtype = storage.type.dtype
        // A dimension of size 1 never steps, so its stride (unchecked, possibly huge) is taken as 0.
        let strides = zip(view.shape, view.strides).map { $0 == 1 ? 0 : $1 }
        let start = storage.data.lowerBound + view.offset * elementSize
        var denseStride = 1, isDense = true                  // row-major contiguous: a state dict's own tensors
        for dimension in (0..<rank).reversed() where view.shape[dimension] != 1 {
            isDense = isDense && strides[dimension] == denseStride
            denseStride *= view.shape[dimension]
        }
        if isDense {
            SafeTensors.convert(bytes, from: start, dtype: dtype, count: count, into: tensor.data)
            return tensor
        }
        let rowLength = view.shape[rank - 1], rowStride = strides[rank - 1]      // rank >= 1: a 0-d view is dense
        var index = [Int](repeating: 0, count: rank - 1), rowStart = view.offset
        for row in 0..<count / rowLength {
            SafeTensors.convert(bytes, from: storage.data.lowerBound + rowStart * elementSize, dtype: dtype, count: rowLength,
                                stride: rowStride, into: tensor.data + row * rowLength)
            var dimension = rank - 2
            while dimension >= 0 {
                index[dimension] += 1
                rowStart += strides[dimension]
                if index[dimension] < view.shape[dimension] { break }
                rowStart -= strides[dimension] * view.shape[dimension]
                index[dimension] = 0
                dimension -= 1
            }
        }
        return tensor
    }
}
