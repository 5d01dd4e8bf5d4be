import XCTest
@testable import TensorEngine
@testable import Training

final class CheckpointTests: XCTestCase {
    /// A small safetensors file: two F32 tensors and some metadata, as the engine writes them.
    static func safetensors(values: [Float] = [1.5, -2, 0.25, 8, 3]) -> Data {
        let header = "{\"__metadata__\":{\"config\":\"{\\\"name\\\": \\\"tiny\\\"}\",\"training.step\":\"12\"},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,\(4 * values.count)]}}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testSealedFileVerifiesKeepsDataAndMetadata() throws {
        let original = Self.safetensors()
        let sealed = try CheckpointContainer.sealed(original)
        let metadata = try CheckpointContainer.verify(sealed, file: "c")
        XCTAssertEqual(metadata["config"], "{\"name\": \"tiny\"}")
        XCTAssertEqual(metadata["training.step"], "12")
        XCTAssertTrue(metadata["checksum"]?.hasPrefix("crc32:") == true)
        XCTAssertEqual(sealed.suffix(20), original.suffix(20), "tensor bytes unchanged")
        let headerLength = Int(sealed.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual(headerLength % 8, 0, "data stays 8-byte aligned")
        XCTAssertEqual(try CheckpointContainer.sealed(sealed), sealed, "sealing is idempotent")
        XCTAssertThrowsError(try CheckpointContainer.verify(original, file: "c")) { error in
            XCTAssertEqual(error as? CheckpointError, .missingChecksum(file: "c"))
        }
    }

    func testEveryBitFlipIsDetected() throws {
        let sealed = try CheckpointContainer.sealed(Self.safetensors())
        for offset in 0..<sealed.count {
            for bit in [0, 3, 6] {
                var damaged = sealed
                damaged[offset] ^= UInt8(1 << bit)
                XCTAssertThrowsError(try CheckpointContainer.verify(damaged, file: "c"), "byte \(offset) bit \(bit)")
            }
        }
    }

    func testAHeaderNamingATensorTwiceIsMalformed() throws {
        // Foundation's parser keeps one of two equal keys silently; the engine's header reader refuses.
        let header = #"{"__metadata__":{"checksum":"crc32:00000000"},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8) + [0, 0, 0, 0])
        XCTAssertThrowsError(try CheckpointContainer.verify(bytes, file: "c")) { error in
            XCTAssertEqual("\(error)", "c: malformed checkpoint (c: tensor name 't' appears twice)")
        }
    }

    func testEveryTruncationIsDetected() throws {
        let sealed = try CheckpointContainer.sealed(Self.safetensors())
        for length in 0..<sealed.count {
            XCTAssertThrowsError(try CheckpointContainer.verify(sealed.prefix(length), file: "c"), "length \(length)")
        }
        XCTAssertThrowsError(try CheckpointContainer.verify(sealed.prefix(sealed.count - 1), file: "c")) { error in
            guard case .truncated = error as? CheckpointError else { return XCTFail("\(error)") }
        }
    }

    func testWriteKeepsThePreviousGoodOneAndLoadFallsBackToIt() throws {
        let directory = try temporaryDirectory()
        let url = directory.appendingPathComponent("last.safetensors")
        let first = Self.safetensors(values: [1, 2, 3, 4, 5]), second = Self.safetensors(values: [6, 7, 8, 9, 10])
        try CheckpointContainer.write(first, to: url)
        try CheckpointContainer.write(second, to: url)
        let previous = CheckpointContainer.previousURL(of: url)
        XCTAssertEqual(previous.lastPathComponent, "last.previous.safetensors")
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.appendingPathExtension("tmp").path))
        var loaded = try CheckpointContainer.loadLatestGood(at: url)
        XCTAssertEqual(loaded.url, url)
        XCTAssertEqual(loaded.bytes.suffix(20), second.suffix(20))
        XCTAssertTrue(loaded.rejected.isEmpty)

