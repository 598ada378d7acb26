// llama.cpp's forward pass, op for op, in llama.cpp's arithmetic (SKEKernels.GGMLOrder): the graph llama.cpp
// builds for llama, qwen3 and gemma3 (its node order, the rows it keeps for the last layer), its f16 K/V cache with
// V stored transposed, its padded attention width (n_kv = cells used rounded up to 256), and for each op the kernel
// ggml-cpu picks for the batch at hand. Its logits equal llama.cpp's bit for bit (ReplicaTests: first-position
// logits and 32 greedy steps of shared/reference/generation), which the fast engine's cannot: its kernels sum in
// other orders, and one last-bit difference flips an activation's Q8 rounding somewhere in the stack.
//
// What it settles: that the engine's model wiring (layouts, norms, rope, masks, GQA, scales) is llama.cpp's, with
// the arithmetic as the only remaining difference. Slow (scalar): seconds per token; a reference, not a runtime path.
// Settings replicated: llama.cpp's as the reference ran them (n_batch = n_ubatch = 512, flash attention off, f16 K/V;
// n_ctx 512 by default, `cells`); inputs longer than 512 tokens go in 512-token ubatches as llama.cpp splits them
// (checked bit for bit on 737–817-token prompts of all three models at n_ctx 1024, and in ReplicaTests for Gemma).
import SKECore
import SKEFormats
import SKEKernels
import SKEModels

public final class LlamaCppReplica {
    public let file: any TensorFile
    public let config: ModelConfig
    /// KV cells (llama.cpp's n_ctx).
    public let cells: Int
    /// Positions evaluated so far.
    public private(set) var position = 0
    let pool: ThreadPool
    let gemma: Bool, neox: Bool, qkNorm: Bool
    /// Per layer: K [kvHead][cell][headSize] and V transposed [kvHead][headSize][cell], as f16.
    var keys: [[Float16]], values: [[Float16]]

    public static let architectures = ["llama", "qwen3", "gemma3"]

    public init(file: any TensorFile, cells: Int = 512, threads: Int? = nil) throws {
        self.file = file
        config = try ModelRegistry.config(of: file)
        guard Self.architectures.contains(config.architecture) else {
            throw ModelError.unsupportedArchitecture(config.architecture, supported: Self.architectures)
        }
        guard cells % 256 == 0, cells > 0 else { throw RuntimeError.invalidOption("the replica's KV cells must be a multiple of 256 (llama.cpp pads n_kv to 256)") }
        self.cells = cells
        gemma = config.architecture == "gemma3"
        if gemma, config.slidingWindow > 0, cells > config.slidingWindow + Self.ubatch {
            // llama.cpp's sliding-window cache holds window + ubatch cells and reuses them past that: other cell
            // orders, other sums. Not replicated.
            throw RuntimeError.invalidOption("the replica holds at most \(config.slidingWindow + Self.ubatch) cells for this model (its sliding window + one ubatch)")
        }
        neox = config.architecture != "llama"
        qkNorm = config.architecture != "llama"
        pool = threads.map { ThreadPool(threadCount: $0) } ?? ThreadPool.shared
        let kv = config.kvHeads * config.headSize * cells
        keys = Array(repeating: [Float16](repeating: 0, count: kv), count: config.layers)
        values = keys
        for t in file.tensors {
            if t.name.hasSuffix(".bias") || t.name == "rope_freqs.weight" {
                throw RuntimeError.invalidOption("the llama.cpp-arithmetic replica does not replicate '\(t.name)' (biases, rope frequency factors)")
            }
            if t.dims.count == 1, t.type != .f32 { throw GGMLOrder.OrderError.unsupportedWeight(t.name, t.type) }
            if t.dims.count == 2, t.name != "token_embd.weight", !GGMLOrder.supports(t.type, rows: t.dims[1]) {
                throw GGMLOrder.OrderError.unsupportedWeight(t.name, t.type)
            }
        }
        guard let embedding = file.tensor(named: "token_embd.weight"), QuantTraits.kernels(embedding.type, level: .reference) != nil else {
            throw RuntimeError.invalidOption("the model has no token_embd.weight of a type ske dequantizes")
        }
        if file.tensor(named: "output.weight") == nil, let e = file.tensor(named: "token_embd.weight"), !GGMLOrder.supports(e.type, rows: e.dims[1]) {
            throw GGMLOrder.OrderError.unsupportedWeight(e.name, e.type)
        }
    }

