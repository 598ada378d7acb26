// Qwen2: Llama's block with biases on the Q/K/V projections and RoPE in the NEOX layout.
import SKEGraph
import SKEKernels

public enum Qwen2: Architecture {
    public static let name = "qwen2"

    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        let rope = RopeParameters(base: c.ropeBase, freqScale: c.ropeFreqScale, dims: c.ropeDims, layout: .neox)
        let attn = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headSize: c.headSize)
        var x = b.embedding(try b.weight("token_embd.weight"), b.tokens())
        for l in 0..<c.layers {
            let h = b.rmsNorm(x, try b.weight("blk.\(l).attn_norm.weight"), eps: c.eps)
            let (q, k, v) = try Decoder.qkv(b, h, layer: l)   // adds attn_{q,k,v}.bias
            let a = Decoder.attend(b, q: b.rope(q, rope, headSize: c.headSize), k: b.rope(k, rope, headSize: c.headSize), v: v, layer: l, attn)
            x = b.add(x, b.matmul(a, try b.weight("blk.\(l).attn_output.weight")))
            let h2 = b.rmsNorm(x, try b.weight("blk.\(l).ffn_norm.weight"), eps: c.eps)
            x = b.add(x, try Decoder.feedForward(b, h2, layer: l, gelu: false))
        }
        return try Decoder.head(c, b, x)
    }
}
