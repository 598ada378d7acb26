// Qwen3: Qwen2 without the Q/K/V biases, plus QK-norm (an RMSNorm over each head of Q and K, before RoPE).
import SKEGraph
import SKEKernels

public enum Qwen3: Architecture {
    public static let name = "qwen3"

    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        let rope = RopeParameters(base: c.ropeBase, freqScale: c.ropeFreqScale, dims: c.ropeDims, layout: .neox)
        let attn = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headSize: c.headSize)
        let hs = c.headSize
        var x = b.embedding(try b.weight("token_embd.weight"), b.tokens())
        for l in 0..<c.layers {
            let h = b.rmsNorm(x, try b.weight("blk.\(l).attn_norm.weight"), eps: c.eps)
            let (q, k, v) = try Decoder.qkv(b, h, layer: l)
            let qn = b.headNorm(q, try b.weight("blk.\(l).attn_q_norm.weight"), eps: c.eps, headSize: hs)
            let kn = b.headNorm(k, try b.weight("blk.\(l).attn_k_norm.weight"), eps: c.eps, headSize: hs)
            let a = Decoder.attend(b, q: b.rope(qn, rope, headSize: hs), k: b.rope(kn, rope, headSize: hs), v: v, layer: l, attn)
            x = b.add(x, b.matmul(a, try b.weight("blk.\(l).attn_output.weight")))
            let h2 = b.rmsNorm(x, try b.weight("blk.\(l).ffn_norm.weight"), eps: c.eps)
            x = b.add(x, try Decoder.feedForward(b, h2, layer: l, gelu: false))
        }
        return try Decoder.head(c, b, x)
    }
}
