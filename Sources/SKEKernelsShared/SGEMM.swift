// Packed single-precision GEMM for training (BLIS-style): C[M, N] = β·C + op(A)[M, K] · op(B)[K, N], with
// op = identity or transpose given by strides, so the linear layer's forward (Y = X·Wᵀ) and both backward
// products (dX = dY·W, dW = dYᵀ·X) run without materialising a transpose.
// Written once, compiled twice (symlinked into SKEKernelsAVX2 and SKEKernelsAVX512): the AVX-512 build uses
// SIMD16<Float> and an 8×32 register tile, the AVX2 build SIMD8<Float> and a 6×16 tile.
//
// Blocking: B is packed in KC×NC slabs (NR-wide panels, shared by all threads), A in MC×KC blocks (MR-tall
// panels, one block per thread at a time), then the microkernel runs over every MR×NR tile.
// Buffers come from the caller (`SGEMM.workspaceFloats(threads:)` floats); nothing is allocated here.
// Not done: bf16 inputs, prefetch hints, edge tiles in registers (they go through a small stack tile).
#if arch(x86_64)
import SKECore

#if SKE_VNNI
typealias Vec = SIMD16<Float>
typealias HalfVec = SIMD16<Float16>
#else
typealias Vec = SIMD8<Float>
typealias HalfVec = SIMD8<Float16>
#endif

public enum SGEMM {
#if SKE_VNNI
    public static let MR = 8
#else
    public static let MR = 6
#endif
    public static let NR = 2 * Vec.scalarCount
    public static let KC = 256
    public static let MC = 72
    public static let NC = 2048

    /// Floats of workspace `gemm` needs for `threads` threads.
    public static func workspaceFloats(threads: Int) -> Int { KC * NC + threads * (MC * KC + MR * NR) }

