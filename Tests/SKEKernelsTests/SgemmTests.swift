import Testing
@testable import SKEKernels
import SKECore

@Suite("SGEMM for training")
struct SgemmTests {
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (7, 31, 5), (31, 7, 257), (64, 96, 300), (73, 257, 33), (9, 2100, 20)]

    /// The three linear-layer products on every ISA path vs the reference loops in LinearF32 (independent code).
    @Test("forward, dX and dW on every ISA path equal the reference loops", arguments: shapes)
    func linear(_ s: (Int, Int, Int)) throws {
        let (n, k, m) = s
        var rng = SeededRandom(seed: UInt64(n * 7 + k * 13 + m))
        let x = (0..<(n * k)).map { _ in rng.normal() }, w = (0..<(m * k)).map { _ in rng.normal() }, dy = (0..<(n * m)).map { _ in rng.normal() }
        var yRef = [Float](repeating: 0, count: n * m), dxRef = [Float](repeating: 0.5, count: n * k), dwRef = [Float](repeating: -0.25, count: m * k)
        LinearF32.forward(x: x, w: w, bias: nil, y: &yRef, rows: n, inputs: k, outputs: m)
        LinearF32.backward(dy: dy, x: x, w: w, dx: &dxRef, dw: &dwRef, dbias: nil, rows: n, inputs: k, outputs: m)
        for level in isaLevels {
            for threads in [1, 3] {
                let pool = ThreadPool(threadCount: threads)
                var ws = [Float](repeating: 0, count: Sgemm.workspaceFloats(threads: threads))
                var y = [Float](repeating: .nan, count: n * m), dx = [Float](repeating: 0.5, count: n * k), dw = [Float](repeating: -0.25, count: m * k)
                ws.withUnsafeMutableBufferPointer { wsp in
                    Sgemm.linearForward(x: x, w: w, y: &y, rows: n, inputs: k, outputs: m, workspace: wsp.baseAddress!, pool: pool, level: level)
                    Sgemm.linearBackwardInput(dy: dy, w: w, dx: &dx, rows: n, inputs: k, outputs: m, workspace: wsp.baseAddress!, pool: pool, level: level)
                    Sgemm.linearBackwardWeight(dy: dy, x: x, dw: &dw, rows: n, inputs: k, outputs: m, workspace: wsp.baseAddress!, pool: pool, level: level)
                }
                func close(_ a: [Float], _ b: [Float], _ depth: Int, _ what: String) {
                    let tol = 1e-5 * Float(depth).squareRoot() * 4
                    let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                    #expect(worst <= tol, "\(what) \(level) threads \(threads) \(s): worst \(worst)")
                }
                close(y, yRef, k, "y"); close(dx, dxRef, m, "dx"); close(dw, dwRef, n, "dw")
            }
        }
    }
}

@Suite("SGEMM with bf16 operands")
struct SgemmBF16Tests {
    @Test("bf16 weights: every ISA path equals the reference on the widened values", arguments: [(5, 33, 7), (40, 70, 300)])
    func bf16(_ s: (Int, Int, Int)) throws {
        let (n, k, m) = s
        var rng = SeededRandom(seed: 77)
        let x = (0..<(n * k)).map { _ in rng.normal() }
        let wBits = (0..<(m * k)).map { _ in f32ToBF16(rng.normal()) }
        let wWide = wBits.map(bf16ToF32)
        var expected = [Float](repeating: 0, count: n * m)
        LinearF32.forward(x: x, w: wWide, bias: nil, y: &expected, rows: n, inputs: k, outputs: m)
        for level in isaLevels {
            var y = [Float](repeating: .nan, count: n * m)
            var ws = [Float](repeating: 0, count: Sgemm.workspaceFloats(threads: 2))
            x.withUnsafeBufferPointer { xp in wBits.withUnsafeBytes { wb in ws.withUnsafeMutableBufferPointer { wsp in
                Sgemm.gemm(m: n, n: m, k: k, a: .init(xp.baseAddress!, rowStride: k, colStride: 1),
                           b: .init(bf16: wb.baseAddress!, rowStride: 1, colStride: k), c: &y, ldc: m, accumulate: false,
                           workspace: wsp.baseAddress!, pool: ThreadPool(threadCount: 2), level: level)
            } } }
            let worst = zip(y, expected).map { abs($0 - $1) / max(1, abs($1)) }.max()!
            #expect(worst <= 1e-4, "\(level): \(worst)")
        }
    }
}

