// Llama (Llama 2/3, SmolLM2): pre-norm blocks, RoPE in llama.cpp's "normal" layout (GGUF Q/K rows are
// permuted for it), GQA attention, SwiGLU feed-forward.
import SKEGraph
import SKEKernels

public enum Llama: Architecture {
    public static let name = "llama"

    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        let rope = RopeParameters(base: c.ropeBase, freqScale: c.ropeFreqScale, dims: c.ropeDims, layout: .normal)
        let attn = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headSize: c.headSize)
        var x = b.embedding(try b.weight("token_embd.weight"), b.tokens())
        for l in 0..<c.layers {
            let h = b.rmsNorm(x, try b.weight("blk.\(l).attn_norm.weight"), eps: c.eps)
            let (q, k, v) = try Decoder.qkv(b, h, layer: l)
            let a = Decoder.attend(b, q: b.rope(q, rope, headSize: c.headSize), k: b.rope(k, rope, headSize: c.headSize), v: v, layer: l, attn)
            x = b.add(x, b.matmul(a, try b.weight("blk.\(l).attn_output.weight")))
            let h2 = b.rmsNorm(x, try b.weight("blk.\(l).ffn_norm.weight"), eps: c.eps)
            x = b.add(x, try Decoder.feedForward(b, h2, layer: l, gelu: false))
        }
        return try Decoder.head(c, b, x)
    }
}