    /// A matrix operand: element (i, j) is at base[i·rowStride + j·colStride], stored as f32 or as bf16
    /// (bf16 weights for mixed-precision training are widened to f32 while packing; C stays f32).
    public struct Operand {
        public let raw: UnsafeRawPointer
        public let rowStride: Int, colStride: Int
        public let bf16: Bool
        public init(_ base: UnsafePointer<Float>, rowStride: Int, colStride: Int) {
            raw = UnsafeRawPointer(base); self.rowStride = rowStride; self.colStride = colStride; bf16 = false
        }
        public init(bf16 base: UnsafeRawPointer, rowStride: Int, colStride: Int) {
            raw = base; self.rowStride = rowStride; self.colStride = colStride; bf16 = true
        }
        @inline(__always) func at(_ offset: Int) -> Float {
            bf16 ? Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * offset, as: UInt16.self)) << 16)
                 : raw.loadUnaligned(fromByteOffset: 4 * offset, as: Float.self)
        }
    }

    /// C[M, N] (row-major, leading dimension ldc) = (accumulate ? C : 0) + A[M, K]·B[K, N].
    public static func gemm(m: Int, n: Int, k: Int, a: Operand, b: Operand, c: UnsafeMutablePointer<Float>, ldc: Int,
                            accumulate: Bool, workspace: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        guard m > 0 && n > 0 else { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = 0 } } }
            return
        }
        let bPack = workspace
        var jc = 0
        while jc < n {
            let nc = min(NC, n - jc)
            var pc = 0
            while pc < k {
                let kc = min(KC, k - pc)
                let acc = accumulate || pc > 0
                let panels = (nc + NR - 1) / NR
                pool.parallelFor(panels) { r in
                    for jp in r { packB(b, row0: pc, col0: jc + jp * NR, kc: kc, nr: min(NR, nc - jp * NR), into: bPack + jp * kc * NR) }
                }
                // Work items are (M block, run of N panels) pairs, dealt round-robin, so two threads are busy
                // even when M has few blocks; a thread re-packs A only when its M block changes.
                let mBlocks = (m + MC - 1) / MC
                let chunksPerBlock = max(1, min(panels, (4 * pool.threadCount + mBlocks - 1) / mBlocks))
                let panelsPerChunk = (panels + chunksPerBlock - 1) / chunksPerBlock
                let items = mBlocks * chunksPerBlock
                pool.run { t, threads in
                    let aPack = workspace + KC * NC + t * (MC * KC + MR * NR)
                    let tile = aPack + MC * KC
                    var packed = -1
                    var item = t
                    while item < items {
                        let ib = item / chunksPerBlock, chunk = item % chunksPerBlock
                        let ic = ib * MC, mc = min(MC, m - ic)
                        let aPanels = (mc + MR - 1) / MR
                        if packed != ib {
                            for ip in 0..<aPanels { packA(a, row0: ic + ip * MR, col0: pc, kc: kc, mr: min(MR, mc - ip * MR), into: aPack + ip * kc * MR) }
                            packed = ib
                        }
                        let firstPanel = min(panels, chunk * panelsPerChunk), endPanel = min(panels, firstPanel + panelsPerChunk)
                        for jp in firstPanel..<endPanel {
                            let nr = min(NR, nc - jp * NR)
                            for ip in 0..<aPanels {
                                let mr = min(MR, mc - ip * MR)
                                let cTile = c + (ic + ip * MR) * ldc + jc + jp * NR
                                if mr == MR && nr == NR {
                                    micro(kc, aPack + ip * kc * MR, bPack + jp * kc * NR, cTile, ldc, accumulate: acc)
                                } else {
                                    micro(kc, aPack + ip * kc * MR, bPack + jp * kc * NR, tile, NR, accumulate: false)
                                    for i in 0..<mr { for j in 0..<nr { cTile[i * ldc + j] = (acc ? cTile[i * ldc + j] : 0) + tile[i * NR + j] } }
                                }
                            }
                        }
                        item += threads
                    }
                }
                pc += kc
            }
            jc += nc
        }
    }

    /// Packs A[row0..<row0+mr, col0..<col0+kc] k-major (MR values per k, zero-padded).
    @inline(__always)
    static func packA(_ a: Operand, row0: Int, col0: Int, kc: Int, mr: Int, into p: UnsafeMutablePointer<Float>) {
        if a.bf16 {
            for kk in 0..<kc {
                let src = (col0 + kk) * a.colStride + row0 * a.rowStride
                for i in 0..<MR { p[kk * MR + i] = i < mr ? a.at(src + i * a.rowStride) : 0 }
            }
            return
        }
        let base = a.raw.assumingMemoryBound(to: Float.self)
        if mr == MR {
            for kk in 0..<kc {
                let src = base + (col0 + kk) * a.colStride + row0 * a.rowStride
                for i in 0..<MR { p[kk * MR + i] = src[i * a.rowStride] }
            }
        } else {
            for kk in 0..<kc {
                let src = base + (col0 + kk) * a.colStride + row0 * a.rowStride
                for i in 0..<MR { p[kk * MR + i] = i < mr ? src[i * a.rowStride] : 0 }
            }
        }
    }

    /// Packs B[row0..<row0+kc, col0..<col0+nr] k-major (NR values per k, zero-padded).
    @inline(__always)
    static func packB(_ b: Operand, row0: Int, col0: Int, kc: Int, nr: Int, into p: UnsafeMutablePointer<Float>) {
        if b.bf16 {
            for kk in 0..<kc {
                let src = (row0 + kk) * b.rowStride + col0 * b.colStride
                for j in 0..<NR { p[kk * NR + j] = j < nr ? b.at(src + j * b.colStride) : 0 }
            }
            return
        }
        let base = b.raw.assumingMemoryBound(to: Float.self)
        for kk in 0..<kc {
            let src = base + (row0 + kk) * b.rowStride + col0 * b.colStride
            if b.colStride == 1 && nr == NR {
                (p + kk * NR).update(from: src, count: NR)
            } else {
                for j in 0..<NR { p[kk * NR + j] = j < nr ? src[j * b.colStride] : 0 }
            }
        }
    }

    @inline(__always)
    static func store(_ v0: Vec, _ v1: Vec, _ c: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        let r = UnsafeMutableRawPointer(c)
        if accumulate {
            r.storeBytes(of: r.loadUnaligned(as: Vec.self) + v0, as: Vec.self)
            (r + MemoryLayout<Vec>.size).storeBytes(of: (r + MemoryLayout<Vec>.size).loadUnaligned(as: Vec.self) + v1, as: Vec.self)
        } else {
            r.storeBytes(of: v0, as: Vec.self)
            (r + MemoryLayout<Vec>.size).storeBytes(of: v1, as: Vec.self)
        }
    }