@Suite("SGEMM over quantized weight rows (prefill)")
struct SgemmRowsTests {
    /// (type, tokens M, weight rows N, K): K crosses the 256-value KC pieces (640 = 256 + 256 + 128 for 32-value
    /// blocks), N is not a multiple of the 32-wide panels, M not of the 8-row tiles.
    static let cases: [(GGMLType, Int, Int, Int)] = [
        (.q4_0, 17, 37, 640), (.q4_1, 5, 33, 96), (.q5_0, 16, 70, 288), (.q8_0, 23, 31, 640), (.f16, 9, 40, 100),
        (.q4_K, 19, 45, 512), (.q5_K, 3, 32, 256), (.q6_K, 16, 65, 768), (.f32, 11, 29, 77),
    ]

    @Test("Y = X·Wᵀ with W dequantized while packing equals the reference loop on the dequantized W", arguments: cases)
    func rows(_ c: (GGMLType, Int, Int, Int)) throws {
        let (type, m, n, k) = c
        var rng = SeededRandom(seed: UInt64(type.rawValue) * 31 + UInt64(m * n + k))
        var w: [UInt8] = []
        for _ in 0..<n { w += randomRow(type, k: k, rng: &rng).bytes }
        let rowBytes = type.byteCount(elements: k)!
        let ref = try #require(QuantTraits.kernels(type, level: .reference))
        var wf = [Float](repeating: 0, count: n * k)
        w.withUnsafeBytes { b in wf.withUnsafeMutableBufferPointer { o in for r in 0..<n { ref.dequantize(b.baseAddress! + r * rowBytes, o.baseAddress! + r * k, k) } } }
        let x = (0..<(m * k)).map { _ in rng.normal() }
        let bias = (0..<(m * n)).map { _ in rng.normal() }
        for accumulate in [false, true] {
            var expected = [Float](repeating: 0, count: m * n)
            LinearF32.forward(x: x, w: wf, bias: nil, y: &expected, rows: m, inputs: k, outputs: n)
            if accumulate { for i in 0..<(m * n) { expected[i] += bias[i] } }
            for level in isaLevels {
                for threads in [1, 3] {
                    let kern = try #require(QuantTraits.kernels(type, level: level))
                    var y = accumulate ? bias : [Float](repeating: .nan, count: m * n)
                    var ws = [Float](repeating: 0, count: Sgemm.workspaceFloats(threads: threads))
                    w.withUnsafeBytes { wb in x.withUnsafeBufferPointer { xp in ws.withUnsafeMutableBufferPointer { wsp in
                        let loader = Sgemm.rowLoader(wb.baseAddress!, rowBytes: rowBytes, type: type, dequantize: kern.dequantize)
                        Sgemm.gemm(m: m, n: n, k: k, a: .init(xp.baseAddress!, rowStride: k, colStride: 1), rows: loader, c: &y, ldc: n,
                                   accumulate: accumulate, workspace: wsp.baseAddress!, pool: ThreadPool(threadCount: threads), level: level)
                    } } }
                    let worst = zip(y, expected).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                    #expect(worst <= 1e-5 * Float(k).squareRoot(), "\(type.name) \(level) threads \(threads) accumulate \(accumulate): \(worst)")
                }
            }
        }
    }
}

@Suite("AMX-BF16 GEMM over quantized weight rows (prefill, opt-in)")
struct AMXGemmTests {
    static func bf16(_ x: Float) -> Float { bf16ToF32(f32ToBF16(x)) }

