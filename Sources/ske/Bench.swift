// `ske bench …`: measurements printed as a table, or `--json`. Never used by tests for timing.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKETokenizer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (release build): model load time, thread-pool overhead, kernels.",
        subcommands: [Model.self, Load.self, Threads.self, Kernels.self, Sgemm.self, TokenizerBench.self])
}

extension Bench {
    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time to ready: GGUF parse vs .bump open (with and without checksum), page cache warm.")

        @OptionGroup var model: ModelOption
        @Option(help: "The .bump file to compare (default: next to the GGUF; created if missing).") var bump: String?
        @Option(help: "Repetitions per case (the median is reported).") var repetitions: Int = 7
        @Flag(help: "Print JSON.") var json = false

        struct Row: Codable { var source: String; var verify: Bool; var medianMs: Double; var minMs: Double; var bytes: Int }

        func run() throws {
            try reportingErrors {
                let gguf = model.path
                let bumpPath = bump ?? (gguf.hasSuffix(".gguf") ? String(gguf.dropLast(5)) + ".bump" : gguf + ".bump")
                if !FileManager.default.fileExists(atPath: bumpPath) {
                    let source = try GGUFFile(path: gguf)
                    try Bump.convert(source, tokenizerImage: Tokenizer.image(for: source), to: bumpPath)
                }
                func time(_ body: () throws -> Void) throws -> (Double, Double) {
                    try body()  // warm the page cache
                    var xs: [Double] = []
                    for _ in 0..<max(1, repetitions) {
                        let t0 = monotonicNanoseconds()
                        try body()
                        xs.append(Double(monotonicNanoseconds() - t0) / 1e6)
                    }
                    xs.sort()
                    return (xs[xs.count / 2], xs[0])
                }
                let size = { (p: String) in (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
                var rows: [Row] = []
                let g = try time { _ = try GGUFFile(path: gguf) }
                rows.append(Row(source: "gguf parse", verify: false, medianMs: g.0, minMs: g.1, bytes: size(gguf)))
                let bv = try time { _ = try BumpFile(path: bumpPath, verify: true) }
                rows.append(Row(source: "bump open", verify: true, medianMs: bv.0, minMs: bv.1, bytes: size(bumpPath)))
                let bn = try time { _ = try BumpFile(path: bumpPath, verify: false) }
                rows.append(Row(source: "bump open", verify: false, medianMs: bn.0, minMs: bn.1, bytes: size(bumpPath)))
                // With the tokenizer: built from the GGUF's metadata vs read back from the .bump's image (if it has one).
                let gt = try time { _ = try Tokenizer.load(from: try GGUFFile(path: gguf)) }
                rows.append(Row(source: "gguf+tok", verify: false, medianMs: gt.0, minMs: gt.1, bytes: size(gguf)))
                let bt = try time { _ = try Tokenizer.load(from: try BumpFile(path: bumpPath, verify: false)) }
                rows.append(Row(source: "bump+tok", verify: false, medianMs: bt.0, minMs: bt.1, bytes: size(bumpPath)))
                if json { return try printJSON(rows) }
                print("model: \(gguf)\nbump:  \(bumpPath)\n")
                print("source       verify   median ms     min ms   file")
                for r in rows {
                    print(r.source.padding(toLength: 13, withPad: " ", startingAt: 0) + (r.verify ? "yes" : "no").padding(toLength: 6, withPad: " ", startingAt: 0)
                          + formatFixed(r.medianMs, 3).leftPadded(11) + formatFixed(r.minMs, 3).leftPadded(11) + "   " + formatBytes(r.bytes))
                }
                let verifyCost = bv.0 - bn.0
                if verifyCost > 0 {
                    print("\nchecksum cost on open: \(formatFixed(verifyCost, 2)) ms (\(formatFixed(Double(size(bumpPath)) / verifyCost / 1e6, 1)) GB/s, page faults included)")
                }
                // The hash alone, over memory already mapped and faulted in.
                let mapped = try MappedFile(path: bumpPath)
                _ = XXH64.hash(mapped.bytes)
                let h = try time { _ = XXH64.hash(mapped.bytes) }
                print("XXH64 over faulted-in memory, one stream: \(formatFixed(h.0, 2)) ms (\(formatFixed(Double(mapped.count) / h.0 / 1e6, 1)) GB/s)")
                let pool = ThreadPool.shared
                let c = try time { _ = ChunkedXXH64.hash(mapped.bytes, pool: pool) }
                print("chunked XXH64 (the .bump checksum), \(pool.threadCount) threads: \(formatFixed(c.0, 2)) ms (\(formatFixed(Double(mapped.count) / c.0 / 1e6, 1)) GB/s)")
            }
        }
    }

    struct Threads: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cost of an empty fork–join region of the thread pool.")
        @Option(help: "Regions to time.") var regions: Int = 200_000
        @Flag(help: "Print JSON.") var json = false

        struct Result: Codable { var threads: Int; var regions: Int; var nanosecondsPerRegion: Double }

        func run() throws {
            try reportingErrors {
                let pool = ThreadPool(threadCount: try ThreadPool.defaultThreadCount())
                for _ in 0..<1000 { pool.run { _, _ in } }
                let t0 = monotonicNanoseconds()
                for _ in 0..<regions { pool.run { _, _ in } }
                let ns = Double(monotonicNanoseconds() - t0) / Double(regions)
                let r = Result(threads: pool.threadCount, regions: regions, nanosecondsPerRegion: ns)
                if json { return try printJSON(r) }
                print("threads \(r.threads): empty region \(formatFixed(ns, 1)) ns (\(regions) regions)")
            }
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