    public convenience init(path: String, cells: Int = 512, threads: Int? = nil) throws {
        try self.init(file: try ModelFile.open(path), cells: cells, threads: threads)
    }

    /// Empties the cache (its cells zeroed, as llama.cpp clears its buffer).
    public func reset() {
        for l in keys.indices { keys[l].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }; values[l].withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        position = 0
    }

    /// llama.cpp's n_ubatch as the reference ran it: a longer input is evaluated in batches of this many tokens.
    public static let ubatch = 512

    /// Evaluates `ids` after the cached positions, in llama.cpp's ubatches; returns the last token's logits.
    public func logits(after ids: [Int32]) throws -> [Float] {
        guard !ids.isEmpty else { throw RuntimeError.emptyInput }
        guard position + ids.count <= cells else { throw RuntimeError.contextFull(needed: position + ids.count, context: cells) }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= config.vocabulary }) { throw RuntimeError.invalidToken(bad, vocabulary: config.vocabulary) }
        var logits: [Float] = []
        for start in stride(from: 0, to: ids.count, by: Self.ubatch) {
            logits = try ubatch(Array(ids[start..<min(ids.count, start + Self.ubatch)]))
        }
        return logits
    }

    /// One ubatch (ids already checked): the graph llama.cpp builds for it.
    func ubatch(_ ids: [Int32]) throws -> [Float] {
        let c = config, T = ids.count, E = c.embedding, hs = c.headSize
        let used = position + T
        let nKV = min(cells, max(256, (used + 255) / 256 * 256))
        var x = ids.map { embed(Int($0)) }                                           // [T][E]
        if gemma { let s = Float(E).squareRoot(); x = x.map { $0.map { $0 * s } } }
        for l in 0..<c.layers {
            let h = try x.map { try norm($0, "blk.\(l).attn_norm.weight") }
            var q = try linear("blk.\(l).attn_q.weight", h), k = try linear("blk.\(l).attn_k.weight", h)
            let v = try linear("blk.\(l).attn_v.weight", h)
            if qkNorm {
                q = try q.map { try headNorm($0, "blk.\(l).attn_q_norm.weight") }
                k = try k.map { try headNorm($0, "blk.\(l).attn_k_norm.weight") }
            }
            let sliding = gemma && Gemma3.isSliding(layer: l, c)
            let base = Float(sliding ? Gemma3.localRopeBase : c.ropeBase), scale = sliding ? 1 : Float(c.ropeFreqScale)
            for t in 0..<T {
                let cache = GGMLOrder.ropeCache(position: position + t, dims: c.ropeDims, base: base, freqScale: scale)
                rope(&q[t], heads: c.heads, cache); rope(&k[t], heads: c.kvHeads, cache)
            }
            if gemma { let s = 1 / Float(hs).squareRoot(); q = q.map { $0.map { $0 * s } } }
            store(layer: l, k: k, v: v)
            var a = attend(layer: l, q: q, nKV: nKV, scale: gemma ? 1 : 1 / Float(hs).squareRoot(), window: sliding ? c.slidingWindow : 0)
            a = try linear("blk.\(l).attn_output.weight", a)
            var residual = x
            if l == c.layers - 1 { a = [a[T - 1]]; residual = [x[T - 1]] }               // llama.cpp's out_ids rows
            if gemma { a = try a.map { try norm($0, "blk.\(l).post_attention_norm.weight") } }
            x = zip(a, residual).map { zip($0, $1).map(+) }
            let h2 = try x.map { try norm($0, "blk.\(l).ffn_norm.weight") }
            let g = try linear("blk.\(l).ffn_gate.weight", h2), u = try linear("blk.\(l).ffn_up.weight", h2)
            let glu = zip(g, u).map { zip($0, $1).map { gemma ? GGMLOrder.geglu($0, $1) : GGMLOrder.silu($0) * $1 } }
            var f = try linear("blk.\(l).ffn_down.weight", glu)
            if gemma { f = try f.map { try norm($0, "blk.\(l).post_ffw_norm.weight") } }
            x = zip(f, x).map { zip($0, $1).map(+) }
        }
        position = used
        let out = try norm(x[0], "output_norm.weight")
        return try linear(file.tensor(named: "output.weight") != nil ? "output.weight" : "token_embd.weight", [out])[0]
    }

    // MARK: ops

    func weight(_ name: String) throws -> (TensorInfo, UnsafeRawPointer) {
        guard let t = file.tensor(named: name) else { throw RuntimeError.invalidOption("the model has no tensor '\(name)', which its architecture needs") }
        return (t, file.data(for: t).baseAddress!)
    }

    /// An F32 vector (norm weights; their type is checked at init).
    func floats(_ name: String) throws -> [Float] {
        let (t, p) = try weight(name)
        return (0..<t.dims[0]).map { p.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    }

    /// `get_rows`: the row dequantized as ggml does (the reference dequantizers: the same single roundings).
    func embed(_ id: Int) -> [Float] {
        let t = file.tensor(named: "token_embd.weight")!, rowBytes = t.type.byteCount(elements: t.dims[0])!
        var y = [Float](repeating: 0, count: t.dims[0])
        let kernels = QuantTraits.kernels(t.type, level: .reference)!
        y.withUnsafeMutableBufferPointer { kernels.dequantize(file.data(for: t).baseAddress! + id * rowBytes, $0.baseAddress!, t.dims[0]) }
        return y
    }

    func norm(_ x: [Float], _ w: String) throws -> [Float] {
        let wt = try floats(w)
        var y = [Float](repeating: 0, count: x.count)
        GGMLOrder.rmsNorm(x, wt, &y, x.count, eps: config.eps)
        return y
    }

    /// RMSNorm over each head of a Q or K row (llama.cpp reshapes to [head size, heads] and norms rows).
    func headNorm(_ x: [Float], _ w: String) throws -> [Float] {
        let wt = try floats(w), hs = config.headSize
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for h in 0..<(x.count / hs) { GGMLOrder.rmsNorm(xp.baseAddress! + h * hs, wt, yp.baseAddress! + h * hs, hs, eps: config.eps) }
            }
        }
        return y
    }

    func rope(_ x: inout [Float], heads: Int, _ cache: [(cos: Float, sin: Float)]) {
        let hs = config.headSize, half = config.ropeDims / 2
        for h in 0..<heads {
            for i in 0..<half {
                let i0 = neox ? h * hs + i : h * hs + 2 * i, i1 = neox ? i0 + half : i0 + 1
                var a = x[i0], b = x[i1]
                GGMLOrder.rotate(&a, &b, cache[i])
                x[i0] = a; x[i1] = b
            }
        }
    }

    /// x [T][k] · W → [T][rows]: each token's row quantized to W's activation format, each output by the kernel
    /// ggml runs for that token of this batch.
    func linear(_ name: String, _ x: [[Float]]) throws -> [[Float]] {
        let (t, w) = try weight(name)
        let k = t.dims[0], rows = t.dims[1], T = x.count
        guard let act = GGMLOrder.activationType(t.type), GGMLOrder.supports(t.type, rows: rows) else { throw GGMLOrder.OrderError.unsupportedWeight(name, t.type) }
        let rowBytes = t.type.byteCount(elements: k)!, actBytes = act.byteCount(elements: k)!
        var a = [UInt8](repeating: 0, count: T * actBytes)
        a.withUnsafeMutableBytes { ap in
            for (i, row) in x.enumerated() { GGMLOrder.quantizeActivation(act, row, ap.baseAddress! + i * actBytes, k) }
        }
        var y = [Float](repeating: 0, count: T * rows)
        let paths = (0..<T).map { GGMLOrder.path(t.type, tokens: T, token: $0) }
        a.withUnsafeBytes { ap in
            y.withUnsafeMutableBufferPointer { yp in
                let yb = yp.baseAddress!, ab = ap.baseAddress!
                pool.parallelFor(rows) { range in
                    for r in range {
                        for i in 0..<T {
                            yb[i * rows + r] = GGMLOrder.dot(t.type, path: paths[i], w: w + r * rowBytes, a: ab + i * actBytes, k: k)
                        }
                    }
                }
            }
        }
        return (0..<T).map { Array(y[($0 * rows)..<(($0 + 1) * rows)]) }
    }

    /// set_rows into the f16 cache: K by position, V transposed (llama.cpp's v_trans without flash attention).
    func store(layer l: Int, k: [[Float]], v: [[Float]]) {
        let hs = config.headSize
        for (t, (kr, vr)) in zip(k, v).enumerated() {
            let p = position + t
            for g in 0..<config.kvHeads {
                for d in 0..<hs {
                    keys[l][(g * cells + p) * hs + d] = Float16(kr[g * hs + d])
                    values[l][(g * hs + d) * cells + p] = Float16(vr[g * hs + d])
                }
            }
        }
    }

    /// kq = K·q (q as f16), soft_max(kq·scale + mask), kqv = Vᵀ·p (p as f16), over n_kv cells; tinyBLAS's dots for a
    /// batch of queries, ggml_vec_dot_f16 for one. Returns [T][heads·headSize].
    func attend(layer l: Int, q: [[Float]], nKV: Int, scale: Float, window: Int) -> [[Float]] {
        let c = config, hs = c.headSize, T = q.count, group = c.heads / c.kvHeads
        let tiled = T >= 2
        func dot(_ x: UnsafePointer<Float16>, _ y: UnsafePointer<Float16>, _ n: Int) -> Float {
            tiled ? GGMLOrder.dotF16Tiled(x, y, n) : GGMLOrder.dotF16(x, y, n)
        }
        var out = [[Float]](repeating: [Float](repeating: 0, count: c.heads * hs), count: T)
        var scores = [Float](repeating: 0, count: nKV)
        var qh = [Float16](repeating: 0, count: hs), p16 = [Float16](repeating: 0, count: nKV)
        keys[l].withUnsafeBufferPointer { kc in
            values[l].withUnsafeBufferPointer { vc in
                for h in 0..<c.heads {
                    let g = h / group
                    for t in 0..<T {
                        let pos = position + t
                        for d in 0..<hs { qh[d] = Float16(q[t][h * hs + d]) }
                        qh.withUnsafeBufferPointer { qp in
                            for j in 0..<nKV { scores[j] = dot(kc.baseAddress! + (g * cells + j) * hs, qp.baseAddress!, hs) }
                        }
                        scores.withUnsafeMutableBufferPointer { sp in
                            GGMLOrder.softmax(sp.baseAddress!, nKV, scale: scale) { j in j <= pos && (window == 0 || pos - j < window) }
                        }
                        for j in 0..<nKV { p16[j] = Float16(scores[j]) }
                        p16.withUnsafeBufferPointer { pp in
                            for d in 0..<hs { out[t][h * hs + d] = dot(vc.baseAddress! + (g * hs + d) * cells, pp.baseAddress!, nKV) }
                        }
                    }
                }
            }
        }
        return out
    }
}
