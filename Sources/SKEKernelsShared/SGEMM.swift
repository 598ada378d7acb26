// Packed single-precision GEMM for training and prefill (BLIS-style): C[M, N] = β·C + op(A)[M, K] · op(B)[K, N],
// with op = identity or transpose given by strides, so the linear layer's forward (Y = X·Wᵀ) and both backward
// products (dX = dY·W, dW = dYᵀ·X) run without materialising a transpose. For inference B may also be a
// quantized weight matrix read through a `RowLoader`: each NR×KC piece is dequantized into a staging tile and
// transposed in registers while packing (no f32 copy of W).
// Written once, compiled twice (symlinked into SKEKernelsAVX2 and SKEKernelsAVX512): the AVX-512 build uses
// SIMD16<Float> and an 8×32 register tile, the AVX2 build SIMD8<Float> and a 6×16 tile.
//
// Blocking: B is packed in KC×NC slabs (NR-wide panels, shared by all threads), A in MC×KC blocks (MR-tall
// panels, one block per thread at a time), then the microkernel runs over every MR×NR tile.
// Buffers come from the caller (`SGEMM.workspaceFloats(threads:)` floats); nothing is allocated here.
// Not done: prefetch hints, edge tiles in registers (they go through a small stack tile).
#if arch(x86_64)
import SKECore
import Synchronization

#if SKE_VNNI
typealias Vec = SIMD16<Float>
typealias Vec2 = SIMD32<Float>
typealias HalfVec = SIMD16<Float16>
typealias IntVec = SIMD16<Int32>
#else
typealias Vec = SIMD8<Float>
typealias Vec2 = SIMD16<Float>
typealias HalfVec = SIMD8<Float16>
typealias IntVec = SIMD8<Int32>
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

    /// Floats of workspace `gemm` needs for `threads` threads: the shared B slab, then per thread an A block,
    /// an edge tile and an NR×KC staging tile for row-loaded B.
    public static func workspaceFloats(threads: Int) -> Int { KC * NC + threads * perThreadFloats }
    static let perThreadFloats = MC * KC + MR * NR + NR * KC

    /// B = Wᵀ for a weight matrix W[N, K] whose rows are produced on demand: `load(j, k0, count, dst)` writes
    /// W[j, k0..<k0+count] as f32 into dst. Calls come with k0 a multiple of KC (256) and count = min(KC, K − k0),
    /// so a loader that dequantizes whole blocks of 32 or 256 values is never asked for part of a block when K
    /// is a multiple of its block size.
    public typealias RowLoader = (_ row: Int, _ k0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>) -> Void

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
        run(m: m, n: n, k: k, a: a, c: c, ldc: ldc, accumulate: accumulate, workspace: workspace, pool: pool) { row0, col0, kc, nr, p, _ in
            packB(b, row0: row0, col0: col0, kc: kc, nr: nr, into: p)
        }
    }

    /// C[M, N] = (accumulate ? C : 0) + A[M, K]·W[N, K]ᵀ with W's rows from `rows` (for quantized weights:
    /// each NR×KC piece is dequantized into an L1-resident staging tile and transposed into the packed panel,
    /// so no f32 copy of W is ever made).
    public static func gemm(m: Int, n: Int, k: Int, a: Operand, rows: RowLoader, c: UnsafeMutablePointer<Float>, ldc: Int,
                            accumulate: Bool, workspace: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        run(m: m, n: n, k: k, a: a, c: c, ldc: ldc, accumulate: accumulate, workspace: workspace, pool: pool) { row0, col0, kc, nr, p, staging in
            packRows(rows, k0: row0, row0: col0, kc: kc, nr: nr, staging: staging, into: p)
        }
    }

    /// The blocked loop, with B's packing (B[row0..<row0+kc, col0..<col0+nr] → NR-wide k-major panel) supplied.
    static func run(m: Int, n: Int, k: Int, a: Operand, c: UnsafeMutablePointer<Float>, ldc: Int,
                    accumulate: Bool, workspace: UnsafeMutablePointer<Float>, pool: ThreadPool,
                    packB: (_ row0: Int, _ col0: Int, _ kc: Int, _ nr: Int, _ into: UnsafeMutablePointer<Float>, _ staging: UnsafeMutablePointer<Float>) -> Void) {
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
                // Pairs of panels and the work items are claimed (ThreadPool.forEachClaimed), not dealt in fixed shares:
                // on a VM one vCPU often runs slower for a while, and with fixed shares the other waited for it at the
                // end of every region (~18% of a 2-thread prefill's samples). Each panel and tile is computed by one
                // thread whatever its number: the same result.
                let packTicket = Atomic<Int>(0)
                pool.run { t, threads in
                    let staging = workspace + KC * NC + t * perThreadFloats + MC * KC + MR * NR
                    ThreadPool.forEachClaimed((panels + 1) / 2, thread: t, of: threads, ticket: packTicket) { claim in
                        for jp in (2 * claim)..<min(panels, 2 * claim + 2) {
                            packB(pc, jc + jp * NR, kc, min(NR, nc - jp * NR), bPack + jp * kc * NR, staging)
                        }
                    }
                }
                // Work items are (M block, run of N panels) pairs, so two threads are busy even when M has few blocks;
                // a thread re-packs A only when its M block changes.
                let mBlocks = (m + MC - 1) / MC
                let chunksPerBlock = max(1, min(panels, (8 * pool.threadCount + mBlocks - 1) / mBlocks))
                let panelsPerChunk = (panels + chunksPerBlock - 1) / chunksPerBlock
                let items = mBlocks * chunksPerBlock
                let itemTicket = Atomic<Int>(0)
                pool.run { t, threads in
                    let aPack = workspace + KC * NC + t * perThreadFloats
                    let tile = aPack + MC * KC
                    var packed = -1
                    ThreadPool.forEachClaimed(items, thread: t, of: threads, ticket: itemTicket) { item in
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
        if b.rowStride == 1 {
            // Bᵀ stored row-major (a weight matrix W[N, K] read as B = Wᵀ): walk each column of B, which is
            // contiguous, and scatter it with stride NR into the (L1-resident) packed panel.
            for j in 0..<NR {
                if j < nr {
                    let src = base + row0 + (col0 + j) * b.colStride
                    for kk in 0..<kc { p[kk * NR + j] = src[kk] }
                } else {
                    for kk in 0..<kc { p[kk * NR + j] = 0 }
                }
            }
            return
        }
        for kk in 0..<kc {
            let src = base + (row0 + kk) * b.rowStride + col0 * b.colStride
            if b.colStride == 1 && nr == NR {
                (p + kk * NR).update(from: src, count: NR)
            } else {
                for j in 0..<NR { p[kk * NR + j] = j < nr ? src[j * b.colStride] : 0 }
            }
        }
    }

    /// Packs rows row0..<row0+nr of W (columns k0..<k0+kc) as B = Wᵀ: each row is loaded into the staging
    /// tile [NR, kc], then V×V tiles (V = Vec.scalarCount) are transposed in registers into the panel.
    static func packRows(_ load: RowLoader, k0: Int, row0: Int, kc: Int, nr: Int, staging: UnsafeMutablePointer<Float>,
                         into p: UnsafeMutablePointer<Float>) {
        for j in 0..<NR {
            if j < nr { load(row0 + j, k0, kc, staging + j * kc) } else { (staging + j * kc).update(repeating: 0, count: kc) }
        }
        let v = Vec.scalarCount
        guard kc % v == 0 else {
            for j in 0..<NR { for kk in 0..<kc { p[kk * NR + j] = staging[j * kc + kk] } }
            return
        }
        for g in 0..<(NR / v) {
            for t in 0..<(kc / v) { transposeTile(staging + g * v * kc + t * v, kc, p + t * v * NR + g * v, NR) }
        }
    }

    /// dst[c, r] = src[r, c] for a V×V tile (row strides in floats): log2 V rounds of `unzipRound`, after
    /// which row j holds column j. Registers only (a temporary buffer of 2V vectors went to the heap).
    @inline(__always)
    static func transposeTile(_ src: UnsafePointer<Float>, _ ls: Int, _ dst: UnsafeMutablePointer<Float>, _ ld: Int) {
        @inline(__always) func row(_ r: Int) -> Vec { UnsafeRawPointer(src + r * ls).loadUnaligned(as: Vec.self) }
        @inline(__always) func put(_ r: Int, _ x: Vec) { UnsafeMutableRawPointer(dst + r * ld).storeBytes(of: x, as: Vec.self) }
#if SKE_VNNI
        var t: Tile = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7),
                       row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15))
        t = unzipRound(unzipRound(unzipRound(unzipRound(t))))
        put(0, t.0); put(1, t.1); put(2, t.2); put(3, t.3); put(4, t.4); put(5, t.5); put(6, t.6); put(7, t.7)
        put(8, t.8); put(9, t.9); put(10, t.10); put(11, t.11); put(12, t.12); put(13, t.13); put(14, t.14); put(15, t.15)
