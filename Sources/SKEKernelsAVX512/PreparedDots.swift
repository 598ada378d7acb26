// 512-bit dot kernels over a *prepared* activation row (AVX-512 level only).
//
// Activations are quantized once per token to the standard block format (Q8_0 / Q8_1) and then prepared
// once more into a sidecar laid out for 512-bit registers, so that every weight row's dot product does
// only weight-side work: two blocks per instruction, no sign tricks (the −8/−16/−128 offsets of the
// unsigned weight codes are folded into precomputed per-lane activation sums, used as vpdpbusd's
// accumulator input), and the activation scales already broadcast.
//
// Sidecar, per pair of blocks p (blocks 2p and 2p+1; an odd last block is handled by the 256-bit kernel):
//   Q8_0 (192 B): q[64] int8 | da[16] f32 (d₂ₚ×8, d₂ₚ₊₁×8) | s8: [16] int32, −8·Σ of each lane's 4 values
//   Q8_1 (192 B): q[64] int8 | da[16] f32 | sa[16] f32 (s₂ₚ/8 ×8, s₂ₚ₊₁/8 ×8: the block sum term spread over lanes)
// After the k/64 pair records, one quad record per four blocks 4u…4u+3 (256 B). Q8_1 (Q4_1's kernels):
//   lo[64] int8 (values 0–15 of each block) | hi[64] int8 (values 16–31) | da[16] f32 (d of each block ×4) |
//   da[4] f32 (d of each block) | s[4] f32 (each block's s = d·Σa) | padding
// and likewise for Q8_0 (Q4_0's, Q5_0's and Q8_0's kernels, 320 B): lo | hi | da | −8·Σ of each int32 lane's eight values
// [16] int32 | −16·Σ of each block's 32 values [4] int32 | d of each block [4] f32 | padding.
// Contract: `a` is the standard activation row; its sidecar starts at a + sidecarOffset(row bytes).
// Results equal the reference within 1e-6·Σ|w·a| (integer block sums are exact).
#if arch(x86_64)
import _Builtin_intrinsics.intel
import SKECore

public enum PreparedDots {
    public static let q8_0PairBytes = 192
    public static let q8_0QuadBytes = 320
    public static let q8_1PairBytes = 192
    public static let q8_1QuadBytes = 256

    /// Where the sidecar starts after `rowBytes` of standard blocks (64-byte aligned).
    @inline(__always) public static func sidecarOffset(_ rowBytes: Int) -> Int { (rowBytes + 63) & ~63 }

    public static func sidecarBytes(activation: GGMLType, k: Int) -> Int {
        let pairs = k / 64
        switch activation {
        case .q8_1: return pairs * q8_1PairBytes + k / 128 * q8_1QuadBytes
        case .q8_K: return k / 256 * q8_KBlockBytes
        default: return pairs * q8_0PairBytes + k / 128 * q8_0QuadBytes
        }
    }

    /// Builds the Q8_0 sidecar from k/32 standard Q8_0 blocks.
    public static func prepareQ8_0(_ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutableRawPointer) {
        for p in 0..<(k / 64) {
            let rec = out + p * q8_0PairBytes
            for half in 0..<2 {
                let blk = a + (2 * p + half) * 34
                (rec + 32 * half).copyMemory(from: blk + 2, byteCount: 32)
                let d = Float(Float16(bitPattern: blk.loadUnaligned(as: UInt16.self)))
                for l in 0..<8 { rec.storeBytes(of: d, toByteOffset: 64 + 4 * (8 * half + l), as: Float.self) }
            }
            for lane in 0..<16 {
                var s: Int32 = 0
                for j in 0..<4 { s += Int32(rec.load(fromByteOffset: 4 * lane + j, as: Int8.self)) }
                rec.storeBytes(of: -8 * s, toByteOffset: 128 + 4 * lane, as: Int32.self)
            }
        }
        prepareQuads(a, k, block: 34, codes: 2, record: q8_0QuadBytes, out + k / 64 * q8_0PairBytes) { rec, j, blk in
            var total: Int32 = 0
            for l in 4 * j..<(4 * j + 4) {
                var s: Int32 = 0
                for b in 0..<4 { s += Int32(rec.load(fromByteOffset: 4 * l + b, as: Int8.self)) + Int32(rec.load(fromByteOffset: 64 + 4 * l + b, as: Int8.self)) }
                rec.storeBytes(of: -8 * s, toByteOffset: 192 + 4 * l, as: Int32.self)
                total += s
            }
            rec.storeBytes(of: -16 * total, toByteOffset: 256 + 4 * j, as: Int32.self)
            rec.storeBytes(of: Float(Float16(bitPattern: blk.loadUnaligned(as: UInt16.self))), toByteOffset: 272 + 4 * j, as: Float.self)
        }
    }

