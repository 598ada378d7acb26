// Executes a Plan on the thread pool: every step reads and writes the activation arena at the offsets the
// planner gave, weights are read from the file (from the first decode step, from copies: RowSource), K/V live in
// their own cache region. Nothing here allocates once the executor exists (buffers, positions and output-row
// indices are preallocated; the copies are made once).
//
// Letters: T batch tokens (≤ maxTokens), O output rows (≤ maxOutputs), P0 position of the batch's first token,
// K input width, N output width, F feed-forward width, NH/NKV heads, HS head size.
import SKECore
import SKEGraph
import Synchronization
import SKEKernels
import Foundation

public final class Executor: @unchecked Sendable {
    public let plan: Plan
    public let pool: ThreadPool
    let arena: Arena
    let base: UnsafeMutableRawPointer
    let threadScratch: UnsafeMutablePointer<Float>
    /// K/V cache per layer, head-major [NKV, ctx, HS] (KVLayout.headMajor: one head's positions are one stream for the
    /// hardware prefetcher; position-major rows of a head sat NKV·HS apart, and long-context decode waited on them):
    /// f16 (llama.cpp's default, half the bytes) in quantized and mixed precision, f32 in float precision (the float32
    /// reference's arithmetic).
    let kCache: [UnsafeMutableRawPointer], vCache: [UnsafeMutableRawPointer]
    /// Per layer, its caches' layout and head size (from the layer's attention step; a K/V write step may not carry
    /// the head size): the K/V write and attention both address the cache through it.
    let cacheLayout: [(layout: KVLayout, headSize: Int)]
    let kvHalf: Bool
    let positions: UnsafeMutablePointer<Int32>
    /// Each distinct rope configuration's angle table [maxTokens, dims] (Rope.angles) at the batch's positions, filled
    /// once per run: every layer's Q and K rotation reads it (it was two cos/sin calls per pair, per layer, twice).
    let ropeConfigs: [RopeParameters], ropeAngles: [UnsafeMutablePointer<Float>]
    /// Per step, the index of the angle table its rotation reads (−1: none).
    let ropeTableOfStep: [Int]
    let outputRowIndex: UnsafeMutablePointer<Int32>
    let f32Dot: DotRow
    /// Current batch geometry (set by `run`).
    var tokens = 0, outputs = 0, start = 0
    /// The next unclaimed chunk of a quantized linear's rows (`forEachRowChunk`); the caller zeroes it before the region.
    let rowTicket = Atomic<Int>(0)
    var regions: [Region] = []
    /// SGEMM path (float / mixed precision): per linear step and part, the loader that dequantizes weight rows
    /// while SGEMM packs them; GLU gate/up tiles [maxTokens, panelRows]; the SGEMM packing workspace.
    let panelRows = 256
    var rowLoaders: [[Sgemm.RowLoader]] = []
    let sgemmGate: UnsafeMutablePointer<Float>, sgemmUp: UnsafeMutablePointer<Float>
    let sgemmWorkspace: UnsafeMutablePointer<Float>
    /// The AMX path's workspace (mixed precision on a CPU with AMX-BF16, unless SKE_AMX=0; see AMXGemm), else nil.
    let amxWorkspace: UnsafeMutableRawPointer?
    /// Quantized and mixed precision: GELU through llama.cpp's f16 table and SiLU through `FastSilu` (a vector exp),
    /// instead of tanhf and libm's expf (float precision: the reference's arithmetic).
    let llamaActivations: Bool
    /// Floats between two threads' scratch rows.
    let scratchStride: Int
    typealias RowDot = (Int, Int, UnsafeMutablePointer<Float>) -> Float
    /// A RowDot in a struct, so that calling it out of an array costs no reabstraction thunk (see KernelFunctions).
    struct RowDotBox { let call: RowDot }
    /// A part's prefill dots over the file's rows: `four(row, t0, out, outStride)` writes out[i·outStride] =
    /// W[row]·x[t0 + i] for four tokens, `one(row, t)` one token.
    struct TokenDots {
        let dot4: Dot4Kernel, dot: DotRow, w: UnsafeRawPointer, rowBytes: Int, xq: UnsafeRawPointer, stride: Int, k: Int
        @inline(__always) func four(_ row: Int, _ t0: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
            dot4.call(w + row &* rowBytes, xq + t0 &* stride, stride, k, out, outStride)
        }
        @inline(__always) func one(_ row: Int, _ t: Int) -> Float { dot(w + row &* rowBytes, xq + t &* stride, k) }
    }
    /// One part's four-row decode kernel with its operands bound: call(row, out) writes out[0..<4], rows row…row+3
    /// against token 0. Plain values and a C function pointer, so a call touches no reference count.
    struct Rows4Box {
        let kernel: Dot4RowsKernel.Function, w: UnsafeRawPointer, rowBytes: Int, xq: UnsafeRawPointer, stride: Int, k: Int
        @inline(__always) func call(_ row: Int, _ out: UnsafeMutablePointer<Float>) { kernel(w + row &* rowBytes, rowBytes, xq, k, out) }
        /// The same four rows against token t of a batch.
        @inline(__always) func call(_ row: Int, token t: Int, _ out: UnsafeMutablePointer<Float>) {
            kernel(w + row &* rowBytes, rowBytes, xq + t &* stride, k, out)
        }
    }
    /// A linear step's kernels, resolved once against this executor's buffers (so running a step creates no closures
    /// and allocates nothing), one entry per part: the one-row dots (quantized, float: empty where the precision never
    /// uses them); the four-token dots (prefill), nil when a part has none; the four-row dots (decode), nil when no
    /// part has one; whether some of its parts read the repacked copy and every part has a four-row dot (the others
    /// read the file's rows with their own). Captured by the step's region (see `makeRegion`).
    struct LinearKernels {
        let quantized: [RowDotBox], float: [RowDotBox], dots4: [TokenDots]?, rows4: [Rows4Box?]?, repacked: Bool
        /// Each part's panel GEMM (quantized batches of `Plan.sgemmMinimumRows` tokens and more); a part without one
        /// takes its four-token dots (`dots4`). Nil when no part has one, or a part has neither, or a GLU's gate or up lacks one.
        let panels: [PanelPart?]?
        /// Mixed precision without AMX, every part with a panel GEMM: tall batches run quantized through the panels
        /// (llama.cpp's arithmetic; on such a CPU twice the multiply-adds per cycle of f32 FMAs), not through SGEMM.
        let mixedPanels: Bool
    }
    /// One part's panel GEMM with its operands bound (plain values and C function pointers): `pack(r0, count, panel)`
    /// unpacks rows r0 ..< r0 + count (≤ 16) from wherever the part's rows are (the file, a file-order copy, or the
    /// repacked copy, whose full groups of four are in the interleaved layout); `multiply(panel, t0, tc, acc, out)` writes
    /// out[16t + i] = row r0 + i · token t0 + t for t < tc (≤ 4), each the one-row dot's value bit for bit.
    struct PanelPart {
        let kernel: PanelGemmKernel, w: UnsafeRawPointer, rowBytes: Int, grouped: Int, k: Int, xq: UnsafeRawPointer, stride: Int
        @inline(__always) func pack(_ r0: Int, _ count: Int, _ panel: UnsafeMutableRawPointer) { kernel.pack(w, rowBytes, r0, count, grouped, panel) }
        /// Requests slice `i` of `n` of rows r0 ..< r0 + count into L2 (a panel's rows are contiguous in either layout).
        @inline(__always) func prefetch(_ r0: Int, _ count: Int, slice i: Int, of n: Int) {
            let bytes = count &* rowBytes, lo = (bytes &* i / n) & ~63, hi = i &+ 1 == n ? bytes : (bytes &* (i &+ 1) / n) & ~63
            corePrefetchL2(w + (r0 &* rowBytes &+ lo), bytes: hi &- lo)
        }
        @inline(__always) func multiply(_ panel: UnsafeRawPointer, _ t0: Int, _ tc: Int, _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
            kernel.multiply(panel, k, xq + t0 &* stride, stride, tc, acc, out)
        }
    }
    /// Per-thread workspace of the panel GEMMs (nil when no linear has one): two panels (GLU gate and up), the
    /// accumulators and two 16 × 4 result tiles, for the widest K; `panelStride` bytes per thread.
    let panelWorkspace: UnsafeMutableRawPointer?
    let panelBytes: Int, panelAccumulatorFloats: Int, panelStride: Int
    /// Weights the decode kernels read from a copy (see RowSource: repacked, or in file order on huge pages when the
    /// weights are a file mapping), copied at the first decode step (a one-token batch after position 0): prefill reads
    /// the file's rows as they are, so the time to the first token does not include the copy (Qwen3-shaped Q4_K_M:
    /// ~40 ms repacked, ~30 ms more for its Q6_K in file order; far more on a VM whose host must first back the fresh
    /// pages: BENCHMARKS.md, session 12).
    /// Emptied once the copy is attempted (made, or not for want of memory).
    var repackCandidates: [RowSource.Candidate]
    public private(set) var repacked: RowSource.Store? = nil
    let releaseOriginals: Bool