    /// Against the reference loop on the same operands rounded to bf16 (round to nearest even), f32 accumulation:
    /// only the summation order differs. Token counts and weight rows off the 16-wide tiles; K in 32-value chunks.
    @Test("Y = X·Wᵀ on AMX tiles equals the reference on bf16-rounded operands",
          .enabled(if: AMXGemm.available, "this CPU or kernel offers no AMX-BF16"),
          arguments: [(GGMLType.q4_K, 19, 45, 512), (.q8_0, 40, 33, 96), (.q6_K, 5, 16, 256), (.f32, 33, 17, 64)])
    func amx(_ c: (GGMLType, Int, Int, Int)) throws {
        let (type, t, n, k) = c
        var rng = SeededRandom(seed: UInt64(type.rawValue) * 977 + UInt64(t * n + k))
        var w: [UInt8] = []
        for _ in 0..<n { w += randomRow(type, k: k, rng: &rng).bytes }
        let rowBytes = type.byteCount(elements: k)!
        let kern = try #require(QuantTraits.kernels(type))
        var wf = [Float](repeating: 0, count: n * k)
        w.withUnsafeBytes { b in wf.withUnsafeMutableBufferPointer { o in for r in 0..<n { kern.dequantize(b.baseAddress! + r * rowBytes, o.baseAddress! + r * k, k) } } }
        let x = (0..<(t * k)).map { _ in rng.normal() }
        let bias = (0..<(t * n)).map { _ in rng.normal() }
        for accumulate in [false, true] {
            var expected = [Float](repeating: 0, count: t * n)
            LinearF32.forward(x: x.map(Self.bf16), w: wf.map(Self.bf16), bias: nil, y: &expected, rows: t, inputs: k, outputs: n)
            if accumulate { for i in 0..<(t * n) { expected[i] += bias[i] } }
            for threads in [1, 3] {
                var y = accumulate ? bias : [Float](repeating: .nan, count: t * n)
                let bytes = AMXGemm.workspaceBytes(tokens: t, k: k, threads: threads)
                let ws = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                defer { ws.deallocate() }
                w.withUnsafeBytes { wb in x.withUnsafeBufferPointer { xp in
                    let loader = Sgemm.rowLoader(wb.baseAddress!, rowBytes: rowBytes, type: type, dequantize: kern.dequantize)
                    AMXGemm.gemm(tokens: t, n: n, k: k, x: xp.baseAddress!, rows: loader, y: &y, ldy: n, accumulate: accumulate,
                                 workspace: ws, pool: ThreadPool(threadCount: threads))
                } }
                let worst = zip(y, expected).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst <= 1e-5 * Float(k).squareRoot(), "\(type.name) threads \(threads) accumulate \(accumulate): \(worst)")
            }
        }
    }

    /// The 512-bit token packing writes the plain packing's bits: every token count 0…16, values across magnitudes,
    /// rounding ties, infinities and NaNs.
    @Test("token packing: the 512-bit version equals the plain one bit for bit")
    func packTokens() throws {
        let k = 96
        var rng = SeededRandom(seed: 31337)
        var x = (0..<(16 * k)).map { i in rng.normal() * Float(1 << (i % 24)) }
        x[5] = .infinity; x[6] = -.infinity; x[7] = .nan; x[8] = Float(bitPattern: 0x7fa0_0001)
        x[9] = Float(bitPattern: 0x3f80_8000); x[10] = Float(bitPattern: 0x3f81_8000); x[11] = -0.0; x[12] = .leastNonzeroMagnitude
        for count in 0...16 {
            var want = [UInt16](repeating: 0xAAAA, count: k / 32 * 512), got = [UInt16](repeating: 0x5555, count: k / 32 * 512)
            x.withUnsafeBufferPointer { xp in
                AMXGemm.packTokens(xp.baseAddress!, count, k, &want)
                AMXGemm.fastPackTokens(xp.baseAddress!, count, k, &got)
            }
            #expect(got == want, "\(count) tokens")
        }
    }
}
