// `ske bench model`: prompt processing (pp) and token generation (tg) like llama-bench, with the bandwidth
// roofline (weight bytes read per token ÷ measured read bandwidth) and time to first token from GGUF vs .bump.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKETokenizer
import SKEGraph
import SKERuntime

extension Bench {
    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "pp/tg tokens per second like llama-bench, the bandwidth roofline, and time to first token (.gguf vs .bump).")

        @OptionGroup var model: ModelOption
        @Option(name: .short, help: "Prompt tokens for the pp test (0 = skip).") var p: Int = 128
        @Option(name: .short, help: "Generated tokens for the tg test (0 = skip).") var n: Int = 64
        @Option(name: .short, help: "Thread counts, comma separated.") var t: String = "\(ThreadPool.usableCores)"
        @Option(name: .short, help: "Repetitions (the mean and deviation are reported).") var r: Int = 3
        @Option(name: .short, help: "Tokens already in the KV cache when each test starts (llama-bench's -d): tests read \"pp128 @ d1024\".") var d: Int = 0
        @Option(help: "quantized, float or mixed.") var activations: String = "mixed"
        @Flag(name: .customLong("no-mmap"), help: "Read the weights into memory instead of mapping the file (llama.cpp's --no-mmap; the --ttft rows always map).") var noMmap = false
        @Flag(name: .customLong("ttft"), help: "Also time model open → first token for the .gguf and its .bump.") var ttft = false
        @Flag(help: "Print JSON.") var json = false

        struct Row: Codable {
            var test: String, threads: Int, tokensPerSecond: Double, stddev: Double
            /// Decode rows: bytes one token reads — the weights, and the K/V cache rows attention reads (at the mean
            /// position of the run); the roofline is their sum over the read bandwidth.
            var weightBytesPerToken: Int?, kvBytesPerToken: Int? = nil, readGBps: Double?, rooflineFraction: Double?
        }
        struct TTFT: Codable { var source: String; var milliseconds: Double }
        struct Report: Codable {
            var model: String; var activations: String
            /// What multiplies prefill batches of 16 tokens and more: "amx-bf16", "f32-sgemm" or "int8-dots".
            var prefillPath: String
            var rows: [Row]; var timeToFirstToken: [TTFT]
        }

        func run() throws {
            try reportingErrors {
                let precision = try ActivationPrecision(flag: activations)
                let threads = try t.split(separator: ",").map { s -> Int in
                    guard let v = Int(s), v >= 1 else { throw RuntimeError.invalidOption("-t takes thread counts like 1,2") }
                    return v
                }
                let file = try ModelFile.open(model.path, mmap: !noMmap)
                var rows: [Row] = [], prefillPath = ""
                for th in threads {
                    var o = EngineOptions()
                    o.threads = th; o.precision = precision; o.contextLength = d + max(p, n, 1) + 1; o.batchSize = max(p, d > 0 ? 128 : 1)
                    let e = try Engine(file: file, options: o)
                    prefillPath = e.executor.batchArithmetic
                    let rng = (0..<max(p, n)).map { Int32(($0 * 7919 + 13) % e.vocabulary) }
                    // The depth's tokens, evaluated once; each run rewinds to them (untimed).
                    if d > 0 { e.reset(); try e.evaluate((0..<d).map { Int32(($0 * 104_729 + 7) % e.vocabulary) }) { _, _ in } }
                    let at = d > 0 ? " @ d\(d)" : ""
                    /// Mean and deviation of `r` timed runs of `body` (after a warm-up), each from the cache rewound to the
                    /// depth; `after` sees each run's rate, untimed.
                    func measure(_ body: () throws -> Int, after: (Double) throws -> Void = { _ in }) throws -> (Double, Double) {
                        e.rewind(to: d)
                        _ = try body()   // warm-up
                        var rates: [Double] = []
                        for _ in 0..<max(1, r) {
                            e.rewind(to: d)
                            let t0 = monotonicNanoseconds()
                            let tokens = try body()
                            rates.append(Double(tokens) / (Double(monotonicNanoseconds() - t0) / 1e9))
                            try after(rates.last!)
                        }
                        let mean = rates.reduce(0, +) / Double(rates.count)
                        let sd = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(rates.count - 1, 1))).squareRoot()
                        return (mean, sd)
                    }
                    if p > 0 {
                        let (m, sd) = try measure { try e.evaluate(Array(rng.prefix(p))) { _, _ in }; return p }
                        rows.append(Row(test: "pp\(p)\(at)", threads: th, tokensPerSecond: m, stddev: sd))
                    }
                    if n > 0 {
                        // The roofline: each repetition's decode rate against the read bandwidth probed right after it
                        // (this VM's bandwidth drifts by tens of percent within a minute; a probe taken once, before or
                        // after all repetitions, mixes that drift into the ratio). Reported: the mean of the ratios.
                        // Bytes per token: the weights, plus at a depth the K/V cache rows attention reads (the mean over the run).
                        let weights = weightBytesPerToken(e), kv = kvBytesPerToken(e, positions: d + (n + 1) / 2), bytes = weights + kv
                        let pool = ThreadPool(threadCount: th)
                        let probe = try MemoryProbe.Buffer()
                        var bandwidths: [Double] = [], ratios: [Double] = []
                        let (m, sd) = try measure {
                            for i in 0..<n { try e.evaluate([rng[i]]) { _, _ in } }
                            return n
                        } after: { rate in
                            let bw = probe.readBandwidth(passes: 3, pool: pool).gigabytesPerSecond
                            bandwidths.append(bw); ratios.append(rate * Double(bytes) / (bw * 1e9))
                        }
                        let bw = bandwidths.reduce(0, +) / Double(bandwidths.count)
                        rows.append(Row(test: "tg\(n)\(at)", threads: th, tokensPerSecond: m, stddev: sd, weightBytesPerToken: weights, kvBytesPerToken: kv, readGBps: bw,
                                        rooflineFraction: ratios.reduce(0, +) / Double(ratios.count)))
                    }
                }
                var ttftRows: [TTFT] = []
                if ttft {
                    let gguf = model.path.hasSuffix(".bump") ? nil : model.path
                    let bump = gguf.map { String($0.dropLast(5)) + ".bump" } ?? model.path
                    // (Re)made next to the GGUF when missing or written before .bump files carried the tokenizer image.
                    if let gguf, (try? BumpFile(path: bump, verify: false))?.tokenizerImage == nil {
                        let source = try GGUFFile(path: gguf)
                        try Bump.convert(source, tokenizerImage: Tokenizer.image(for: source), to: bump)
                    }
                    for (name, path) in [("gguf", gguf), ("bump (verified)", bump), ("bump (unverified)", bump)] {
                        guard let path else { continue }
                        var best = Double.infinity
                        for _ in 0..<3 {
                            let t0 = monotonicNanoseconds()
                            let f = try ModelFile.open(path, verify: name != "bump (unverified)")
                            var o = EngineOptions(); o.contextLength = 64; o.batchSize = 16
                            let e = try Engine(file: f, options: o)
                            _ = try e.logits(after: e.tokenizer.encode("Hello", addSpecial: true))
                            best = min(best, Double(monotonicNanoseconds() - t0) / 1e6)
                        }
                        ttftRows.append(TTFT(source: name, milliseconds: best))
                    }
                }
                if json {
                    return try printJSON(Report(model: model.path, activations: activations, prefillPath: prefillPath, rows: rows, timeToFirstToken: ttftRows))
                }
                print("model: \(model.path)   activations: \(activations)   prefill: \(prefillPath)\n")
                let width = rows.map(\.test.count).max().map { max($0, 6) } ?? 6
                print("| \("test".padding(toLength: width, withPad: " ", startingAt: 0)) | threads |        t/s |   ± | bytes/token (weights + KV) | read GB/s | of roofline |")
                print("|-\(String(repeating: "-", count: width))-|---------|------------|-----|----------------------------|-----------|-------------|")
                for row in rows {
                    print("| \(row.test.padding(toLength: width, withPad: " ", startingAt: 0)) | \(String(row.threads).leftPadded(7)) | \(formatFixed(row.tokensPerSecond, 2).leftPadded(10)) | \(formatFixed(row.stddev, 1).leftPadded(3)) | "
                          + "\((row.weightBytesPerToken.map { formatBytes($0) + " + " + formatBytes(row.kvBytesPerToken ?? 0) } ?? "").leftPadded(26)) | \((row.readGBps.map { formatFixed($0, 1) } ?? "").leftPadded(9)) | \((row.rooflineFraction.map { formatFixed($0 * 100, 1) + "%" } ?? "").leftPadded(11)) |")
                }
                for x in ttftRows { print("time to first token from \(x.source): \(formatFixed(x.milliseconds, 1)) ms") }
            }
        }

        /// Bytes of K and V cache one decode step reads with `positions` cached: each layer's visible rows once (heads
        /// that share a K/V head share its rows; a sliding-window layer reads its window), f16 unless float precision.
        func kvBytesPerToken(_ e: Engine, positions: Int) -> Int {
            e.plan.steps.reduce(0) { total, step in
                guard case .attention(_, _, _, let p) = step else { return total }
                return total + 2 * (p.window > 0 ? min(p.window, positions) : positions) * p.kvHeads * p.headSize
            } * (e.plan.precision == .float ? 4 : 2)
        }

        /// Bytes of weights one decode step reads: every matmul weight once, the embedding row aside.
        func weightBytesPerToken(_ e: Engine) -> Int {
            var seen = Set<String>(), total = 0
            for step in e.plan.steps {
                guard case .linear(let l) = step else { continue }
                for part in l.parts where seen.insert(part.weight.name).inserted { total += part.weight.rows * part.weight.rowBytes }
            }
            return total
        }
    }
}
