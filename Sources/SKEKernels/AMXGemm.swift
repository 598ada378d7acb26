// Prefill GEMM on AMX tiles (bf16 operands, f32 accumulation in the tile):
//   Y[T, N] (+)= X[T, K]·W[N, K]ᵀ, W's rows from a Sgemm.RowLoader (dequantized piece by piece, as the SGEMM path).
// Layout: tokens are packed once per X (`pack`) into 16-token bf16 tiles (value pairs × tokens); each block of 16
// weight rows is dequantized 256 columns at a time into a per-thread L1 staging block, rounded to bf16 tiles (16 rows
// × 32 values per chunk) and multiplied against every token block with TDPBF16PS (16·16·32 multiply-adds per
// instruction), two token blocks per loaded weight tile. Threads split the weight-row blocks. The tile kernels are
// C (CSKEAMX); this file is the rest.
// Used for mixed-precision prefill wherever the CPU and kernel allow AMX (SKE_AMX=0 turns it off). Its arithmetic
// rounds activations and weights to bf16 (8-bit mantissas; llama.cpp's prefill quantizes activations to 8-bit
// integers): SmolLM2's perplexity moved 49.0726 → 49.0600 and Gemma 3's 54.9554 → 54.9638 against the f32 SGEMM,
// at 1.7–1.9× the speed. Float precision never uses it.
// Requires K % 32 == 0 (callers fall back to SGEMM otherwise).
import SKECore
import Synchronization
import CSKEAMX
#if arch(x86_64)
import SKEKernelsAVX512
#endif
#if canImport(Glibc)
import Glibc
#endif

public enum AMXGemm {
    /// AMX-BF16 is usable in this process (CPU features and the kernel's permission for tile state).
    public static let available: Bool = ske_amx_bf16_available() != 0
    /// `available`, unless SKE_AMX=0.
    public static let enabled: Bool = available && getenv("SKE_AMX").map { String(cString: $0) != "0" } ?? true

    static func packedTokensBytes(_ t: Int, _ k: Int) -> Int { (t + 15) / 16 * 16 * k * 2 }
    /// Per thread: an f32 staging block of 16 rows × `stagingColumns`, then the 16 rows' bf16 tiles (16 × k).
    static var stagingColumns: Int { 256 }
    static func perThreadBytes(_ k: Int) -> Int { (16 * stagingColumns * 4 + 16 * k * 2 + 63) & ~63 }

    /// Workspace bytes for up to `tokens` tokens of width up to `k` on `threads` threads.
    public static func workspaceBytes(tokens: Int, k: Int, threads: Int) -> Int {
        packedTokensBytes(tokens, k) + threads * perThreadBytes(k) + 64
    }

    /// Up to 16 tokens' rows (k values each) → the tile product's second operand, per 32-value chunk: 16 rows of
    /// value pairs × 16 tokens × 2 bf16 (round to nearest even; missing tokens are zero). The plain version; `gemm`
    /// uses SKEKernelsAVX512's BF16Packing where it can.
    static func packTokens(_ x: UnsafePointer<Float>, _ count: Int, _ k: Int, _ out: UnsafeMutablePointer<UInt16>) {
        for c in 0..<(k / 32) {
            let o = out + c * 512
            for j in 0..<16 {
                let row = x + j * k + c * 32
                for p in 0..<16 {
                    o[p * 32 + 2 * j] = j < count ? f32ToBF16(row[2 * p]) : 0
                    o[p * 32 + 2 * j + 1] = j < count ? f32ToBF16(row[2 * p + 1]) : 0
                }
            }
        }
    }

    /// `packTokens` with 512-bit registers (bit-identical; a test compares them): AMX CPUs have AVX-512.
    static let fastPackTokens: @Sendable (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<UInt16>) -> Void = {
#if arch(x86_64)
        if CPUFeatures.host.bestISALevel == .avx512 { return BF16Packing.packTokens }
#endif
        return packTokens
    }()

    /// Y[T, N] (+)= X[T, K]·W[N, K]ᵀ: packs X's tokens, then `multiply`.
    public static func gemm(tokens t: Int, n: Int, k: Int, x: UnsafePointer<Float>, rows: Sgemm.RowLoader,
                            y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool,
                            workspace: UnsafeMutableRawPointer, pool: ThreadPool) {
        pack(tokens: t, k: k, x: x, workspace: workspace, pool: pool)
        multiply(tokens: t, n: n, k: k, rows: rows, y: y, ldy: ldy, accumulate: accumulate, workspace: workspace, pool: pool)
    }

    /// Packs X[T, K]'s tokens into the workspace, where `multiply` reads them: once per X, however many weight
    /// matrices (or panels of one) it then meets.
    public static func pack(tokens t: Int, k: Int, x: UnsafePointer<Float>, workspace: UnsafeMutableRawPointer, pool: ThreadPool) {
        precondition(k % 32 == 0, "AMXGemm needs K % 32 == 0")
        let chunks = k / 32, tokenBlocks = (t + 15) / 16
        let xp = workspace.assumingMemoryBound(to: UInt16.self)
        pool.parallelFor(tokenBlocks) { blocks in
            for tb in blocks { fastPackTokens(x + tb * 16 * k, min(16, t - tb * 16), k, xp + tb * chunks * 512) }
        }
    }

    /// Y[T, N] (+)= X·Wᵀ with X as the last `pack` (same T and K) left it in the workspace.
    public static func multiply(tokens t: Int, n: Int, k: Int, rows: Sgemm.RowLoader,
                                y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool,
                                workspace: UnsafeMutableRawPointer, pool: ThreadPool) {
        precondition(k % 32 == 0, "AMXGemm needs K % 32 == 0")
        let chunks = k / 32, tokenBlocks = (t + 15) / 16
        let xp = workspace.assumingMemoryBound(to: UInt16.self)
        let base = workspace + packedTokensBytes(t, k), weightBlocks = (n + 15) / 16
        // Blocks of 16 weight rows are claimed one at a time (ThreadPool.forEachClaimed). Each block's result is the
        // same whoever computes it.
        let next = Atomic<Int>(0)
        pool.run { th, threads in
            let mine = base + th * perThreadBytes(k)
            let staging = mine.assumingMemoryBound(to: Float.self)
            let cols = stagingColumns
            let wp = (mine + 16 * cols * 4).assumingMemoryBound(to: UInt16.self)
            ThreadPool.forEachClaimed(weightBlocks, thread: th, of: threads, ticket: next) { b in
                let r0 = 16 * b, count = min(16, n - r0)
                // `cols` columns of the 16 rows at a time (16 KiB of f32, stays in L1), rounded into their tile chunks.
                for k0 in stride(from: 0, to: k, by: cols) {
                    let width = min(cols, k - k0)
                    for i in 0..<count { rows(r0 + i, k0, width, staging + i * cols) }
                    ske_amx_pack_rows_bf16(staging, Int32(count), Int32(width), Int32(cols), wp + k0 / 32 * 512)
                }
                ske_amx_bf16_block(wp, xp, Int32(tokenBlocks), Int32(chunks), y + r0, Int32(ldy), Int32(count), Int32(t), accumulate ? 1 : 0)
            }
        }
    }
}
