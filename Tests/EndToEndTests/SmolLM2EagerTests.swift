// The kernels composed by hand into SmolLM2-135M (llama architecture, Q4_1 weights, Q8_0 tied embeddings),
// run token by token with an f32 KV cache, against llama.cpp's stored run (shared/reference/generation,
// copied into Fixtures): the prompt's token ids and the 32-token greedy continuation must be identical.
// This is an eager reference for the compiler/runtime to come (which must give the same numbers).
import Foundation
import Testing
import SKECore
import SKEFormats
import SKEKernels
import SKETokenizer

enum E2E {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelsDir = ProcessInfo.processInfo.environment["SKE_MODELS_DIR"].map { URL(fileURLWithPath: $0) } ?? root.appendingPathComponent("models")
    static let smollm2 = modelsDir.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path
    static var enabled: Bool { ProcessInfo.processInfo.environment["SKE_REQUIRE_MODELS"] == "1" || FileManager.default.fileExists(atPath: smollm2) }
    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: try #require(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)))
    }
}

/// A llama-architecture model run eagerly, one token at a time.
final class EagerLlama {
    let f: GGUFFile
    let nLayer: Int, nEmbd: Int, nHead: Int, nKV: Int, headDim: Int, nFF: Int, nVocab: Int
    let eps: Float
    let rope: RopeParameters
    let attn: AttentionParameters
    let pool = ThreadPool(threadCount: 2)
    var kCache: [[Float]], vCache: [[Float]]
    let maxT = 64
    var scratch: [UInt8]

    init(path: String) throws {
        f = try GGUFFile(path: path)
        let md = f.metadata
        nLayer = md.int("llama.block_count")!; nEmbd = md.int("llama.embedding_length")!
        nHead = md.int("llama.attention.head_count")!; nKV = md.int("llama.attention.head_count_kv")!
        headDim = nEmbd / nHead; nFF = md.int("llama.feed_forward_length")!
        nVocab = md.array("tokenizer.ggml.tokens")!.count
        eps = Float(md.double("llama.attention.layer_norm_rms_epsilon")!)
        rope = RopeParameters(base: md.double("llama.rope.freq_base")!, dims: headDim, layout: .normal)
        attn = AttentionParameters(heads: nHead, kvHeads: nKV, headSize: headDim)
        kCache = Array(repeating: [Float](repeating: 0, count: maxT * nKV * headDim), count: nLayer)
        vCache = kCache
        scratch = [UInt8](repeating: 0, count: 1 << 20)
    }

    func matvec(_ name: String, _ x: [Float]) -> [Float] {
        let t = f.tensor(named: name)!
        let kern = QuantTraits.kernels(t.type)!
        var y = [Float](repeating: 0, count: t.dims[1])
        let w = f.data(for: t).baseAddress!
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in scratch.withUnsafeMutableBytes { s in
            Matmul.gemv(kern, w: w, rows: t.dims[1], k: t.dims[0], x: xp.baseAddress!, y: yp.baseAddress!, scratch: s.baseAddress!, pool: pool)
        } } }
        return y
    }

    func norm(_ x: [Float], _ name: String) -> [Float] {
        let w = f.data(for: f.tensor(named: name)!).bindMemory(to: Float.self)
        var y = [Float](repeating: 0, count: x.count)
        FastOps.rmsNorm(x: x, weight: w.baseAddress!, y: &y, rows: 1, cols: x.count, eps: eps)
        return y
    }

    /// Logits after feeding `token` at `pos`.
    func step(_ token: Int32, _ pos: Int) -> [Float] {
        let emb = f.tensor(named: "token_embd.weight")!
        var x = [Float](repeating: 0, count: nEmbd)
        _ = Embedding.forward(table: f.data(for: emb).baseAddress!, type: emb.type, vocab: nVocab, cols: nEmbd, ids: [token], count: 1, y: &x)
        let positions: [Int32] = [Int32(pos)]
        for l in 0..<nLayer {
            let h = norm(x, "blk.\(l).attn_norm.weight")
            var q = matvec("blk.\(l).attn_q.weight", h), k = matvec("blk.\(l).attn_k.weight", h)
            let v = matvec("blk.\(l).attn_v.weight", h)
            let q0 = q, k0 = k
            Rope.forward(x: q0, y: &q, tokens: 1, heads: nHead, headSize: headDim, positions: positions, rope)
            Rope.forward(x: k0, y: &k, tokens: 1, heads: nKV, headSize: headDim, positions: positions, rope)
            let row = nKV * headDim
            kCache[l].replaceSubrange((pos * row)..<((pos + 1) * row), with: k)
            vCache[l].replaceSubrange((pos * row)..<((pos + 1) * row), with: v)
            var o = [Float](repeating: 0, count: nEmbd), scores = [Float](repeating: 0, count: maxT)
            kCache[l].withUnsafeBytes { kb in vCache[l].withUnsafeBytes { vb in
                FastOps.attentionDecode(q: q, positions: positions, tokens: 1, kCache: kb.baseAddress!, vCache: vb.baseAddress!, half: false,
                                        cacheLength: pos + 1, out: &o, row: &scores, attn)
            } }
            let proj = matvec("blk.\(l).attn_output.weight", o)
            for i in 0..<nEmbd { x[i] += proj[i] }
            let h2 = norm(x, "blk.\(l).ffn_norm.weight")
            let g = matvec("blk.\(l).ffn_gate.weight", h2), u = matvec("blk.\(l).ffn_up.weight", h2)
            var a = [Float](repeating: 0, count: nFF)
            Activation.gluForward(gate: g, up: u, &a, count: nFF, gelu: false)
            let d = matvec("blk.\(l).ffn_down.weight", a)
            for i in 0..<nEmbd { x[i] += d[i] }
        }
        let xn = norm(x, "output_norm.weight")
        return matvec(f.tensor(named: "output.weight") != nil ? "output.weight" : "token_embd.weight", xn)
    }
}