    /// `repack`: copy the weights with an interleaved decode kernel at the first decode step (see `repacked`);
    /// `releaseOriginals`: the weights are a read-only file mapping whose copied pages may then be dropped (the other
    /// linear weights are then copied too, in file order, onto huge pages).
    public init(plan: Plan, pool: ThreadPool, repack: Bool = RowSource.Store.enabled, releaseOriginals: Bool = false) throws {
        self.plan = plan
        self.pool = pool
        let threads = pool.threadCount
        let ctx = plan.limits.contextLength
        let sgemm = plan.precision != .quantized
        // At least 128 floats: linearDots4's GLU stages 16 rows × 4 tokens of gate and of up there.
        scratchStride = max(plan.threadScratchFloats, 128) + 16
        // One arena, blocks in this order: activations, per-thread scratch, K/V per layer, positions, output rows,
        // and for the SGEMM path the GLU gate/up tiles and the packing workspace.
        let tileFloats = sgemm ? plan.limits.maxTokens * panelRows : 0
        let workspaceFloats = sgemm ? Sgemm.workspaceFloats(threads: threads) + 16 : 0
        // AMX (bf16 operands) only for mixed precision: float precision promises float32 arithmetic.
        let amxBytes = plan.precision == .mixed && AMXGemm.enabled
            ? AMXGemm.workspaceBytes(tokens: plan.limits.maxTokens, k: plan.maxInputWidth, threads: threads) : 0
        // Panel GEMMs: sized for the widest part that has one (a linear may mix parts with and without).
        var panelBytes = 0, panelAccumulatorFloats = 0
        if plan.precision != .float && Self.panelsEnabled {
            for step in plan.steps {
                guard case .linear(let l) = step else { continue }
                for g in l.parts.compactMap({ $0.kernels.prepared?.panelGemm }) {
                    panelBytes = max(panelBytes, (g.panelBytes(k: l.k) + 63) / 64 * 64)
                    panelAccumulatorFloats = max(panelAccumulatorFloats, g.accumulatorFloats(k: l.k))
                }
            }
        }
        panelAccumulatorFloats = (panelAccumulatorFloats + 15) / 16 * 16
        self.panelBytes = panelBytes; self.panelAccumulatorFloats = panelAccumulatorFloats
        panelStride = panelBytes > 0 ? 2 * panelBytes + (panelAccumulatorFloats + 128) * 4 : 0
        kvHalf = plan.precision != .float
        llamaActivations = plan.precision != .float
        let kvBytes = kvHalf ? 2 : 4
        repackCandidates = repack ? RowSource.Store.candidates(plan, fileOrder: releaseOriginals) : []
        self.releaseOriginals = releaseOriginals
        let cache = plan.cacheRowValues.flatMap { [max(ctx * $0, 1) * kvBytes, max(ctx * $0, 1) * kvBytes] }
        var configs: [RopeParameters] = []
        ropeTableOfStep = plan.steps.map { step in
            let rope: RopeParameters?
            switch step {
            case .rope(_, _, _, _, let p): rope = p
            case .kvWrite(_, _, _, _, let p, _): rope = p
            default: rope = nil
            }
            guard let p = rope else { return -1 }
            if let i = configs.firstIndex(where: { $0.base == p.base && $0.freqScale == p.freqScale && $0.dims == p.dims }) { return i }
            configs.append(p)
            return configs.count - 1
        }
        ropeConfigs = configs
        let blocks = [max(plan.arenaBytes, 64), threads * scratchStride * 4] + cache
            + [plan.limits.maxTokens * 4, plan.limits.maxOutputs * 4, tileFloats * 4, tileFloats * 4, workspaceFloats * 4, amxBytes,
               threads * panelStride] + configs.map { plan.limits.maxTokens * max($0.dims, 2) * 4 }
        arena = try Arena(capacity: Arena.capacity(forBlocks: blocks))
        base = try arena.allocate(blocks[0], label: "activations")
        threadScratch = try arena.allocate(Float.self, count: threads * scratchStride, label: "thread scratch")
        var k: [UnsafeMutableRawPointer] = [], v: [UnsafeMutableRawPointer] = []
        for (l, row) in plan.cacheRowValues.enumerated() {
            k.append(try arena.allocate(max(ctx * row, 1) * kvBytes, label: "K cache \(l)"))
            v.append(try arena.allocate(max(ctx * row, 1) * kvBytes, label: "V cache \(l)"))
        }
        kCache = k; vCache = v
        var layouts = plan.cacheRowValues.map { (layout: KVLayout(rowStride: $0, headStride: ctx * $0), headSize: $0) }
        for step in plan.steps {
            if case .attention(_, _, let layer, let p) = step { layouts[layer] = (KVLayout.headMajor(p, context: ctx), p.headSize) }
        }
        cacheLayout = layouts
        positions = try arena.allocate(Int32.self, count: plan.limits.maxTokens, label: "positions")
        outputRowIndex = try arena.allocate(Int32.self, count: plan.limits.maxOutputs, label: "output rows")
        sgemmGate = try arena.allocate(Float.self, count: tileFloats, label: "glu gate tile")
        sgemmUp = try arena.allocate(Float.self, count: tileFloats, label: "glu up tile")
        sgemmWorkspace = try arena.allocate(Float.self, count: workspaceFloats, label: "sgemm workspace")
        amxWorkspace = amxBytes > 0 ? try arena.allocate(amxBytes, label: "amx workspace") : nil
        panelWorkspace = panelStride > 0 ? try arena.allocate(threads * panelStride, label: "panel workspace") : nil
        var angles: [UnsafeMutablePointer<Float>] = []
        for (i, p) in configs.enumerated() {
            angles.append(try arena.allocate(Float.self, count: plan.limits.maxTokens * max(p.dims, 2), label: "rope angles \(i)"))
        }
        ropeAngles = angles
        f32Dot = QuantTraits.kernels(.f32, level: plan.level)!.dot
        bindKernels()
    }