#if SKE_VNNI
    /// 8×32 tile: C[0..<8, 0..<32] (+)= Ap[8×kc] · Bp[kc×32] (both packed k-major). Hot.
    @inline(__always)
    static func micro(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool) {
        var c00 = Vec(), c01 = Vec()
        var c10 = Vec(), c11 = Vec()
        var c20 = Vec(), c21 = Vec()
        var c30 = Vec(), c31 = Vec()
        var c40 = Vec(), c41 = Vec()
        var c50 = Vec(), c51 = Vec()
        var c60 = Vec(), c61 = Vec()
        var c70 = Vec(), c71 = Vec()
        var ap = a, bp = b
        for _ in 0..<kc {
            let b0 = UnsafeRawPointer(bp).loadUnaligned(as: Vec.self), b1 = UnsafeRawPointer(bp + 16).loadUnaligned(as: Vec.self)
            let a0 = Vec(repeating: ap[0]); c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            let a1 = Vec(repeating: ap[1]); c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            let a2 = Vec(repeating: ap[2]); c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            let a3 = Vec(repeating: ap[3]); c30.addProduct(a3, b0); c31.addProduct(a3, b1)
            let a4 = Vec(repeating: ap[4]); c40.addProduct(a4, b0); c41.addProduct(a4, b1)
            let a5 = Vec(repeating: ap[5]); c50.addProduct(a5, b0); c51.addProduct(a5, b1)
            let a6 = Vec(repeating: ap[6]); c60.addProduct(a6, b0); c61.addProduct(a6, b1)
            let a7 = Vec(repeating: ap[7]); c70.addProduct(a7, b0); c71.addProduct(a7, b1)
            ap += 8; bp += 32
        }
        store(c00, c01, c + 0 * ldc, accumulate)
        store(c10, c11, c + 1 * ldc, accumulate)
        store(c20, c21, c + 2 * ldc, accumulate)
        store(c30, c31, c + 3 * ldc, accumulate)
        store(c40, c41, c + 4 * ldc, accumulate)
        store(c50, c51, c + 5 * ldc, accumulate)
        store(c60, c61, c + 6 * ldc, accumulate)
        store(c70, c71, c + 7 * ldc, accumulate)
    }
#else
    /// 6×16 tile: C[0..<6, 0..<16] (+)= Ap[6×kc] · Bp[kc×16] (both packed k-major). Hot.
    @inline(__always)
    static func micro(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool) {
        var c00 = Vec(), c01 = Vec()
        var c10 = Vec(), c11 = Vec()
        var c20 = Vec(), c21 = Vec()
        var c30 = Vec(), c31 = Vec()
        var c40 = Vec(), c41 = Vec()
        var c50 = Vec(), c51 = Vec()
        var ap = a, bp = b
        for _ in 0..<kc {
            let b0 = UnsafeRawPointer(bp).loadUnaligned(as: Vec.self), b1 = UnsafeRawPointer(bp + 8).loadUnaligned(as: Vec.self)
            let a0 = Vec(repeating: ap[0]); c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            let a1 = Vec(repeating: ap[1]); c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            let a2 = Vec(repeating: ap[2]); c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            let a3 = Vec(repeating: ap[3]); c30.addProduct(a3, b0); c31.addProduct(a3, b1)
            let a4 = Vec(repeating: ap[4]); c40.addProduct(a4, b0); c41.addProduct(a4, b1)
            let a5 = Vec(repeating: ap[5]); c50.addProduct(a5, b0); c51.addProduct(a5, b1)
            ap += 6; bp += 16
        }
        store(c00, c01, c + 0 * ldc, accumulate)
        store(c10, c11, c + 1 * ldc, accumulate)
        store(c20, c21, c + 2 * ldc, accumulate)
        store(c30, c31, c + 3 * ldc, accumulate)
        store(c40, c41, c + 4 * ldc, accumulate)
        store(c50, c51, c + 5 * ldc, accumulate)
    }
#endif
}
#endif