        // A damaged latest checkpoint is reported, and the one before it used.
        var damaged = try Data(contentsOf: url)
        damaged[damaged.count - 3] ^= 0x40
        try damaged.write(to: url)
        loaded = try CheckpointContainer.loadLatestGood(at: url)
        XCTAssertEqual(loaded.url, previous)
        XCTAssertEqual(loaded.bytes.suffix(20), first.suffix(20))
        guard case .checksumMismatch(let file, _, _)? = loaded.rejected.first else { return XCTFail("\(loaded.rejected)") }
        XCTAssertEqual(file, url.path)

        // Writing over a damaged latest keeps the good previous one rather than the damaged one.
        try CheckpointContainer.write(Self.safetensors(values: [11, 12, 13, 14, 15]), to: url)
        XCTAssertEqual(try Data(contentsOf: previous).suffix(20), try CheckpointContainer.sealed(first).suffix(20))

        try Data([1, 2, 3]).write(to: url)
        try Data().write(to: previous)
        XCTAssertThrowsError(try CheckpointContainer.loadLatestGood(at: url)) { error in
            guard case .noneUsable(_, let problems)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(problems.count, 2)
        }
    }

    func testTrainingProgressRoundTripsThroughMetadata() throws {
        let progress = TrainingProgress(seed: 0xFFFF_FFFF_FFFF_FFF1, step: 12345, epoch: 3, stepInEpoch: 17,
                                        skippedInEpoch: 2, bestValidationScore: 61.25)
        XCTAssertEqual(try TrainingProgress(metadata: progress.metadata, file: "c"), progress)
        let fresh = TrainingProgress(seed: 7)
        XCTAssertEqual(try TrainingProgress(metadata: fresh.metadata, file: "c"), fresh)
        var broken = progress.metadata
        broken["training.step"] = "-4"
        XCTAssertThrowsError(try TrainingProgress(metadata: broken, file: "c")) { error in
            XCTAssertEqual("\(error)", "c: malformed checkpoint (metadata 'training.step' is '-4')")
        }
    }
}

final class SampleOrderTests: XCTestCase {
    func testEpochOrderIsADeterministicPermutationThatChangesByEpoch() {
        for count in [0, 1, 2, 17, 1000] {
            let order = epochOrder(count: count, seed: 5, epoch: 2)
            XCTAssertEqual(order.sorted(), Array(0..<count), "count \(count)")
            XCTAssertEqual(order, epochOrder(count: count, seed: 5, epoch: 2))
        }
        XCTAssertNotEqual(epochOrder(count: 1000, seed: 5, epoch: 2), epochOrder(count: 1000, seed: 5, epoch: 3))
        XCTAssertNotEqual(epochOrder(count: 1000, seed: 5, epoch: 2), epochOrder(count: 1000, seed: 6, epoch: 2))
    }

    func testCounterStreamsAreRecreatedFromTheirCoordinates() {
        var a = CounterRandom(seed: 9, stream: RandomStream.augmentation.rawValue, epoch: 4, index: 1234)
        let first = (0..<5).map { _ in a.next() }
        var b = CounterRandom(seed: 9, stream: RandomStream.augmentation.rawValue, epoch: 4, index: 1234)
        XCTAssertEqual((0..<5).map { _ in b.next() }, first)
        var c = CounterRandom(seed: 9, stream: RandomStream.augmentation.rawValue, epoch: 4, index: 1235)
        XCTAssertNotEqual(c.next(), first[0])
        // Resuming mid-stream: a copy at counter k continues exactly.
        var d = CounterRandom(seed: 9, stream: RandomStream.augmentation.rawValue, epoch: 4, index: 1234)
        d.counter = 3
        XCTAssertEqual(d.next(), first[3])
    }

    func testUniformDrawsLookUniform() {
        var random = CounterRandom(seed: 1, stream: 1, epoch: 0, index: 0)
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 { buckets[random.index(below: 10)] += 1 }
        for count in buckets { XCTAssertEqual(Double(count), 10_000, accuracy: 500, "\(buckets), seed 1") }   // > 5 sigma
    }
}
