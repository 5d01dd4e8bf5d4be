import Foundation
import TensorEngine

/// `translocator bench gemm`: GFLOP/s of the engine's GEMM on ViT-B/16's shapes at batch 8.
struct BenchGEMMCommand: Command {
    static let name = "bench gemm"
    static let summary = "GFLOP/s of the engine's GEMM on ViT-B/16 training shapes."
    static let discussion = """
        Times C = op(A)·op(B) for the matrix products of a ViT-B/16 layer at batch 8 (197 tokens × 8 \
        images = 1576 rows): qkv, proj, fc1, fc2 and a single-image qkv, each forward (A·B, as \
        y = x·Wᵀ) and in its two backward forms (Aᵀ·B for the weight gradient, A·Bᵀ for the input \
        gradient), on each thread count. Best of 5 runs after a warm-up. scripts/bench/gemm.py runs \
        numpy (OpenBLAS) on the same shapes and prints the ratio.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print one JSON array of {m, k, n, transposeA, transposeB, threads, gflops}."),
        .option("threads", value: "n,n", default: "1,2", "Thread counts to run."),
        .option("repeats", value: "n", default: "5", "Timed runs per shape; the best is reported."),
        .flag("cpu-time", "Divide by process CPU seconds, not wall seconds: GFLOP per core-second, steadier on a busy machine."),
        .flag("peak", "Also measure the FMA peak (GFLOP/s) per thread count and print each result's % of it."),
        .flag("packed-b",
              "Pack B once ahead of the timed runs (PackedMatrix, as inference packs weights at load) and time the products alone."),
        .option("shapes", value: "MxKxN[:op],...", "Time these instead of ViT-B/16's; op is AB, AtB or ABt (default: all three). "
                                                   + "scripts/bench/gemm.py times one shape at a time, alternating with numpy."),
    ]
    static let examples = [
        "translocator bench gemm",
        "translocator bench gemm --json --threads 2",
        "translocator bench gemm --shapes 1576x768x2304:AtB,197x768x2304 --threads 2",
        "translocator bench gemm --packed-b --shapes 1x6000x12893:ABt,8x6000x12893:ABt",
        "python3 scripts/bench/gemm.py",
    ]

    /// (M, K, N) of the forward products y[M, N] = x[M, K]·W[N, K]ᵀ.
    static let layers: [(m: Int, k: Int, n: Int)] = [
        (1576, 768, 2304), (1576, 768, 768), (1576, 768, 3072), (1576, 3072, 768), (197, 768, 2304),
    ]

    /// Each layer's M×K×N as A·B and in the two backward forms the issue names, Aᵀ·B (A stored
    /// K×M, as a weight gradient reads activations) and A·Bᵀ (B stored N×K, as y = x·Wᵀ reads
    /// a PyTorch weight), with the same M, K, N so every row compares one-to-one with numpy.
    static var shapes: [GEMMShape] {
        layers.flatMap { layer in [
            GEMMShape(m: layer.m, n: layer.n, k: layer.k),
            GEMMShape(m: layer.m, n: layer.n, k: layer.k, transposeA: true),
            GEMMShape(m: layer.m, n: layer.n, k: layer.k, transposeB: true),
        ] }
    }

    /// Parses `--shapes`: comma-separated `MxKxN`, each optionally `:AB`, `:AtB` or `:ABt`
    /// (without one, all three forms, as the default list has).
    static func parseShapes(_ text: String) throws -> [GEMMShape] {
        try text.split(separator: ",", omittingEmptySubsequences: false).flatMap { word -> [GEMMShape] in
            let parts = word.split(separator: ":", omittingEmptySubsequences: false)
            let sizes = parts[0].split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count <= 2, sizes.count == 3, let m = sizes[0], let k = sizes[1], let n = sizes[2],
                  [m, k, n].allSatisfy({ 1...16_384 ~= $0 }) else {
                throw UsageError("--shapes wants MxKxN[:AB|AtB|ABt] with sizes in 1...16384, got '\(word)'")
            }
            let forms: [(transposeA: Bool, transposeB: Bool)] = [(false, false), (true, false), (false, true)]
            let names = ["AB", "AtB", "ABt"]
            guard parts.count == 2 else {
                return forms.map { GEMMShape(m: m, n: n, k: k, transposeA: $0.transposeA, transposeB: $0.transposeB) }
            }
            guard let form = names.firstIndex(of: String(parts[1])) else {
                throw UsageError("--shapes: unknown form '\(parts[1])' in '\(word)' (AB, AtB or ABt)")
            }
            return [GEMMShape(m: m, n: n, k: k, transposeA: forms[form].transposeA, transposeB: forms[form].transposeB)]
        }
    }

    static func run(_ arguments: ParsedArguments) throws {
        let threadCounts = try arguments.intList("threads")
        guard threadCounts.allSatisfy({ $0 >= 1 && $0 <= 256 }) else {
            throw UsageError("--threads wants thread counts in 1...256, got \(threadCounts)")
        }
        let repeats = try arguments.int("repeats", in: 1...1000)
        let json = arguments.flag("json")
        let cpuTime = arguments.flag("cpu-time"), packedB = arguments.flag("packed-b")
        let shapes = try arguments.string("shapes").map(parseShapes) ?? Self.shapes
        var peaks: [Int: Double] = [:]
        // Measured before the GEMMs and again after them, keeping the higher: a cold process
        // started at a lower clock and read ~80 per core where the GEMMs later ran at 86.
        func measurePeaks() {
            for threads in threadCounts {
                peaks[threads] = max(peaks[threads] ?? 0, GEMMBenchmark.fmaPeakGFLOPS(threads: threads))
            }
        }
        if arguments.flag("peak") { measurePeaks() }
        var measured: [(shape: GEMMShape, threads: Int, gflops: Double)] = []
        for shape in shapes {
            for threads in threadCounts {
                measured.append((shape, threads, GEMMBenchmark.gflops(shape, threads: threads, repeats: repeats,
                                                                         cpuTime: cpuTime, packedB: packedB)))
            }
        }
        if arguments.flag("peak") { measurePeaks() }
        if json {
            let rows = measured.map { row in
                "{\"m\": \(row.shape.m), \"k\": \(row.shape.k), \"n\": \(row.shape.n), \"transposeA\": \(row.shape.transposeA), "
                    + "\"transposeB\": \(row.shape.transposeB), \"threads\": \(row.threads), "
                    + "\"gflops\": \(String(format: "%.2f", row.gflops))}"
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
            for (threads, peak) in peaks.sorted(by: { $0.key < $1.key }) {
                printError(String(format: "peak %d thread(s): %.1f GFLOP/s", threads, peak))
            }
            return
        }
        for (threads, peak) in peaks.sorted(by: { $0.key < $1.key }) {
            print(String(format: "FMA peak, %d thread(s): %.1f GFLOP/s", threads, peak))
        }
        print("    m     k     n  transA transB threads   GFLOP/s" + (peaks.isEmpty ? "" : "  %peak"))
        for row in measured {
            var line = String(format: "%5d %5d %5d  %6@ %6@ %7d %9.1f", row.shape.m, row.shape.k, row.shape.n,
                              "\(row.shape.transposeA)", "\(row.shape.transposeB)", row.threads, row.gflops)
            if let peak = peaks[row.threads] { line += String(format: "  %5.1f", 100 * row.gflops / peak) }
            print(line)
        }
    }
}