@Suite("SmolLM2 end to end vs llama.cpp", .enabled(if: E2E.enabled, "run scripts/fetch-models.sh"))
struct SmolLM2EagerTests {
    struct Case: Decodable { let prompt: String; let prompt_ids: [Int32]; let generated_ids: [Int32] }
    struct Ref: Decodable { let cases: [Case] }

    @Test("prompt tokens and the 32-token greedy continuation match llama.cpp")
    func greedy() throws {
        let ref = try JSONDecoder().decode(Ref.self, from: E2E.fixture("smollm2.llamacpp.json")).cases[0]
        let m = try EagerLlama(path: E2E.smollm2)
        let tok = try Tokenizer(TokenizerData(metadata: m.f.metadata))
        #expect(tok.encode(ref.prompt, addSpecial: true, parseSpecial: true) == ref.prompt_ids)
        var logits: [Float] = []
        for (p, id) in ref.prompt_ids.enumerated() { logits = m.step(id, p) }
        let refLogits = try E2E.fixture("smollm2.p0.logits_first.f32.bin").withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let maxDiff = zip(logits, refLogits).map { abs($0 - $1) }.max()!
        let hf = try E2E.fixture("smollm2.p0.hf_f32_logits_first.f32.bin").withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let hfDiff = zip(logits, hf).map { abs($0 - $1) }.max()!
        let rms = (zip(logits, refLogits).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / Double(logits.count)).squareRoot()
        // Measured: 0.79 max / 0.15 rms from llama.cpp and 0.77 from HF float32 — the size of the activation
        // quantization effect itself (llama.cpp vs HF differ by 0.71 here). With float32 activations this same
        // code matched HF float32 to 3.4e-5, so the model math is right; matching llama.cpp's quantized logits
        // to its 1e-2 tolerance is open work (issue 5). What is asserted: the argmax path (32 greedy tokens).
        print("SmolLM2 first-position logits: max |Δ| vs llama.cpp = \(maxDiff) (rms \(rms)), vs HF float32 = \(hfDiff)")
        #expect(logits.indices.max { logits[$0] < logits[$1] } == refLogits.indices.max { refLogits[$0] < refLogits[$1] })
        var generated: [Int32] = []
        var pos = ref.prompt_ids.count
        for _ in 0..<ref.generated_ids.count {
            let next = Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
            generated.append(next)
            logits = m.step(next, pos)
            pos += 1
        }
        #expect(generated == ref.generated_ids)
        #expect(tok.decode(generated) == "#  1. 1. 1. 1. 1. 1. 1. 1. 1. 1. ")
    }
}