#else
        var t: Tile = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
        t = unzipRound(unzipRound(unzipRound(t)))
        put(0, t.0); put(1, t.1); put(2, t.2); put(3, t.3); put(4, t.4); put(5, t.5); put(6, t.6); put(7, t.7)
#endif
    }

#if SKE_VNNI
    typealias Tile = (Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec)

    /// One round: row m ← even elements of rows 2m, 2m+1 (concatenated); row m + V/2 ← their odd elements.
    @inline(__always) static func unzipRound(_ x: Tile) -> Tile {
        let p0 = Vec2(lowHalf: x.0, highHalf: x.1)
        let p1 = Vec2(lowHalf: x.2, highHalf: x.3)
        let p2 = Vec2(lowHalf: x.4, highHalf: x.5)
        let p3 = Vec2(lowHalf: x.6, highHalf: x.7)
        let p4 = Vec2(lowHalf: x.8, highHalf: x.9)
        let p5 = Vec2(lowHalf: x.10, highHalf: x.11)
        let p6 = Vec2(lowHalf: x.12, highHalf: x.13)
        let p7 = Vec2(lowHalf: x.14, highHalf: x.15)
        return (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf, p4.evenHalf, p5.evenHalf, p6.evenHalf, p7.evenHalf,
                p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf, p4.oddHalf, p5.oddHalf, p6.oddHalf, p7.oddHalf)
    }
#else
    typealias Tile = (Vec, Vec, Vec, Vec, Vec, Vec, Vec, Vec)

    /// One round: row m ← even elements of rows 2m, 2m+1 (concatenated); row m + V/2 ← their odd elements.
    @inline(__always) static func unzipRound(_ x: Tile) -> Tile {
        let p0 = Vec2(lowHalf: x.0, highHalf: x.1)
        let p1 = Vec2(lowHalf: x.2, highHalf: x.3)
        let p2 = Vec2(lowHalf: x.4, highHalf: x.5)
        let p3 = Vec2(lowHalf: x.6, highHalf: x.7)
        return (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf,
                p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf)
    }
#endif

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
