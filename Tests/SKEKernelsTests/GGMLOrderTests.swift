// GGMLOrder's kernels one by one: ggml's GELU table (hash read back from libggml-cpu), the exp approximation's
// accuracy, and every replicated dot / path near the exact value of the same quantized operands. Their order of
// operations (what makes them llama.cpp's bit for bit) is proved end to end by EndToEndTests/ReplicaTests.
import Foundation
import Testing
@testable import SKEKernels
import SKECore
import SKEFormats

@Suite struct GGMLOrderTests {
    /// The f16 bit patterns of GeluTable hash to ggml-cpu's `ggml_table_gelu_f16`
    /// (tools/reference/ggml_gelu_table.sh on the reference's llama.cpp commit).
    @Test func geluTableIsGGMLs() {
        let bits = (0..<65536).map { i -> UInt16 in
            let v = GeluTable.values[i]
            return v.isNaN ? (i < 0x8000 ? 0x7E00 : 0xFE00) : f32ToF16(v)   // NaN entries: ggml's F16C store writes the quiet NaN of the sign
        }
        let hash = bits.withUnsafeBytes { SHA256.hex($0) }
        #expect(hash == "5eceda6f287dec9dc0bcfa24516d6744a031a5c52d1984688b4558aeb1daf909")
    }

    /// ggml_v_expf: within 2.5 ulp of exp (ggml states 1.45 ulp + 0.5 for the rounding; measured 2.17 in units of
    /// the rounded result's ulp) over the range where it is neither 0 nor ∞; 0 and ∞ beyond.
    @Test func expf() {
        var worst: Double = 0
        for i in 0...200_000 {
            let x = Float(-87 + 175 * Double(i) / 200_000)
            let e = Foundation.exp(Double(x)), ours = Double(GGMLOrder.expf(x))
            worst = max(worst, abs(ours - e) / Double(Float(e).ulp))
        }
        #expect(worst <= 2.5)
        #expect(GGMLOrder.expf(-.infinity) == 0 && GGMLOrder.expf(-200) == 0 && GGMLOrder.expf(200) == .infinity)
        #expect(GGMLOrder.silu(0) == 0 && abs(GGMLOrder.silu(3) - 3 / (1 + Foundation.exp(-3))) < 1e-6)
    }

    /// Each replicated weight type, each ggml path, odd block counts: the dot of the quantized operands within
    /// 1e-6 · Σ|w·a| of its exact value (the activation quantized as ggml does, then dequantized for the exact sum).
    @Test(arguments: [GGMLType.q4_1, .q5_0, .q8_0, .q4_K, .q6_K])
    func dotsNearExact(type: GGMLType) throws {
        var rng = SeededRandom(seed: 7)
        let act = try #require(GGMLOrder.activationType(type))
        for k in [256, 768, 1280] {
            let (_, w) = randomRow(type, k: k, rng: &rng)
            let x = (0..<k).map { _ in rng.normal() }
            var a = [UInt8](repeating: 0, count: act.byteCount(elements: k)!)
            a.withUnsafeMutableBytes { GGMLOrder.quantizeActivation(act, x, $0.baseAddress!, k) }
            var wf = [Float](repeating: 0, count: k), af = wf
            w.withUnsafeBytes { QuantTraits.kernels(type, level: .reference)!.dequantize($0.baseAddress!, &wf, k) }
            a.withUnsafeBytes { QuantTraits.kernels(act, level: .reference)!.dequantize($0.baseAddress!, &af, k) }
            var exact: Double = 0, scale: Double = 0
            for i in 0..<k { exact += Double(wf[i]) * Double(af[i]); scale += abs(Double(wf[i]) * Double(af[i])) }
            if type == .q4_1 {   // Q8_1's stored f16 sum s stands in for d·Σq (ggml's formula), as in the reference's dots
                exact = 0
                a.withUnsafeBytes { ap in w.withUnsafeBytes { wp in
                    for b in 0..<(k / 32) {
                        let x = wp.baseAddress! + 20 * b, y = ap.baseAddress! + 36 * b
                        var s: Int32 = 0
                        for e in 0..<32 { s += Int32(e < 16 ? x.u8(4 + e) & 0xF : x.u8(4 + e - 16) >> 4) * Int32(y.i8(4 + e)) }
                        exact += Double(x.f16(0)) * Double(y.f16(0)) * Double(s) + Double(x.f16(2)) * Double(y.f16(2))
                    }
                } }
            }
            for path in [GGMLOrder.Path.vecDot, .repackGemm, .tiled] {
                let d = w.withUnsafeBytes { wp in a.withUnsafeBytes { GGMLOrder.dot(type, path: path, w: wp.baseAddress!, a: $0.baseAddress!, k: k) } }
                #expect(abs(Double(d) - exact) <= 1e-6 * scale, "\(type) k \(k) \(path): \(d) vs \(exact)")
            }
        }
    }

    /// The two f16 dot orders (tinyBLAS, ggml_vec_dot_f16 with its double tail) near the exact sum.
    @Test(arguments: [16, 64, 256, 272, 336])
    func f16Dots(n: Int) {
        var rng = SeededRandom(seed: UInt64(n))
        let x = (0..<n).map { _ in Float16(rng.normal()) }, y = (0..<n).map { _ in Float16(rng.normal()) }
        var exact: Double = 0, scale: Double = 0
        for i in 0..<n { exact += Double(x[i]) * Double(y[i]); scale += abs(Double(x[i]) * Double(y[i])) }
        #expect(abs(Double(GGMLOrder.dotF16Tiled(x, y, n)) - exact) <= 1e-6 * scale)
        #expect(abs(Double(GGMLOrder.dotF16(x, y, n)) - exact) <= 1e-6 * scale)
    }
}
