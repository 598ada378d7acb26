// Llama (Llama 2/3, SmolLM2): pre-norm blocks, RoPE in llama.cpp's "normal" layout (GGUF Q/K rows are
// permuted for it), GQA attention, SwiGLU feed-forward.
import SKEGraph
import SKEKernels

public enum Llama: Architecture {
    public static let name = "llama"
    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        try Decoder.standard(c, b, layout: .normal, qkNorm: false)
    }
}
