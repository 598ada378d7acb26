// Gemma 3 (text): embedding scaled by √d; QK-norm; RMSNorm before *and after* attention and feed-forward
// (GGUF norm weights already include Gemma's +1); GeGLU with tanh-GELU; query scale 1/√(key length);
// 5 of every 6 layers attend through a sliding window with RoPE base 10 000 (llama.cpp's fixed
// rope_freq_base_train_swa), every 6th layer is global with `gemma3.rope.freq_base` (and its scaling).
import SKEGraph
import SKEKernels

public enum Gemma3: Architecture {
    public static let name = "gemma3"
    /// llama.cpp: `hparams.set_swa_pattern(6)` and `rope_freq_base_train_swa = 10000` for Gemma 3.
    public static let swaPattern = 6
    public static let localRopeBase = 10_000.0

    /// Whether layer l attends through the sliding window (5 of every 6 when the model has one).
    public static func isSliding(layer l: Int, _ c: ModelConfig) -> Bool { c.slidingWindow > 0 && l % swaPattern < swaPattern - 1 }

    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        let hs = c.headSize
        let global = RopeParameters(base: c.ropeBase, freqScale: c.ropeFreqScale, dims: c.ropeDims, layout: .neox)
        let local = RopeParameters(base: localRopeBase, dims: c.ropeDims, layout: .neox)
        var x = b.embedding(try b.weight("token_embd.weight"), b.tokens(), scale: Float(c.embedding).squareRoot())
        for l in 0..<c.layers {
            let sliding = isSliding(layer: l, c)
            let rope = sliding ? local : global
            let attn = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headSize: hs, scale: 1 / Double(hs).squareRoot(),
                                           window: sliding ? c.slidingWindow : 0)
            let h = b.rmsNorm(x, try b.weight("blk.\(l).attn_norm.weight"), eps: c.eps)
            let (q, k, v) = try Decoder.qkv(b, h, layer: l)
            let qn = b.headNorm(q, try b.weight("blk.\(l).attn_q_norm.weight"), eps: c.eps, headSize: hs)  // QK-norm as Qwen3
            let kn = b.headNorm(k, try b.weight("blk.\(l).attn_k_norm.weight"), eps: c.eps, headSize: hs)
            let a = Decoder.attend(b, q: b.rope(qn, rope, headSize: hs), k: b.rope(kn, rope, headSize: hs), v: v, layer: l, attn)
            let o = b.rmsNorm(b.matmul(a, try b.weight("blk.\(l).attn_output.weight")), try b.weight("blk.\(l).post_attention_norm.weight"), eps: c.eps)
            x = b.add(o, x)
            let h2 = b.rmsNorm(x, try b.weight("blk.\(l).ffn_norm.weight"), eps: c.eps)
            let f = b.rmsNorm(try Decoder.feedForward(b, h2, layer: l, gelu: true), try b.weight("blk.\(l).post_ffw_norm.weight"), eps: c.eps)
            x = b.add(f, x)
        }
        return try Decoder.head(c, b, x)
    }
}
