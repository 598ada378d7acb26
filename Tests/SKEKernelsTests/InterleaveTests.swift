import Testing
import SKECore
@testable import SKEKernels

/// Weights repacked four rows at a time for decode (Interleave.swift): every row's values read back in place (which
/// checks where pack put each field), and the kernel reading the layout gives each original row's dot.
@Suite("Interleaved four-row weights")
struct InterleaveTests {
    /// Types with an interleaved path at some level this CPU runs, with that level's kernels.
    static var paths: [(QuantKernels, QuantKernels.InterleavedPath)] {
        QuantTraits.weightTypes.compactMap { t in
            guard let k = QuantTraits.kernels(t, level: .avx512), CPUFeatures.host.supportedISALevels.contains(.avx512),
                  let p = k.prepared?.interleaved else { return nil }
            return (k, p)
        }
    }

    @Test("Q4_1, Q5_0 and Q4_K have an interleaved decode path on AVX-512")
    func coverage() {
        if CPUFeatures.host.supportedISALevels.contains(.avx512) {
            for t in [GGMLType.q4_1, .q5_0, .q4_K] { #expect(Self.paths.contains { $0.0.type == t }, "\(t.name)") }
        }
    }

    /// Values in `units` of the smallest row the layout takes (Q4_K: one super-block; Q5_0: four blocks; Q4_1: one block).
    static func length(_ kern: QuantKernels, _ path: QuantKernels.InterleavedPath, units: Int) -> Int {
        units * path.rowBytesMultiple / kern.type.blockBytes * kern.type.blockSize
    }

    @Test("pack rearranges the bytes; dequantizing a row in place gives the reference's values for the original row, bit for bit",
          arguments: [1, 3, 7])
    func dequantize(_ units: Int) throws {
        for (kern, path) in Self.paths {
            var rng = SeededRandom(seed: 0xDE0 &+ UInt64(units))
            let k = Self.length(kern, path, units: units), rowBytes = kern.type.byteCount(elements: k)!, blocks = k / kern.type.blockSize
            let ref = try #require(QuantTraits.kernels(kern.type, level: .reference))
            // Quantized rows and raw bytes (any scale bits, any codes; NaN-free halves are not needed for bit equality).
            let rows = Self.rows(kern.type, k: k, extreme: false, rng: &rng) + (0..<(4 * rowBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            for set in 0..<2 {
                let src = Array(rows[(set * 4 * rowBytes)..<((set + 1) * 4 * rowBytes)])
                var packed = [UInt8](repeating: 0, count: 4 * rowBytes)
                src.withUnsafeBytes { s in packed.withUnsafeMutableBytes { path.pack(s.baseAddress!, rowBytes, $0.baseAddress!) } }
                #expect(packed != src && packed.sorted() == src.sorted(), "the same bytes, rearranged")
                for lane in 0..<4 {
                    var want = [Float](repeating: 0, count: k)
                    src.withUnsafeBytes { s in want.withUnsafeMutableBufferPointer { ref.dequantize(s.baseAddress! + lane * rowBytes, $0.baseAddress!, k) } }
                    for first in 0..<blocks {
                        let count = blocks - first, be = kern.type.blockSize
                        var got = [Float](repeating: .nan, count: count * be)
                        packed.withUnsafeBytes { g in got.withUnsafeMutableBufferPointer { path.dequantize(g.baseAddress!, rowBytes, lane, first, count, $0.baseAddress!) } }
                        let bad = zip(got, want[(first * be)...]).filter { $0.bitPattern != $1.bitPattern && !($0.isNaN && $1.isNaN) }.count
                        #expect(bad == 0, "\(kern.type.name) set \(set) row \(lane) from block \(first): \(bad) values differ")
                    }
                }
            }
        }
    }

    /// Four rows of `type` with k values: quantized random rows, or the largest codes, scales and mins (every
    /// integer sum at its bound).
    static func rows(_ type: GGMLType, k: Int, extreme: Bool, rng: inout SeededRandom) -> [UInt8] {
        if !extreme { return (0..<4).flatMap { _ in randomRow(type, k: k, rng: &rng).bytes } }
        let blockBytes = type.blockBytes
        var out = [UInt8](repeating: 0xFF, count: 4 * type.byteCount(elements: k)!)
        for b in stride(from: 0, to: out.count, by: blockBytes) {
            out[b] = 0x00; out[b + 1] = 0x3C                                          // d = 1 (f16)
            if [.q4_K, .q4_1].contains(type) { out[b + 2] = 0x00; out[b + 3] = 0x38 } // dmin / m = 0.5
        }
        return out
    }

    @Test("the interleaved decode kernel gives each row's dot within 1e-6·Σ|w·a|, and the one-row kernel's bit for bit (odd lengths, extreme values)",
          arguments: [1, 3, 4, 7, 12])
    func dot(_ units: Int) throws {
        for (kern, path) in Self.paths {
            let k = Self.length(kern, path, units: units), rowBytes = kern.type.byteCount(elements: k)!
            let ref = try #require(QuantTraits.kernels(kern.type, level: .reference))
            let act = try #require(QuantTraits.kernels(kern.activation, level: .reference))
            var rng = SeededRandom(seed: 0xD07 &+ UInt64(units))
            for extreme in [false, true] {
                let w = Self.rows(kern.type, k: k, extreme: extreme, rng: &rng)
                // Extreme: x all equal quantizes every activation to −128 (Q8_K scales by −128/max).
                let x = extreme ? [Float](repeating: 1, count: k) : (0..<k).map { _ in rng.normal() }
                let stride = kern.activationRowStride(k: k)!
                var a = [UInt8](repeating: 0, count: stride)
                x.withUnsafeBufferPointer { xp in a.withUnsafeMutableBytes { Matmul.activationRowWriter(kern, k: k)(xp.baseAddress!, $0.baseAddress!) } }
                var packed = [UInt8](repeating: 0, count: 4 * rowBytes)
                w.withUnsafeBytes { s in packed.withUnsafeMutableBytes { path.pack(s.baseAddress!, rowBytes, $0.baseAddress!) } }
                var out = [Float](repeating: .nan, count: 4)
                packed.withUnsafeBytes { g in a.withUnsafeBytes { ab in out.withUnsafeMutableBufferPointer { o in
                    path.dot4Rows.call(g.baseAddress!, rowBytes, ab.baseAddress!, k, o.baseAddress!)
                } } }
                var af = [Float](repeating: 0, count: k)
                a.withUnsafeBytes { b in af.withUnsafeMutableBufferPointer { act.dequantize(b.baseAddress!, $0.baseAddress!, k) } }
                for r in 0..<4 {
                    let (expected, scale) = w.withUnsafeBytes { wb -> (Float, Double) in
                        var wf = [Float](repeating: 0, count: k)
                        wf.withUnsafeMutableBufferPointer { ref.dequantize(wb.baseAddress! + r * rowBytes, $0.baseAddress!, k) }
                        let s = zip(wf, af).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
                        return (a.withUnsafeBytes { ref.dot(wb.baseAddress! + r * rowBytes, $0.baseAddress!, k) }, s)
                    }
                    #expect(abs(Double(out[r]) - Double(expected)) <= 1e-6 * scale + 1e-30,
                            "\(kern.type.name) k=\(k) extreme=\(extreme) row \(r): \(out[r]) vs \(expected)")
                    // And the prepared one-row dot on the original row, bit for bit (decode == recompute).
                    let one = w.withUnsafeBytes { wb in a.withUnsafeBytes { kern.rowDot(wb.baseAddress! + r * rowBytes, $0.baseAddress!, k) } }
                    #expect(out[r].bitPattern == one.bitPattern, "\(kern.type.name) k=\(k) extreme=\(extreme) row \(r): \(out[r]) vs one-row \(one)")
                }
            }
        }
    }
}
