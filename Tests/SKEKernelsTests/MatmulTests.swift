import Testing
@testable import SKEKernels
import SKECore

@Suite("Quantized gemv / gemm")
struct MatmulTests {
    static let cases: [(GGMLType, Int, Int, Int)] = [
        (.q4_0, 7, 64, 1), (.q4_1, 31, 96, 3), (.q5_0, 5, 32, 2), (.q5_1, 3, 64, 1), (.q8_0, 9, 160, 5),
        (.q4_K, 3, 512, 4), (.q5_K, 2, 256, 1), (.q6_K, 5, 256, 3), (.f16, 7, 33, 2), (.f32, 4, 17, 3), (.bf16, 3, 40, 2),
    ]

    @Test("gemm == per-row reference dots, for 1–4 threads and every ISA path", arguments: cases)
    func gemm(_ c: (GGMLType, Int, Int, Int)) throws {
        let (type, n, k, tokens) = c
        var rng = SeededRandom(seed: UInt64(n * 1000 + k))
        var w: [UInt8] = []
        for _ in 0..<n { w += randomRow(type, k: k, rng: &rng).bytes }
        let x = (0..<(tokens * k)).map { _ in rng.normal() }
        let ref = try #require(QuantTraits.kernels(type, level: .reference))
        // Expected: reference quantization of each token, reference dot per (token, row).
        var expected = [Float](repeating: 0, count: tokens * n)
        let aRow = ref.activation.byteCount(elements: k)!
        var xq = [UInt8](repeating: 0, count: aRow * tokens)
        let act = QuantTraits.kernels(ref.activation, level: .reference)!
        x.withUnsafeBufferPointer { xp in xq.withUnsafeMutableBytes { q in
            for t in 0..<tokens { act.quantize(xp.baseAddress! + t * k, q.baseAddress! + t * aRow, k) }
        } }
        let wRow = type.byteCount(elements: k)!
        w.withUnsafeBytes { wb in xq.withUnsafeBytes { qb in
            for t in 0..<tokens { for r in 0..<n { expected[t * n + r] = ref.dot(wb.baseAddress! + r * wRow, qb.baseAddress! + t * aRow, k) } }
        } }
        for level in isaLevels {
            let kern = try #require(QuantTraits.kernels(type, level: level))
            for threads in 1...4 {
                let pool = ThreadPool(threadCount: threads)
                var y = [Float](repeating: .nan, count: tokens * n)
                var scratch = [UInt8](repeating: 0, count: Matmul.activationBytes(kern, k: k, tokens: tokens)!)
                w.withUnsafeBytes { wb in x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in scratch.withUnsafeMutableBytes { s in
                    Matmul.gemm(kern, w: wb.baseAddress!, rows: n, k: k, x: xp.baseAddress!, tokens: tokens, y: yp.baseAddress!, scratch: s.baseAddress!, pool: pool)
                } } } }
                for i in 0..<y.count {
                    #expect(abs(y[i] - expected[i]) <= 1e-5 * max(1, abs(expected[i])), "\(type.name) \(level) threads=\(threads) i=\(i): \(y[i]) vs \(expected[i])")
                }
            }
        }
    }
}