    /// Packs the repack candidates and binds every kernel to the copies, once (see `repacked`). If the copies do not fit
    /// in memory (`RowSource.Store.fitting`) only the repacked ones are made, or none, and the others keep reading the
    /// file's rows.
    func repackForDecode() {
        // At most 3/4 of the memory the kernel could hand out now (the mapping's copied pages are dropped as it goes).
        let candidates = RowSource.Store.fitting(repackCandidates, budget: Arena.availableMemory.map { $0 / 4 * 3 })
        repackCandidates = []
        guard !candidates.isEmpty else { return }
        guard let store = try? RowSource.Store(candidates, pool: pool, releaseOriginals: releaseOriginals) else { return }
        repacked = store
        bindKernels()
    }

    /// Resolves every linear's kernels against this executor's buffers and the weights' current row sources, and
    /// makes the steps' regions (allocates: at init and after repacking, never per token).
    func bindKernels() {
        let plan = plan, repacked = repacked, sgemm = plan.precision != .quantized
        func source(_ part: LinearStep.Part) -> RowSource { repacked?.source(part) ?? RowSource.original(part) }
        // Rows in file order for the one-row and four-token dots: the file-order copy, else the file's (a repacked part
        // never reaches them: see rowDot).
        func fileOrder(_ part: LinearStep.Part, _ source: RowSource) -> UnsafeRawPointer { source.isRepacked ? part.weight.pointer : source.w }
        rowLoaders = plan.steps.map { step in
            guard case .linear(let l) = step, sgemm else { return [] }
            return l.parts.map { source($0).loader(dequantize: $0.kernels.dequantize) }
        }
        let kernels: [LinearKernels?] = plan.steps.map { step in
            guard case .linear(let l) = step else { return nil }
            let quantized = plan.precision != .float
            let sources = l.parts.map(source)
            func dots4() -> [TokenDots]? {
                var dots: [TokenDots] = []
                for (part, source) in zip(l.parts, sources) {
                    guard let d4 = part.kernels.rowDot4 else { return nil }
                    let a = l.activations[part.activation]
                    dots.append(TokenDots(dot4: d4, dot: part.kernels.rowDot, w: fileOrder(part, source), rowBytes: part.weight.rowBytes,
                                          xq: UnsafeRawPointer(self.base + a.offset), stride: a.rowStride, k: l.k))
                }
                return dots
            }
            func rows4() -> [Rows4Box?]? {
                let boxes: [Rows4Box?] = zip(l.parts, sources).map { part, source in
                    guard let d4 = source.dot4Rows ?? part.kernels.rowDot4Rows else { return nil }
                    let a = l.activations[part.activation]
                    return Rows4Box(kernel: d4.call, w: source.w, rowBytes: part.weight.rowBytes, xq: UnsafeRawPointer(self.base + a.offset),
                                    stride: a.rowStride, k: l.k)
                }
                return boxes.contains { $0 != nil } ? boxes : nil
            }
            func panels(_ dots4: [TokenDots]?) -> [PanelPart?]? {
                guard panelWorkspace != nil else { return nil }
                let out: [PanelPart?] = zip(l.parts, sources).map { part, source in
                    guard let g = part.kernels.prepared?.panelGemm else { return nil }
                    let a = l.activations[part.activation]
                    return PanelPart(kernel: g, w: source.w, rowBytes: part.weight.rowBytes, grouped: source.isRepacked ? part.weight.rows & ~3 : 0,
                                     k: l.k, xq: UnsafeRawPointer(self.base + a.offset), stride: a.rowStride)
                }
                if case .glu = l.finish, out.contains(where: { $0 == nil }) { return nil }
                // A part without one takes its four-token dots over the file's rows: not for a repacked part (its file
                // pages were dropped; `linearRepacked` reads the copy).
                if zip(out, sources).contains(where: { $0 == nil && $1.isRepacked }) { return nil }
                return out.contains { $0 != nil } && (dots4 != nil || out.allSatisfy { $0 != nil }) ? out : nil
            }
            let d4 = quantized ? dots4() : nil
            let r4 = quantized ? rows4() : nil
            let p = quantized ? panels(d4) : nil
            return LinearKernels(quantized: quantized ? zip(l.parts, sources).map { RowDotBox(call: self.rowDot($0, l, quantized: true, w: fileOrder($0, $1))) } : [],
                                 float: plan.precision != .quantized ? zip(l.parts, sources).map { RowDotBox(call: self.rowDot($0, l, quantized: false, w: fileOrder($0, $1))) } : [],
                                 dots4: d4, rows4: r4,
                                 repacked: sources.contains { $0.isRepacked } && r4?.allSatisfy { $0 != nil } == true,
                                 panels: p, mixedPanels: plan.precision == .mixed && amxWorkspace == nil && p?.allSatisfy { $0 != nil } == true)
        }
        panelBatches = kernels.map { $0?.mixedPanels ?? false }
        quantizedPanels = kernels.map { $0?.panels != nil }
        regions = zip(plan.steps, kernels).map { makeRegion($0, $1) }
    }

    /// SKE_PANELS=0 turns the panel GEMMs off: quantized batches take the four-token dots, mixed ones SGEMM.
    static let panelsEnabled: Bool = ProcessInfo.processInfo.environment["SKE_PANELS"] != "0"

    /// Per step: its kernels' `mixedPanels`, and whether its quantized tall batches take `linearPanels`.
    var panelBatches: [Bool] = [], quantizedPanels: [Bool] = []

    /// Whether a batch of r tokens through a linear runs in float (SGEMM or AMX) rather than quantized.
    @inline(__always) static func floatBatch(_ l: LinearStep, _ r: Int, mixedPanels: Bool) -> Bool {
        l.precision == .float || (l.precision == .mixed && r >= Plan.sgemmMinimumRows && !mixedPanels)
    }

