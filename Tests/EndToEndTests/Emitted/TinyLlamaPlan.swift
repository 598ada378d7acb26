// ske-tiny-emitter.gguf: 19 steps, batch 8, context 32 (Tests/EndToEndTests/EmitterTests.swift writes the model).
// Emitted by `ske compile --emit swift`: the lowered Plan, one kernel call per line. Activation operands are
// byte offsets into one arena (activations: 0.01 MB planned vs 0.06 MB if every tensor had its own buffer); weights are named and resolved when the plan is built.
import SKEGraph
import SKEKernels

public enum TinyLlamaPlan {
    public static let layout = PlanLayout(
        limits: GraphLimits(maxTokens: 8, maxOutputs: 1, contextLength: 32),
        arenaBytes: 13824, separateBytes: 69312, threadScratchFloats: 1184,
        maxInputWidth: 96, tokensOffset: 0, logitsOffset: 256, vocabulary: 64,
        cacheRowValues: [32, 32], fusion: ["glu", "qkv", "residual", "norm", "rope"], precision: .quantized)

    public static func build(_ b: inout PlanBuilder) throws {
        try b.embedding(table: "token_embd.weight", tokens: 0, y: 11776, scale: 1.0)
        try b.linear(x: 11776, k: 64, rows: .tokens, norm: ("blk.0.attn_norm.weight", 1e-05), normalized: nil, activations: [4096, 6656, 9216], parts: [("blk.0.attn_q.weight", activation: 0, y: 0), ("blk.0.attn_k.weight", activation: 1, y: 2048), ("blk.0.attn_v.weight", activation: 2, y: 3072)], finish: .store, out: 0)
        try b.rope(x: 0, y: 4096, cols: 64, headSize: 16, RopeParameters(base: 10000.0, freqScale: 1.0, dims: 16, layout: .normal))
        try b.kvWrite(x: 2048, layer: 0, value: false, cols: 32, rope: RopeParameters(base: 10000.0, freqScale: 1.0, dims: 16, layout: .normal), headSize: 16)
        try b.kvWrite(x: 3072, layer: 0, value: true, cols: 32, rope: nil, headSize: 0)
        try b.attention(q: 4096, y: 6144, layer: 0, AttentionParameters(heads: 4, kvHeads: 2, headSize: 16, scale: 0.25, window: 0, softCap: 0.0))
        try b.linear(x: 6144, k: 64, rows: .tokens, norm: nil, normalized: nil, activations: [0], parts: [("blk.0.attn_output.weight", activation: 0, y: 8192)], finish: .addResidual(11776), out: 8192)
        try b.linear(x: 8192, k: 64, rows: .tokens, norm: ("blk.0.ffn_norm.weight", 1e-05), normalized: nil, activations: [3072, 5632], parts: [("blk.0.ffn_gate.weight", activation: 0, y: 0), ("blk.0.ffn_up.weight", activation: 1, y: 3072)], finish: .glu(gelu: false), out: 0)
        try b.linear(x: 0, k: 96, rows: .tokens, norm: nil, normalized: nil, activations: [3072], parts: [("blk.0.ffn_down.weight", activation: 0, y: 11776)], finish: .addResidual(8192), out: 11776)
        try b.linear(x: 11776, k: 64, rows: .tokens, norm: ("blk.1.attn_norm.weight", 1e-05), normalized: nil, activations: [4096, 6656, 9216], parts: [("blk.1.attn_q.weight", activation: 0, y: 0), ("blk.1.attn_k.weight", activation: 1, y: 2048), ("blk.1.attn_v.weight", activation: 2, y: 3072)], finish: .store, out: 0)
        try b.rope(x: 0, y: 4096, cols: 64, headSize: 16, RopeParameters(base: 10000.0, freqScale: 1.0, dims: 16, layout: .normal))
        try b.kvWrite(x: 2048, layer: 1, value: false, cols: 32, rope: RopeParameters(base: 10000.0, freqScale: 1.0, dims: 16, layout: .normal), headSize: 16)
        try b.kvWrite(x: 3072, layer: 1, value: true, cols: 32, rope: nil, headSize: 0)
        try b.attention(q: 4096, y: 6144, layer: 1, AttentionParameters(heads: 4, kvHeads: 2, headSize: 16, scale: 0.25, window: 0, softCap: 0.0))
        try b.linear(x: 6144, k: 64, rows: .tokens, norm: nil, normalized: nil, activations: [0], parts: [("blk.1.attn_output.weight", activation: 0, y: 8192)], finish: .addResidual(11776), out: 8192)
        try b.linear(x: 8192, k: 64, rows: .tokens, norm: ("blk.1.ffn_norm.weight", 1e-05), normalized: nil, activations: [3072, 5632], parts: [("blk.1.ffn_gate.weight", activation: 0, y: 0), ("blk.1.ffn_up.weight", activation: 1, y: 3072)], finish: .glu(gelu: false), out: 0)
        try b.linear(x: 0, k: 96, rows: .tokens, norm: nil, normalized: nil, activations: [3072], parts: [("blk.1.ffn_down.weight", activation: 0, y: 5632)], finish: .addResidual(8192), out: 5632)
        try b.outputRows(x: 5632, y: 0, cols: 64)
        try b.linear(x: 0, k: 64, rows: .outputs, norm: ("output_norm.weight", 1e-05), normalized: nil, activations: [512], parts: [("output.weight", activation: 0, y: 256)], finish: .store, out: 256)
    }
}
