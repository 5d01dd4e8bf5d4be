import Foundation

// A pickle machine for state dicts, the subset `torch.load(weights_only=True)` accepts and no
// more: protocol 2-5 data opcodes, and five kinds of global (OrderedDict, the two tensor rebuild
// functions, the typed storage classes). Nothing is ever looked up or called: a global becomes a
// tag, and REDUCE on a tag builds a record (an empty dict, a tensor view). Any other global,
// any call on something else and any opcode outside the subset is an error naming it.
// Opcode semantics: CPython Lib/pickle.py (`_Unpickler`) and Lib/pickletools.py.

/// A global a state dict's pickle may name.
enum PickleGlobal: Equatable {
    /// `collections.OrderedDict`, the type of `Module.state_dict()` (and of empty backward hooks).
    case orderedDict
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensor
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)`: an `nn.Parameter` saved as such.
    case rebuildParameter
    /// `torch.FloatStorage` and its kin: named in persistent ids, never called.
    case storageType(TorchStorageType)

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch", _):
            guard let type = TorchStorageType(rawValue: name) else { return nil }
            self = .storageType(type)
        default: return nil
        }
    }

    var qualifiedName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensor: "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case let .storageType(type): "torch.\(type.rawValue)"
        }
    }
}

/// torch's typed storage classes, as `torch.save` names a storage's element type.
enum TorchStorageType: String {
    case float = "FloatStorage", half = "HalfStorage", bfloat16 = "BFloat16Storage", double = "DoubleStorage"
    case long = "LongStorage", int = "IntStorage", short = "ShortStorage", char = "CharStorage"
    case byte = "ByteStorage", bool = "BoolStorage"

    /// The element type's safetensors name.
    var dtype: String {
        switch self {
        case .float: "F32"
        case .half: "F16"
        case .bfloat16: "BF16"
        case .double: "F64"
        case .long: "I64"
        case .int: "I32"
        case .short: "I16"
        case .char: "I8"
        case .byte: "U8"
        case .bool: "BOOL"
        }
    }

    var elementSize: Int { SafeTensors.dtypeSizes[dtype] ?? 1 }
    /// Read as Float32; the others (integers, bool) are skipped.
    var isFloat: Bool { [.float, .half, .bfloat16, .double].contains(self) }
}

/// A value on the machine's stack, in its memo or in a container. Containers live in the
/// machine's tables and values refer to them by index, so a value never holds another value:
/// a hostile pickle can build cycles or deep nests, but nothing here recurses over them, and a
/// memo reference sees later SETITEMs on its dict as Python's does.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// A LONG wider than 64 bits; a state dict has no use for its value.
    case largeInteger
    case float(Double)
    case string(String)
    /// Bytes; a state dict has no use for their contents.
    case bytes(count: Int)
    case global(PickleGlobal)
    /// What the persistent-id loader made of a `BINPERSID`.
    case storage(Int)
    case list(Int)
    case tuple(Int)
    /// A dict or OrderedDict (insertion order either way).
    case dict(Int)
    /// A set; a state dict has no use for its members.
    case set
    case tensor(Int)

    /// For error messages.
    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "a bool"
        case .int, .largeInteger: "an int"
        case .float: "a float"
        case .string: "a string"
        case .bytes: "bytes"
        case let .global(global): global.qualifiedName
        case .storage: "a storage"
        case .list: "a list"
        case .tuple: "a tuple"
        case .dict: "a dict"
        case .set: "a set"
        case .tensor: "a tensor"
        }
    }
}

/// What a persistent-id loader throws for an id it cannot use; the machine adds the offset.
struct PickleRefusal: Error {
    let reason: String
}

/// `_rebuild_tensor_v2`'s arguments: a view of `shape` with `strides` (elements) starting
/// `offset` elements into a storage. Checked against the storage when it is read.
struct PickledTensor {
    let storage: Int
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// Runs one pickle to its STOP. Every read is bounds-checked, and the work and memory are
/// linear in the pickle's length, capped by the limits below, whatever the bytes say.
struct Unpickler {
    // Limits far above any state dict's (ViT-L: ~300 tensors, ~8 containers each), low enough that
    // a hostile pickle cannot take more than a few hundred MB.
    static let maximumStack = 1 << 20
    static let maximumMarks = 1 << 12
    static let maximumContainers = 1 << 21
    static let maximumElements = 1 << 23
    static let maximumMemo = 1 << 21
    static let maximumGlobalLine = 1024
    /// Far beyond any weight's dimensions (a convolution's are 4 or 5); without a limit, one long
    /// memoized tuple given as every tensor's size would be copied per tensor.
    static let maximumRank = 64

    private let bytes: [UInt8]
    /// Names the pickle in errors ("model.pt: archive/data.pkl").
    let file: String
    private(set) var lists: [[PickleValue]] = []
    private(set) var tuples: [[PickleValue]] = []
    private(set) var dicts: [[(key: PickleValue, value: PickleValue)]] = []
    private(set) var tensors: [PickledTensor] = []
    private var stack: [PickleValue] = []
    /// Stack heights at each open MARK (Python's metastack).
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var position = 0
    private var opcodeStart = 0
    private var elementCount = 0

    init(_ bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// Runs the pickle and returns the value STOP leaves. `persistentLoad` turns a BINPERSID's
    /// tuple into a value (for torch: a storage).
    /// - Throws: `PyTorchCheckpointError.pickle` (malformed, truncated, unsupported opcode, a
    ///   limit, a `PickleRefusal` from `persistentLoad`), `.forbiddenGlobal` or `.forbiddenCall`, each
    ///   with the opcode's byte offset; and any other error `persistentLoad` throws.
    mutating func load(persistentLoad: ([PickleValue]) throws -> PickleValue) throws -> PickleValue {
        while true {
            opcodeStart = position
            let opcode = try byte()
            if opcode == 0x2E {                                                       // STOP
                guard stack.count > (marks.last ?? 0) else { throw failure("STOP with an empty stack") }
                return stack[stack.count - 1]
            }
            try step(opcode, persistentLoad: persistentLoad)
        }
    }

    private mutating func step(_ opcode: UInt8, persistentLoad: ([PickleValue]) throws -> PickleValue) throws {
        switch opcode {
        case 0x80:                                                                    // PROTO
            let version = try byte()
            guard (2...5).contains(version) else { throw failure("pickle protocol \(version) (2 to 5 are read)") }
        case 0x95: _ = try take(8)                                                   // FRAME: a length hint only
        case 0x28:                                                                    // MARK
            guard marks.count < Self.maximumMarks else { throw failure("more than \(Self.maximumMarks) nested MARKs") }
            marks.append(stack.count)
        case 0x30: _ = try pop()                                                      // POP
        case 0x31: _ = try popMark()                                                  // POP_MARK
        case 0x71: try put(Int(byte()))                                               // BINPUT
        case 0x72: try put(Int(uint32()))                                             // LONG_BINPUT
        case 0x94: try put(memo.count)                                                // MEMOIZE
        case 0x68: try get(Int(byte()))                                               // BINGET
        case 0x6A: try get(Int(uint32()))                                             // LONG_BINGET
        case 0x63:                                                                    // GLOBAL
            let module = try line(), name = try line()
            try push(.global(resolve(module: module, name: name)))
        case 0x93:                                                                    // STACK_GLOBAL
            let name = try pop(), module = try pop()
            guard case let .string(moduleName) = module, case let .string(globalName) = name else {
                throw failure("STACK_GLOBAL on \(module.kind) and \(name.kind), expected two strings")
            }
            try push(.global(resolve(module: moduleName, name: globalName)))
        case 0x52:                                                                    // REDUCE
            let arguments = try pop(), callable = try pop()
            try push(reduce(callable, arguments))
        case 0x62:                                                                    // BUILD
            let state = try pop(), target = try top()
            switch target {
            case .dict, .tensor: break            // attributes (an OrderedDict's `_metadata`): not weights
            default: throw failure("BUILD on \(target.kind) with \(state.kind) (only dicts and tensors are built)")
            }
        case 0x51:                                                                    // BINPERSID
            let id = try pop()
            guard case let .tuple(index) = id else { throw failure("persistent id is \(id.kind), expected a tuple") }
            let value: PickleValue
            do { value = try persistentLoad(tuples[index]) } catch let refusal as PickleRefusal { throw failure(refusal.reason) }
            try push(value)
        default: try pushData(opcode)
        }
    }

    /// The opcodes that push a constant or a container, or fill one.
    private mutating func pushData(_ opcode: UInt8) throws {
        switch opcode {
        case 0x4E: try push(.none)                                                    // NONE
        case 0x88: try push(.bool(true))                                              // NEWTRUE
        case 0x89: try push(.bool(false))                                             // NEWFALSE
        case 0x4B: try push(.int(Int(byte())))                                        // BININT1
        case 0x4D: try push(.int(Int(UInt16(littleEndian: load()))))                 // BININT2
        case 0x4A: try push(.int(Int(Int32(bitPattern: uint32()))))                   // BININT
        case 0x8A: try push(integer(take(Int(byte()))))                               // LONG1
        case 0x8B:                                                                    // LONG4
            let count = Int32(bitPattern: try uint32())
            guard count >= 0 else { throw failure("LONG4 with negative length \(count)") }
            try push(integer(take(Int(count))))
        case 0x47: try push(.float(Double(bitPattern: UInt64(bigEndian: load()))))   // BINFLOAT
        case 0x8C: try push(string(length: UInt64(byte())))                           // SHORT_BINUNICODE
        case 0x58: try push(string(length: UInt64(uint32())))                         // BINUNICODE
        case 0x8D: try push(string(length: UInt64(littleEndian: load())))            // BINUNICODE8
        case 0x43: try push(.bytes(count: take(Int(byte())).count))                   // SHORT_BINBYTES
        case 0x42: try push(.bytes(count: take(UInt64(uint32())).count))              // BINBYTES
        case 0x8E: try push(.bytes(count: take(UInt64(littleEndian: load())).count)) // BINBYTES8
        case 0x29: try push(.tuple(newTuple([])))                                     // EMPTY_TUPLE
        case 0x85, 0x86, 0x87:                                                        // TUPLE1, TUPLE2, TUPLE3
            let count = Int(opcode - 0x84)
            guard stack.count - (marks.last ?? 0) >= count else { throw failure("TUPLE\(count) with a shorter stack") }
            let items = Array(stack.suffix(count))
            stack.removeLast(count)
            try push(.tuple(newTuple(items)))
        case 0x74: try push(.tuple(newTuple(popMark())))                              // TUPLE
        case 0x5D:                                                                    // EMPTY_LIST
            try reserveContainer()
            lists.append([])
            try push(.list(lists.count - 1))
        case 0x7D:                                                                    // EMPTY_DICT
            try push(.dict(newDict()))
        case 0x8F: try push(.set)                                                     // EMPTY_SET
        default: try fill(opcode)
        }
    }

    /// SETITEM(S), APPEND(S), ADDITEMS: pop items into the container below them.
    private mutating func fill(_ opcode: UInt8) throws {
        switch opcode {
        case 0x73:                                                                    // SETITEM
            let value = try pop(), key = try pop()
            try setItems([key, value])
        case 0x75: try setItems(popMark())                                            // SETITEMS
        case 0x61: try append([pop()])                                                // APPEND
        case 0x65: try append(popMark())                                              // APPENDS
        case 0x90:                                                                    // ADDITEMS
            let items = try popMark()
            guard case .set = try top() else { throw failure("ADDITEMS on \(try top().kind), expected a set") }
            try count(items.count)
        default:
            let name = Self.opcodeNames[opcode].map { " (\($0))" } ?? ""
            let shown = opcode >= 0x20 && opcode < 0x7F ? " '\(Character(Unicode.Scalar(opcode)))'" : ""
            throw failure(name.isEmpty ? String(format: "unknown opcode 0x%02x", opcode)
                                       : String(format: "opcode 0x%02x", opcode) + shown + name + " is not supported in a weights file")
        }
    }

    // MARK: Globals and calls

    private func resolve(module: String, name: String) throws -> PickleGlobal {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw PyTorchCheckpointError.forbiddenGlobal(file: file, offset: opcodeStart, name: Self.printable(module + "." + name))
        }
        return global
    }

    /// REDUCE: only OrderedDict() and the two rebuild functions, and those only as records.
    private mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case let .tuple(argumentIndex) = arguments else {
            throw failure("REDUCE with \(arguments.kind) as arguments, expected a tuple")
        }
        let items = tuples[argumentIndex]
        switch callable {
        case .global(.orderedDict):
            guard items.isEmpty else { throw failure("OrderedDict called with \(items.count) arguments (a state dict passes none)") }
            return .dict(try newDict())
        case .global(.rebuildTensor):
            return try rebuildTensor(items)
        case .global(.rebuildParameter):
            guard items.count == 3, case .tensor = items[0] else {
                throw failure("_rebuild_parameter takes (tensor, requires_grad, hooks), got \(items.count) arguments")
            }
            return items[0]
        default:
            let name = if case .global = callable { callable.kind } else { callable.kind + " (not a function)" }
            throw PyTorchCheckpointError.forbiddenCall(file: file, offset: opcodeStart, callable: name)
        }
    }

    private mutating func rebuildTensor(_ items: [PickleValue]) throws -> PickleValue {
        func integers(_ value: PickleValue, _ what: String) throws -> [Int] {
            guard case let .tuple(index) = value else { throw failure("_rebuild_tensor_v2: \(what) is \(value.kind), expected a tuple") }
            return try tuples[index].map {
                guard case let .int(number) = $0 else { throw failure("_rebuild_tensor_v2: \(what) holds \($0.kind)") }
                return number
            }
        }
        guard items.count == 6 || items.count == 7 else {
            throw failure("_rebuild_tensor_v2 takes 6 or 7 arguments, got \(items.count)")
        }
        guard case let .storage(storage) = items[0] else { throw failure("_rebuild_tensor_v2: storage is \(items[0].kind)") }
        guard case let .int(offset) = items[1] else { throw failure("_rebuild_tensor_v2: storage offset is \(items[1].kind)") }
        let shape = try integers(items[2], "size"), strides = try integers(items[3], "stride")
        guard shape.count <= Self.maximumRank else {
            throw failure("_rebuild_tensor_v2: \(shape.count) dimensions (at most \(Self.maximumRank) are read)")
        }
        guard shape.count == strides.count else {
            throw failure("_rebuild_tensor_v2: size \(shape) and stride \(strides) differ in length")
        }
        try reserveContainer()
        tensors.append(PickledTensor(storage: storage, offset: offset, shape: shape, strides: strides))
        return .tensor(tensors.count - 1)
    }

    // MARK: Containers

    private mutating func setItems(_ items: [PickleValue]) throws {
        guard case let .dict(index) = try top() else { throw failure("SETITEM(S) on \(try top().kind), expected a dict") }
        guard items.count % 2 == 0 else { throw failure("SETITEMS with an odd number (\(items.count)) of keys and values") }
        try count(items.count)
        for pair in stride(from: 0, to: items.count, by: 2) { dicts[index].append((items[pair], items[pair + 1])) }
    }

    private mutating func append(_ items: [PickleValue]) throws {
        guard case let .list(index) = try top() else { throw failure("APPEND(S) on \(try top().kind), expected a list") }
        try count(items.count)
        lists[index].append(contentsOf: items)
    }

    private mutating func newTuple(_ items: [PickleValue]) throws -> Int {
        try reserveContainer()
        try count(items.count)
        tuples.append(items)
        return tuples.count - 1
    }

    private mutating func newDict() throws -> Int {
        try reserveContainer()
        dicts.append([])
        return dicts.count - 1
    }

    private func reserveContainer() throws {
        guard lists.count + tuples.count + dicts.count + tensors.count < Self.maximumContainers else {
            throw failure("more than \(Self.maximumContainers) containers")
        }
    }

    private mutating func count(_ items: Int) throws {
        elementCount += items
        guard elementCount <= Self.maximumElements else { throw failure("more than \(Self.maximumElements) container elements") }
    }

    // MARK: Stack and memo

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < Self.maximumStack else { throw failure("stack deeper than \(Self.maximumStack)") }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw failure("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw failure("stack underflow") }
        return stack[stack.count - 1]
    }

    /// The items pushed since the last MARK, which is closed.
    private mutating func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw failure("no MARK to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func put(_ index: Int) throws {
        let value = try top()
        guard memo.count < Self.maximumMemo || memo[index] != nil else { throw failure("more than \(Self.maximumMemo) memo entries") }
        memo[index] = value
    }

    private mutating func get(_ index: Int) throws {
        guard let value = memo[index] else { throw failure("memo entry \(index) read before it was written") }
        try push(value)
    }

    // MARK: Reading

    private mutating func byte() throws -> UInt8 {
        let slice = try take(1)
        return slice[slice.startIndex]                                  // a slice keeps the pickle's indices
    }
    private mutating func uint32() throws -> UInt32 { UInt32(littleEndian: try load()) }

    private mutating func load<T: FixedWidthInteger>(as type: T.Type = T.self) throws -> T {
        try take(MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    private mutating func take(_ count: UInt64) throws -> ArraySlice<UInt8> {
        guard count <= UInt64(bytes.count - position) else {
            throw failure("\(count) bytes needed at byte \(position), past the end of the pickle (\(bytes.count) bytes)")
        }
        return try take(Int(count))
    }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count <= bytes.count - position else {
            throw failure("\(count) bytes needed at byte \(position), past the end of the pickle (\(bytes.count) bytes)")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// A GLOBAL operand: text up to a newline.
    private mutating func line() throws -> String {
        let end = bytes[position..<min(bytes.count, position + Self.maximumGlobalLine)].firstIndex(of: 0x0A)
        guard let end else { throw failure("GLOBAL name without a newline within \(Self.maximumGlobalLine) bytes") }
        let text = try take(end - position)
        position += 1
        guard let decoded = String(validating: text, as: UTF8.self) else { throw failure("GLOBAL name is not UTF-8") }
        return decoded
    }

    private mutating func string(length: UInt64) throws -> PickleValue {
        let text = try take(length)
        guard let decoded = String(validating: text, as: UTF8.self) else { throw failure("string of \(length) bytes is not UTF-8") }
        return .string(decoded)
    }

    /// LONG1/LONG4 operand: little-endian two's complement.
    private func integer(_ digits: ArraySlice<UInt8>) -> PickleValue {
        guard let last = digits.last else { return .int(0) }
        let negative = last & 0x80 != 0
        if digits.count > 8 {         // fits 64 bits only if every byte past the eighth repeats the sign bit
            let fill: UInt8 = negative ? 0xFF : 0
            guard digits.dropFirst(8).allSatisfy({ $0 == fill }), (digits[digits.startIndex + 7] & 0x80 != 0) == negative else {
                return .largeInteger
            }
        }
        var bits: UInt64 = negative ? .max : 0
        for (index, digit) in digits.prefix(8).enumerated() {
            let shift = UInt64(8 * index)
            bits = bits & ~(0xFF << shift) | UInt64(digit) << shift
        }
        return .int(Int(Int64(bitPattern: bits)))
    }

    private func failure(_ reason: String) -> PyTorchCheckpointError {
        .pickle(file: file, offset: opcodeStart, reason: reason)
    }

    /// Text from the file, safe to print: control characters escaped, at most 200 characters.
    static func printable(_ text: String) -> String {
        let escaped = text.unicodeScalars
            .map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
        return escaped.count > 200 ? String(escaped.prefix(200)) + "…" : escaped
    }

    /// pickletools' names, for the opcodes a weights file has no business with.
    private static let opcodeNames: [UInt8: String] = [
        0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4C: "LONG", 0x50: "PERSID", 0x53: "STRING", 0x54: "BINSTRING",
        0x55: "SHORT_BINSTRING", 0x56: "UNICODE", 0x64: "DICT", 0x67: "GET", 0x69: "INST", 0x6C: "LIST", 0x6F: "OBJ",
        0x70: "PUT", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
        0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]
}