    /// What multiplies batches of 16 tokens and more (prefill): "int8-panels" (quantized activations, every linear with
    /// a panel GEMM), "int8-dots" (quantized, none), "amx-bf16" (mixed precision where the CPU and kernel allow AMX, unless
    /// SKE_AMX=0; a linear whose K is not a multiple of 32 takes SGEMM), "f32-sgemm" (float, or mixed without AMX and
    /// without panel GEMMs), or two of them joined by "+" when the linears differ (mixed without AMX: panels where every
    /// part has one, SGEMM elsewhere; quantized: four-token dots where no part has one).
    public var batchArithmetic: String {
        var paths: [String] = []
        for (i, step) in plan.steps.enumerated() {
            guard case .linear = step else { continue }
            let path: String
            switch plan.precision {
            case .float: path = "f32-sgemm"
            case .mixed: path = amxWorkspace != nil ? "amx-bf16" : panelBatches[i] ? "int8-panels" : "f32-sgemm"
            case .quantized: path = quantizedPanels[i] ? "int8-panels" : "int8-dots"
            }
            if !paths.contains(path) { paths.append(path) }
        }
        return paths.sorted().joined(separator: "+")
    }

    /// Bytes of the activation arena + KV cache + scratch.
    public var arenaCapacity: Int { arena.capacity }

    @inline(__always) func f(_ offset: Int) -> UnsafeMutablePointer<Float> { (base + offset).assumingMemoryBound(to: Float.self) }
    @inline(__always) func scratch(_ thread: Int) -> UnsafeMutablePointer<Float> { threadScratch + thread * scratchStride }
    @inline(__always) func rowCount(_ k: RowKind) -> Int { k == .outputs ? outputs : tokens }

