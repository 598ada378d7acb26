import Testing
import SKECore
@testable import SKEKernels

/// Prefill's panel GEMM (SKEKernelsAVX512/PanelGemm.swift): rows unpacked 16 at a time from the file's layout or the
/// four-row interleaved copy, multiplied with up to four tokens per call; every result must be the one-row prepared
/// dot's bit for bit (the decode path's), so that a prompt's logits do not depend on how it was batched.
@Suite("Panel GEMM")
struct PanelGemmTests {
    static var kernels: [QuantKernels] {
        guard CPUFeatures.host.supportedISALevels.contains(.avx512) else { return [] }
        return QuantTraits.weightTypes.compactMap { t in
            guard let k = QuantTraits.kernels(t, level: .avx512), k.prepared?.panelGemm != nil else { return nil }
            return k
        }
    }

    @Test("Q4_K, Q6_K, Q4_1, Q5_0 and Q8_0 have a panel GEMM on AVX-512")
    func coverage() {
        if CPUFeatures.host.supportedISALevels.contains(.avx512) { for t in [GGMLType.q4_K, .q6_K, .q4_1, .q5_0, .q8_0] { #expect(Self.kernels.contains { $0.type == t }, "\(t.name)") } }
    }

    @Test("every row × token equals the one-row dot bit for bit: file order and interleaved rows, partial panels, 1–4 tokens",
          arguments: [(1, 37, 7), (3, 16, 4), (4, 21, 1), (5, 8, 6)])
    func oneRowDot(blocks: Int, rows n: Int, tokens: Int) throws {
        for kern in Self.kernels {
            let gemm = try #require(kern.prepared?.panelGemm)
            // Small-block types: 9, 23, 36 or 30 blocks (every remainder mod 4 past the last four-block step; 36 also
            // takes Q5_0's interleaved copy, which needs a multiple of four).
            let k = kern.type.blockSize == 256 ? 256 * blocks : 32 * [1: 9, 3: 23, 4: 36, 5: 30][blocks]!, rowBytes = kern.type.byteCount(elements: k)!
            var rng = SeededRandom(seed: 0x9A7E1 &+ UInt64(n * 31 + blocks))
            for extreme in [false, true] {
                // Extreme rows: the largest codes, scales and mins (every integer sum at its bound), x all equal
                // (every activation −128).
                var w: [UInt8] = []
                for _ in 0..<((n + 3) / 4) { w += InterleaveTests.rows(kern.type, k: k, extreme: extreme, rng: &rng) }
                w = Array(w.prefix(n * rowBytes))
                if extreme && kern.type == .q6_K {
                    // Codes 63, scales −128, d = 1 (d is the block's last field).
                    for b in stride(from: 0, to: w.count, by: 210) {
                        for i in 192..<208 { w[b + i] = 0x80 }
                        w[b + 208] = 0x00; w[b + 209] = 0x3C
                    }
                }
                let aStride = kern.activationRowStride(k: k)!
                var a = [UInt8](repeating: 0, count: tokens * aStride)
                let write = Matmul.activationRowWriter(kern, k: k)
                for t in 0..<tokens {
                    let x = extreme ? [Float](repeating: 1, count: k) : (0..<k).map { _ in rng.normal() * Float(t + 1) }
                    x.withUnsafeBufferPointer { xp in a.withUnsafeMutableBytes { write(xp.baseAddress!, $0.baseAddress! + t * aStride) } }
                }
                var want = [Float](repeating: 0, count: n * tokens)
                w.withUnsafeBytes { wb in a.withUnsafeBytes { ab in
                    for r in 0..<n { for t in 0..<tokens { want[r * tokens + t] = kern.rowDot(wb.baseAddress! + r * rowBytes, ab.baseAddress! + t * aStride, k) } }
                } }
                // The interleaved copy (full groups of four; the rest as they are), when the type has one.
                var layouts: [([UInt8], Int)] = [(w, 0)]
                if let path = kern.prepared?.interleaved, rowBytes % path.rowBytesMultiple == 0 {
                    var packed = [UInt8](repeating: 0, count: w.count)
                    w.withUnsafeBytes { s in packed.withUnsafeMutableBytes { d in
                        Matmul.packInterleaved(path, w: s.baseAddress!, rows: n, rowBytes: rowBytes, into: d.baseAddress!, pool: ThreadPool(threadCount: 1))
                    } }
                    layouts.append((packed, n & ~3))
                }
                for (bytes, grouped) in layouts {
                    // Through the kernel-level driver (each panel packed once, then four tokens per call), on two threads;
                    // the workspace starts as garbage.
                    let pool = ThreadPool(threadCount: 2), wsBytes = pool.threadCount * Matmul.panelWorkspaceBytes(gemm, k: k)
                    let workspace = UnsafeMutableRawPointer.allocate(byteCount: wsBytes, alignment: 64)
                    defer { workspace.deallocate() }
                    workspace.initializeMemory(as: UInt8.self, repeating: 0xA5, count: wsBytes)
                    var y = [Float](repeating: .nan, count: tokens * n)
                    bytes.withUnsafeBytes { wb in a.withUnsafeBytes { ab in y.withUnsafeMutableBufferPointer {
                        Matmul.gemmPanels(gemm, w: wb.baseAddress!, rowBytes: rowBytes, grouped: grouped, rows: n, k: k, xq: ab.baseAddress!,
                                          stride: aStride, tokens: tokens, y: $0.baseAddress!, workspace: workspace, pool: pool)
                    } } }
                    var bad = 0
                    for r in 0..<n { for t in 0..<tokens where y[t * n + r].bitPattern != want[r * tokens + t].bitPattern { bad += 1 } }
                    #expect(bad == 0, "\(kern.type.name) k=\(k) rows=\(n) tokens=\(tokens) extreme=\(extreme) interleaved=\(grouped > 0): \(bad) results differ")
                }
            }
        }
    }
}
