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