    /// The logits [O, V] of the last run.
    public var logits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: f(plan.logitsOffset), count: outputs * plan.vocabulary) }

    /// Runs one batch: `ids` at positions start..<start+T (the cache must hold 0..<start), logits for `outputRows`
    /// (indices into the batch). Hot: called once per generated token.
    public func run(ids: UnsafeBufferPointer<Int32>, start: Int, outputRows: UnsafeBufferPointer<Int32>) {
        precondition(ids.count >= 1 && ids.count <= plan.limits.maxTokens && outputRows.count <= plan.limits.maxOutputs)
        precondition(start + ids.count <= plan.limits.contextLength)
        tokens = ids.count; outputs = outputRows.count; self.start = start
        // The first decode step (one token after others): a one-token prompt's first token is not kept waiting.
        if tokens == 1 && start > 0 && !repackCandidates.isEmpty { repackForDecode() }
        let tok = (base + plan.tokensOffset).assumingMemoryBound(to: Int32.self)
        for i in 0..<tokens { tok[i] = ids[i]; positions[i] = Int32(start + i) }
        for (p, table) in zip(ropeConfigs, ropeAngles) { Rope.angles(positions, tokens: tokens, p, into: table) }
        for i in 0..<outputs { outputRowIndex[i] = outputRows[i] }
        for i in plan.steps.indices { execute(plan.steps[i], i) }
    }

    func execute(_ step: Step, _ index: Int) {
        switch step {
        case .embedding(let table, let tokOff, let y, let scale):
            let ids = (base + tokOff).assumingMemoryBound(to: Int32.self)
            let out = f(y)
            Embedding.forward(table: table.pointer, type: table.type, vocab: table.rows, cols: table.cols, ids: ids, count: tokens, y: out)
            if scale != 1 { for i in 0..<(tokens * table.cols) { out[i] *= scale } }
        case .rmsNorm(_, _, _, _, _, let rows):
            if rowCount(rows) == 1 { regions[index].serial() } else { pool.runPrepared(regions[index].parallel!) }
        case .headNorm:
            pool.runPrepared(regions[index].parallel!)
        case .linear(let l):
            linear(l, index)
        case .add(let a, let b, let y, let cols, let rows):
            let pa = f(a), pb = f(b), py = f(y)
            for i in 0..<(rowCount(rows) * cols) { py[i] = pa[i] + pb[i] }
        case .addBias(let x, let bias, let y, let cols, let rows):
            let px = f(x), py = f(y), b = bias.floats
            for t in 0..<rowCount(rows) { for i in 0..<cols { py[t * cols + i] = px[t * cols + i] + b[i] } }
        case .rope(let x, let y, let cols, let hs, let p):
            Rope.rotate(f(x), f(y), tokens: tokens, heads: cols / hs, headSize: hs, angles: ropeAngles[ropeTableOfStep[index]], p)
        case .kvWrite(let x, let layer, let value, let cols, let rope, _):
            // Rotate in place (only this step reads the K projection), then store each token's heads at their rows of
            // the head-major cache [NKV, CTX, HS] (f16 unless float precision).
            let cache = value ? vCache[layer] : kCache[layer], src = f(x), (kv, hs) = cacheLayout[layer]
            if let rope { Rope.rotate(src, src, tokens: tokens, heads: cols / hs, headSize: hs, angles: ropeAngles[ropeTableOfStep[index]], rope) }
            for t in 0..<tokens {
                for kh in 0..<(cols / hs) {
                    let from = src + t * cols + kh * hs, at = kv.offset(position: start + t, head: kh)
                    if kvHalf {
                        let dst = cache.assumingMemoryBound(to: Float16.self) + at
                        for i in 0..<hs { dst[i] = Float16(from[i]) }
                    } else {
                        (cache.assumingMemoryBound(to: Float.self) + at).update(from: from, count: hs)
                    }
                }
            }
        case .attention:
            pool.runPrepared(regions[index].parallel!)
        case .glu(let gate, let up, let y, let cols, let gelu, let rows):
            gluValues(gate: f(gate), up: f(up), f(y), count: rowCount(rows) * cols, gelu: gelu)
        case .outputRows(let x, let y, let cols):
            for o in 0..<outputs { (f(y) + o * cols).update(from: f(x) + Int(outputRowIndex[o]) * cols, count: cols) }
        }
    }

    /// Splits `rows` over the pool (one call when there is a single row).
    @inline(__always)
    func parallelRows(_ rows: Int, _ body: (Range<Int>) -> Void) {
        if rows == 1 { body(0..<1) } else { pool.parallelFor(rows, body) }
    }

    /// The parallel work of each step, as closures made once (running a prepared closure on the pool allocates
    /// nothing; a fresh closure per region would). They read the batch geometry (tokens, start) when they run.
    struct Region {
        var parallel: ((Int, Int) -> Void)? = nil
        /// The same work on the calling thread, for single-row batches.
        var serial: () -> Void = {}
    }

    func makeRegion(_ step: Step, _ kernels: LinearKernels?) -> Region {
        switch step {
        case .rmsNorm(let x, let w, let y, let cols, let eps, let rows):
            let px = f(x), py = f(y)
            return Region(parallel: { [unowned(unsafe) self] th, n in
                let range = ThreadPool.partition(rowCount(rows), part: th, of: n)
                FastOps.rmsNorm(x: px + range.lowerBound * cols, weight: w.floats, y: py + range.lowerBound * cols, rows: range.count, cols: cols, eps: eps, level: plan.level)
            }, serial: { [unowned(unsafe) self] in
                FastOps.rmsNorm(x: px, weight: w.floats, y: py, rows: 1, cols: cols, eps: eps, level: plan.level)
            })
        case .headNorm(let x, let w, let y, let cols, let hs, let eps, let rows):
            let px = f(x), py = f(y)
            return Region(parallel: { [unowned(unsafe) self] th, n in
                let range = ThreadPool.partition(rowCount(rows) * cols / hs, part: th, of: n)
                FastOps.rmsNorm(x: px + range.lowerBound * hs, weight: w.floats, y: py + range.lowerBound * hs, rows: range.count, cols: hs, eps: eps, level: plan.level)
            })
        case .attention(let q, let y, let layer, let p):
            // Causal attention of T queries over the cache (positions 0..<start+T).
            let pq = f(q), py = f(y), k = kCache[layer], v = vCache[layer], nh = p.heads, hs = p.headSize
            // llama.cpp multiplies the f16 K cache by q converted to f16 (done here, in the query's own buffer, which only
            // attention reads); the kernel meets an f16 V cache with f16 probabilities.
            let half = kvHalf, nkv = p.kvHeads, group = nh / nkv, ctx = plan.limits.contextLength
            // Items of `block` tokens × `chunk` query heads of one K/V head, which attentionGroup takes four rows at a
            // time over each K and V row (heads sharing a K/V head read its cache rows once, not once each).
            // Prefill: all of a K/V head's heads, and tokens to make a multiple of four rows. Decode: at least as many
            // items as threads where the K/V heads are fewer (Gemma 3: one), else one per K/V head.
            let layout = cacheLayout[layer].layout
            let block = 4 / gcd(group, 4), splits = Swift.min(group, (pool.threadCount + nkv - 1) / nkv)
            let chunk = (group + splits - 1) / splits
            return Region(parallel: { [unowned(unsafe) self] th, n in
                let row = scratch(th)
                let (tb, hc) = tokens > 1 ? (block, group) : (1, chunk), perHead = (group + hc - 1) / hc
                // Round-robin over items: a causal row's cost grows with its token, so contiguous ranges gave the
                // last thread most of the work in prefill.
                // Items K/V-head-major, so a thread's consecutive items read the same head's rows (measured at a depth of
                // 2048: no difference from token-major items beyond noise).
                let blocks = (tokens + tb - 1) / tb
                for item in stride(from: th, to: blocks * nkv * perHead, by: n) {
                    let t0 = item % blocks * tb, t1 = Swift.min(tokens, t0 + tb), c = item / blocks
                    let h0 = c / perHead * group + c % perHead * hc, heads = h0..<Swift.min(h0 + hc, c / perHead * group + group)
                    if half {
                        for t in t0..<t1 { let qt = pq + (t * nh + h0) * hs; for d in 0..<(heads.count * hs) { qt[d] = Float(Float16(qt[d])) } }
                    }
                    FastOps.attentionGroup(q: pq, positions: positions, tokens: t0..<t1, heads: heads, kCache: k, vCache: v, half: half,
                                           cacheLength: start + tokens, out: py, rows: row, rowStride: ctx, p, layout: layout, level: plan.level)
                }
            })
        case .linear(let l):
            // The step's kernels are captured here, once: read from the executor's arrays at every call, each array
            // and box read was a retain and a release, on both threads (~3% of SmolLM2's decode at 2 threads).
            let k = kernels!
            return Region(parallel: { [unowned(unsafe) self] th, n in linearDots(l, k, th, n) })
        default:
            return Region()
        }
    }

    /// A (possibly fused) linear: [norm →] activations → one parallel region over every output row of every part
    /// (or SGEMM over dequantized weight panels for a tall float batch). Hot: decode spends most of its time here.
    func linear(_ l: LinearStep, _ index: Int) {
        let r = rowCount(l.rows), k = l.k
        let x = f(l.x)
        let float = Self.floatBatch(l, r, mixedPanels: panelBatches[index])
        if !float {
            // Prologue: [normalize →] quantize each token row.
            if r == 1 {
                quantizePrologue(l, 0, scratch(0))
            } else {
                pool.run { th, n in for t in ThreadPool.partition(r, part: th, of: n) { quantizePrologue(l, t, scratch(th)) } }
            }
        } else if let norm = l.norm, let nOff = l.normalized {
            let xn = f(nOff)
            parallelRows(r) { range in
                FastOps.rmsNorm(x: x + range.lowerBound * k, weight: norm.weight.floats, y: xn + range.lowerBound * k, rows: range.count, cols: k, eps: norm.eps, level: self.plan.level)
            }
        }
        if float && r >= Plan.sgemmMinimumRows { return linearSgemm(l, index, r) }
        rowTicket.store(0, ordering: .relaxed)   // published to the workers with the region
        pool.runPrepared(regions[index].parallel!)
    }

    /// Token t's activation rows: RMSNorm (into `tmp`, K floats) when the step has a norm, then one quantized row
    /// per activation layout.
    @inline(__always)
    func quantizePrologue(_ l: LinearStep, _ t: Int, _ tmp: UnsafeMutablePointer<Float>) {
        var x = UnsafePointer(f(l.x) + t * l.k)
        if let norm = l.norm {
            FastOps.rmsNorm(x: x, weight: norm.weight.floats, y: tmp, rows: 1, cols: l.k, eps: norm.eps, level: plan.level)
            x = UnsafePointer(tmp)
        }
        for a in l.activations { a.write(x, base + a.offset + t * a.rowStride) }
    }

    /// Slot `th` of `n`: the row chunks it claims of every part's output rows (one row of W against all T tokens).
    /// Hot: decode spends most of its time here.
    func linearDots(_ l: LinearStep, _ kernels: LinearKernels, _ th: Int, _ n: Int) {
        let r = rowCount(l.rows), k = l.k
        let float = Self.floatBatch(l, r, mixedPanels: kernels.mixedPanels)
        let dots = float ? kernels.float : kernels.quantized
        let out = f(l.out), tmp = scratch(th)
        if !float && r >= Plan.sgemmMinimumRows, let panels = kernels.panels { return linearPanels(l, panels, kernels.dots4, r, th, n) }
        if !float && r >= 2 && kernels.repacked, let d4 = kernels.rows4 { return linearRepacked(l, d4, r, th, n) }
        if !float && r >= 4, let d4 = kernels.dots4 { return linearDots4(l, d4, r, th, n) }
        if !float && r == 1, let d4 = kernels.rows4 { return linearRows4(l, d4, dots, th, n) }
        switch l.finish {
        case .glu(let gelu):
            let gate = dots[0].call, up = dots[1].call, width = l.parts[0].weight.rows
            forEachRowChunk(width, th, n) { rows in
                for row in rows {
                    for t in 0..<r {
                        let g = gate(row, t, tmp), u = up(row, t, tmp + k)
                        out[t * width + row] = glu(g, u, gelu)
                    }
                }
            }
        case .store, .addResidual:
            let residual = residualInput(l)
            forEachPartChunk(l, th, n) { pi, width, rows in
                let dot = dots[pi].call
                if let residual {
                    for row in rows { for t in 0..<r { out[t * width + row] = residual[t * width + row] + dot(row, t, tmp) } }
                } else {
                    let y = f(l.parts[pi].y)
                    for row in rows { for t in 0..<r { y[t * width + row] = dot(row, t, tmp) } }
                }
            }
        }
    }

    /// The residual a `.addResidual` linear adds to its output, else nil.
    @inline(__always) func residualInput(_ l: LinearStep) -> UnsafeMutablePointer<Float>? {
        if case .addResidual(let off) = l.finish { return f(off) }
        return nil
    }

    /// A multi-part linear's output rows (the parts' rows side by side) dealt by `forEachRowChunk`: body(part index,
    /// the part's width, the part's own rows in a chunk) for each part a chunk touches.
    @inline(__always)
    func forEachPartChunk(_ l: LinearStep, _ th: Int, _ n: Int, _ body: (Int, Int, Range<Int>) -> Void) {
        forEachRowChunk(partRows(l), th, n) { forEachPart(l, in: $0, body) }
    }

    /// The output rows of all of a linear's parts.
    @inline(__always) func partRows(_ l: LinearStep) -> Int {
        var total = 0
        for pi in l.parts.indices { total += l.parts[pi].weight.rows }
        return total
    }

    /// body(part index, the part's width, the part's own rows) for each part that `range` of the parts' rows side by
    /// side touches. (Indices and fields only: copying a `Part` retained its kernels' closures, and with every thread
    /// retaining the same objects the reference counts bounced between cores.)
    @inline(__always)
    func forEachPart(_ l: LinearStep, in range: Range<Int>, _ body: (Int, Int, Range<Int>) -> Void) {
        var partStart = 0
        for pi in l.parts.indices {
            let width = l.parts[pi].weight.rows
            let lo = max(range.lowerBound, partStart) - partStart, hi = min(range.upperBound, partStart + width) - partStart
            partStart += width
            if lo < hi { body(pi, width, lo..<hi) }
        }
    }

    /// Rows [0, total) dealt in 8·n chunks (multiples of 4 rows): slot `th` takes chunk `th`, then whichever chunk
    /// is next unclaimed. On this kind of VM one vCPU often runs slower for a while (a neighbour, the hypervisor); with
    /// fixed shares the other then waited for it at every step. Each row's result is the same whoever computes it.
    /// Every quantized linear (decode and prefill) deals its rows this way.
    @inline(__always)
    func forEachRowChunk(_ total: Int, _ th: Int, _ n: Int, _ body: (Range<Int>) -> Void) {
        if n == 1 { return body(0..<total) }
        let size = ((total + 8 * n - 1) / (8 * n) + 3) & ~3
        ThreadPool.forEachClaimed((total + size - 1) / size, thread: th, of: n, ticket: rowTicket) { c in
            body((c &* size)..<min(total, (c &+ 1) &* size))
        }
    }

    @inline(__always) func glu(_ g: Float, _ u: Float, _ gelu: Bool) -> Float {
        (gelu ? (llamaActivations ? GeluTable.gelu(g) : Activation.gelu(g)) : (llamaActivations ? FastSilu.silu(g) : Activation.silu(g))) * u
    }

    /// y[i] = glu(gate[i], up[i]) over n values (each the value `glu` gives).
    @inline(__always) func gluValues(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, gelu: Bool) {
        switch (gelu, llamaActivations) {
        case (true, true): GeluTable.geglu(gate: gate, up: up, y, count: n)
        case (false, true): FastSilu.glu(gate: gate, up: up, y, count: n, level: plan.level)
        default: Activation.gluForward(gate: gate, up: up, y, count: n, gelu: gelu)
        }
    }

    /// `linearDots` for a quantized batch whose every part has a four-token kernel, over the file's rows (a repacked
    /// linear takes `linearRepacked`): blocks of 16 weight rows × groups of 4 tokens (a group's activation rows stay
    /// in L1 across the block; each weight block is unpacked once per 4 tokens). Results equal the one-token path's
    /// bit for bit.
    func linearDots4(_ l: LinearStep, _ d4: [TokenDots], _ r: Int, _ th: Int, _ n: Int) {
        let out = f(l.out), tmp = scratch(th), groups = r / 4, rest = 4 * groups
        switch l.finish {
        case .glu(let gelu):
            let width = l.parts[0].weight.rows, gate = d4[0], up = d4[1]
            forEachRowChunk(width, th, n) { mine in
                for r0 in stride(from: mine.lowerBound, to: mine.upperBound, by: 16) {
                    let r1 = min(r0 + 16, mine.upperBound)
                    for grp in 0..<groups {
                        // tmp[16i + j] = gate of row r0 + j for token 4·grp + i, tmp[64 + 16i + j] its up: then each
                        // token's run of rows through the vector GLU.
                        for row in r0..<r1 { gate.four(row, 4 * grp, tmp + (row - r0), 16); up.four(row, 4 * grp, tmp + 64 + (row - r0), 16) }
                        for i in 0..<4 { gluValues(gate: tmp + 16 * i, up: tmp + 64 + 16 * i, out + (4 * grp + i) * width + r0, count: r1 - r0, gelu: gelu) }
                    }
                    for t in rest..<r { for row in r0..<r1 { out[t * width + row] = glu(gate.one(row, t), up.one(row, t), gelu) } }
                }
            }
        case .store, .addResidual:
            let residual = residualInput(l)
            forEachPartChunk(l, th, n) { pi, width, rows in
                let y = residual == nil ? f(l.parts[pi].y) : out
                for r0 in stride(from: rows.lowerBound, to: rows.upperBound, by: 16) {
                    dotRows(d4[pi], r0..<min(r0 + 16, rows.upperBound), r, width, y, residual, tmp)
                }
            }
        }
    }

    /// Rows `rows` (≤ 16) of one part for all r tokens through its four-token dots (the last r mod 4 tokens one by one):
    /// y[t·width + row] = [residual +] the dot; `tmp`: 4 floats. The group of four tokens' activation rows stays in L1
    /// across the rows, each weight block unpacked once per four tokens.
    @inline(__always) func dotRows(_ dots: TokenDots, _ rows: Range<Int>, _ r: Int, _ width: Int, _ y: UnsafeMutablePointer<Float>,
                                   _ residual: UnsafeMutablePointer<Float>?, _ tmp: UnsafeMutablePointer<Float>) {
        let groups = r / 4
        for grp in 0..<groups {
            for row in rows {
                if let residual {
                    dots.four(row, 4 &* grp, tmp, 1)
                    for i in 0..<4 { let o = (4 &* grp &+ i) &* width &+ row; y[o] = residual[o] + tmp[i] }
                } else {
                    dots.four(row, 4 &* grp, y + (4 &* grp &* width &+ row), width)
                }
            }
        }
        for t in (4 &* groups)..<r {
            for row in rows {
                let o = t &* width &+ row, v = dots.one(row, t)
                if let residual { y[o] = residual[o] + v } else { y[o] = v }
            }
        }
    }

    /// `linearDots` for a quantized batch of `Plan.sgemmMinimumRows` tokens or more whose every part has a panel GEMM:
    /// each thread claims 16-row panels (of the parts' rows side by side, or the gate's and up's same rows for a GLU),
    /// unpacks each once for the batch and multiplies it with the tokens four at a time; a part without a panel GEMM
    /// (a Q5_1 beside a Q4_K, say; in file order) takes its four-token dots over the same 16 rows. Every result is the
    /// one-row dot's bit for bit.
    func linearPanels(_ l: LinearStep, _ panels: [PanelPart?], _ dots4: [TokenDots]?, _ r: Int, _ th: Int, _ n: Int) {
        let ws = panelWorkspace! + th &* panelStride, first = ws, second = ws + panelBytes
        let acc = (ws + 2 &* panelBytes).assumingMemoryBound(to: Float.self), tile = acc + panelAccumulatorFloats, tile2 = tile + 64
        let out = f(l.out), rowsPerPanel = PanelGemmKernel.rows
        switch l.finish {
        case .glu(let gelu):
            let width = l.parts[0].weight.rows, gate = panels[0]!, up = panels[1]!, panelCount = (width + rowsPerPanel - 1) / rowsPerPanel
            // The next panel's rows (its weights come from memory) are requested while this one is multiplied, a slice
            // per group of four tokens: requested all at once they mostly waited for fill buffers, and packing then
            // stalled on its loads (24% of a Qwen3-shaped pp128 at one thread).
            ThreadPool.forEachClaimedAhead(panelCount, thread: th, of: n, ticket: rowTicket) { p, next in
                let r0 = p &* rowsPerPanel, count = min(rowsPerPanel, width &- r0)
                let n0 = (next ?? 0) &* rowsPerPanel, nextCount = next == nil ? 0 : min(rowsPerPanel, width &- n0)
                gate.pack(r0, count, first); up.pack(r0, count, second)
                for t0 in stride(from: 0, to: r, by: 4) {
                    let tc = min(4, r &- t0), slice = t0 / 4, slices = (r + 3) / 4
                    gate.prefetch(n0, nextCount, slice: slice, of: slices); up.prefetch(n0, nextCount, slice: slice, of: slices)
                    gate.multiply(first, t0, tc, acc, tile); up.multiply(second, t0, tc, acc, tile2)
                    for t in 0..<tc { gluValues(gate: tile + 16 &* t, up: tile2 + 16 &* t, out + ((t0 &+ t) &* width &+ r0), count: count, gelu: gelu) }
                }
            }
        case .store, .addResidual:
            let residual = residualInput(l)
            var total = 0
            for pi in l.parts.indices { total &+= (l.parts[pi].weight.rows + rowsPerPanel - 1) / rowsPerPanel }
            /// The part, width and first row of an item (parts' panels side by side).
            @inline(__always) func locate(_ item: Int) -> (Int, Int, Int) {
                var pi = 0, p = item, width = l.parts[0].weight.rows
                while p >= (width + rowsPerPanel - 1) / rowsPerPanel { p &-= (width + rowsPerPanel - 1) / rowsPerPanel; pi &+= 1; width = l.parts[pi].weight.rows }
                return (pi, width, p &* rowsPerPanel)
            }
            ThreadPool.forEachClaimedAhead(total, thread: th, of: n, ticket: rowTicket) { item, next in
                let (pi, width, r0) = locate(item), count = min(rowsPerPanel, width &- r0)
                // The next item's rows, a slice per group of four tokens (see the GLU case).
                let (npi, nwidth, n0) = next.map(locate) ?? (0, 0, 0), nextPart = next == nil ? nil : panels[npi]
                let nextCount = min(rowsPerPanel, nwidth &- n0)
                let y = residual == nil ? f(l.parts[pi].y) : out
                guard let part = panels[pi] else {
                    nextPart?.prefetch(n0, nextCount, slice: 0, of: 1)
                    return dotRows(dots4![pi], r0..<(r0 &+ count), r, width, y, residual, tile)
                }
                part.pack(r0, count, first)
                for t0 in stride(from: 0, to: r, by: 4) {
                    let tc = min(4, r &- t0)
                    nextPart?.prefetch(n0, nextCount, slice: t0 / 4, of: (r + 3) / 4)
                    part.multiply(first, t0, tc, acc, tile)
                    for t in 0..<tc {
                        let o = (t0 &+ t) &* width &+ r0
                        if let residual {
                            for i in 0..<count { y[o &+ i] = residual[o &+ i] + tile[16 &* t &+ i] }
                        } else {
                            for i in 0..<count { y[o &+ i] = tile[16 &* t &+ i] }
                        }
                    }
                }
            }
        }
    }

    /// `linearDots` for a quantized batch over repacked weights (every part with a four-row dot, the repacked ones
    /// reading the copy; widths multiples of 4): blocks of 16 weight rows × groups of 4 tokens, as `linearDots4`, each
    /// 4-row group read by its four-row kernel once per token (over the copy: no unpacking; every result is the one-row
    /// dot's bit for bit).
    func linearRepacked(_ l: LinearStep, _ d4: [Rows4Box?], _ r: Int, _ th: Int, _ n: Int) {
        let out = f(l.out), tmp = scratch(th)
        @inline(__always) func tokenGroups(_ body: (Range<Int>) -> Void) {
            for t0 in stride(from: 0, to: r, by: 4) { body(t0..<min(t0 + 4, r)) }
        }
        switch l.finish {
        case .glu(let gelu):
            let width = l.parts[0].weight.rows, gate = d4[0]!, up = d4[1]!
            forEachRowChunk(width, th, n) { mine in
                for r0 in stride(from: mine.lowerBound, to: mine.upperBound, by: 16) {
                    let r1 = min(r0 + 16, mine.upperBound)
                    tokenGroups { ts in
                        for row in stride(from: r0, to: r1, by: 4) {
                            for t in ts {
                                gate.call(row, token: t, tmp); up.call(row, token: t, tmp + 4)
                                for i in 0..<4 { out[t * width + row + i] = glu(tmp[i], tmp[4 + i], gelu) }
                            }
                        }
                    }
                }
            }
        case .store, .addResidual:
            let residual = residualInput(l)
            forEachPartChunk(l, th, n) { pi, width, rows in
                let dots = d4[pi]!, y = residual == nil ? f(l.parts[pi].y) : out
                for r0 in stride(from: rows.lowerBound, to: rows.upperBound, by: 16) {
                    let r1 = min(r0 + 16, rows.upperBound)
                    tokenGroups { ts in
                        for row in stride(from: r0, to: r1, by: 4) {
                            for t in ts {
                                dots.call(row, token: t, tmp)
                                let o = t * width + row
                                if let residual { for i in 0..<4 { y[o + i] = residual[o + i] + tmp[i] } } else { for i in 0..<4 { y[o + i] = tmp[i] } }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `linearDots` for one token (decode) where parts have a four-row kernel: four weight rows per call (four
    /// independent accumulator chains instead of one latency-bound chain per short row); the rows left over, and
    /// parts without such a kernel, take the one-row dot. Results equal the one-row path's bit for bit.
    func linearRows4(_ l: LinearStep, _ d4: [Rows4Box?], _ one: [RowDotBox], _ th: Int, _ n: Int) {
        let out = f(l.out), tmp = scratch(th)
        switch l.finish {
        case .glu(let gelu):
            // The one-row dots are closures: taken out of their boxes once per call (below: once per part), not per
            // chunk, since each extraction is a retain and a release on a count both threads share.
            let width = l.parts[0].weight.rows, gate1 = one[0].call, up1 = one[1].call, gate4 = d4[0], up4 = d4[1]
            forEachRowChunk(width, th, n) { mine in
                var row = mine.lowerBound
                if let gate = gate4, let up = up4 {
                    while row + 4 <= mine.upperBound {
                        gate.call(row, tmp); up.call(row, tmp + 4)
                        for i in 0..<4 { out[row + i] = glu(tmp[i], tmp[4 + i], gelu) }
                        row += 4
                    }
                }
                while row < mine.upperBound { out[row] = glu(gate1(row, 0, tmp), up1(row, 0, tmp), gelu); row += 1 }
            }
        case .store, .addResidual:
            let residual = residualInput(l)
            var part = -1, dot1 = one[0].call, dot4Part = d4[0]  // the current part's kernels
            forEachPartChunk(l, th, n) { pi, _, rows in
                if pi != part { part = pi; dot1 = one[pi].call; dot4Part = d4[pi] }
                var row = rows.lowerBound
                if let residual {
                    if let dot4 = dot4Part {
                        while row + 4 <= rows.upperBound {
                            dot4.call(row, tmp)
                            for i in 0..<4 { out[row + i] = residual[row + i] + tmp[i] }
                            row += 4
                        }
                    }
                    while row < rows.upperBound { out[row] = residual[row] + dot1(row, 0, tmp); row += 1 }
                } else {
                    let y = f(l.parts[pi].y)
                    if let dot4 = dot4Part { while row + 4 <= rows.upperBound { dot4.call(row, y + row); row += 4 } }
                    while row < rows.upperBound { y[row] = dot1(row, 0, tmp); row += 1 }
                }
            }
        }
    }

    /// Y[R, N] (+)= X·Wᵀ: on AMX tiles when `amx` (the workspace holding X as `AMXGemm.pack` left it), else the
    /// packed SGEMM.
    func gemmRows(_ r: Int, _ n: Int, _ k: Int, _ x: UnsafePointer<Float>, _ rows: Sgemm.RowLoader,
                  _ y: UnsafeMutablePointer<Float>, _ ldy: Int, accumulate: Bool, amx: UnsafeMutableRawPointer?) {
        if let amx {
            AMXGemm.multiply(tokens: r, n: n, k: k, rows: rows, y: y, ldy: ldy, accumulate: accumulate, workspace: amx, pool: pool)
        } else {
            Sgemm.gemm(m: r, n: n, k: k, a: Sgemm.Operand(x, rowStride: k, colStride: 1), rows: rows, c: y, ldc: ldy,
                       accumulate: accumulate, workspace: sgemmWorkspace, pool: pool, level: plan.level)
        }
    }

    /// Y[R, N] = X[R, K]·Wᵀ for a tall batch: the packed SGEMM (or AMX tiles) with W's rows dequantized piece by
    /// piece (each weight block is read once per batch, not once per token, and no f32 copy of W is made).
    func linearSgemm(_ l: LinearStep, _ index: Int, _ r: Int) {
        let k = l.k
        let x = UnsafePointer(f(l.normalized ?? l.x))
        let out = f(l.out)
        let loaders = rowLoaders[index]
        // AMX where enabled and K allows: X packed once here for every panel and part below.
        let amx = k % 32 == 0 ? amxWorkspace : nil
        if let amx { AMXGemm.pack(tokens: r, k: k, x: x, workspace: amx, pool: pool) }
        switch l.finish {
        case .glu(let gelu):
            let width = l.parts[0].weight.rows
            let gateRows = loaders[0], upRows = loaders[1]
            for p0 in stride(from: 0, to: width, by: panelRows) {
                let n = min(panelRows, width - p0)
                gemmRows(r, n, k, x, { gateRows(p0 + $0, $1, $2, $3) }, sgemmGate, n, accumulate: false, amx: amx)
                gemmRows(r, n, k, x, { upRows(p0 + $0, $1, $2, $3) }, sgemmUp, n, accumulate: false, amx: amx)
                let g = sgemmGate, u = sgemmUp
                parallelRows(r) { ts in
                    for t in ts { gluValues(gate: g + t * n, up: u + t * n, out + t * width + p0, count: n, gelu: gelu) }
                }
            }
        case .store, .addResidual:
            var accumulate = false
            if case .addResidual(let off) = l.finish {
                out.update(from: f(off), count: r * l.parts[0].weight.rows)
                accumulate = true
            }
            for (pi, part) in l.parts.enumerated() {
                let width = part.weight.rows
                let y = accumulate ? out : f(part.y)
                gemmRows(r, width, k, x, loaders[pi], y, width, accumulate: accumulate, amx: amx)
            }
        }
    }

    /// (row, token, scratch) → W[row] · x[token] with everything per part resolved once (at init). In float
    /// arithmetic the weight row is dequantized into the scratch (K floats) at token 0 and reused for the others.
    /// Over rows in file order (`w`: the file's, or their file-order copy): a repacked part never comes here (decode
    /// and quantized batches take its interleaved kernel, SGEMM its loaders), and the file's rows stay readable
    /// (dropped pages fault back in from the file).
    func rowDot(_ part: LinearStep.Part, _ l: LinearStep, quantized: Bool, w: UnsafeRawPointer) -> RowDot {
        let rowBytes = part.weight.rowBytes, k = l.k
        if quantized {
            let a = l.activations[part.activation]
            let xq = UnsafeRawPointer(base + a.offset), stride = a.rowStride
            let dot = part.kernels.rowDot
            return { row, t, _ in dot(w + row * rowBytes, xq + t * stride, k) }
        }
        let x = UnsafePointer(f(l.normalized ?? l.x))
        let f32 = f32Dot
        if part.weight.type == .f32 { return { row, t, _ in f32(w + row * rowBytes, UnsafeRawPointer(x + t * k), k) } }
        let dequantize = part.kernels.dequantize
        return { row, t, tmp in
            if t == 0 { dequantize(w + row * rowBytes, tmp, k) }
            return f32(UnsafeRawPointer(tmp), UnsafeRawPointer(x + t * k), k)
        }
    }
}

/// Greatest common divisor of two positive integers.
private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
