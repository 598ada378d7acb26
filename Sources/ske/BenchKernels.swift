// `ske bench kernels`: quantized gemv bandwidth per weight type beside the read bandwidth measured in the
// same run (the ratio is the figure), and prefill gemm throughput.
import ArgumentParser
import Foundation
import SKECore
import SKEKernels
import SKEFormats

extension Bench {
    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "gemv GB/s of weight bytes per type (1 thread, all threads) vs measured read bandwidth; prefill gemm.")

        @Option(help: "Weight types (comma-separated, e.g. q4_0,q4_K). Default: all.") var types: String?
        @Option(help: "Weight matrix size per type in MiB (larger than the last-level cache).") var mib: Int = 192
        @Option(help: "Row length K.") var k: Int = 4096
        @Option(help: "Tokens in the prefill gemm.") var tokens: Int = 64
        @Option(help: "gemv timings per type and thread count (the best is reported; use many with a small --mib to time the kernels' arithmetic from cache).") var runs: Int = 5
        @Flag(help: "Print JSON.") var json = false

        struct GemvRecord: Codable {
            var type: String; var isa: String; var threads: Int
            var gemv_gbps: Double; var read_gbps: Double; var roofline_ratio: Double; var gemv_ms: Double
        }
        struct GemmRecord: Codable {
            var type: String; var isa: String; var threads: Int; var tokens: Int
            var tokens_per_s: Double; var gflops: Double
        }
        struct Report: Codable { var machine: String; var matrix_mib: Int; var k: Int; var gemv: [GemvRecord]; var gemm: [GemmRecord] }

        func run() throws {
            try reportingErrors {
                let list = try types.map { s in try s.split(separator: ",").map { name -> GGMLType in
                    guard let t = GGMLType(name: String(name)), QuantTraits.weightTypes.contains(t) else {
                        throw SKEError.invalidSetting("--types: unknown weight type '\(name)' (have: \(QuantTraits.weightTypes.map(\.name).joined(separator: ", ")))")
                    }
                    return t
                } } ?? QuantTraits.weightTypes
                guard k > 0, k % 256 == 0 else { throw SKEError.invalidSetting("--k must be a positive multiple of 256") }
                guard runs > 0 else { throw SKEError.invalidSetting("--runs must be positive") }
                let all = ThreadPool.shared, one = ThreadPool(threadCount: 1)
                let pools = all.threadCount > 1 ? [one, all] : [one]
                var read: [Int: Double] = [:]
                for p in pools { read[p.threadCount] = try MemoryProbe.readBandwidth(pool: p).gigabytesPerSecond }
                let isa = QuantTraits.activeLevel
                var gemv: [GemvRecord] = [], gemm: [GemmRecord] = []
                if !json {
                    print("read bandwidth: " + pools.map { "\(formatFixed(read[$0.threadCount]!, 1)) GB/s (\($0.threadCount) thr)" }.joined(separator: ", ") + "; ISA \(isa.rawValue); K=\(k), \(mib) MiB per matrix\n")
                    print("type   thr   gemv GB/s   read GB/s   ratio   ms/gemv   prefill tok/s   GFLOP/s")
                }
                for type in list {
                    let kern = QuantTraits.kernels(type)!
                    let rowBytes = type.byteCount(elements: k)!
                    let n = max(64, (mib << 20) / rowBytes)
                    let arena = try Arena(capacity: n * rowBytes + Matmul.activationBytes(kern, k: k, tokens: tokens)! + (tokens * (k + n) + k + n) * 4 + (1 << 20))
                    let w = try arena.allocate(n * rowBytes, label: "W")
                    // A few distinct random rows, repeated: the bytes stream from DRAM all the same.
                    var rng = SystemRandomNumberGenerator()
                    let x = try arena.allocate(Float.self, count: tokens * k, label: "X")
                    for i in 0..<(tokens * k) { x[i] = Float.random(in: -1...1, using: &rng) }
                    let quant = QuantTraits.kernels(type, level: .reference)!.quantize
                    for r in 0..<min(8, n) { quant(x + (r % tokens) * k, w + r * rowBytes, k) }
                    for r in 8..<n { (w + r * rowBytes).copyMemory(from: w + (r % 8) * rowBytes, byteCount: rowBytes) }
                    let y = try arena.allocate(Float.self, count: tokens * n, label: "Y")
                    let scratch = try arena.allocate(Matmul.activationBytes(kern, k: k, tokens: tokens)!, label: "Xq")
                    /// One gemv timing: its record, and its table line's first columns.
                    func timed(_ name: String, _ p: ThreadPool, _ ms: Double) -> (GemvRecord, String) {
                        let gbps = Double(n * rowBytes) / (ms / 1e3) / 1e9, r = read[p.threadCount]!
                        let line = name.padding(toLength: 7, withPad: " ", startingAt: 0) + "\(p.threadCount)".leftPadded(3)
                            + formatFixed(gbps, 2).leftPadded(12) + formatFixed(r, 2).leftPadded(12) + formatFixed(gbps / r, 2).leftPadded(8)
                            + formatFixed(ms, 2).leftPadded(10)
                        return (GemvRecord(type: name, isa: kern.dotISA.rawValue, threads: p.threadCount, gemv_gbps: gbps, read_gbps: r,
                                           roofline_ratio: gbps / r, gemv_ms: ms), line)
                    }
                    // The decode kernel over rows repacked four at a time (as an engine uses them), where the type has one for K.
                    if let path = kern.prepared?.interleaved, rowBytes % path.rowBytesMultiple == 0 {
                        let packed = try Arena(capacity: n * rowBytes + (1 << 20))
                        let wp = try packed.allocate(n * rowBytes, label: "W repacked")
                        Matmul.packInterleaved(path, w: w, rows: n, rowBytes: rowBytes, into: wp, pool: all)
                        for p in pools {
                            let (record, line) = timed(type.name + "x4", p, bestOf(runs: runs) {
                                Matmul.gemvInterleaved(kern, w: wp, rows: n, k: k, x: x, y: y, scratch: scratch, pool: p)
                            })
                            gemv.append(record)
                            if !json { print(line) }
                        }
                    }
                    for p in pools {
                        let (record, line) = timed(type.name, p, bestOf(runs: runs) { Matmul.gemv(kern, w: w, rows: n, k: k, x: x, y: y, scratch: scratch, pool: p) })
                        gemv.append(record)
                        /// One prefill timing's record.
                        func gemmRecord(_ name: String, _ ms: Double) -> GemmRecord {
                            GemmRecord(type: name, isa: kern.dotISA.rawValue, threads: p.threadCount, tokens: tokens,
                                       tokens_per_s: Double(tokens) / (ms / 1e3), gflops: 2 * Double(n) * Double(k) * Double(tokens) / (ms / 1e3) / 1e9)
                        }
                        let rec = gemmRecord(type.name, bestOf(runs: 2) { Matmul.gemm(kern, w: w, rows: n, k: k, x: x, tokens: tokens, y: y, scratch: scratch, pool: p) })
                        gemm.append(rec)
                        if !json { print(line + formatFixed(rec.tokens_per_s, 1).leftPadded(16) + formatFixed(rec.gflops, 1).leftPadded(10)) }
                        // Prefill over 16-row panels (as an engine's quantized batches run), where the type has it.
                        if let g = kern.prepared?.panelGemm {
                            let ws = try Arena(capacity: p.threadCount * Matmul.panelWorkspaceBytes(g, k: k) + (1 << 20))
                            let workspace = try ws.allocate(p.threadCount * Matmul.panelWorkspaceBytes(g, k: k), label: "panels")
                            let stride = kern.activationRowStride(k: k)!
                            let pms = bestOf(runs: runs) {
                                Matmul.quantizeActivations(kern, x: x, tokens: tokens, k: k, into: scratch, pool: p)
                                Matmul.gemmPanels(g, w: w, rowBytes: rowBytes, grouped: 0, rows: n, k: k, xq: scratch, stride: stride, tokens: tokens,
                                                  y: y, workspace: workspace, pool: p)
                            }
                            let prec = gemmRecord(type.name + " panels", pms)
                            gemm.append(prec)
                            if !json { print((type.name + " panels").padding(toLength: 13, withPad: " ", startingAt: 0) + "\(p.threadCount)".leftPadded(3) + String(repeating: " ", count: 42)
                                             + formatFixed(prec.tokens_per_s, 1).leftPadded(16) + formatFixed(prec.gflops, 1).leftPadded(10)) }
                        }
                    }
                }
                if json {
                    try printJSON(Report(machine: CPUFeatures.host.brand, matrix_mib: mib, k: k, gemv: gemv, gemm: gemm))
                }
            }
        }
    }
}

/// Best wall time in milliseconds of `runs` calls (after one warm-up call).
func bestOf(runs: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<runs {
        let t0 = monotonicNanoseconds()
        body()
        best = min(best, Double(monotonicNanoseconds() - t0) / 1e6)
    }
    return best
}
