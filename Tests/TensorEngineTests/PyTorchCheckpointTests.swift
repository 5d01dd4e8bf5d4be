import Foundation
import XCTest
@testable import TensorEngine

/// Fixtures: scripts/engine/make_torch_checkpoint_fixtures.py (real torch.save files and hostile
/// ones made from them). Hand-built archives and pickles: `TestZip` and `PickleBuilder` below.
final class PyTorchCheckpointTests: XCTestCase {
    func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/torch"), name)
    }

    /// Reads `<name>.pt` and compares it with PyTorch's own dense Float32 copies (expected.safetensors):
    /// names in order, skipped names, shapes and values. Exact: F16 and BF16 widen exactly, and F64
    /// rounds to nearest in both torch's `.float()` and `Float(_: Double)`.
    @discardableResult
    func assertMatchesPyTorch(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> SafeTensors {
        let expected = try SafeTensors(contentsOf: fixture("expected.safetensors"))
        func list(_ key: String) throws -> [String] {
            let text = try XCTUnwrap(expected.metadata[key], key)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String], key)
        }
        let checkpoint = try SafeTensors(pyTorchCheckpointAt: fixture(name + ".pt"))
        XCTAssertEqual(checkpoint.names, try list(name + ".names"), name, file: file, line: line)
        XCTAssertEqual(checkpoint.skipped, try list(name + ".skipped"), name, file: file, line: line)
        for tensor in try list(name + ".names") {
            let reference = try XCTUnwrap(expected["\(name)/\(tensor)"], tensor)
            XCTAssertEqual(checkpoint[tensor]?.shape, reference.shape, "\(name): \(tensor)", file: file, line: line)
            XCTAssertEqual(checkpoint[tensor]?.scalars, reference.scalars, "\(name): \(tensor)", file: file, line: line)
        }
        return checkpoint
    }

    // MARK: Real torch.save files

    func testReadsEveryFloatDTypeAndSkipsIntegerTensors() throws {
        let file = try assertMatchesPyTorch("dtypes")
        XCTAssertEqual(file.dtypes, ["f32": "F32", "f16": "F16", "bf16": "BF16", "f64": "F64", "scalar": "F32", "empty": "F32",
                                     "param": "F32"])
        XCTAssertEqual(file["bf16"]?[4], 65536)                  // BF16 keeps 8 mantissa bits: 65504 rounds up
        XCTAssertEqual(file["f64"]?[0], 0.1 as Float)            // F64 0.1 rounds to the nearest Float32
        XCTAssertEqual(file["scalar"]?.shape, [])
        XCTAssertEqual(file["empty"]?.shape, [0, 3])
    }

    func testSharedStoragesAndStridedViewsAreGatheredDense() throws {
        let file = try assertMatchesPyTorch("views")
        XCTAssertEqual(file["head"]?.scalars, [2, 3, 4, 5, 6, 7])
        XCTAssertEqual(file["transposed"]?.shape, [4, 3])
        XCTAssertEqual(file["strided"]?.scalars, [8, 11, 14, 24, 27, 30])
        XCTAssertEqual(file["expanded"]?.scalars, [1, 2, 1, 2, 1, 2])
        XCTAssertEqual(file["element"]?.scalars, [5])
        // head, tail and element view one storage: torch.save wrote it once.
        let data = try Data(contentsOf: fixture("views.pt"))
        let storageEntries = try data.withUnsafeBytes { try ZipArchive($0, file: "views.pt") }.entries.filter { $0.name.contains("/data/") }
        XCTAssertEqual(storageEntries.count, 4)
    }

    func testModuleStateDictKeepsOrderAndSkipsNumBatchesTracked() throws {
        let file = try assertMatchesPyTorch("module")
        XCTAssertEqual(file.names.first, "0.weight")
        XCTAssertEqual(file.skipped, ["1.num_batches_tracked"])
    }

    func testLoneWrapperIsUnwrappedAndOtherNestingFlattened() throws {
        let wrapped = try assertMatchesPyTorch("wrapped")
        XCTAssertEqual(wrapped.names, try SafeTensors(pyTorchCheckpointAt: fixture("module.pt")).names)
        XCTAssertEqual(wrapped.skipped, ["1.num_batches_tracked", "step"])
        let nested = try assertMatchesPyTorch("nested")
        XCTAssertEqual(nested.names, ["model.weight", "model.bias", "ema.weight", "ema.inner.bias"])
    }

    func testWeightsAtChoosesTheFormatByContent() throws {
        XCTAssertEqual(try SafeTensors(weightsAt: fixture("views.pt")).names.count, 6)
        XCTAssertEqual(try SafeTensors(weightsAt: fixture("expected.safetensors")).names.count,
                       try SafeTensors(contentsOf: fixture("expected.safetensors")).names.count)
        // A safetensors file with an I64 tensor: skipped when read as weights, refused as before otherwise.
        let header = #"{"step":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8) + [UInt8](repeating: 0, count: 8) + [0, 0, 0x80, 0x3F])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try bytes.write(to: url)
        let weights = try SafeTensors(weightsAt: url)
        XCTAssertEqual(weights.names, ["w"])
        XCTAssertEqual(weights.skipped, ["step"])
        XCTAssertEqual(weights["w"]?.scalars, [1])
        XCTAssertThrowsError(try SafeTensors(contentsOf: url)) { error in
            guard case SafeTensorsError.unsupportedDType(_, "step", "I64") = error else { return XCTFail("\(error)") }
        }
        let legacy = try fixture("legacy.pt")
        XCTAssertThrowsError(try SafeTensors(weightsAt: legacy)) { error in
            XCTAssertEqual(error as? PyTorchCheckpointError, .legacyFormat(file: legacy.path))
        }
    }

    // MARK: Refused files: a typed error naming the problem, never a crash

    func testHostileAndDamagedFixturesAreRefusedByName() throws {
        let cases: [(String, [String])] = [
            ("evil_system", ["byte 13: refused global 'posix.system'", "nothing is ever run"]),
            ("evil_eval", ["refused global '__builtin__.eval'"]),            // protocol 2 spells builtins the Python 2 way
            ("unknown_opcode", ["archive/data.pkl byte 2: unknown opcode 0xff"]),
            ("missing_storage", ["storage '0': the archive has no entry 'archive/data/0'"]),
            ("past_storage", ["tensor 'w': view (offset 2, size [3], stride [1]) reaches element 4, past its storage '0' of 4 elements"]),
            ("big_endian", ["byteorder is 'big', only 'little' is read"]),
            ("compressed", ["zip entry 'archive/data.pkl' is compressed (deflate)"]),
            ("legacy", ["legacy pre-1.6 format", "re-save it with torch >= 1.6"]),
        ]
        for (name, fragments) in cases {
            let url = try fixture(name + ".pt")
            XCTAssertThrowsError(try SafeTensors(pyTorchCheckpointAt: url), name) { error in
                guard let error = error as? PyTorchCheckpointError else { return XCTFail("\(name): untyped \(error)") }
                XCTAssertTrue(error.description.hasPrefix(url.path), "\(name): \(error)")
                for fragment in fragments { XCTAssertTrue(error.description.contains(fragment), "\(name): '\(error)' lacks '\(fragment)'") }
            }
        }
    }

    func testEveryTruncationOfARealCheckpointThrows() throws {
        let bytes = try Data(contentsOf: fixture("dtypes.pt"))
        XCTAssertNoThrow(try SafeTensors(pyTorchCheckpoint: bytes, file: "good"))
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try SafeTensors(pyTorchCheckpoint: bytes.prefix(length), file: "cut"), "truncated to \(length) bytes") {
                XCTAssertTrue($0 is PyTorchCheckpointError, "\(length): \($0)")
            }
        }
    }

    func testZip64ArchivesAreRead() throws {
        var pickle = PickleBuilder()
        pickle.emptyDict()
        pickle.string("w")
        pickle.tensor(key: "0", numel: 4, offset: 1, size: [3], stride: [1])
        pickle.op(0x73)                                                            // SETITEM
        let storage: [Float] = [9, 1.5, -2, 4]
        for zip64 in [false, true] {
            let file = try SafeTensors(pyTorchCheckpoint: TestZip.checkpoint(pickle.finished, storages: ["0": storage], zip64: zip64),
                                       file: "hand.pt")
            XCTAssertEqual(file["w"]?.scalars, [1.5, -2, 4], "zip64 \(zip64)")
        }
    }

    func testCompressedAndEncryptedEntriesAreRefused() {
        let data = TestZip.archive([("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])], method: 8)
        assertRefused(data, "zip entry 'archive/data.pkl' is compressed (deflate)")
        assertRefused(TestZip.archive([("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])], flags: 1), "'archive/data.pkl' is encrypted")
        assertRefused(TestZip.archive([("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])], method: 12), "compressed (bzip2)")
    }

    func testMalformedTensorsAndStoragesAreRefused() {
        func checkpoint(_ build: (inout PickleBuilder) -> Void, storages: [String: [Float]] = ["0": [1, 2, 3, 4]]) -> Data {
            var pickle = PickleBuilder()
            pickle.emptyDict()
            pickle.string("w")
            build(&pickle)
            pickle.op(0x73)
            return TestZip.checkpoint(pickle.finished, storages: storages)
        }
        assertRefused(checkpoint { $0.tensor(key: "0", numel: 5, offset: 0, size: [4], stride: [1]) },
                      "storage '0': the pickle says 5 elements of 4 bytes, the entry holds 16 bytes")
        assertRefused(checkpoint { $0.tensor(key: "0", numel: 4, offset: 0, size: [2, 2], stride: [3, 1]) },
                      "view (offset 0, size [2, 2], stride [3, 1]) reaches element 4, past its storage '0' of 4 elements")
        assertRefused(checkpoint { $0.tensor(key: "0", numel: 4, offset: 0, size: [2], stride: [-1]) },
                      "tensor 'w': a negative offset, size or stride (offset 0, size [2], stride [-1])")
        assertRefused(checkpoint { $0.tensor(key: "0", numel: 4, offset: 0, size: [1 << 40, 1 << 40], stride: [0, 0]) }, "overflows")
        // A stride-0 view of one element expanded to 2^30: more than the file's bytes allow to be made.
        assertRefused(checkpoint { $0.tensor(key: "0", numel: 4, offset: 0, size: [1 << 30], stride: [0]) },
                      "more than 2 elements per byte of the file")
        assertRefused(checkpoint {
            $0.tensor(key: "0", numel: 4, offset: 0, size: [4], stride: [1])
            $0.op(0x73)
            $0.string("half")
            $0.tensor(key: "0", numel: 8, offset: 0, size: [8], stride: [1], type: "HalfStorage")
        }, "storage '0' is named as FloatStorage and as HalfStorage")
        assertRefused(checkpoint { $0.tensor(key: "7", numel: 4, offset: 0, size: [4], stride: [1]) },
                      "storage '7': the archive has no entry 'archive/data/7'")
        // A dimension of size 1 never steps: its stride, however large, is not followed.
        let oneRow = checkpoint { $0.tensor(key: "0", numel: 4, offset: 1, size: [1, 2], stride: [Int.max, 2]) }
        XCTAssertEqual(try SafeTensors(pyTorchCheckpoint: oneRow, file: "hand.pt")["w"]?.scalars, [2, 4])
    }

    func testNestingCyclesAndSharedDictsAreRefused() {
        // 100 nested dicts: d0['a'] = d1, d1['a'] = d2, ...
        var deep = PickleBuilder()
        deep.emptyDict()
        for _ in 0..<100 { deep.string("a"); deep.emptyDict() }
        for _ in 0..<100 { deep.op(0x73) }
        assertRefused(TestZip.checkpoint(deep.finished), "dicts nested deeper than 32 at 'a.a.a")
        var cycle = PickleBuilder()
        cycle.emptyDict()
        cycle.op(0x94)                                                             // MEMOIZE: memo[0] = the dict
        cycle.string("self")
        cycle.op(0x68, 0)                                                          // BINGET 0
        cycle.op(0x73)
        assertRefused(TestZip.checkpoint(cycle.finished), "the dict at 'self' is reached twice (shared or cyclic)")
        var list = PickleBuilder()
        list.op(0x5D)                                                              // EMPTY_LIST
        assertRefused(TestZip.checkpoint(list.finished), "the pickled object is a list, expected a dict of tensors")
        var duplicate = PickleBuilder()
        duplicate.emptyDict()
        duplicate.string("a.b")
        duplicate.tensor(key: "0", numel: 4, offset: 0, size: [], stride: [])
        duplicate.op(0x73)
        duplicate.string("a")
        duplicate.emptyDict()
        duplicate.string("b")
        duplicate.tensor(key: "0", numel: 4, offset: 1, size: [], stride: [])
        duplicate.op(0x73, 0x73)
        // Two top-level entries hold tensors, so nothing is unwrapped and "a" + "b" flattens onto "a.b".
        assertRefused(TestZip.checkpoint(duplicate.finished, storages: ["0": [1, 2, 3, 4]]), "tensor name 'a.b' appears twice")
    }

    func testArchivesThatAreNotStateDictCheckpointsAreRefused() {
        assertRefused(Data("not a zip at all, nor safetensors".utf8), "not a PyTorch checkpoint: no zip signature")
        assertRefused(TestZip.archive([("archive/other.txt", [1])]), "no archive/data.pkl in the archive")
        assertRefused(TestZip.archive([("m/data.pkl", [0x80, 0x02, 0x7D, 0x2E]), ("m/constants.pkl", [0x80, 0x02, 0x29, 0x2E])]),
                      "a TorchScript archive")
        assertRefused(TestZip.archive([("data.pkl", [0x80, 0x02, 0x7D, 0x2E])]), "no folder holding data.pkl")
        var zip = [UInt8](TestZip.archive([("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])]))
        zip[zip.count - 3] ^= 0xFF                                                 // the central directory offset's high byte
        assertRefused(Data(zip), "central directory offset")
    }

    // MARK: The pickle machine on hand-built bytes

    func unpickle(_ bytes: [UInt8]) throws -> (PickleValue, Unpickler) {
        var machine = Unpickler(bytes, file: "p.pkl")
        let value = try machine.load { _ in .none }
        return (value, machine)
    }

    func assertPickleRefused(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try unpickle(bytes), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is PyTorchCheckpointError && message.hasPrefix("p.pkl byte ") && message.contains(fragment),
                          "'\(message)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testPickleReadsTheDataOpcodes() throws {
        // (-2, 2^63 - 1 as a 9-byte LONG1, 2^64 as LONG1, BININT -5, 1.5, "é", True, None, bytes) in a list,
        // framed, memoized and read back through BINGET.
        var bytes: [UInt8] = [0x80, 0x04, 0x95] + [UInt8](repeating: 0, count: 8) + [0x5D, 0x94, 0x28]
        bytes += [0x8A, 0x01, 0xFE]
        bytes += [0x8A, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]
        bytes += [0x8A, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]
        bytes += [0x4A, 0xFB, 0xFF, 0xFF, 0xFF, 0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]
        bytes += [0x8D, 2, 0, 0, 0, 0, 0, 0, 0, 0xC3, 0xA9, 0x88, 0x4E, 0x43, 0x02, 0xAA, 0xBB]
        bytes += [0x65, 0x30, 0x68, 0x00, 0x2E]                                        // APPENDS, POP, BINGET 0, STOP
        let (value, machine) = try unpickle(bytes)
        guard case let .list(index) = value else { return XCTFail("\(value)") }
        let items = machine.lists[index]
        XCTAssertEqual(items.count, 9)
        guard case .int(-2) = items[0], case .int(Int.max) = items[1], case .largeInteger = items[2], case .int(-5) = items[3],
              case .float(1.5) = items[4], case .string("é") = items[5], case .bool(true) = items[6], case .none = items[7],
              case .bytes(count: 2) = items[8] else { return XCTFail("\(items)") }
    }

    func testPickleRefusesGlobalsCallsAndOpcodesOutsideTheSubset() {
        let proto: [UInt8] = [0x80, 0x02]
        func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A] }
        func short(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }
        assertPickleRefused(proto + global("builtins", "eval") + short("1") + [0x85, 0x52, 0x2E], "byte 2: refused global 'builtins.eval'")
        assertPickleRefused(proto + short("os") + short("system") + [0x93, 0x2E], "byte 14: refused global 'os.system'")
        assertPickleRefused(proto + global("torch", "load") + [0x2E], "refused global 'torch.load'")
        assertPickleRefused(proto + short("os\nsystem") + short("x") + [0x93, 0x2E], #"refused global 'os\nsystem.x'"#)
        assertPickleRefused(proto + short("echo") + [0x29, 0x52, 0x2E], "refused call of a string (not a function)")
        assertPickleRefused(proto + global("torch", "FloatStorage") + [0x29, 0x52, 0x2E], "refused call of torch.FloatStorage")
        assertPickleRefused(proto + global("collections", "OrderedDict") + short("x") + [0x85, 0x52, 0x2E],
                            "OrderedDict called with 1 arguments")
        assertPickleRefused(proto + [0x69] + Array("os\nsystem\n".utf8) + [0x2E], "opcode 0x69 'i' (INST) is not supported")
        assertPickleRefused(proto + [0xFF], "byte 2: unknown opcode 0xff")
        assertPickleRefused([0x80, 0x06, 0x2E], "pickle protocol 6")
        assertPickleRefused(proto + short("x") + [0x7D, 0x62, 0x2E], "BUILD on a string")
    }

    func testPickleLimitsAndTruncationsAreErrors() {
        let proto: [UInt8] = [0x80, 0x02]
        assertPickleRefused(proto + [UInt8](repeating: 0x28, count: Unpickler.maximumMarks + 1) + [0x2E], "nested MARKs")
        assertPickleRefused(proto + [UInt8](repeating: 0x4E, count: Unpickler.maximumStack + 1) + [0x2E], "stack deeper than")
        assertPickleRefused(proto + [0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61], "4294967295 bytes needed at byte 7, past the end")
        assertPickleRefused(proto + [0x8D] + [UInt8](repeating: 0xFF, count: 8), "18446744073709551615 bytes needed")
        assertPickleRefused(proto + [0x68, 7, 0x2E], "memo entry 7 read before it was written")
        assertPickleRefused(proto + [0x4E], "1 bytes needed at byte 3, past the end of the pickle (3 bytes)")
        assertPickleRefused(proto + [0x2E], "STOP with an empty stack")
        assertPickleRefused(proto + [0x30], "stack underflow")
        assertPickleRefused(proto + [0x28, 0x4E, 0x73, 0x2E], "stack underflow")          // SETITEM cannot reach below a MARK
        assertPickleRefused(proto + [0x63] + [UInt8](repeating: 0x61, count: 2000), "GLOBAL name without a newline")
        assertPickleRefused(proto + [0x58, 2, 0, 0, 0, 0xC3, 0x28, 0x2E], "string of 2 bytes is not UTF-8")
        // Over 2^23 list elements, appended 2^19 at a time (under the stack limit): refused at the limit.
        var many = proto + [0x5D]
        for _ in 0..<17 { many += [0x28] + [UInt8](repeating: 0x4E, count: 1 << 19) + [0x65] }
        assertPickleRefused(many + [0x2E], "more than 8388608 container elements")
    }

    func assertRefused(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors(pyTorchCheckpoint: data, file: "hand.pt"), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is PyTorchCheckpointError && message.hasPrefix("hand.pt") && message.contains(fragment),
                          "'\(message)' lacks '\(fragment)'", file: file, line: line)
        }
    }
}

/// Builds a pickle opcode by opcode (names as pickletools spells them in the comments).
struct PickleBuilder {
    private(set) var bytes: [UInt8] = [0x80, 0x02]                                // PROTO 2

    var finished: [UInt8] { bytes + [0x2E] }                                      // STOP

    mutating func op(_ codes: UInt8...) { bytes += codes }
    mutating func emptyDict() { bytes.append(0x7D) }

    mutating func string(_ text: String) {                                        // BINUNICODE
        bytes.append(0x58)
        withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(text.utf8)
    }

    mutating func int(_ value: Int) {                                             // LONG1 of 8 bytes
        bytes += [0x8A, 8]
        withUnsafeBytes(of: Int64(value).littleEndian) { bytes += $0 }
    }

    mutating func global(_ module: String, _ name: String) {                     // GLOBAL
        bytes += [0x63] + Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    }

    mutating func ints(_ values: [Int]) {                                        // MARK ... TUPLE
        bytes.append(0x28)
        for value in values { int(value) }
        bytes.append(0x74)
    }

    /// `_rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`,
    /// as torch.save writes it.
    mutating func tensor(key: String, numel: Int, offset: Int, size: [Int], stride: [Int], type: String = "FloatStorage") {
        global("torch._utils", "_rebuild_tensor_v2")
        bytes += [0x28, 0x28]
        string("storage")
        global("torch", type)
        string(key)
        string("cpu")
        int(numel)
        bytes += [0x74, 0x51]                                                     // TUPLE, BINPERSID
        int(offset)
        ints(size)
        ints(stride)
        bytes.append(0x89)                                                        // NEWFALSE
        global("collections", "OrderedDict")
        bytes += [0x29, 0x52, 0x74, 0x52]                                         // EMPTY_TUPLE REDUCE TUPLE REDUCE
    }
}

/// Writes zip archives of stored entries (PKWARE APPNOTE 4.3), optionally zip64 throughout:
/// every size and offset saturated in the headers and given in zip64 extra fields and records.
enum TestZip {
    static func archive(_ entries: [(String, [UInt8])], zip64: Bool = false, method: UInt16 = 0, flags: UInt16 = 0) -> Data {
        func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        var out: [UInt8] = [], central: [UInt8] = []
        let saturated = UInt32.max
        for (name, data) in entries {
            let offset = out.count, nameBytes = Array(name.utf8)
            let size32 = zip64 ? saturated : UInt32(data.count), offset32 = zip64 ? saturated : UInt32(offset)
            let localExtra = zip64 ? le(UInt16(1)) + le(UInt16(16)) + le(UInt64(data.count)) + le(UInt64(data.count)) : []
            let centralExtra = zip64 ? le(UInt16(1)) + le(UInt16(24)) + le(UInt64(data.count)) + le(UInt64(data.count)) + le(UInt64(offset))
                                     : []
            out += le(UInt32(0x0403_4B50)) + le(UInt16(45)) + le(flags) + le(method) + le(UInt32(0)) + le(UInt32(0))
            out += le(size32) + le(size32) + le(UInt16(nameBytes.count)) + le(UInt16(localExtra.count)) + nameBytes + localExtra + data
            central += le(UInt32(0x0201_4B50)) + le(UInt16(45)) + le(UInt16(45)) + le(flags) + le(method) + le(UInt32(0)) + le(UInt32(0))
            central += le(size32) + le(size32) + le(UInt16(nameBytes.count)) + le(UInt16(centralExtra.count)) + le(UInt16(0))
            central += le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(offset32) + nameBytes + centralExtra
        }
        let directoryOffset = out.count, count = UInt64(entries.count)
        out += central
        if zip64 {
            let record = out.count
            out += le(UInt32(0x0606_4B50)) + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
            out += le(count) + le(count) + le(UInt64(central.count)) + le(UInt64(directoryOffset))
            out += le(UInt32(0x0706_4B50)) + le(UInt32(0)) + le(UInt64(record)) + le(UInt32(1))
        }
        let count16 = zip64 ? UInt16.max : UInt16(count)
        out += le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0)) + le(count16) + le(count16)
        out += le(zip64 ? saturated : UInt32(central.count)) + le(zip64 ? saturated : UInt32(directoryOffset)) + le(UInt16(0))
        return Data(out)
    }

    /// A torch.save layout: `archive/data.pkl`, `archive/byteorder`, and each storage as `archive/data/<key>` (F32).
    static func checkpoint(_ pickle: [UInt8], storages: [String: [Float]] = [:], zip64: Bool = false) -> Data {
        var entries = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
        for (key, values) in storages.sorted(by: { $0.key < $1.key }) {
            let bytes = values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
            entries.append(("archive/data/\(key)", bytes))
        }
        return archive(entries, zip64: zip64)
    }
}
