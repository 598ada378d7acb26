// The compiled engine (IR → fusion → plan → executor) on the real models, against llama.cpp's stored runs and
// the float32 reference (shared/reference/generation and perplexity, copied into Fixtures; see README there).
import Foundation
import Testing
import SKECore
import SKEFormats
import SKEGraph
import SKEKernels
import SKEModels
@testable import SKERuntime
import SKETokenizer
import CAllocationCounter

struct GenerationCase: Decodable { let prompt: String; let prompt_ids: [Int32]; let generated_ids: [Int32] }
struct GenerationRef: Decodable { let cases: [GenerationCase] }

extension E2E {
    static let gemma3 = modelsDir.appendingPathComponent("gemma-3-270m-q4_k_m.gguf").path
    static func path(_ model: String) -> String { model == "gemma3" ? gemma3 : smollm2 }
    static func floats(_ name: String) throws -> [Float] {
        try fixture(name).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    static func cases(_ model: String) throws -> [GenerationCase] {
        try JSONDecoder().decode(GenerationRef.self, from: fixture("\(model).llamacpp.json")).cases
    }
    static func engine(_ model: String, _ precision: ActivationPrecision, context: Int = 128, batch: Int = 64,
                       fusion: [String]? = nil, level: CPUFeatures.ISALevel? = nil, outputs: Int = 1, threads: Int? = nil,
                       mmap: Bool = true) throws -> Engine {
        var o = EngineOptions()
        o.contextLength = context; o.batchSize = batch; o.precision = precision; o.fusion = fusion; o.level = level; o.maxOutputs = outputs
        o.threads = threads; o.mmap = mmap
        return try Engine(path: path(model), options: o)
    }
    static func greedy(_ e: Engine, _ prompt: [Int32], _ n: Int) throws -> (ids: [Int32], first: [Float]) {
        var g = GenerationOptions()
        g.maxTokens = n; g.sampling = .greedy; g.ignoreEOS = true
        let first = try e.logits(after: prompt)
        return (try e.generate(promptIDs: prompt, g).generatedIDs, first)
    }
    static func maxAbs(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }

    /// Engines with and without the decode-time repacked copy (RowSource): the prompt is read from the file's rows;
    /// decode reads the copy with the interleaved kernel, whose arithmetic is the one-row kernel's (the same exact
    /// integer lanes, the same float operations), so every logit is the same bit for bit; the copied pages of the
    /// mapping are dropped and the file's bytes read back unchanged; batches after repacking (2, 5, 20 tokens:
    /// one-token dots, four-token dots, SGEMM/AMX in mixed precision) unpack the file's blocks: the same logits.
    /// Returns the engine that repacked.
    @discardableResult
    static func checkRepacked(_ path: String, _ precision: ActivationPrecision, prompt: [Int32], next: [Int32]) throws -> Engine {
        var o = EngineOptions()
        o.contextLength = 128; o.batchSize = 64; o.precision = precision; o.threads = 2
        o.repack = true
        let packed = try Engine(path: path, options: o)
        o.repack = false
        let plain = try Engine(path: path, options: o)
        #expect(try packed.logits(after: prompt) == plain.logits(after: prompt), "the prompt is read from the file's rows")
        #expect(packed.executor.repacked == nil && packed.file.tensorsAreFileMapped)
        let copied = try #require(packed.file.tensors.first { [.q4_1, .q5_0, .q4_K].contains($0.type) && $0.name.hasSuffix("attn_output.weight") })
        // The output matrix (Q8_0 or Q6_K here): copied in file order.
        let output = try #require(packed.file.tensor(named: "output.weight") ?? packed.file.tensor(named: "token_embd.weight"))
        let before = XXH64.hash(packed.file.data(for: copied)), outputBefore = XXH64.hash(packed.file.data(for: output))
        for id in next.prefix(6) {
            #expect(try packed.logits(after: [id]) == plain.logits(after: [id]), "decode step after \(id)")
        }
        let store = try #require(packed.executor.repacked)
        #expect(store.bytes > 0 && plain.executor.repacked == nil)
        #expect(store.copiedBytes == fileOrderCopyBytes(packed.file) && store.copiedBytes >= output.byteCount)
        #expect(XXH64.hash(packed.file.data(for: copied)) == before && XXH64.hash(packed.file.data(for: output)) == outputBefore)
        for n in [2, 5, 20] {
            packed.rewind(to: prompt.count); plain.rewind(to: prompt.count)
            let ids = Array(next.prefix(n))
            #expect(try packed.logits(after: ids) == plain.logits(after: ids), "\(n) tokens after repacking")
        }
        return packed
    }
    /// Bytes an engine copies repacked at its first decode step: in every linear (with the default fusion: Q/K/V one
    /// linear, gate/up one) whose parts all have a four-row decode kernel and a multiple of four rows, the tensors with
    /// an interleaved layout on this CPU that takes their rows (Q4_K and Q5_0 on AVX-512).
    static func repackableBytes(_ f: any TensorFile, layers: Int) -> Int {
        guard CPUFeatures.host.supportedISALevels.contains(.avx512) else { return 0 }
        func bytes(_ names: [String]) -> Int {
            let ts = names.map { f.tensor(named: $0)! }
            guard ts.allSatisfy({ QuantTraits.kernels($0.type, level: .avx512)?.rowDot4Rows != nil && $0.dims[1] % 4 == 0 }) else { return 0 }
            return ts.reduce(0) { sum, t in
                guard let path = QuantTraits.kernels(t.type, level: .avx512)?.prepared?.interleaved,
                      t.type.byteCount(elements: t.dims[0])! % path.rowBytesMultiple == 0 else { return sum }
                return sum + f.data(for: t).count
            }
        }
        return (0..<layers).reduce(0) { sum, i in
            let b = "blk.\(i)."
            return sum + bytes([b + "attn_output.weight"]) + bytes([b + "ffn_gate.weight", b + "ffn_up.weight"]) + bytes([b + "ffn_down.weight"])
                + bytes([b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"])
        }
    }
    /// Bytes an engine over a file mapping copies in file order at its first decode step: every other weight a linear
    /// reads (Q/K/V, attention output, gate/up, down in every layer; the output matrix, or the token embeddings when
    /// they are tied), onto huge pages.
    static func fileOrderCopyBytes(_ f: any TensorFile) -> Int {
        let names = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
        let layers = f.tensors.filter { $0.name.hasSuffix("attn_output.weight") }.count
        let linear = (0..<layers).flatMap { i in names.map { "blk.\(i).\($0).weight" } }
            + [f.tensor(named: "output.weight") != nil ? "output.weight" : "token_embd.weight"]
        return linear.reduce(0) { $0 + f.tensor(named: $1)!.byteCount } - repackableBytes(f, layers: layers)
    }
    static func rms(_ a: [Float], _ b: [Float]) -> Float {
        let sum = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        return Float((sum / Double(max(a.count, 1))).squareRoot())
    }
    /// llama.cpp's own spread when only its SIMD path changes (AVX2 build vs the reference's AVX-512 build), worst
    /// prompt of `model`: Fixtures/llamacpp-avx2-spread.json.
    static func llamaSpread(_ model: String) throws -> (max: Float, rms: Float) {
        struct Row: Decodable { let first_logits_max_abs_diff: Float; let first_logits_rms_diff: Float }
        struct File: Decodable { let models: [String: [Row]] }
        let rows = try #require(try JSONDecoder().decode(File.self, from: fixture("llamacpp-avx2-spread.json")).models[model])
        return (rows.map(\.first_logits_max_abs_diff).max()!, rows.map(\.first_logits_rms_diff).max()!)
    }
    /// Quantized logits `ours` against llama.cpp's `reference`: within twice llama.cpp's own cross-ISA spread.
    static func expectWithinLlamaSpread(_ model: String, _ ours: [Float], _ reference: [Float]) {
        guard let spread = try? llamaSpread(model) else { Issue.record("no llama.cpp spread for \(model)"); return }
        let d = maxAbs(ours, reference), r = rms(ours, reference)
        print("\(model) quantized activations vs llama.cpp: max |Δ| \(d), rms \(r); llama.cpp AVX2 vs AVX-512: max \(spread.max), rms \(spread.rms)")
        #expect(d <= 2 * spread.max)
        #expect(r <= 2 * spread.rms)
    }
    static func top(_ x: [Float], _ k: Int) -> [Int] { Array(x.indices.sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }.prefix(k)) }
}

@Suite("Models vs llama.cpp and the float32 reference", .serialized, .enabled(if: E2E.enabled, "run scripts/fetch-models.sh"))
struct ModelTests {
    /// Float32 activations: the arithmetic of the float reference (HF transformers on the dequantized weights,
    /// f32 KV cache). Its stated tolerance: first logits within 1e-3.
    @Test("float activations: llama.cpp's 32 greedy tokens for every prompt, first logits within 1e-3 of float32", arguments: ["smollm2", "gemma3"])
    func floatActivations(model: String) throws {
        let e = try E2E.engine(model, .float)
        for (i, c) in try E2E.cases(model).enumerated() {
            #expect(e.tokenizer.encode(c.prompt, addSpecial: true, parseSpecial: true) == c.prompt_ids)
            let (ids, first) = try E2E.greedy(e, c.prompt_ids, 32)
            #expect(ids == c.generated_ids, "\(model) prompt \(i)")
            if i == 0 {
                let hf = try E2E.floats("\(model).p0.hf_f32_logits_first.f32.bin")
                let d = E2E.maxAbs(first, hf)
                print("\(model) float activations: first logits max |Δ| vs float32 reference = \(d)")
                #expect(d <= 1e-3)
                #expect(E2E.top(first, 10) == E2E.top(hf, 10))
            }
        }
    }

    /// Quantized activations (ggml-cpu's activation quantizers, f16 KV cache) through the fast kernels, which sum in
    /// their own orders. The README's 1e-2 for an engine with llama.cpp's arithmetic is met by LlamaCppReplica (0:
    /// ReplicaTests), and only by replicating every op's order: llama.cpp's own AVX2 build is 0.67 / 1.41 / 0.056
    /// (SmolLM2 / Gemma / Qwen3, worst prompt) from its AVX-512 build (Fixtures/llamacpp-avx2-spread.json,
    /// tools/reference/make_llamacpp_isa_spread.sh): a last-bit difference flips a Q8 activation rounding, each flip
    /// perturbs whole output rows and flips more roundings. So the fast path is held to llama.cpp's own yardstick:
    /// within twice its cross-ISA spread (max and rms), the first token for every prompt, 8 of the top 10, and prompt
    /// 0's 32 tokens where the margins allow: fed llama.cpp's tokens one by one, each is our top token or within twice
    /// llama.cpp's cross-ISA rms spread of it (a tie by llama.cpp's own measure; SmolLM2's third token is one, 0.13
    /// apart, since session 11's summation order).
    @Test("quantized activations: llama.cpp's first token for every prompt; full continuations where the margins allow", arguments: ["smollm2", "gemma3"])
    func quantizedActivations(model: String) throws {
        let e = try E2E.engine(model, .quantized)
        var agreement: [Int] = []
        for (i, c) in try E2E.cases(model).enumerated() {
            let (ids, first) = try E2E.greedy(e, c.prompt_ids, 32)
            agreement.append(zip(ids, c.generated_ids).prefix { $0 == $1 }.count)
            #expect(ids.first == c.generated_ids.first, "\(model) prompt \(i)")
            if i == 0 {
                let ref = try E2E.floats("\(model).p0.logits_first.f32.bin")
                let d = E2E.maxAbs(first, ref)
                print("\(model) quantized activations (fast kernels): first logits max |Δ| vs llama.cpp = \(d)")
                E2E.expectWithinLlamaSpread(model, first, ref)
                #expect(Set(E2E.top(first, 10)).intersection(E2E.top(ref, 10)).count >= 8)
            }
        }
        print("\(model) quantized activations: tokens identical to llama.cpp before the first difference: \(agreement)")
        let c = try E2E.cases(model)[0], tie = 2 * (try E2E.llamaSpread(model)).rms
        e.rewind(to: 0)
        var logits = try e.logits(after: c.prompt_ids), exact = 0
        for (step, id) in c.generated_ids.prefix(32).enumerated() {
            let best = logits.max()!, gap = best - logits[Int(id)]
            if gap == 0 { exact += 1 }
            #expect(gap <= tie, "\(model) prompt 0 step \(step): llama.cpp's token \(id) is \(gap) below our top logit")
            logits = try e.logits(after: [id])
        }
        print("\(model) quantized activations, prompt 0 fed llama.cpp's tokens: our top token at \(exact) of 32 steps, the others within \(tie)")
        #expect(exact >= 30)
    }

    /// Mixed activations (the CLI's default): batches below the SGEMM threshold take the quantized path, taller ones
    /// run in float (bf16 operands on AMX tiles where available, else f32 SGEMM) with an f16 KV cache (and Gemma's
    /// GELU table). Short prompts must equal quantized precision bit for bit; a long prompt's first logits must stay
    /// near the float path's and pick the same token (measured max |Δ| for SmolLM2 / Gemma: 0.34 / 0.19 with AMX,
    /// 0.34 / 0.18 with SGEMM, against a bound of 2% of the largest logit, ~0.6 / ~0.5; quantized: 0.80 / 0.98).
    /// Without AMX, linears whose weights all have a panel GEMM (Q4_K, Q6_K, Q4_1, Q5_0, Q8_0: since session 14 every
    /// layer linear of both models) run tall batches quantized (llama.cpp's arithmetic): there mixed must stay no further
    /// from float than quantized activations are (session 14, no AMX: SmolLM2 0.71 and Gemma 0.99, the quantized
    /// path's own distances; session 13, Gemma's Q5_0/Q8_0 linears still in SGEMM: 0.60). With AMX the 2% bound holds.
    @Test("mixed activations: short prompts == quantized bit for bit; a long prompt's prefill tracks the float path", arguments: ["smollm2", "gemma3"])
    func mixedActivations(model: String) throws {
        let mixed = try E2E.engine(model, .mixed), quantized = try E2E.engine(model, .quantized), float = try E2E.engine(model, .float)
        /// The logits after `ids` from an empty cache.
        func fresh(_ e: Engine, _ ids: [Int32]) throws -> [Float] { e.reset(); return try e.logits(after: ids) }
        let cases = try E2E.cases(model)
        for c in cases where c.prompt_ids.count < Plan.sgemmMinimumRows {
            let a = try fresh(mixed, c.prompt_ids), b = try fresh(quantized, c.prompt_ids)
            #expect(zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(model): \(c.prompt_ids.count)-token prompt")
        }
        let long = cases[0].prompt_ids + cases[0].generated_ids
        #expect(long.count >= Plan.sgemmMinimumRows)
        let m = try fresh(mixed, long), f = try fresh(float, long), q = try fresh(quantized, long)
        let d = E2E.maxAbs(m, f), dq = E2E.maxAbs(q, f)
        print("\(model) \(long.count)-token prompt, first logits max |Δ| vs float activations: mixed \(d), quantized \(dq)")
        #expect(E2E.top(m, 1) == E2E.top(f, 1))
        let int8 = mixed.executor.batchArithmetic.contains("int8")
        #expect(d <= (int8 ? max(0.02 * f.map(abs).max()!, dq) : 0.02 * f.map(abs).max()!), "prefill: \(mixed.executor.batchArithmetic)")
    }

    @Test("KV-cache decode == full recompute; chunked prefill == one pass", arguments: [ActivationPrecision.quantized, .float])
    func cacheInvariances(precision: ActivationPrecision) throws {
        let c = try E2E.cases("smollm2")[0]
        let seq = c.prompt_ids + Array(c.generated_ids.prefix(12))
        // One pass, logits at every position.
        let one = try E2E.engine("smollm2", precision, batch: 64, outputs: 64)
        var full = [[Float]](repeating: [], count: seq.count)
        try one.evaluate(seq, outputs: Array(seq.indices)) { j, l in full[j] = Array(l) }
        // Token by token through the cache.
        let step = try E2E.engine("smollm2", precision)
        var worst: Float = 0
        for (j, id) in seq.enumerated() { worst = max(worst, E2E.maxAbs(try step.logits(after: [id]), full[j])) }
        // Chunks of 3.
        let chunked = try E2E.engine("smollm2", precision, batch: 3, outputs: 3)
        var worstChunk: Float = 0
        try chunked.evaluate(seq, outputs: Array(seq.indices)) { j, l in worstChunk = max(worstChunk, E2E.maxAbs(Array(l), full[j])) }
        print("\(precision): decode vs recompute max |Δ| = \(worst), chunked vs one pass = \(worstChunk)")
        // Quantized: bit-identical (the same dot per row and token). Float: SGEMM (batches ≥ 16) vs row dots differ in
        // summation order only (measured 8.2e-5).
        let tol: Float = precision == .quantized ? 0 : 5e-4
        #expect(worst <= tol)
        #expect(worstChunk <= tol)
    }

    /// Decode deals each linear's rows in chunks to whichever thread is free; a row's dot is the same on any thread.
    @Test("decode logits are the same bit for bit on 1, 2, 3 and 5 threads")
    func threadCounts() throws {
        let c = try E2E.cases("gemma3")[2]
        func decode(_ threads: Int) throws -> [[Float]] {
            let e = try E2E.engine("gemma3", .quantized, threads: threads)
            var out = [try e.logits(after: c.prompt_ids)]
            for id in c.generated_ids.prefix(4) { out.append(try e.logits(after: [id])) }
            return out
        }
        let one = try decode(1)
        for n in [2, 3, 5] { #expect(try decode(n) == one, "\(n) threads") }
    }

    /// SmolLM2's Q4_1 weights (every linear), Gemma's Q4_K (attention output, some FFN down) and Q5_0 weights (FFN
    /// gate/up, Q and K, V in some layers) are copied four rows at a time into the interleaved layouts at the first
    /// decode step, the other linear weights (the Q8_0 output matrices, Gemma's Q6_K and Q8_0 V) in file order (see
    /// `E2E.checkRepacked`; the Qwen3-shaped model in Qwen3Tests).
    @Test("repacked weights: prompt, decode and later batches give the file's rows' logits bit for bit",
          arguments: ["smollm2", "gemma3"], [ActivationPrecision.quantized, .mixed])
    func repackedWeights(model: String, precision: ActivationPrecision) throws {
        let c = try E2E.cases(model)[2]
        let packed = try E2E.checkRepacked(E2E.path(model), precision, prompt: c.prompt_ids, next: Array(c.generated_ids.prefix(20)))
        let f = packed.file, expected = E2E.repackableBytes(f, layers: model == "gemma3" ? 18 : 30)
        #expect(packed.executor.repacked?.bytes == expected)
        guard CPUFeatures.host.supportedISALevels.contains(.avx512) else { return }
        if model == "gemma3" {
            #expect(expected > 18 * (2 * 901_120 + 450_560 + 112_640), "every layer's Q5_0 gate/up, Q and K")
        } else {
            #expect(expected == f.tensors.filter { $0.type == .q4_1 }.reduce(0) { $0 + $1.byteCount }, "every Q4_1 tensor")
        }
    }

    /// The copies are anonymous memory, which cannot be evicted as a mapping's pages can: within a budget, all of them,
    /// else only the repacked ones, else none (the kernels then read the file's rows).
    @Test("decode copies only what fits in memory")
    func copiesWithinMemory() throws {
        let e = try E2E.engine("gemma3", .quantized)
        let all = RowSource.Store.candidates(e.plan, fileOrder: true)
        func bytes(_ cs: [RowSource.Candidate]) -> Int { cs.reduce(0) { $0 + $1.rows * $1.rowBytes } }
        let repacked = all.filter { $0.path != nil }, total = bytes(all)
        #expect(bytes(repacked) == E2E.repackableBytes(e.file, layers: 18))
        #expect(total - bytes(repacked) == E2E.fileOrderCopyBytes(e.file))
        #expect(RowSource.Store.fitting(all, budget: nil).count == all.count)
        #expect(RowSource.Store.fitting(all, budget: total).count == all.count)
        #expect(bytes(RowSource.Store.fitting(all, budget: total - 1)) == bytes(repacked))
        #expect(RowSource.Store.fitting(all, budget: bytes(repacked) - 1).isEmpty)
        #expect(try #require(Arena.availableMemory) > 0)
    }

    @Test(".bump with its tokenizer image: the GGUF's prompt ids, logits and greedy tokens, bit for bit", arguments: ["smollm2", "gemma3"])
    func bumpWithTokenizerImage(model: String) throws {
        let gguf = try GGUFFile(path: E2E.path(model))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ske-\(model)-\(getpid()).bump").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Bump.convert(gguf, tokenizerImage: try #require(Tokenizer.image(for: gguf)), to: path)
        let bump = try BumpFile(path: path)
        var o = EngineOptions()
        o.contextLength = 128; o.batchSize = 64; o.precision = .quantized
        let fromBump = try Engine(file: bump, options: o), fromGGUF = try Engine(path: E2E.path(model), options: o)
        // The engine took the image's tables (the same image comes out), and never decoded the vocabulary strings.
        #expect(fromBump.tokenizer.image() == Array(try #require(bump.tokenizerImage)))
        #expect(!bump.metadata.isDecoded("tokenizer.ggml.tokens"))
        let c = try E2E.cases(model)[1]
        for text in [c.prompt, String(decoding: try E2E.fixture("perplexity.text.txt").prefix(4000), as: UTF8.self)] {
            #expect(fromBump.tokenizer.encode(text, addSpecial: true, parseSpecial: true) == fromGGUF.tokenizer.encode(text, addSpecial: true, parseSpecial: true))
        }
        let a = try E2E.greedy(fromBump, c.prompt_ids, 8), b = try E2E.greedy(fromGGUF, c.prompt_ids, 8)
        #expect(a.ids == b.ids && a.first == b.first)
        #expect(fromBump.tokenizer.decode(a.ids) == fromGGUF.tokenizer.decode(b.ids))
    }

    @Test("weights read into memory (--no-mmap) give the mapped file's logits bit for bit")
    func noMmap() throws {
        let ids = try E2E.cases("gemma3")[1].prompt_ids
        let mapped = try E2E.engine("gemma3", .quantized), loaded = try E2E.engine("gemma3", .quantized, mmap: false)
        #expect(loaded.file is LoadedFile && !(mapped.file is LoadedFile))
        #expect(E2E.maxAbs(try loaded.logits(after: ids), try mapped.logits(after: ids)) == 0)
        // Decode (over the repacked copy in both): the same; the in-memory originals are kept, not dropped.
        #expect(!loaded.file.tensorsAreFileMapped && mapped.file.tensorsAreFileMapped)
        let q4K = try #require(loaded.file.tensors.first { $0.type == .q4_K })
        let before = XXH64.hash(loaded.file.data(for: q4K))
        for id in try E2E.cases("gemma3")[1].generated_ids.prefix(3) {
            #expect(E2E.maxAbs(try loaded.logits(after: [id]), try mapped.logits(after: [id])) == 0)
        }
        #expect(loaded.executor.repacked != nil && XXH64.hash(loaded.file.data(for: q4K)) == before)
        // Weights in memory are on huge pages already: nothing is copied in file order.
        #expect(loaded.executor.repacked?.copiedBytes == 0 && mapped.executor.repacked?.copiedBytes == E2E.fileOrderCopyBytes(mapped.file))
    }

    @Test("fused == unfused, each pattern alone and all together")
    func fusion() throws {
        let ids = try E2E.cases("smollm2")[2].prompt_ids
        let base = try E2E.engine("smollm2", .quantized, fusion: []).logits(after: ids)
        for set in Fusion.patterns.map({ [$0.name] }) + [Fusion.patterns.map(\.name)] {
            let e = try E2E.engine("smollm2", .quantized, fusion: set)
            let d = E2E.maxAbs(try e.logits(after: ids), base)
            #expect(d == 0, "fusion \(set): max |Δ| = \(d)")
        }
        let gemma = try E2E.cases("gemma3")[0].prompt_ids
        let g0 = try E2E.engine("gemma3", .quantized, fusion: []).logits(after: gemma)
        #expect(E2E.maxAbs(try E2E.engine("gemma3", .quantized).logits(after: gemma), g0) == 0)
    }

    /// Float activations: the paths differ in summation order only. (Quantized activations amplify a last-bit
    /// difference into flipped Q8 roundings, up to 0.73 in the first logits (SmolLM2 prompt 0, AVX2 vs AVX-512, as
    /// llama.cpp's own builds differ): enough to change a near-tie, so there the paths
    /// are held to the first token.)
    @Test("every ISA path gives the same greedy tokens")
    func isaPaths() throws {
        let c = try E2E.cases("smollm2")[0]
        let levels = CPUFeatures.ISALevel.allCases.filter { $0 <= CPUFeatures.host.bestISALevel }
        for level in levels {
            let (ids, _) = try E2E.greedy(try E2E.engine("smollm2", .float, level: level), c.prompt_ids, 16)
            #expect(ids == Array(c.generated_ids.prefix(16)), "ISA \(level)")
            let (q, _) = try E2E.greedy(try E2E.engine("smollm2", .quantized, level: level), c.prompt_ids, 1)
            #expect(q == [c.generated_ids[0]], "ISA \(level), quantized")
        }
    }

    @Test("context overflow and bad token ids are typed errors")
    func errors() throws {
        let e = try E2E.engine("smollm2", .quantized, context: 16, batch: 8)
        #expect(throws: RuntimeError.contextFull(needed: 17, context: 16)) { try e.logits(after: [Int32](repeating: 1, count: 17)) }
        #expect(throws: RuntimeError.invalidToken(49152, vocabulary: 49152)) { try e.logits(after: [1, 49152]) }
        #expect(throws: RuntimeError.emptyInput) { try e.logits(after: []) }
        var g = GenerationOptions(); g.maxTokens = 10
        #expect(throws: RuntimeError.contextFull(needed: 17, context: 16)) { try e.generate(promptIDs: [Int32](repeating: 1, count: 8), g) }
    }
}

@Suite("Perplexity vs llama-perplexity and the float32 reference", .serialized, .enabled(if: E2E.enabled, "run scripts/fetch-models.sh"))
struct PerplexityTests {
    struct Ref: Decodable {
        struct Model: Decodable { let final_ppl: Double; let n_chunks: Int; let running_ppl_per_chunk: [Double] }
        let models: [String: Model]
    }
    struct IDs: Decodable { let ids: [Int32] }

    static func engine(_ model: String) throws -> (Engine, [Int32]) {
        var o = Engine.perplexityOptions(context: 128)
        o.precision = .float
        let e = try Engine(path: E2E.path(model), options: o)
        var text = String(decoding: try E2E.fixture("perplexity.text.txt"), as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }   // llama-perplexity's reader drops one trailing newline
        return (e, e.tokenizer.encode(text, addSpecial: true, parseSpecial: false))
    }

    /// Float activations against the float32 reference's running PPL (same protocol, same ids), chunk by chunk.
    @Test("token ids exact; running PPL within 0.1% of float32 over the first chunks", arguments: [("smollm2", 16), ("gemma3", 8)])
    func runningPPL(model: String, chunks: Int) throws {
        let hf = try JSONDecoder().decode(Ref.self, from: E2E.fixture("perplexity.hf_f32.json")).models[model]!
        let (e, ids) = try Self.engine(model)
        #expect(ids == (try JSONDecoder().decode(IDs.self, from: E2E.fixture("\(model).token_ids.json")).ids))
        #expect(ids.count / 128 == hf.n_chunks)
        let r = try e.perplexity(ids: Array(ids.prefix(chunks * 128)), context: 128)
        for (i, p) in r.running.enumerated() { #expect(abs(p / hf.running_ppl_per_chunk[i] - 1) < 1e-3, "\(model) chunk \(i + 1): \(p) vs \(hf.running_ppl_per_chunk[i])") }
    }

    /// The whole file (93 chunks): within 0.5% of llama-perplexity's final value, and of the float32 reference's.
    @Test("SmolLM2 final PPL within 0.5% of llama.cpp and of float32")
    func finalPPL() throws {
        let llama = try JSONDecoder().decode(Ref.self, from: E2E.fixture("perplexity.llamacpp.json")).models["smollm2"]!
        let hf = try JSONDecoder().decode(Ref.self, from: E2E.fixture("perplexity.hf_f32.json")).models["smollm2"]!
        let (e, ids) = try Self.engine("smollm2")
        let r = try e.perplexity(ids: ids, context: 128)
        print("smollm2 PPL \(r.perplexity) ± \(r.uncertainty) (llama.cpp \(llama.final_ppl), float32 \(hf.final_ppl)) in \(r.seconds) s")
        #expect(r.chunks == 93)
        #expect(abs(r.perplexity / llama.final_ppl - 1) < 0.005)
        #expect(abs(r.perplexity / hf.final_ppl - 1) < 1e-3)
    }
}

@Suite("Quantize and registry", .serialized, .enabled(if: E2E.enabled, "run scripts/fetch-models.sh"))
struct QuantizeTests {
    @Test("ske quantize: a Q8_0 and a Q4_K_M SmolLM2 still continue '1, 2, 3, 4, 5,' as llama.cpp does")
    func requantized() throws {
        let c = try E2E.cases("smollm2")[2]
        let src = try ModelFile.open(E2E.smollm2)
        for target in ["Q8_0", "Q4_K_M"] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("ske-quant-\(target)-\(getpid()).gguf").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            try ModelQuantizer.quantize(src, to: out, target: target)
            let types = try ModelQuantizer.plan(src, target: target)
            if target == "Q4_K_M" {
                #expect(types["token_embd.weight"] == .q8_0)     // tied → Q6_K, whose 576-wide rows fall back to Q8_0
                #expect(types["blk.0.ffn_down.weight"] == .q6_K)  // 1536 = 6·256: use_more_bits layer keeps Q6_K
                #expect(types["blk.4.ffn_down.weight"] == .q4_K)
                #expect(types["blk.0.attn_norm.weight"] == .f32)
            }
            var o = EngineOptions(); o.contextLength = 64
            let e = try Engine(path: out, options: o)
            let (ids, _) = try E2E.greedy(e, c.prompt_ids, 12)
            #expect(ids == Array(c.generated_ids.prefix(12)), "\(target)")
        }
        #expect(throws: ModelError.self) { try ModelQuantizer.plan(src, target: "Q3_K") }
    }

    @Test("an unknown architecture is an error naming the supported ones")
    func unknownArchitecture() throws {
        var w = GGUFWriter(metadata: GGUFMetadata([("general.architecture", .string("mamba"))]))
        try w.addTensor(name: "x.weight", type: .f32, dims: [4], data: .bytes([UInt8](repeating: 0, count: 16)))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ske-mamba-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        #expect(throws: ModelError.unsupportedArchitecture("mamba", supported: ["gemma3", "llama", "qwen2", "qwen3"])) {
            _ = try ModelRegistry.config(of: try ModelFile.open(path))
        }
    }

    @Test("the planner shares bytes between dead values and prints its saving")
    func planner() throws {
        let e = try E2E.engine("gemma3", .quantized)
        #expect(e.plan.arenaBytes * 10 < e.plan.separateBytes)
        #expect(e.plan.memorySummary.hasPrefix("activations: "))
        // No two buffers alive at once overlap: checked by the planner's own construction; here the result runs.
        #expect(try e.logits(after: [2, 651]).count == e.vocabulary)
    }
}

@Suite("Allocations per token", .serialized, .enabled(if: E2E.enabled, "run scripts/fetch-models.sh"))
struct AllocationTests {
    /// After warm-up, a decode step (the plan on the pool, greedy pick) calls no allocator on any thread.
    @Test("zero allocations per decoded token", arguments: [("smollm2", ActivationPrecision.quantized), ("smollm2", .float), ("gemma3", .mixed)])
    func zeroAllocations(model: String, precision: ActivationPrecision) throws {
        // A pool of its own: the shared pool's threads also run other suites' work while this one counts.
        let e = try E2E.engine(model, precision, threads: 2)
        let prompt = try E2E.cases(model)[0].prompt_ids
        var next: Int32 = 0
        try e.evaluate(prompt) { _, l in next = Sampler.argmax(l) }
        var one: [Int32] = [next]
        for _ in 0..<3 { one[0] = next; try e.evaluate(one) { _, l in next = Sampler.argmax(l) } }   // warm-up
        e.pool.run { _, _ in ske_count_allocations_begin() }
        ske_count_allocations_begin()
        let before = ske_counted_allocations()
        for _ in 0..<16 { one[0] = next; try e.evaluate(one) { _, l in next = Sampler.argmax(l) } }
        let after = ske_counted_allocations()
        ske_count_allocations_end()
        e.pool.run { _, _ in ske_count_allocations_end() }
        #expect(after - before == 0, "\(after - before) allocations in 16 decode steps")
        // The counter itself works: an array made on this thread is counted.
        ske_count_allocations_begin()
        let probe = ske_counted_allocations()
        let a = [Int](repeating: Int(next), count: 1000)
        #expect(ske_counted_allocations() > probe && a.count == 1000)
        ske_count_allocations_end()
    }
}
