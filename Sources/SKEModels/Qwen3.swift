// Qwen3: Qwen2 without the Q/K/V biases, plus QK-norm (an RMSNorm over each head of Q and K, before RoPE).
import SKEGraph
import SKEKernels

public enum Qwen3: Architecture {
    public static let name = "qwen3"
    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        try Decoder.standard(c, b, layout: .neox, qkNorm: true)
    }
}
