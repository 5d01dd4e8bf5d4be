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
        .option("threads", value: "n,n", "Thread counts to run (default: 1,2)."),
        .option("repeats", value: "n", "Timed runs per shape; the best is reported (default: 5)."),
        .flag("cpu-time", "Divide by process CPU seconds, not wall seconds: GFLOP per core-second, steadier on a busy machine."),
        .flag("peak", "Also measure the FMA peak (GFLOP/s) per thread count and print each result's % of it."),
    ]
    static let examples = [
        "translocator bench gemm",
        "translocator bench gemm --json --threads 2",
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

    static func run(_ arguments: ParsedArguments) throws {
        let threadCounts = try arguments.intList("threads", default: [1, 2])
        guard threadCounts.allSatisfy({ $0 >= 1 && $0 <= 256 }) else {
            throw UsageError("--threads wants thread counts in 1...256, got \(threadCounts)")
        }
        let repeats = try arguments.int("repeats", default: 5, in: 1...1000)
        let json = arguments.flag("json")
        let cpuTime = arguments.flag("cpu-time")
        var peaks: [Int: Double] = [:]
        if arguments.flag("peak") {
            for threads in threadCounts {
                peaks[threads] = GEMMBenchmark.fmaPeakGFLOPS(threads: threads)
                printError(String(format: "FMA peak, %d thread(s): %.1f GFLOP/s", threads, peaks[threads]!))
            }
        }
        var rows: [String] = []
        if !json { print("    m     k     n  transA transB threads   GFLOP/s" + (peaks.isEmpty ? "" : "  %peak")) }
        for shape in shapes {
            for threads in threadCounts {
                let gflops = GEMMBenchmark.gflops(shape, threads: threads, repeats: repeats, cpuTime: cpuTime)
                if json {
                    rows.append("{\"m\": \(shape.m), \"k\": \(shape.k), \"n\": \(shape.n), \"transposeA\": \(shape.transposeA), "
                                + "\"transposeB\": \(shape.transposeB), \"threads\": \(threads), \"gflops\": \(String(format: "%.2f", gflops))}")
                } else {
                    var line = String(format: "%5d %5d %5d  %6@ %6@ %7d %9.1f", shape.m, shape.k, shape.n,
                                      "\(shape.transposeA)", "\(shape.transposeB)", threads, gflops)
                    if let peak = peaks[threads] { line += String(format: "  %5.1f", 100 * gflops / peak) }
                    print(line)
                }
            }
        }
        if json { print("[\n  " + rows.joined(separator: ",\n  ") + "\n]") }
        if json, !peaks.isEmpty {
            for (threads, peak) in peaks.sorted(by: { $0.key < $1.key }) {
                printError(String(format: "peak %d thread(s): %.1f GFLOP/s", threads, peak))
            }
        }
    }
}
