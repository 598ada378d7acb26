// `ske bench sgemm`: the training SGEMM beside OpenBLAS's cblas_sgemm measured in the same run (loaded with
// dlopen when installed: `apt-get install libopenblas-dev`; OPENBLAS_CORETYPE=SkylakeX is set first, since
// OpenBLAS picks a slow kernel on this CPU otherwise).
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKEKernels

extension Bench {
    struct Sgemm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "SGEMM GFLOP/s (forward, dX, dW shapes) vs OpenBLAS in the same run.")
        @Flag(help: "Print JSON.") var json = false

        struct Record: Codable {
            var shape: String; var threads: Int; var isa: String
            var ske_gflops: Double; var openblas_gflops: Double?; var ratio: Double?
        }

        typealias CblasSgemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>, Int32,
                                               UnsafePointer<Float>, Int32, Float, UnsafeMutablePointer<Float>, Int32) -> Void
        typealias SetThreads = @convention(c) (Int32) -> Void

        func run() throws {
            setenv("OPENBLAS_CORETYPE", "SkylakeX", 0)
            let handle = dlopen("libopenblas.so.0", RTLD_NOW) ?? dlopen("libopenblas.so", RTLD_NOW)
            let cblas = handle.flatMap { dlsym($0, "cblas_sgemm") }.map { unsafeBitCast($0, to: CblasSgemm.self) }
            let setThreads = handle.flatMap { dlsym($0, "openblas_set_num_threads") }.map { unsafeBitCast($0, to: SetThreads.self) }
            // (name, M, N, K, A transposed?, B transposed?) — C[M, N] = op(A)·op(B)
            let shapes: [(String, Int, Int, Int, Bool, Bool)] = [
                ("square 1024", 1024, 1024, 1024, false, false),
                ("fwd y=x·Wᵀ 512×1536×576", 512, 1536, 576, false, true),
                ("dX=dy·W 512×576×1536", 512, 576, 1536, false, false),
                ("dW=dyᵀ·x 1536×576×512", 1536, 576, 512, true, false),
            ]
            let all = ThreadPool.shared
            let pools = all.threadCount > 1 ? [ThreadPool(threadCount: 1), all] : [all]
            var out: [Record] = []
            if !json { print("shape                        thr   ske GFLOP/s   OpenBLAS   ratio" + (cblas == nil ? "   (OpenBLAS not installed)" : "")) }
            for (name, m, n, k, ta, tb) in shapes {
                var rng = SystemRandomNumberGenerator()
                let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                var c = [Float](repeating: 0, count: m * n)
                let flops = 2.0 * Double(m) * Double(n) * Double(k)
                for pool in pools {
                    var ws = [Float](repeating: 0, count: SKEKernels.Sgemm.workspaceFloats(threads: pool.threadCount))
                    // A stored [M, K] (or [K, M] when transposed), B stored [K, N] (or [N, K]).
                    let ms = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in ws.withUnsafeMutableBufferPointer { wp in
                        bestOf(runs: 5) {
                            SKEKernels.Sgemm.gemm(m: m, n: n, k: k,
                                a: .init(ap.baseAddress!, rowStride: ta ? 1 : k, colStride: ta ? m : 1),
                                b: .init(bp.baseAddress!, rowStride: tb ? 1 : n, colStride: tb ? k : 1),
                                c: cp.baseAddress!, ldc: n, accumulate: false, workspace: wp.baseAddress!, pool: pool)
                        }
                    } } } }
                    var blas: Double?
                    if let cblas {
                        setThreads?(Int32(pool.threadCount))
                        blas = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                            bestOf(runs: 5) {
                                cblas(101, ta ? 112 : 111, tb ? 112 : 111, Int32(m), Int32(n), Int32(k), 1, ap.baseAddress!, Int32(ta ? m : k),
                                      bp.baseAddress!, Int32(tb ? k : n), 0, cp.baseAddress!, Int32(n))
                            }
                        } } }
                    }
                    let g = flops / (ms / 1e3) / 1e9, bg = blas.map { flops / ($0 / 1e3) / 1e9 }
                    let r = Record(shape: name, threads: pool.threadCount, isa: QuantTraits.activeLevel.rawValue, ske_gflops: g, openblas_gflops: bg, ratio: bg.map { g / $0 })
                    out.append(r)
                    if !json {
                        print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + "\(pool.threadCount)".leftPadded(4) + formatFixed(g, 1).leftPadded(14)
                              + (bg.map { formatFixed($0, 1) } ?? "-").leftPadded(11) + (r.ratio.map { formatFixed($0, 2) } ?? "-").leftPadded(8))
                    }
                }
            }
            if json { try printJSON(out) }
        }
    }
}