    /// Builds the Q8_1 sidecar from k/32 standard Q8_1 blocks.
    public static func prepareQ8_1(_ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutableRawPointer) {
        for p in 0..<(k / 64) {
            let rec = out + p * q8_1PairBytes
            for half in 0..<2 {
                let blk = a + (2 * p + half) * 36
                (rec + 32 * half).copyMemory(from: blk + 4, byteCount: 32)
                let d = Float(Float16(bitPattern: blk.loadUnaligned(as: UInt16.self)))
                let s = Float(Float16(bitPattern: blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))) / 8
                for l in 0..<8 {
                    rec.storeBytes(of: d, toByteOffset: 64 + 4 * (8 * half + l), as: Float.self)
                    rec.storeBytes(of: s, toByteOffset: 128 + 4 * (8 * half + l), as: Float.self)
                }
            }
        }
        prepareQuads(a, k, block: 36, codes: 4, record: q8_1QuadBytes, out + k / 64 * q8_1PairBytes) { rec, j, blk in
            rec.storeBytes(of: h16(blk, 0), toByteOffset: 192 + 4 * j, as: Float.self)
            rec.storeBytes(of: h16(blk, 2), toByteOffset: 208 + 4 * j, as: Float.self)
        }
    }

    /// The quad records (`record` bytes per four blocks) of a Q8_0 / Q8_1 row whose blocks are `block` bytes with their
    /// 32 codes at `codes`: lo (values 0–15 of each block), hi (16–31), da (d ×4 per block); `extra` writes the rest of
    /// block j.
    static func prepareQuads(_ a: UnsafeRawPointer, _ k: Int, block: Int, codes: Int, record: Int, _ out: UnsafeMutableRawPointer,
                             extra: (UnsafeMutableRawPointer, Int, UnsafeRawPointer) -> Void) {
        for u in 0..<(k / 128) {
            let rec = out + u * record
            rec.initializeMemory(as: UInt8.self, repeating: 0, count: record)
            for j in 0..<4 {
                let blk = a + (4 * u + j) * block
                (rec + 16 * j).copyMemory(from: blk + codes, byteCount: 16)
                (rec + 64 + 16 * j).copyMemory(from: blk + codes + 16, byteCount: 16)
                let d = Float(Float16(bitPattern: blk.loadUnaligned(as: UInt16.self)))
                for l in 0..<4 { rec.storeBytes(of: d, toByteOffset: 128 + 4 * (4 * j + l), as: Float.self) }
                extra(rec, j, blk)
            }
        }
    }

    @inline(__always) static func ld512(_ p: UnsafeRawPointer) -> __m512i { _mm512_loadu_si512(p) }

    /// 32 int16 lanes, four equal lanes per 64-bit element: lanes 4e…4e+3 = e-th argument (e = 0 lowest). Index and
    /// shift-count vectors are built this way, from constants (a constant load): lane arithmetic on a SIMD32<Int16>
    /// literal compiled to a scalarized loop per call, and a lazily built global table would allocate on first use.
    @inline(__always) static func words(_ e0: Int64, _ e1: Int64, _ e2: Int64, _ e3: Int64,
                                        _ e4: Int64, _ e5: Int64, _ e6: Int64, _ e7: Int64) -> __m512i {
        let r: Int64 = 0x0001_0001_0001_0001
        return _mm512_set_epi64(e7 &* r, e6 &* r, e5 &* r, e4 &* r, e3 &* r, e2 &* r, e1 &* r, e0 &* r)
    }

    /// `words` with `lo` in the low 256 bits and `hi` in the high 256 bits.
    @inline(__always) static func halves(_ lo: Int64, _ hi: Int64) -> __m512i { words(lo, lo, lo, lo, hi, hi, hi, hi) }
    @inline(__always) static func ld128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
    @inline(__always) static func ld256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

    /// [qs₀ low nibbles, qs₀ high, qs₁ low, qs₁ high]: elements 0–31 of block 0 then of block 1.
    @inline(__always) static func nibbles64(_ q0: UnsafeRawPointer, _ q1: UnsafeRawPointer) -> __m512i {
        let v = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(ld128(q0)), 0xFF00, ld128(q1))
        let shifts = words(0, 0, 4, 4, 0, 0, 4, 4)
        return _mm512_and_si512(_mm512_srlv_epi16(v, shifts), _mm512_set1_epi8(0x0F))
    }

    /// Two f16 at p0 and p1 → [f(p0) ×8, f(p1) ×8]. (Loads 4 bytes at each: the f16 and the two bytes after it,
    /// which the permutation drops: two 32-bit loads into one register instead of assembling two 16-bit loads.)
    @inline(__always) static func pairScale(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer) -> __m512 {
        _mm512_permutexvar_ps(_mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), pairHalves(p0, p1))
    }

    /// The two f16 at p and p + 2, for p0 and p1 → [a0, b0, a1, b1] as f32 lanes 0–3 of a 512-bit register.
    @inline(__always) static func pairHalves(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer) -> __m512 {
        let v = _mm_set_epi32(0, 0, p1.loadUnaligned(as: Int32.self), p0.loadUnaligned(as: Int32.self))
        return _mm512_castps128_ps512(_mm_cvtph_ps(v))
    }

    /// The (d, m) f16 pairs heading two Q4_1/Q5_1 blocks → ([d0 ×8, d1 ×8], [m0 ×8, m1 ×8]).
    @inline(__always) static func pairScaleMin(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer) -> (d: __m512, m: __m512) {
        let h = pairHalves(p0, p1)
        return (_mm512_permutexvar_ps(_mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), h),
                _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), h))
    }

    // MARK: small-block types (Q4_0 with Q8_0 activations; Q5_1 with Q8_1)
    //
    // Each type is one `pair` step (acc + the contribution of blocks 2p and 2p+1). The one-row dot runs it along a
    // row; the four-row dot (decode) runs it along four weight rows against the same activation row, interleaved:
    // four independent accumulator chains hide the FMA latency that bounds a single short row (Q4_1: two
    // dependent FMAs per 40 bytes), and each row's arithmetic is the same sequence, so the results are identical.

    protocol PairedBlocks {
        /// Blocks 2p and 2p+1 unpacked: what a pair step reads from the weights alone.
        associatedtype Codes
        /// Bytes of one weight block and of one standard activation block (32 values each).
        static var weightBlock: Int { get }
        static var activationBlock: Int { get }
        static var sidecarPair: Int { get }
        /// Blocks (x0, x0 + weightBlock) unpacked.
        static func unpack(_ x0: UnsafeRawPointer) -> Codes
        /// acc + the unpacked pair · the sidecar pair at s.
        static func step(_ c: Codes, _ s: UnsafeRawPointer, _ acc: __m512) -> __m512
        /// An odd last block, with the 256-bit kernel.
        static func last(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer) -> Float
    }

    /// Where a four-row kernel's prefetch stream starts. The four rows are read side by side, so "4 KiB ahead of
    /// each row" lands inside rows being read now and never covers the next four rows' first bytes. Instead the
    /// group's 4·rowBytes are treated as one stream consumed at 4× the in-row offset: iteration at offset o
    /// prefetches ahead + 4·o, ahead being at least the next group and at least twice the one-row distance (8 KiB:
    /// with short rows a group is only ~300 ns of reading; 4 KiB measured ~6% slower on Q6_K rows of 1024).
    @inline(__always) static func fourRowPrefetchBase(_ w: UnsafeRawPointer, _ rowBytes: Int) -> UnsafeRawPointer {
        w + Swift.max(4 &* rowBytes, 2 &* weightPrefetchDistance)
    }

    /// Prefetches the cache lines of [p, p + bytes).
    @inline(__always) static func prefetchSpan(_ p: UnsafeRawPointer, _ bytes: Int) {
        var l = 0
        while l < bytes { prefetch(p + l); l &+= 64 }
    }

    /// Prefetches the cache lines of [p, p + bytes) into L2 only.
    @inline(__always) static func prefetchSpanL2(_ p: UnsafeRawPointer, _ bytes: Int) {
        var l = 0
        while l < bytes { llvmPrefetch(p + l, 0, 2, 1); l &+= 64 }
    }

    /// A decode kernel's two prefetch streams over its weights (a four-row kernel's group read as one stream, see
    /// fourRowPrefetchBase): into L1 `near` bytes ahead, and into L2 only, 8 KiB further. One core's reads were
    /// bounded by how many lines it can have in flight to L1 (its fill buffers): the L2 stream puts more of the read
    /// ahead in flight through L2's own queue. Qwen3-shaped Q4_K_M decode, 1 thread: 28 → 31–33 tokens/s; the
    /// bandwidth probe reads with the same two streams (see MemoryProbe).
    struct Prefetch {
        static let farExtra = 8192
        let near: UnsafeRawPointer
        /// For a four-row kernel over rows rowBytes apart from w.
        @inline(__always) init(fourRows w: UnsafeRawPointer, _ rowBytes: Int) { near = fourRowPrefetchBase(w, rowBytes) }
        /// For a kernel reading one contiguous stream from w.
        @inline(__always) init(stream w: UnsafeRawPointer) { near = w + 2 &* weightPrefetchDistance }
        /// The lines [o, o + bytes) of the stream, ahead.
        @inline(__always) func callAsFunction(_ o: Int, _ bytes: Int) {
            prefetchSpan(near + o, bytes)
            prefetchSpanL2(near + Prefetch.farExtra + o, bytes)
        }
    }

    @inline(__always) static func dotPaired<B: PairedBlocks>(_: B.Type, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let nb = k / 32, side = a + sidecarOffset(nb * B.activationBlock)
        var acc = _mm512_setzero_ps()
        for p in 0..<(nb / 2) {
            let x = w + 2 &* B.weightBlock &* p
            prefetch(x + weightPrefetchDistance)
            acc = B.pair(x, side + B.sidecarPair &* p, acc)
        }
        var total = _mm512_reduce_add_ps(acc)
        if nb % 2 == 1 { total += B.last(w + B.weightBlock * (nb - 1), a + B.activationBlock * (nb - 1)) }
        return total
    }

    /// out[i] = dotPaired(w + i·rowBytes, a, k) for i in 0..<4, bit for bit.
    @inline(__always) static func dotPaired4Rows<B: PairedBlocks>(_: B.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int,
                                                                  _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 32, side = a + sidecarOffset(nb * B.activationBlock)
        let w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
        var acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps()
        let ahead = Prefetch(fourRows: w, rowBytes)
        for p in 0..<(nb / 2) {
            let o = 2 &* B.weightBlock &* p, s = side + B.sidecarPair &* p
            ahead(4 &* o, 8 * B.weightBlock)
            acc0 = B.pair(w + o, s, acc0); acc1 = B.pair(w1 + o, s, acc1)
            acc2 = B.pair(w2 + o, s, acc2); acc3 = B.pair(w3 + o, s, acc3)
        }
        out[0] = _mm512_reduce_add_ps(acc0); out[1] = _mm512_reduce_add_ps(acc1)
        out[2] = _mm512_reduce_add_ps(acc2); out[3] = _mm512_reduce_add_ps(acc3)
        if nb % 2 == 1 {
            let o = B.weightBlock * (nb - 1), la = a + B.activationBlock * (nb - 1)
            out[0] += B.last(w + o, la); out[1] += B.last(w1 + o, la)
            out[2] += B.last(w2 + o, la); out[3] += B.last(w3 + o, la)
        }
    }

    /// out[i·outStride] = dotPaired(w, a + i·stride, k) for i in 0..<4, bit for bit (prefill): each pair of blocks
    /// unpacked once for the four tokens, each token's sums the one-row dot's sequence.
    @inline(__always) static func dotPaired4<B: PairedBlocks>(_: B.Type, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int,
                                                              _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        let nb = k / 32, side = a + sidecarOffset(nb * B.activationBlock)
        var acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps()
        for p in 0..<(nb / 2) {
            let c = B.unpack(w + 2 &* B.weightBlock &* p), s = side + B.sidecarPair &* p
            acc0 = B.step(c, s, acc0); acc1 = B.step(c, s + stride, acc1)
            acc2 = B.step(c, s + 2 &* stride, acc2); acc3 = B.step(c, s + 3 &* stride, acc3)
        }
        @inline(__always) func finish(_ acc: __m512, _ i: Int) {
            var total = _mm512_reduce_add_ps(acc)
            if nb % 2 == 1 { total += B.last(w + B.weightBlock * (nb - 1), a + i * stride + B.activationBlock * (nb - 1)) }
            out[i &* outStride] = total
        }
        finish(acc0, 0); finish(acc1, 1); finish(acc2, 2); finish(acc3, 3)
    }

    enum Q4_0Pair: PairedBlocks {
        static var weightBlock: Int { 18 }
        static var activationBlock: Int { 34 }
        static var sidecarPair: Int { q8_0PairBytes }
        @inline(__always) static func unpack(_ x0: UnsafeRawPointer) -> (q: __m512i, d: __m512) {
            (nibbles64(x0 + 2, x0 + 20), pairScale(x0, x0 + 18))
        }
        @inline(__always) static func step(_ c: (q: __m512i, d: __m512), _ s: UnsafeRawPointer, _ acc: __m512) -> __m512 {
            let prod = _mm512_dpbusd_epi32(ld512(s + 128), c.q, ld512(s))
            return _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(prod), _mm512_loadu_ps(s + 64)), c.d, acc)
        }
        @inline(__always) static func last(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer) -> Float { SIMDDots.dotQ4_0(w, a, 32) }
    }

    enum Q5_1Pair: PairedBlocks {
        static var weightBlock: Int { 24 }
        static var activationBlock: Int { 36 }
        static var sidecarPair: Int { q8_1PairBytes }
        @inline(__always) static func unpack(_ x0: UnsafeRawPointer) -> (q: __m512i, d: __m512, m: __m512) {
            let x1 = x0 + 24
            let hbits = UInt64(x0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) | UInt64(x1.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) << 32
            let q = _mm512_or_si512(nibbles64(x0 + 8, x1 + 8), _mm512_and_si512(_mm512_movm_epi8(hbits), _mm512_set1_epi8(0x10)))
            let (d, m) = pairScaleMin(x0, x1)
            return (q, d, m)
        }
        @inline(__always) static func step(_ c: (q: __m512i, d: __m512, m: __m512), _ s: UnsafeRawPointer, _ acc: __m512) -> __m512 {
            let prod = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c.q, ld512(s))
            let acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(prod), _mm512_loadu_ps(s + 64)), c.d, acc)
            return _mm512_fmadd_ps(c.m, _mm512_loadu_ps(s + 128), acc)
        }
        @inline(__always) static func last(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer) -> Float { SIMDDots.dotQ5_1(w, a, 32) }
    }

    // MARK: Q4_0, four blocks per step
    //
    // Four blocks are 72 contiguous bytes. A 64-byte load at x (and one at x + 8) holds all four headers and all four
    // 16-byte code runs: one vpermt2w gathers the codes,
    // one vpermw the header halves, one conversion makes them floats. About 14 vector uops per four blocks where the
    // pair step spent 12–13 per two (most of them spreading two blocks' headers over lanes). The sidecar's quad
    // record matches: the low and high nibbles of the four blocks meet lo and hi; int32 lanes 4j…4j+3 belong to
    // block j. Rows whose block count is not a multiple of four finish with one pair step and/or the 256-bit last block.

    /// Four int16 lane values packed into one 64-bit element (lowest first), for index vectors built from constants.
    @inline(__always) static func w4(_ a: Int64, _ b: Int64, _ c: Int64, _ d: Int64) -> Int64 { a | b << 16 | c << 32 | d << 48 }

    protocol QuadBlocks {
        associatedtype Pair: PairedBlocks
        /// Bytes of one quad record in the sidecar (the quad records follow the row's pair records).
        static var quadRecord: Int { get }
        init()
        /// acc += blocks x…x+3 · the quad record at s, lane by lane.
        func step(_ x: UnsafeRawPointer, _ s: UnsafeRawPointer, _ acc: inout __m512)
    }

    /// vpermps: [h₀ ×4, h₁ ×4, h₂ ×4, h₃ ×4].
    @inline(__always) static func spreadFour(_ h: __m256) -> __m512 {
        _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), _mm512_castps256_ps512(h))
    }

    /// Σ over the four blocks' 128 codes (u8, from the gathered q) · lo/hi at s, on top of `start`: lanes 4j…4j+3 = block j.
    @inline(__always) static func quadProducts(_ q: __m512i, _ s: UnsafeRawPointer, _ start: __m512i) -> __m512i {
        let low = _mm512_set1_epi8(0x0F)
        let p = _mm512_dpbusd_epi32(start, _mm512_and_si512(q, low), ld512(s))
        return _mm512_dpbusd_epi32(p, _mm512_and_si512(_mm512_srli_epi16(q, 4), low), ld512(s + 64))
    }

    /// Q4_0 × Q8_0, reading the quad record's lo | hi | da (d ×4 per block) | −8·Σ of each lane's 8 values (see the top).
    struct Q4_0Quad: QuadBlocks {
        typealias Pair = Q4_0Pair
        static var quadRecord: Int { q8_0QuadBytes }
        /// vpermt2w: output words 8j…8j+7 = block j's codes (words 1, 10, 19 of the load at x; 24 of the load at x + 8).
        let codes = _mm512_set_epi64(w4(60, 61, 62, 63), w4(56, 57, 58, 59), w4(23, 24, 25, 26), w4(19, 20, 21, 22),
                                     w4(14, 15, 16, 17), w4(10, 11, 12, 13), w4(5, 6, 7, 8), w4(1, 2, 3, 4))
        /// vpermw: words 0–3 = d₀, d₁, d₂, d₃.
        let headers = _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, w4(0, 9, 18, 27))

        @inline(__always) func step(_ x: UnsafeRawPointer, _ s: UnsafeRawPointer, _ acc: inout __m512) {
            let a = ld512(x), p = quadProducts(_mm512_permutex2var_epi16(a, codes, ld512(x + 8)), s, ld512(s + 192))
            let d = spreadFour(_mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(headers, a))))
            acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(s + 128)), d, acc)
        }
    }

    /// The first pair record and the first quad record of a row's sidecar.
    @inline(__always) static func quadSidecar<Q: QuadBlocks>(_: Q.Type, _ a: UnsafeRawPointer, _ nb: Int) -> (pairs: UnsafeRawPointer, quads: UnsafeRawPointer) {
        let side = a + sidecarOffset(nb * Q.Pair.activationBlock)
        return (side, side + nb / 2 * Q.Pair.sidecarPair)
    }

    /// What a row's quad steps leave: one pair step (blocks 4⌊nb/4⌋, +1 when nb mod 4 ≥ 2), the reductions, the odd block.
    @inline(__always) static func quadFinish<Q: QuadBlocks>(_: Q.Type, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ pairs: UnsafeRawPointer,
                                                            _ nb: Int, _ acc: __m512) -> Float {
        let wb = Q.Pair.weightBlock, ab = Q.Pair.activationBlock
        var acc = acc
        if nb % 4 >= 2 { acc = Q.Pair.pair(w + 4 * wb * (nb / 4), pairs + Q.Pair.sidecarPair * (nb / 4 * 2), acc) }
        var total = _mm512_reduce_add_ps(acc)
        if nb % 2 == 1 { total += Q.Pair.last(w + wb * (nb - 1), a + ab * (nb - 1)) }
        return total
    }

    @inline(__always) static func dotQuad<Q: QuadBlocks>(_: Q.Type, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let nb = k / 32, (pairs, quads) = quadSidecar(Q.self, a, nb), q = Q(), step = 4 * Q.Pair.weightBlock
        var acc = _mm512_setzero_ps()
        for u in 0..<(nb / 4) {
            let x = w + step &* u
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64)
            q.step(x, quads + Q.quadRecord &* u, &acc)
        }
        return quadFinish(Q.self, w, a, pairs, nb, acc)
    }

    /// out[i] = dotQuad(w + i·rowBytes, a, k) for i in 0..<4, bit for bit.
    @inline(__always) static func dotQuad4Rows<Q: QuadBlocks>(_: Q.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int,
                                                              _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 32, (pairs, quads) = quadSidecar(Q.self, a, nb), q = Q(), step = 4 * Q.Pair.weightBlock
        let w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
        var acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps()
        let ahead = Prefetch(fourRows: w, rowBytes)
        for u in 0..<(nb / 4) {
            let o = step &* u, s = quads + Q.quadRecord &* u
            ahead(4 &* o, 4 * step)
            q.step(w + o, s, &acc0); q.step(w1 + o, s, &acc1)
            q.step(w2 + o, s, &acc2); q.step(w3 + o, s, &acc3)
        }
        out[0] = quadFinish(Q.self, w, a, pairs, nb, acc0); out[1] = quadFinish(Q.self, w1, a, pairs, nb, acc1)
        out[2] = quadFinish(Q.self, w2, a, pairs, nb, acc2); out[3] = quadFinish(Q.self, w3, a, pairs, nb, acc3)
    }

    // MARK: Q5_0, four blocks per step: one arithmetic with the interleaved kernel
    //
    // Every Q5_0 kernel — one row, four rows, four interleaved rows (InterleavedDots.swift) — computes a row the same
    // way, so the repacked copy changes no result: per block b the exact integer I_b = Σ q·a − 16·Σa (q the unsigned
    // five-bit code, a the Q8_0 activations), and lane b mod 4 of four float sums takes fma(Float(I_b), d_b·da_b); the
    // row is (l₀ + l₁) + (l₂ + l₃). Four blocks are 88 contiguous bytes (the loads at x and x + 24 hold them): one
    // vpermt2w gathers their 64 code bytes (block j at bytes 16j…16j+15), one their headers (d, and the low and high
    // halves of the qh words: the k-masks that add 16 to the low and the high nibbles). Blocks past the last four
    // (nb mod 4) are summed one by one with the same operations.

    struct Q5_0Quad: QuadArithmetic {
        static var quadBytes: Int { 88 }
        static var activationBlock: Int { 34 }
        static var pairRecord: Int { q8_0PairBytes }
        static var quadRecord: Int { q8_0QuadBytes }
        static var zero: __m128 { _mm_setzero_ps() }
        /// vpermt2w: output words 8j…8j+7 = block j's codes (bytes 6, 28, 50 of x; byte 72 = 48 of x + 24).
        let codes = _mm512_set_epi64(w4(60, 61, 62, 63), w4(56, 57, 58, 59), w4(49, 50, 51, 52), w4(45, 46, 47, 48),
                                     w4(18, 19, 20, 21), w4(14, 15, 16, 17), w4(7, 8, 9, 10), w4(3, 4, 5, 6))
        /// vpermt2w: words 0–3 = d₀…d₃, 4–7 = the low halves of qh₀…qh₃, 8–11 = their high halves.
        let headers = _mm512_set_epi64(0, 0, 0, 0, 0, w4(2, 13, 24, 55), w4(1, 12, 23, 54), w4(0, 11, 22, 53))

        /// Blocks x…x+3 unpacked: their codes with the fifth bits (low nibbles' values, high nibbles' values) and d.
        @inline(__always) func unpack(_ x: UnsafeRawPointer) -> QuadCodes {
            let a = ld512(x), b = ld512(x + 24)
            let h = _mm512_permutex2var_epi16(a, headers, b), h0 = _mm512_castsi512_si128(h)
            let kLow = UInt64(bitPattern: _mm_cvtsi128_si64(_mm_unpackhi_epi64(h0, h0)))
            let kHigh = UInt64(bitPattern: _mm_cvtsi128_si64(_mm512_castsi512_si128(_mm512_permutexvar_epi64(_mm512_set1_epi64(2), h))))
            let (lo, hi) = q5_0Codes(_mm512_permutex2var_epi16(a, codes, b), kLow, kHigh)
            return QuadCodes(lo: lo, hi: hi, d: _mm_cvtph_ps(h0))
        }

        /// acc + fma(Float(I_j), d_j·da_j) in lane j for the four blocks `c` against the quad record at s.
        @inline(__always) static func step(_ c: QuadCodes, _ s: UnsafeRawPointer, _ acc: __m128) -> __m128 {
            let i = blockSums(quadDots(c.lo, c.hi, s, s + 64))
            let scale = _mm_mul_ps(c.d, ldf128(s + 272))
            return _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_add_epi32(i, ld128(s + 256))), scale, acc)
        }

        /// A Q5_0 row's four lanes with its blocks from `first` on added one by one (the same operations as a quad step's),
        /// then summed: (l₀ + l₁) + (l₂ + l₃).
        @inline(__always) static func finish(_ acc: __m128, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, from first: Int, _ nb: Int) -> Float {
            var l = unsafeBitCast(acc, to: SIMD4<Float>.self)
            for blk in first..<nb {
                let x = w + 22 * blk, y = a + 34 * blk, qh = x.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
                let codes = nibbles64(x + 6, x + 6)
                let sum = blockDot(_mm512_mask_add_epi8(codes, UInt64(qh), codes, _mm512_set1_epi8(0x10)), y + 2, offset: 16)
                l[blk % 4] = l[blk % 4].addingProduct(Float(sum), h16(x, 0) * h16(y, 0))
            }
            return laneSum(l)
        }
    }

    /// Four blocks' unsigned codes (block j's values 0–15 in bytes 16j…16j+15 of lo, 16–31 of hi: Q5_0's 0–31, Q8_0's
    /// + 128) and their d.
    struct QuadCodes { let lo: __m512i, hi: __m512i, d: __m128 }

    /// [Σ lanes 0–3, Σ lanes 4–7, Σ lanes 8–11, Σ lanes 12–15] of p (exact): each block's sum from `quadDots`.
    @inline(__always) static func blockSums(_ p: __m512i) -> __m128i {
        let t = _mm512_add_epi32(_mm512_unpacklo_epi64(p, p), _mm512_unpackhi_epi64(p, p))
        let u = _mm512_add_epi32(t, _mm512_srli_epi64(t, 32))   // dword 0 of every 128-bit lane
        return _mm512_castsi512_si128(_mm512_permutexvar_epi32(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), u))
    }

    /// The four-lane sum every Q4_K, Q5_0 and Q4_1 kernel ends a row with.
    @inline(__always) static func laneSum(_ l: SIMD4<Float>) -> Float { (l[0] + l[1]) + (l[2] + l[3]) }

    /// 64 code bytes `v` → their values 0–31: (low nibbles, high nibbles), the set bits of kLow / kHigh adding 16.
    @inline(__always) static func q5_0Codes(_ v: __m512i, _ kLow: UInt64, _ kHigh: UInt64) -> (__m512i, __m512i) {
        let low = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(0x10)
        let l = _mm512_and_si512(v, low), h = _mm512_and_si512(_mm512_srli_epi16(v, 4), low)
        return (_mm512_mask_add_epi8(l, kLow, l, sixteen), _mm512_mask_add_epi8(h, kHigh, h, sixteen))
    }

    /// Σ q·a of the unsigned codes lo and hi (values 0–15 of each 128-bit lane's block, values 16–31) against the
    /// activations at la and ha (64 bytes each, or 16 bytes broadcast to every lane): int32 lanes 4j…4j+3 = lane j's
    /// block (exact).
    @inline(__always) static func quadDots(_ lo: __m512i, _ hi: __m512i, _ la: UnsafeRawPointer, _ ha: UnsafeRawPointer,
                                               broadcast: Bool = false) -> __m512i {
        @inline(__always) func act(_ p: UnsafeRawPointer) -> __m512i { broadcast ? _mm512_broadcast_i32x4(ld128(p)) : ld512(p) }
        return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, act(la)), hi, act(ha))
    }

    // MARK: Q4_1, four blocks per step: one arithmetic with the interleaved kernel
    //
    // As Q5_0's: per block b the exact integer I_b = Σ q·a, and lane b mod 4 of four float sums takes
    // fma(Float(I_b), d_b·da_b); the min terms m_b·s_b (s the Q8_1 block's d·Σa) go to four sums of their own, as ggml
    // keeps them apart; the row is ((l₀ + l₁) + (l₂ + l₃)) + ((n₀ + n₁) + (n₂ + n₃)). Every
    // Q4_1 kernel (one row, four tokens, four rows, four interleaved rows) computes a row this way. Four blocks are 80
    // contiguous bytes (the loads at x and x + 16): one vpermt2w gathers their codes, one vpermw their headers.

    struct Q4_1Quad: QuadArithmetic {
        static var quadBytes: Int { 80 }
        static var activationBlock: Int { 36 }
        static var pairRecord: Int { q8_1PairBytes }
        static var quadRecord: Int { q8_1QuadBytes }
        static var zero: Q4_1Sums { Q4_1Sums() }
        /// vpermt2w: output words 8j…8j+7 = block j's codes (words 2, 12, 22 of the load at x; 24 of the load at x + 16).
        let codes = _mm512_set_epi64(w4(60, 61, 62, 63), w4(56, 57, 58, 59), w4(26, 27, 28, 29), w4(22, 23, 24, 25),
                                     w4(16, 17, 18, 19), w4(12, 13, 14, 15), w4(6, 7, 8, 9), w4(2, 3, 4, 5))
        /// vpermw: words 0–7 = d₀, d₁, d₂, d₃, m₀, m₁, m₂, m₃.
        let headers = _mm512_set_epi64(0, 0, 0, 0, 0, 0, w4(1, 11, 21, 31), w4(0, 10, 20, 30))

        /// Blocks x…x+3 unpacked.
        @inline(__always) func unpack(_ x: UnsafeRawPointer) -> Q4_1Codes {
            let a = ld512(x), q = _mm512_permutex2var_epi16(a, codes, ld512(x + 16)), low = _mm512_set1_epi8(0x0F)
            let h = _mm512_castsi512_si128(_mm512_permutexvar_epi16(headers, a))
            return Q4_1Codes(lo: _mm512_and_si512(q, low), hi: _mm512_and_si512(_mm512_srli_epi16(q, 4), low),
                             d: _mm_cvtph_ps(h), m: _mm_cvtph_ps(_mm_unpackhi_epi64(h, h)))
        }

        /// fma(Float(I_j), d_j·da_j) into lane j of the code sums and fma(m_j, s_j) into lane j of the min sums, for the
        /// four blocks `c` against the quad record at s.
        @inline(__always) static func step(_ c: Q4_1Codes, _ s: UnsafeRawPointer, _ sums: Q4_1Sums) -> Q4_1Sums {
            let i = blockSums(quadDots(c.lo, c.hi, s, s + 64))
            return Q4_1Sums(acc: _mm_fmadd_ps(_mm_cvtepi32_ps(i), _mm_mul_ps(c.d, ldf128(s + 192)), sums.acc),
                            mins: _mm_fmadd_ps(c.m, ldf128(s + 208), sums.mins))
        }

        /// A Q4_1 row's four lanes with its blocks from `first` on added one by one (a quad step's operations), summed.
        @inline(__always) static func finish(_ sums: Q4_1Sums, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, from first: Int, _ nb: Int) -> Float {
            var l = unsafeBitCast(sums.acc, to: SIMD4<Float>.self), n = unsafeBitCast(sums.mins, to: SIMD4<Float>.self)
            for blk in first..<nb {
                let x = w + 20 * blk, y = a + 36 * blk
                let sum = blockDot(nibbles64(x + 4, x + 4), y + 4, offset: 0)
                l[blk % 4] = l[blk % 4].addingProduct(Float(sum), h16(x, 0) * h16(y, 0))
                n[blk % 4] = n[blk % 4].addingProduct(h16(x, 2), h16(y, 2))
            }
            return laneSum(l) + laneSum(n)
        }
    }

    /// Four Q4_1 blocks' codes (block j in bytes 16j…16j+15 of lo and hi), their d and m.
    struct Q4_1Codes { let lo: __m512i, hi: __m512i, d: __m128, m: __m128 }

    @inline(__always) static func ldf128(_ p: UnsafeRawPointer) -> __m128 { _mm_loadu_ps(p.assumingMemoryBound(to: Float.self)) }

    /// A Q4_1 row's running sums: the code terms and the min terms, lane j = blocks j mod 4.
    struct Q4_1Sums {
        var acc = _mm_setzero_ps(), mins = _mm_setzero_ps()
    }

    // MARK: Q8_0, four blocks per step: one arithmetic with the panel GEMM
    //
    // As Q5_0's: per block b the exact integer I_b = Σ w·a (here Σ (w + 128)·a from vpdpbusd, less 128·Σa: eight times
    // the quad record's −16·Σa), and lane b mod 4 of four float sums takes fma(Float(I_b), d_b·da_b); the row is
    // (l₀ + l₁) + (l₂ + l₃). Rows as lanes (PanelGemm.swift) reproduce this, where the former pair step's sixteen float
    // lanes of partial sums they could not. Four blocks are 136 contiguous bytes: their code halves gathered with
    // 128-bit broadcasts (block j's values 0–15 and 16–31 into lane j of lo and hi), their four d with scalar loads.

    struct Q8_0Quad: QuadArithmetic {
        static var quadBytes: Int { 136 }
        static var activationBlock: Int { 34 }
        static var pairRecord: Int { q8_0PairBytes }
        static var quadRecord: Int { q8_0QuadBytes }
        static var zero: __m128 { _mm_setzero_ps() }

        /// Blocks x…x+3: codes + 128 as unsigned bytes (block j's values 0–15 in 128-bit lane j of lo, 16–31 of hi) and d.
        @inline(__always) func unpack(_ x: UnsafeRawPointer) -> QuadCodes {
            @inline(__always) func gather(_ o: Int) -> __m512i {
                var v = _mm512_castsi128_si512(ld128(x + o))
                v = _mm512_mask_broadcast_i32x4(v, 0x00F0, ld128(x + (34 &+ o)))
                v = _mm512_mask_broadcast_i32x4(v, 0x0F00, ld128(x + (68 &+ o)))
                v = _mm512_mask_broadcast_i32x4(v, 0xF000, ld128(x + (102 &+ o)))
                return _mm512_xor_si512(v, _mm512_set1_epi8(-128))
            }
            let d = UInt64(x.loadUnaligned(as: UInt16.self)) | UInt64(x.loadUnaligned(fromByteOffset: 34, as: UInt16.self)) << 16
                | UInt64(x.loadUnaligned(fromByteOffset: 68, as: UInt16.self)) << 32 | UInt64(x.loadUnaligned(fromByteOffset: 102, as: UInt16.self)) << 48
            return QuadCodes(lo: gather(2), hi: gather(18), d: _mm_cvtph_ps(_mm_cvtsi64_si128(Int64(bitPattern: d))))
        }

        /// acc + fma(Float(I_j), d_j·da_j) in lane j for the four blocks `c` against the quad record at s.
        @inline(__always) static func step(_ c: QuadCodes, _ s: UnsafeRawPointer, _ acc: __m128) -> __m128 {
            let i = _mm_add_epi32(blockSums(quadDots(c.lo, c.hi, s, s + 64)), _mm_slli_epi32(ld128(s + 256), 3))
            return _mm_fmadd_ps(_mm_cvtepi32_ps(i), _mm_mul_ps(c.d, ldf128(s + 272)), acc)
        }

        /// A Q8_0 row's four lanes with its blocks from `first` on added one by one (a quad step's operations), summed.
        @inline(__always) static func finish(_ acc: __m128, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, from first: Int, _ nb: Int) -> Float {
            var l = unsafeBitCast(acc, to: SIMD4<Float>.self)
            for blk in first..<nb {
                let x = w + 34 * blk, y = a + 34 * blk
                let sum = blockDot(_mm512_xor_si512(_mm512_castsi256_si512(ld256(x + 2)), _mm512_set1_epi8(-128)), y + 2, offset: -128)
                l[blk % 4] = l[blk % 4].addingProduct(Float(sum), h16(x, 0) * h16(y, 0))
            }
            return laneSum(l)
        }
    }

    /// Σ (q − c)·a over one block, exact: q the unsigned codes in the low 32 bytes of `codes` (the high bytes are
    /// ignored), a the 32 activations at y, c = `offset` (as an unsigned byte: −128 is 128). The quad types' blocks past
    /// the last four: rows of 18 blocks (SmolLM2's K = 576) end with two, and a scalar loop there made its Q8_0 output
    /// matrix's decode 40% slower.
    @inline(__always) static func blockDot(_ codes: __m512i, _ y: UnsafeRawPointer, offset c: Int8) -> Int32 {
        let ya = _mm512_castsi256_si512(ld256(y)), zero = _mm512_setzero_si512()
        var p = _mm512_dpbusd_epi32(zero, codes, ya)
        if c != 0 { p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(c), ya)) }
        return unsafeBitCast(_mm512_castsi512_si256(p), to: SIMD8<Int32>.self).wrappedSum()
    }

    // MARK: the drivers of Q5_0's, Q4_1's and Q8_0's quad steps

    /// A type whose kernels all step four blocks at a time with one arithmetic (Q5_0, Q4_1): `step` adds four blocks
    /// to a row's sums, `finish` adds the blocks past the last four one by one and sums the lanes. The drivers below
    /// run it along one row, four rows (decode) and four tokens (prefill), each result the one-row dot's bit for bit.
    protocol QuadArithmetic {
        associatedtype Codes
        associatedtype Sums
        /// Bytes of four weight blocks, of one standard activation block, of a sidecar pair record and quad record.
        static var quadBytes: Int { get }
        static var activationBlock: Int { get }
        static var pairRecord: Int { get }
        static var quadRecord: Int { get }
        static var zero: Sums { get }
        init()
        func unpack(_ x: UnsafeRawPointer) -> Codes
        static func step(_ c: Codes, _ s: UnsafeRawPointer, _ sums: Sums) -> Sums
        static func finish(_ sums: Sums, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, from first: Int, _ nb: Int) -> Float
    }

    /// The first quad record of a prepared activation row of nb blocks.
    @inline(__always) static func quadRecords<Q: QuadArithmetic>(_: Q.Type, _ a: UnsafeRawPointer, _ nb: Int) -> UnsafeRawPointer {
        a + sidecarOffset(nb * Q.activationBlock) + nb / 2 * Q.pairRecord
    }

    @inline(__always) static func dotQuads<Q: QuadArithmetic>(_: Q.Type, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let nb = k / 32, quads = quadRecords(Q.self, a, nb), q = Q()
        var acc = Q.zero
        for u in 0..<(nb / 4) {
            let x = w + Q.quadBytes &* u
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64)
            acc = Q.step(q.unpack(x), quads + Q.quadRecord &* u, acc)
        }
        return Q.finish(acc, w, a, from: nb / 4 * 4, nb)
    }

    /// out[i] = dotQuads(w + i·rowBytes, a, k) for i in 0..<4, bit for bit.
    @inline(__always) static func dotQuads4Rows<Q: QuadArithmetic>(_: Q.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int,
                                                                   _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 32, quads = quadRecords(Q.self, a, nb), q = Q()
        let w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
        var acc0 = Q.zero, acc1 = Q.zero, acc2 = Q.zero, acc3 = Q.zero
        let ahead = Prefetch(fourRows: w, rowBytes)
        for u in 0..<(nb / 4) {
            let o = Q.quadBytes &* u, s = quads + Q.quadRecord &* u
            ahead(4 &* o, 4 * Q.quadBytes)
            acc0 = Q.step(q.unpack(w + o), s, acc0); acc1 = Q.step(q.unpack(w1 + o), s, acc1)
            acc2 = Q.step(q.unpack(w2 + o), s, acc2); acc3 = Q.step(q.unpack(w3 + o), s, acc3)
        }
        let first = nb / 4 * 4
        out[0] = Q.finish(acc0, w, a, from: first, nb); out[1] = Q.finish(acc1, w1, a, from: first, nb)
        out[2] = Q.finish(acc2, w2, a, from: first, nb); out[3] = Q.finish(acc3, w3, a, from: first, nb)
    }

    /// out[i·outStride] = dotQuads(w, a + i·stride, k) for i in 0..<4, bit for bit: each four blocks unpacked once.
    @inline(__always) static func dotQuads4<Q: QuadArithmetic>(_: Q.Type, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int,
                                                               _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        let nb = k / 32, quads = quadRecords(Q.self, a, nb), q = Q()
        var acc0 = Q.zero, acc1 = Q.zero, acc2 = Q.zero, acc3 = Q.zero
        for u in 0..<(nb / 4) {
            let c = q.unpack(w + Q.quadBytes &* u), s = quads + Q.quadRecord &* u
            acc0 = Q.step(c, s, acc0); acc1 = Q.step(c, s + stride, acc1)
            acc2 = Q.step(c, s + 2 &* stride, acc2); acc3 = Q.step(c, s + 3 &* stride, acc3)
        }
        let first = nb / 4 * 4
        out[0] = Q.finish(acc0, w, a, from: first, nb); out[outStride] = Q.finish(acc1, w, a + stride, from: first, nb)
        out[2 * outStride] = Q.finish(acc2, w, a + 2 * stride, from: first, nb)
        out[3 * outStride] = Q.finish(acc3, w, a + 3 * stride, from: first, nb)
    }

    public static func dotQ5_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float { dotQuads(Q5_0Quad.self, w, a, k) }
    public static func dot4RowsQ5_0(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        dotQuads4Rows(Q5_0Quad.self, w, rowBytes, a, k, out)
    }
    public static func dot4Q5_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        dotQuads4(Q5_0Quad.self, w, a, stride, k, out, outStride)
    }
    public static func dotQ4_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float { dotQuads(Q4_1Quad.self, w, a, k) }
    public static func dot4RowsQ4_1(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        dotQuads4Rows(Q4_1Quad.self, w, rowBytes, a, k, out)
    }
    public static func dot4Q4_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        dotQuads4(Q4_1Quad.self, w, a, stride, k, out, outStride)
    }

    public static func dotQ4_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float { dotQuad(Q4_0Quad.self, w, a, k) }
    public static func dotQ8_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float { dotQuads(Q8_0Quad.self, w, a, k) }
    public static func dotQ5_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float { dotPaired(Q5_1Pair.self, w, a, k) }

    public static func dot4RowsQ4_0(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        dotQuad4Rows(Q4_0Quad.self, w, rowBytes, a, k, out)
    }
    public static func dot4RowsQ8_0(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        dotQuads4Rows(Q8_0Quad.self, w, rowBytes, a, k, out)
    }
    public static func dot4Q8_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        dotQuads4(Q8_0Quad.self, w, a, stride, k, out, outStride)
    }
    public static func dot4Q5_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        dotPaired4(Q5_1Pair.self, w, a, stride, k, out, outStride)
    }
    public static func dot4RowsQ5_1(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        dotPaired4Rows(Q5_1Pair.self, w, rowBytes, a, k, out)
    }

    // MARK: k-quants (Q8_K activations)
    //
    // Q8_K sidecar, per 256-value super-block (320 B):
    //   q[256] int8 reordered as sub-blocks 0,2 | 1,3 | 4,6 | 5,7 (each 32 values), so one 64-byte load
    //          matches the low (or high) nibbles of 64 bytes of Q4_K/Q5_K codes
    //   d f32 at 256 | S[8] f32 at 260: the sum of each 32-value sub-block (exact integers, for the min term) | padding |
    //   S[8] int16 at 304 (the same sums, |S| ≤ 32·128, for the interleaved kernels' integer min term) | padding
    public static let q8_KBlockBytes = 320
    static let kOrder = [0, 2, 1, 3, 4, 6, 5, 7]

    public static func prepareQ8_K(_ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutableRawPointer) {
        for b in 0..<(k / 256) {
            let blk = a + 292 * b, rec = out + q8_KBlockBytes * b
            for (slot, sub) in kOrder.enumerated() { (rec + 32 * slot).copyMemory(from: blk + 4 + 32 * sub, byteCount: 32) }
            rec.storeBytes(of: blk.loadUnaligned(as: UInt32.self), toByteOffset: 256, as: UInt32.self)
            for j in 0..<8 {
                let s = Int32(blk.loadUnaligned(fromByteOffset: 260 + 4 * j, as: Int16.self)) + Int32(blk.loadUnaligned(fromByteOffset: 262 + 4 * j, as: Int16.self))
                rec.storeBytes(of: Float(s), toByteOffset: 260 + 4 * j, as: Float.self)
                rec.storeBytes(of: Int16(s), toByteOffset: 304 + 2 * j, as: Int16.self)
            }
        }
    }

    /// The 8 six-bit scales and 8 mins of a Q4_K/Q5_K super-block (ggml's utmp unpacking).
    @inline(__always) static func kScalesMins(_ p: UnsafeRawPointer) -> (scales: UInt64, mins: UInt64) {
        let u0 = p.loadUnaligned(as: UInt32.self), u1 = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self), u2 = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let k1: UInt32 = 0x3f3f_3f3f, k2: UInt32 = 0x0f0f_0f0f, k3: UInt32 = 0x0303_0303
        let m3 = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4)
        let m2 = u1 & k1
        let s1 = (u2 & k2) | (((u0 >> 6) & k3) << 4)
        let s0 = u0 & k1
        return (UInt64(s0) | UInt64(s1) << 32, UInt64(m2) | UInt64(m3) << 32)
    }

    /// The 8 mins (bytes of `mins`) as floats.
    @inline(__always) static func minsF(_ mins: UInt64) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(Int64(bitPattern: mins))))
    }

    /// acc + (da·dmin)·(m_j·S_j) lane by lane (`scale` = da·dmin in every lane): the min term of one super-block,
    /// reduced once at the end of the row.
    @inline(__always) static func minTerm(_ acc: __m256, _ scale: __m256, _ mf: __m256, _ s: UnsafeRawPointer) -> __m256 {
        _mm256_fmadd_ps(scale, _mm256_mul_ps(mf, _mm256_loadu_ps(s.assumingMemoryBound(to: Float.self))), acc)
    }

    /// Σ_j p_j·f_j over the four sub-block pairs as two chains of two (shorter dependency chains than one of four).
    @inline(__always) static func scaledSum(_ p0: __m512i, _ f0: __m512, _ p1: __m512i, _ f1: __m512,
                                            _ p2: __m512i, _ f2: __m512, _ p3: __m512i, _ f3: __m512) -> __m512 {
        let a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), f1, _mm512_mul_ps(_mm512_cvtepi32_ps(p0), f0))
        let b = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p3), f3, _mm512_mul_ps(_mm512_cvtepi32_ps(p2), f2))
        return _mm512_add_ps(a, b)
    }

    @inline(__always) static func hsum8(_ v: __m256) -> Float {
        let s = unsafeBitCast(v, to: SIMD8<Float>.self)
        let h = s.lowHalf + s.highHalf
        return (h.lowHalf + h.highHalf).sum()
    }

    /// The lane patterns spreading a super-block's 8 sub-block scales over the sidecar's slot order (0,2 | 1,3 | 4,6 | 5,7).
    struct KSlots {
        let i02 = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), i13 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)
        let i46 = _mm512_set_epi32(6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4), i57 = _mm512_set_epi32(7, 7, 7, 7, 7, 7, 7, 7, 5, 5, 5, 5, 5, 5, 5, 5)

        /// The 8 six-bit scales (one per byte of `sc`) as floats in the four slot patterns.
        @inline(__always) func spread(_ sc: UInt64) -> (f02: __m512, f13: __m512, f46: __m512, f57: __m512) {
            let scf = _mm512_castps256_ps512(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(Int64(bitPattern: sc)))))
            return (_mm512_permutexvar_ps(i02, scf), _mm512_permutexvar_ps(i13, scf), _mm512_permutexvar_ps(i46, scf), _mm512_permutexvar_ps(i57, scf))
        }
    }

    /// vpermw patterns spreading a super-block's 8 sub-block scales (int16) over the sidecar's slot order
    /// (0,2 | 1,3 | 4,6 | 5,7): sixteen int16 lanes per sub-block.
    struct KSlots16 {
        let i02 = halves(0, 2), i13 = halves(1, 3), i46 = halves(4, 6), i57 = halves(5, 7)

        /// The 8 six-bit scales (one per byte of `sc`) as int16 in the four slot patterns.
        @inline(__always) func spread(_ sc: UInt64) -> (s02: __m512i, s13: __m512i, s46: __m512i, s57: __m512i) {
            let s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(Int64(bitPattern: sc))))
            return (_mm512_permutexvar_epi16(i02, s16), _mm512_permutexvar_epi16(i13, s16),
                    _mm512_permutexvar_epi16(i46, s16), _mm512_permutexvar_epi16(i57, s16))
        }
    }

    /// One Q4_K super-block unpacked: the four registers of 64 codes (sub-blocks 0,2 | 1,3 | 4,6 | 5,7), the scales
    /// in the same slots (int16), d, dmin and the mins.
    struct Q4KCodes {
        var c0: __m512i, c1: __m512i, c2: __m512i, c3: __m512i
        var s: (s02: __m512i, s13: __m512i, s46: __m512i, s57: __m512i)
        /// [d, dmin, 0, 0] as floats (one 32-bit load, one conversion), and the 8 mins as int16.
        var dm: __m128, mins: __m128i
    }

    @inline(__always) static func q4KCodes(_ x: UnsafeRawPointer, _ k: KSlots16) -> Q4KCodes {
        let low = _mm512_set1_epi8(0x0F)
        let (sc, mn) = kScalesMins(x + 4)
        let v0 = ld512(x + 16), v1 = ld512(x + 80)
        return Q4KCodes(c0: _mm512_and_si512(v0, low), c1: _mm512_and_si512(_mm512_srli_epi16(v0, 4), low),
                        c2: _mm512_and_si512(v1, low), c3: _mm512_and_si512(_mm512_srli_epi16(v1, 4), low),
                        s: k.spread(sc), dm: _mm_cvtph_ps(_mm_cvtsi32_si128(x.loadUnaligned(as: Int32.self))),
                        mins: _mm_cvtepu8_epi16(_mm_cvtsi64_si128(Int64(bitPattern: mn))))
    }

    /// A Q4_K row's running sums, kept as the interleaved kernel keeps them (InterleavedDots.swift), so that every
    /// Q4_K kernel — one row, four tokens, four rows, four interleaved rows — gives the same float for the same row:
    /// per super-block, four exact int32 sums (lane q: the values at positions 4q…4q+3 of every 16-value run, scaled)
    /// and four exact min sums (lane q: sub-blocks 2q and 2q+1), each converted once and added with d·da / dmin·da.
    struct Q4KSums {
        var acc = _mm_setzero_ps(), macc = _mm_setzero_ps()
        /// Σ w·a: (acc − macc) summed as (l0 + l1) + (l2 + l3).
        @inline(__always) var total: Float {
            laneSum(unsafeBitCast(_mm_sub_ps(acc, macc), to: SIMD4<Float>.self))
        }
    }

    /// One unpacked Q4_K super-block against its prepared Q8_K record at s. As ggml and Q6_K: u8 codes × s8
    /// activations with vpmaddubsw (pairs into int16, ≤ 2·15·128), then vpdpwssd against the scales: exact int32
    /// lanes (|Σ| < 2²⁴), lane M holding the values at positions 4M…4M+3 of the 64-byte registers, folded exactly to
    /// the four lanes of `Q4KSums` (M mod 4); the min term Σ m_j·S_j as exact int32 pairs (S_j int16 at s + 304).
    @inline(__always) static func q4KBlock(_ c: Q4KCodes, _ s: UnsafeRawPointer, _ sums: inout Q4KSums) {
        let v = unsafeBitCast(q4KInts(c, s), to: SIMD16<Int32>.self), h = v.lowHalf &+ v.highHalf
        let i4 = unsafeBitCast(h.lowHalf &+ h.highHalf, to: __m128i.self)
        let m4 = _mm_madd_epi16(c.mins, ld128(s + 304))
        // [da·d, da·dmin]: one multiply for both (the interleaved kernel's products), then each broadcast.
        let f = _mm_mul_ps(c.dm, _mm_set1_ps(s.loadUnaligned(fromByteOffset: 256, as: Float.self)))
        sums.acc = _mm_fmadd_ps(_mm_broadcastss_ps(f), _mm_cvtepi32_ps(i4), sums.acc)
        sums.macc = _mm_fmadd_ps(_mm_permutevar_ps(f, _mm_set1_epi32(1)), _mm_cvtepi32_ps(m4), sums.macc)
    }

    /// The exact int32 lanes of one unpacked Q4_K super-block against the Q8_K record at s (lane M: the values at
    /// positions 4M…4M+3 of the 64-byte registers, scaled), before any folding.
    @inline(__always) static func q4KInts(_ c: Q4KCodes, _ s: UnsafeRawPointer) -> __m512i {
        var isum = _mm512_madd_epi16(_mm512_maddubs_epi16(c.c0, ld512(s)), c.s.s02)
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c.c1, ld512(s + 64)), c.s.s13)
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c.c2, ld512(s + 128)), c.s.s46)
        return _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c.c3, ld512(s + 192)), c.s.s57)
    }

    public static func dotQ4_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let nb = k / 256, side = a + sidecarOffset(nb * 292), slots = KSlots16()
        var sums = Q4KSums()
        for b in 0..<nb {
            let x = w + 144 &* b
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64); prefetch(x + weightPrefetchDistance + 128)
            q4KBlock(q4KCodes(x, slots), side + q8_KBlockBytes &* b, &sums)
        }
        return sums.total
    }

    /// `dotQ4_K` for four weight rows (row i at w + i·rowBytes; decode). out[i] equals dotQ4_K(w + i·rowBytes, a, k).
    public static func dot4RowsQ4_K(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 256, side = a + sidecarOffset(nb * 292), slots = KSlots16()
        var s0 = Q4KSums(), s1 = Q4KSums(), s2 = Q4KSums(), s3 = Q4KSums()
        let ahead = Prefetch(fourRows: w, rowBytes)
        for b in 0..<nb {
            let o = 144 &* b, s = side + q8_KBlockBytes &* b
            ahead(4 &* o, 4 * 144)
            q4KBlock(q4KCodes(w + o, slots), s, &s0); q4KBlock(q4KCodes(w + rowBytes + o, slots), s, &s1)
            q4KBlock(q4KCodes(w + 2 * rowBytes + o, slots), s, &s2); q4KBlock(q4KCodes(w + 3 * rowBytes + o, slots), s, &s3)
        }
        out[0] = s0.total; out[1] = s1.total; out[2] = s2.total; out[3] = s3.total
    }

    /// `dotQ4_K` for four activation rows at once (row i at a + i·stride; prefill): each super-block's codes, scales
    /// and mins are unpacked once for all four tokens, whose `Q4KSums` lie side by side in 512-bit registers (lanes
    /// 4t…4t+3: token t's four lanes). The four tokens' exact int32 lanes are folded together (the same integers as
    /// `q4KBlock`'s, added in another order, which integers allow), then one conversion and one FMA per term serve
    /// all four, with the same products d·da and dmin·da per lane. out[i·outStride] equals dotQ4_K(w, a + i·stride, k)
    /// bit for bit.
    public static func dot4Q4_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        let nb = k / 256, s0 = a + sidecarOffset(nb * 292), slots = KSlots16()
        // 64-bit element indices of two-source permutes: (a's 128-bit lanes 0, 1, b's 0, 1) and (2, 3, 2, 3), then
        // (a's 0, 2, b's 0, 2) and (1, 3, 1, 3).
        let low = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), high = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4)
        let even = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), odd = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2)
        let spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), second = _mm512_set1_epi32(1)
        // Σ over the four 128-bit lanes of p_t, element q → lane 4t + q (q4KBlock's fold M mod 4).
        @inline(__always) func pair(_ p: __m512i, _ q: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_permutex2var_epi64(p, low, q), _mm512_permutex2var_epi64(p, high, q))
        }
        var acc = _mm512_setzero_ps(), macc = _mm512_setzero_ps()
        for b in 0..<nb {
            let c = q4KCodes(w + 144 &* b, slots)
            let r0 = s0 + q8_KBlockBytes &* b, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride
            let u01 = pair(q4KInts(c, r0), q4KInts(c, r1)), u23 = pair(q4KInts(c, r2), q4KInts(c, r3))
            let ints = _mm512_add_epi32(_mm512_permutex2var_epi64(u01, even, u23), _mm512_permutex2var_epi64(u01, odd, u23))
            // Sub-block sums S_j (int16 at r + 304) of token t in 128-bit lane t, against the mins: Σ m_j·S_j in pairs.
            var subSums = _mm512_castsi128_si512(ld128(r0 + 304))
            subSums = _mm512_mask_broadcast_i32x4(subSums, 0x00F0, ld128(r1 + 304))
            subSums = _mm512_mask_broadcast_i32x4(subSums, 0x0F00, ld128(r2 + 304))
            subSums = _mm512_mask_broadcast_i32x4(subSums, 0xF000, ld128(r3 + 304))
            let mins = _mm512_madd_epi16(_mm512_broadcast_i32x4(c.mins), subSums)
            @inline(__always) func da(_ r: UnsafeRawPointer) -> Float { r.loadUnaligned(fromByteOffset: 256, as: Float.self) }
            let das = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_set_ps(da(r3), da(r2), da(r1), da(r0))))
            let dm = _mm512_castps128_ps512(c.dm)
            acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_broadcastss_ps(c.dm), das), _mm512_cvtepi32_ps(ints), acc)
            macc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_permutexvar_ps(second, dm), das), _mm512_cvtepi32_ps(mins), macc)
        }
        let total = _mm512_sub_ps(acc, macc)
        for i in 0..<4 { out[i &* outStride] = laneSum(rowLanes(total, i)) }
    }

    public static func dotQ5_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let nb = k / 256, side = a + sidecarOffset(nb * 292)
        var acc = _mm512_setzero_ps()
        var mins = _mm256_setzero_ps()
        let low = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1), slots = KSlots()
        // Per 16-bit lane shift counts: low 256 bits by j, high 256 bits by j + 2 (sub-blocks j and j + 2).
        @inline(__always) func shifts(_ j: Int64) -> __m512i { halves(j, j + 2) }
        let sh0 = shifts(0), sh1 = shifts(1), sh4 = shifts(4), sh5 = shifts(5)
        for b in 0..<nb {
            let x = w + 176 * b, s = side + q8_KBlockBytes * b
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64); prefetch(x + weightPrefetchDistance + 128)
            let (sc, mn) = kScalesMins(x + 4)
            let f = slots.spread(sc)
            let qh = _mm512_broadcast_i64x4(ld256(x + 16))
            @inline(__always) func high(_ sh: __m512i) -> __m512i { _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh), one), 4) }
            let v0 = ld512(x + 48), v1 = ld512(x + 112)
            let p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_or_si512(_mm512_and_si512(v0, low), high(sh0)), ld512(s))
            let p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v0, 4), low), high(sh1)), ld512(s + 64))
            let p2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_or_si512(_mm512_and_si512(v1, low), high(sh4)), ld512(s + 128))
            let p3 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v1, 4), low), high(sh5)), ld512(s + 192))
            let sb = scaledSum(p0, f.f02, p1, f.f13, p2, f.f46, p3, f.f57)
            let da = s.loadUnaligned(fromByteOffset: 256, as: Float.self)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(da * h16(x, 0)), sb, acc)
            mins = minTerm(mins, _mm256_set1_ps(da * h16(x, 2)), minsF(mn), s + 260)
        }
        return _mm512_reduce_add_ps(acc) - hsum8(mins)
    }

    // MARK: Q6_K (standard Q8_K activations: no sidecar needed)
    //
    // Per 128-value half of a super-block, two registers of 64 codes (0–63): u8 codes × s8 activations with
    // vpmaddubsw (pairs summed into int16, |·| ≤ 2·63·127), then vpdpwssd against each 16-value group's scale
    // spread over its eight int16 lanes: the whole super-block's Σ sc·q·y stays an exact int32 vector; the −32
    // offset comes from the Q8_K block sums (Σ sc_g·bsum_g, also exact). The lanes' exact total, one int → float
    // conversion and one FMA with d_w·d_a per super-block (ggml's order of operations: integer sums, then the float
    // scales; a row's total, not its lanes, so that the panel GEMM gives the same float).

    /// The codes and scale patterns of one Q6_K super-block: for half h, a[h] = values 0–63 and b[h] = 64–127.
    struct Q6KCodes {
        var a0: __m512i, b0: __m512i, a1: __m512i, b1: __m512i
        var sa0: __m512i, sb0: __m512i, sa1: __m512i, sb1: __m512i
        /// The 16 scales as int16 (for the block-sum correction) and d_w.
        var sc16: __m256i, d: Float
    }

    /// vpermw indices spreading scales g…g+3 over eight int16 lanes each.
    @inline(__always) static func q6Index() -> (__m512i, __m512i, __m512i, __m512i) {
        @inline(__always) func idx(_ g: Int64) -> __m512i { words(g, g, g + 1, g + 1, g + 2, g + 2, g + 3, g + 3) }
        return (idx(0), idx(4), idx(8), idx(12))
    }

    @inline(__always) static func q6KCodes(_ x: UnsafeRawPointer, _ index: (__m512i, __m512i, __m512i, __m512i)) -> Q6KCodes {
        let low = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30)
        // 16-bit lane shift counts, low 256 bits | high 256 bits: qh bits (0,1 | 2,3) up to 4,5; (4,5 | 6,7) down to 4,5.
        let upA = halves(4, 2), downB = halves(0, 2)
        @inline(__always) func half(_ h: Int) -> (__m512i, __m512i) {
            let l = ld512(x + 64 * h), qh = _mm512_broadcast_i64x4(ld256(x + 128 + 32 * h))
            let a = _mm512_or_si512(_mm512_and_si512(l, low), _mm512_and_si512(_mm512_sllv_epi16(qh, upA), bits45))
            let b = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low), _mm512_and_si512(_mm512_srlv_epi16(qh, downB), bits45))
            return (a, b)
        }
        let (a0, b0) = half(0), (a1, b1) = half(1)
        let sc16 = _mm256_cvtepi8_epi16(ld128(x + 192)), sc = _mm512_castsi256_si512(sc16)
        return Q6KCodes(a0: a0, b0: b0, a1: a1, b1: b1,
                        sa0: _mm512_permutexvar_epi16(index.0, sc), sb0: _mm512_permutexvar_epi16(index.1, sc),
                        sa1: _mm512_permutexvar_epi16(index.2, sc), sb1: _mm512_permutexvar_epi16(index.3, sc),
                        sc16: sc16, d: h16(x, 208))
    }

    /// acc + (d_w·d_a)·Σ sc·(q − 32)·y over one super-block, y the standard Q8_K block: the exact int32 total of the
    /// super-block converted once and added with one fused multiply-add (so that the panel GEMM, whose lanes are rows,
    /// gives the same float: PanelGemm.swift).
    @inline(__always) static func q6KBlock(_ c: Q6KCodes, _ y: UnsafeRawPointer, _ acc: Float) -> Float {
        let q = y + 4
        var isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(c.a0, ld512(q)), c.sa0)
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c.b0, ld512(q + 64)), c.sb0)
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c.a1, ld512(q + 128)), c.sa1)
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(c.b1, ld512(q + 192)), c.sb1)
        let corr = _mm256_slli_epi32(_mm256_madd_epi16(ld256(y + 260), c.sc16), 5)
        isum = _mm512_sub_epi32(isum, _mm512_maskz_mov_epi32(0x00FF, _mm512_castsi256_si512(corr)))
        let da = y.loadUnaligned(as: Float.self)
        return acc.addingProduct(c.d * da, Float(_mm512_reduce_add_epi32(isum)))
    }

    public static func dotQ6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let index = q6Index()
        var acc: Float = 0
        for b in 0..<(k / 256) {
            let x = w + 210 &* b
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64)
            prefetch(x + weightPrefetchDistance + 128); prefetch(x + weightPrefetchDistance + 192)
            acc = q6KBlock(q6KCodes(x, index), a + 292 &* b, acc)
        }
        return acc
    }

    /// `dotQ6_K` for four activation rows (row i at a + i·stride; prefill): codes and scales unpacked once.
    /// out[i·outStride] equals dotQ6_K(w, a + i·stride, k) bit for bit.
    public static func dot4Q6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        let index = q6Index()
        var acc0: Float = 0, acc1: Float = 0, acc2: Float = 0, acc3: Float = 0
        for b in 0..<(k / 256) {
            let c = q6KCodes(w + 210 &* b, index), y = a + 292 &* b
            acc0 = q6KBlock(c, y, acc0); acc1 = q6KBlock(c, y + stride, acc1)
            acc2 = q6KBlock(c, y + 2 * stride, acc2); acc3 = q6KBlock(c, y + 3 * stride, acc3)
        }
        out[0] = acc0; out[outStride] = acc1; out[2 * outStride] = acc2; out[3 * outStride] = acc3
    }

    /// `dotQ6_K` for four weight rows (row i at w + i·rowBytes; decode). out[i] equals dotQ6_K(w + i·rowBytes, a, k).
    public static func dot4RowsQ6_K(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        let index = q6Index()
        var acc0: Float = 0, acc1: Float = 0, acc2: Float = 0, acc3: Float = 0
        let ahead = Prefetch(fourRows: w, rowBytes)
        for b in 0..<(k / 256) {
            let o = 210 &* b, y = a + 292 &* b
            ahead(4 &* o, 4 * 210)
            @inline(__always) func row(_ x: UnsafeRawPointer, _ acc: Float) -> Float { q6KBlock(q6KCodes(x, index), y, acc) }
            acc0 = row(w + o, acc0); acc1 = row(w + rowBytes + o, acc1)
            acc2 = row(w + 2 * rowBytes + o, acc2); acc3 = row(w + 3 * rowBytes + o, acc3)
        }
        out[0] = acc0; out[1] = acc1; out[2] = acc2; out[3] = acc3
    }

    /// Weight type → the four-token prepared dot (prefill), where there is one.
    public static let table4: [GGMLType: Dot4Kernel] = [
        .q4_1: .init(dot4Q4_1), .q5_0: .init(dot4Q5_0), .q8_0: .init(dot4Q8_0), .q5_1: .init(dot4Q5_1),
        .q4_K: .init(dot4Q4_K), .q6_K: .init(dot4Q6_K),
    ]

    /// Weight type → the four-row prepared dot (decode), where there is one (C function pointers: see Dot4RowsKernel).
    public static let tableRows4: [GGMLType: Dot4RowsKernel] = [
        .q4_0: .init({ PreparedDots.dot4RowsQ4_0($0, $1, $2, $3, $4) }),
        .q5_0: .init({ PreparedDots.dot4RowsQ5_0($0, $1, $2, $3, $4) }),
        .q8_0: .init({ PreparedDots.dot4RowsQ8_0($0, $1, $2, $3, $4) }),
        .q4_1: .init({ PreparedDots.dot4RowsQ4_1($0, $1, $2, $3, $4) }),
        .q5_1: .init({ PreparedDots.dot4RowsQ5_1($0, $1, $2, $3, $4) }),
        .q4_K: .init({ PreparedDots.dot4RowsQ4_K($0, $1, $2, $3, $4) }),
        .q6_K: .init({ PreparedDots.dot4RowsQ6_K($0, $1, $2, $3, $4) }),
    ]

    public typealias Prepare = @Sendable (UnsafeRawPointer, Int, UnsafeMutableRawPointer) -> Void

    /// Weight type → (prepare for its activation format, prepared dot).
    public static let table: [GGMLType: PreparedKernel] = [
        .q4_0: .init(prepare: prepareQ8_0, dot: dotQ4_0), .q5_0: .init(prepare: prepareQ8_0, dot: dotQ5_0),
        .q8_0: .init(prepare: prepareQ8_0, dot: dotQ8_0), .q4_1: .init(prepare: prepareQ8_1, dot: dotQ4_1),
        .q5_1: .init(prepare: prepareQ8_1, dot: dotQ5_1), .q4_K: .init(prepare: prepareQ8_K, dot: dotQ4_K),
        .q5_K: .init(prepare: prepareQ8_K, dot: dotQ5_K), .q6_K: .init(prepare: prepareQ8_K, dot: dotQ6_K),
    ]
}

extension PreparedDots.PairedBlocks {
    /// acc + blocks (x0, x0 + weightBlock) · the sidecar pair at s.
    @inline(__always) static func pair(_ x0: UnsafeRawPointer, _ s: UnsafeRawPointer, _ acc: __m512) -> __m512 { step(unpack(x0), s, acc) }
}
#endif
